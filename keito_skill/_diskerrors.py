"""Naming a failed write for what it is: a full disk, a read-only one, or a damaged file.

SQLite reports a full disk as "database or disk is full" only sometimes; creating the
``-wal``/``-shm`` files on a full or read-only disk is a "disk I/O error", which reads like
a broken file. Moving a healthy ledger aside on that advice would lose nothing but cost a
backfill for no reason, so the disk itself is asked (``statvfs``) before the advice is
given. Standard library only: the hook path uses it.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

FULL = "disk full"
READ_ONLY = "read-only"


def _folder(path: Path) -> Path:
    here = path if path.is_dir() else path.parent
    while not here.exists() and here.parent != here:
        here = here.parent
    return here


def disk_state(path: Path) -> str | None:
    """``FULL`` or ``READ_ONLY`` when the disk holding ``path`` is so, else None."""
    folder = _folder(path)
    try:
        info = os.statvfs(folder)
    except OSError:
        return None
    if info.f_flag & getattr(os, "ST_RDONLY", 1):
        return READ_ONLY
    if info.f_bavail == 0 or (info.f_favail == 0 and info.f_files > 0):
        return FULL
    if not os.access(folder, os.W_OK):
        return READ_ONLY
    return None


def classify(path: Path, error: BaseException) -> str | None:
    """``FULL``, ``READ_ONLY`` or None for an error raised writing at ``path``."""
    if isinstance(error, OSError):
        if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            return FULL
        if error.errno == errno.EROFS:
            return READ_ONLY
    if isinstance(error, sqlite3.Error):
        text = str(error).lower()
        if "disk is full" in text:
            return FULL
        if "readonly" in text or "read-only" in text:
            return disk_state(path) or READ_ONLY
    if isinstance(error, OSError | sqlite3.Error):
        return disk_state(path)
    return None


def fix_for(state: str, path: Path) -> str:
    """What to do, in words, for a ``FULL`` or ``READ_ONLY`` disk at ``path``."""
    folder = _folder(path)
    if state == FULL:
        return (
            f"the disk holding {folder} is full: free some space there and run the command"
            " again (the ledger is not damaged; hooks meanwhile keep a note of each session"
            " and the next sync records it)"
        )
    return (
        f"{folder} is on a read-only disk or cannot be written: make it writable, or set"
        " KEITO_SKILL_HOME to a writable directory (hooks meanwhile keep a note of each"
        " session and the next sync records it)"
    )
