"""A rotating log file under ``KEITO_SKILL_HOME/logs``: where hooks and background syncs,
which have no terminal, say what went wrong. Never given secrets."""

from __future__ import annotations

import logging
import logging.handlers

from keito_skill.ledger import skill_home

_NAME = "keito_skill"


def file_logger() -> logging.Logger:
    logger = logging.getLogger(_NAME)
    if not logger.handlers:
        folder = skill_home() / "logs"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handler: logging.Handler = logging.handlers.RotatingFileHandler(
                folder / "keito-skill.log", maxBytes=1_000_000, backupCount=3, encoding="utf-8"
            )
        except OSError:
            handler = logging.NullHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger
