"""A rotating log file under ``KEITO_SKILL_HOME/logs``: where hooks and background syncs,
which have no terminal, say what went wrong. Never given secrets. It quotes prompts'
sessions and paths, so the folder is 0700 and every log file 0600 (rotated ones too)."""

from __future__ import annotations

import io
import logging
import logging.handlers
import os

from keito_skill._safeio import PRIVATE_FILE, private_dir, tighten
from keito_skill.ledger import skill_home

_NAME = "keito_skill"


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, PRIVATE_FILE)


class _PrivateRotatingHandler(logging.handlers.RotatingFileHandler):
    """Creates each log file 0600 whatever the umask, and tightens an older looser one."""

    def _open(self) -> io.TextIOWrapper:
        tighten(self.baseFilename)
        stream = open(  # noqa: SIM115 - the handler owns and closes the stream
            self.baseFilename,
            self.mode,
            encoding=self.encoding,
            errors=self.errors,
            opener=_private_opener,
        )
        assert isinstance(stream, io.TextIOWrapper)  # text mode: the handler's own choice
        return stream


def file_logger() -> logging.Logger:
    logger = logging.getLogger(_NAME)
    if not logger.handlers:
        folder = skill_home() / "logs"
        try:
            private_dir(folder)
            handler: logging.Handler = _PrivateRotatingHandler(
                folder / "keito-skill.log", maxBytes=1_000_000, backupCount=3, encoding="utf-8"
            )
        except OSError:
            handler = logging.NullHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger
