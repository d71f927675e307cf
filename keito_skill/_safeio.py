"""Opening files we are pointed at, without hanging and without leaking what we write.

Paths come from places we do not control: a hook payload's ``transcript_path``, a
repository's ``.git`` and ``.keito``, whatever sits in the agents' transcript directories.
A FIFO there blocks ``open()`` forever; ``/dev/zero`` or ``/dev/urandom`` never end and
fill memory. So only regular files are read: the path is opened non-blocking (a FIFO
then opens at once instead of waiting for a writer) and checked with ``fstat`` before a
byte is read. Small files (git refs, configs) are read with a size bound.

What we write under ``KEITO_SKILL_HOME`` holds prompts and agent messages: the directory
is made 0700 and files 0600, and looser modes found there are tightened.

Standard library only: this is on the hook path.
"""

from __future__ import annotations

import errno
import io
import json
import os
import stat
from pathlib import Path

TYPE_CHECKING = False  # mypy takes it for typing's; importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from typing import Any

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def skill_home() -> Path:
    """``KEITO_SKILL_HOME``, else ``~/.keito/skill``: the ledger, locks and logs live here."""
    configured = os.environ.get("KEITO_SKILL_HOME", "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".keito" / "skill"


class NotRegularFile(OSError):
    """The path exists but is a FIFO, a device, a socket or a directory."""


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def open_fd(path: str | os.PathLike[str], *, nofollow: bool = False) -> int:
    """A read-only descriptor of ``path``, which must be a regular file.

    Raises :class:`NotRegularFile` (an ``OSError``) for anything else, before reading.
    ``nofollow``: refuse a symlink as the last component.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    if nofollow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(errno.EINVAL, f"{_kind(mode)}, not a regular file", str(path))
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular(path: str | os.PathLike[str]) -> io.FileIO:
    """An unbuffered binary handle on the regular file ``path`` (see :func:`open_fd`)."""
    return io.FileIO(open_fd(path), "rb", closefd=True)


def read_small(path: str | os.PathLike[str], limit: int = 64 * 1024) -> bytes:
    """At most ``limit`` bytes of the regular file ``path``; longer files raise ``OSError``."""
    fd = open_fd(path)
    try:
        data = b""
        while len(data) <= limit:
            chunk = os.read(fd, limit + 1 - len(data))
            if not chunk:
                return data
            data += chunk
    finally:
        os.close(fd)
    raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(path))


def read_json_object(path: Path, limit: int = 1 << 20) -> dict[str, Any]:
    """The JSON object in the small state file ``path``; ``{}`` when it is missing,
    unreadable, not a regular file, too large or not an object (it is then rebuilt)."""
    try:
        value = json.loads(read_small(path, limit))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) as 0700; tighten it if it is group/other accessible."""
    if not path.is_dir():
        path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    tighten(path, PRIVATE_DIR)
    return path


def tighten(path: str | os.PathLike[str], mode: int = PRIVATE_FILE) -> None:
    """Remove group/other permissions from ``path`` if it has any (never widens)."""
    try:
        current = os.stat(path).st_mode & 0o777
        if current & 0o077:
            os.chmod(path, current & mode)
    except OSError:
        pass  # not ours, or a read-only disk: using it is still better than failing


def private_file(path: Path) -> None:
    """Create ``path`` empty as 0600 if missing; tighten it if it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, PRIVATE_FILE)
        os.close(fd)
    except OSError:
        pass
    tighten(path)
