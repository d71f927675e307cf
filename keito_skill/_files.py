"""Writing a file in one step, for every file we change that someone else also reads.

Agents read their settings and config files, sync the repo's ``.keito/config.yml``
at any moment: a crash or a concurrent read must never see half a file. The new text goes
to a temporary file beside the target (created 0600), is flushed to disk, takes the old
file's permissions (or a fixed mode, for secrets), and replaces it atomically; an optional
backup keeps the previous version. The one implementation: every file the skill rewrites
goes through it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


def atomic_write_text(
    path: Path,
    text: str,
    *,
    backup_suffix: str | None = None,
    new_mode: int = 0o644,
    mode: int | None = None,
) -> Path | None:
    """Replace ``path`` with ``text``; returns the backup's path when one was made.

    ``backup_suffix`` copies an existing file to ``<name><suffix>`` first; ``new_mode`` is
    the permission of a file that did not exist (an existing one keeps its own); ``mode``
    is the permission the file has after every write, whatever it had before (an API key:
    the new file is never readable by others, not even while it replaces the old one).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    saved: Path | None = None
    try:
        kept = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        kept = new_mode
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
        os.chmod(tmp, kept if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return saved
