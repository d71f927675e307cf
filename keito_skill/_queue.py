"""The background sync's place in the queue, claimed before anything heavy is imported.

Every hook starts ``sync --background``; one runs, at most one waits (see
:mod:`keito_skill.sync._lock`). A started sync used to take its place in the queue only
after ~0.4 s of imports, so 50 hooks at once started 50 syncs that all imported before
any of them held the queue, and the machine spent 20 s of CPU on it. Now the console
entry point claims the queue lock first, with the standard library only, and exits at
once when another sync already waits; :func:`keito_skill.sync._lock.sync_lock` takes the
claimed lock over.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

QUEUE_LOCK = "sync.queue.lock"
_claimed: int | None = None


def claim(home: Path) -> bool:
    """Take the queue lock for this process; False when another sync holds it."""
    global _claimed
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(home / QUEUE_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return True  # cannot tell: the sync's own locking decides
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    _claimed = fd
    return True


def take() -> int | None:
    """The claimed (locked) queue descriptor, handed over once; None if none was claimed."""
    global _claimed
    fd, _claimed = _claimed, None
    return fd
