"""Writing a file in one step, for every file we change that someone else also reads.

Agents read their settings and config files, hooks the repo's ``.keito/config.yml``
at any moment: a crash or a concurrent read must never see half a file. The new text goes
to a temporary file beside the target, is flushed to disk, takes the old file's
permissions, and replaces it atomically; an optional backup keeps the previous version.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


def atomic_write_text(
    path: Path, text: str, *, backup_suffix: str | None = None, new_mode: int = 0o644
) -> Path | None:
    """Replace ``path`` with ``text``; returns the backup's path when one was made.

    ``backup_suffix`` copies an existing file to ``<name><suffix>`` first; ``new_mode`` is
    the permission of a file that did not exist (an existing one keeps its own).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    saved: Path | None = None
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = new_mode
    else:
        if backup_suffix:
            saved = path.with_name(path.name + backup_suffix)
            shutil.copy2(path, saved)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return saved
