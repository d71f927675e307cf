"""Hook calls the ledger could not take, kept as one line each so no session end is lost.

A hook has a second or two and must exit 0 whatever happens. When the ledger cannot be
written then — the disk holding ``KEITO_SKILL_HOME`` is full or read-only, or other
processes held it locked past the hook's deadline — the hook appends what it was told
(agent, event, session id, transcript, cwd, when, why) to a small file: first beside the
ledger, else in a private directory under ``$XDG_RUNTIME_DIR`` or the temp dir (0700,
checked to be ours). The next ``sync`` (every later hook starts one), ``watch`` and
``backfill`` replay those lines into the ledger (:func:`drain`) and log each as a problem
that ``status`` shows. If even that note cannot be written, the session is still ended
later from its transcript: ``watch`` and ``backfill`` end a session quiet past its idle
threshold.

Standard library only at import: the hook path imports this module.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
import time
from pathlib import Path

from keito_skill._safeio import PRIVATE_FILE, read_small, skill_home

TYPE_CHECKING = False  # mypy takes it for typing's; importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from typing import Any

    from keito_skill.ledger import Ledger

NAME = "missed-hooks.jsonl"
_MAX_BYTES = 4 * 1024 * 1024  # a few thousand hook calls; more is not kept


def fallback_dir() -> Path:
    """A private directory off the skill home's disk, one per user and skill home."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    tag = hashlib.sha256(str(skill_home().absolute()).encode()).hexdigest()[:12]
    return Path(base) / f"keito-skill-{os.getuid()}-{tag}"


def _ours(folder: Path) -> bool:
    """A real directory owned by us and closed to others (a shared temp dir is hostile)."""
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077


def places() -> list[Path]:
    """Where miss notes may be, in the order they are written."""
    return [skill_home() / NAME, fallback_dir() / NAME]


def note(entry: dict[str, Any]) -> Path | None:
    """Append one miss; returns where it went, or None when nowhere could take it."""
    line = (json.dumps({**entry, "at": time.time()}, ensure_ascii=True) + "\n").encode()
    for path in places():
        try:
            if path.parent != skill_home():
                with contextlib.suppress(FileExistsError):
                    os.mkdir(path.parent, 0o700)
                if not _ours(path.parent):
                    continue
            else:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(path, flags, PRIVATE_FILE)
            try:
                if os.fstat(fd).st_size + len(line) > _MAX_BYTES:
                    continue
                written = os.write(fd, line)
            finally:
                os.close(fd)
            if written == len(line):
                return path
        except OSError:
            continue
    return None


def pending() -> int:
    """How many missed hook calls wait to be replayed (for ``status``)."""
    total = 0
    for path in places():
        try:
            total += read_small(path, _MAX_BYTES).count(b"\n")
        except OSError:
            continue
    return total


def drain(ledger: Ledger) -> int:
    """Replay every missed hook call into ``ledger``; returns how many were replayed.

    Each file is first renamed (so two processes never replay the same lines), then read,
    replayed and removed. A session end is replayed unless the ledger heard from that
    session after the miss (it went on: its own hooks or ``watch`` end it).
    """
    replayed = 0
    heard: dict[tuple[str, str], float | None] = {}  # when the ledger last heard, before us
    for path in places():
        if not os.path.lexists(path):
            continue
        claimed = path.with_name(f"{path.name}.{os.getpid()}.replaying")
        try:
            os.rename(path, claimed)
            raw = read_small(claimed, _MAX_BYTES)
        except OSError:
            continue
        lines = raw.splitlines()
        for done, line in enumerate(lines):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            try:
                if isinstance(entry, dict) and _replay(ledger, entry, heard):
                    replayed += 1
            except BaseException:  # the ledger still refuses: keep what is left for later
                _put_back(path, claimed, lines[done:])
                raise
        with contextlib.suppress(OSError):
            os.unlink(claimed)
    return replayed


def _put_back(path: Path, claimed: Path, lines: list[bytes]) -> None:
    """Return unreplayed lines to ``path`` (a hook may have started a new file there)."""
    with contextlib.suppress(OSError):
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags, PRIVATE_FILE)
        try:
            os.write(fd, b"".join(line + b"\n" for line in lines))
        finally:
            os.close(fd)
        os.unlink(claimed)


def _replay(
    ledger: Ledger, entry: dict[str, Any], heard: dict[tuple[str, str], float | None]
) -> bool:
    from keito_skill.errors import TranscriptError
    from keito_skill.recorder import record

    agent, session_id, event = entry.get("agent"), entry.get("session_id"), entry.get("event")
    if not isinstance(agent, str) or not isinstance(session_id, str) or not session_id:
        return False
    transcript = (
        entry.get("transcript_path") if isinstance(entry.get("transcript_path"), str) else None
    )
    cwd = entry.get("cwd") if isinstance(entry.get("cwd"), str) else None
    at = float(entry.get("at") or 0.0)
    if (agent, session_id) not in heard:
        row = ledger.session(agent, session_id)
        heard[(agent, session_id)] = None if row is None or row.ended else row.updated_at
    last = heard[(agent, session_id)]
    end = None
    if event == "session-end" and (last is None or last <= at):
        end = str(entry.get("reason") or "exit")
    with contextlib.suppress(TranscriptError):  # then recorded (and ended) without it
        record(ledger, agent, session_id, transcript, cwd=cwd, end_reason=end)
    if entry.get("quiet"):
        return True
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
    ledger.log_event(
        "error",
        "hook",
        f"{agent} {event} of session {session_id} at {when} could not be recorded then"
        f" ({entry.get('why') or 'unknown'}); recorded now" + (", session ended" if end else ""),
    )
    return True
