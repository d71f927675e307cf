"""One sync at a time, and never a lost wake-up.

Hooks start a background sync after every prompt. Two locks make that cheap and safe: the
*run* lock is held by the sync doing the work; the *queue* lock by at most one sync
waiting for it. A sync that finds both taken exits at once — the waiting one will start
after the running one and see everything recorded so far.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from keito_skill import _queue
from keito_skill._safeio import private_dir, tighten

_FLAGS = os.O_RDWR | os.O_CREAT


def _try(handle: int) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextmanager
def sync_lock(home: Path, *, wait: float = 120.0, queue_up: bool = True) -> Iterator[bool]:
    """Yields True when this process may sync, False when another will do it.

    ``queue_up=False`` (a person ran ``sync``) skips the queue and waits for the run lock:
    they asked for a sync now, not for someone else's.
    """
    private_dir(home)
    claimed = _queue.take()  # this process claimed the queue when it started (``_entry``)
    run = os.open(home / "sync.lock", os.O_RDWR | os.O_CREAT, 0o600)
    for name in ("sync.lock", _queue.QUEUE_LOCK):
        tighten(home / name)  # left 0644 by an older version
    queue = claimed if claimed is not None else os.open(home / _queue.QUEUE_LOCK, _FLAGS, 0o600)
    try:
        if not _try(run):
            if queue_up and claimed is None and not _try(queue):
                yield False
                return
            deadline = time.monotonic() + wait
            while not _try(run):
                if time.monotonic() > deadline:
                    yield False
                    return
                time.sleep(0.05)
            if queue_up:
                fcntl.flock(queue, fcntl.LOCK_UN)
        if claimed is not None:
            fcntl.flock(queue, fcntl.LOCK_UN)  # running now: the next sync may queue
        yield True
    finally:
        os.close(queue)
        os.close(run)
