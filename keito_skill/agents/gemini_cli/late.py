"""After a Gemini CLI hook: pick up the telemetry records the CLI writes after its hooks.

Gemini CLI exports its telemetry every 5 s and at exit, so when AfterAgent and SessionEnd
run, the routing model's records of that prompt are usually not in the file yet; after
SessionEnd no hook comes again. When a hook's read finds the session waiting for them
(:data:`.session.WAITING`), :func:`after_hook` starts this module detached (``python -m
keito_skill.agents.gemini_cli.late SESSION_ID``): it watches the outfile's size for up to
:data:`LATE_SECONDS`, records the session again each time it grew (the records are keyed,
so nothing is billed twice), stops as soon as the session's usage is complete, and starts
the background sync. One per session at a time (a lock file); it never touches the agent.
If the records never come (the CLI was killed), the session stays marked incomplete in
``status`` and the next hook, ``watch`` or ``backfill`` reads them if they do.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time
from pathlib import Path

TYPE_CHECKING = False  # mypy takes it for typing's; importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from typing import Any

__all__ = ["LATE_SECONDS", "after_hook", "main"]

#: How long to wait for the telemetry after a hook (the CLI flushes within ~5 s).
LATE_SECONDS = 30.0
_POLL = 0.25
_ENV = "KEITO_SKILL_GEMINI_LATE_SECONDS"  # tests shorten or (0) turn off the wait
AGENT = "gemini-cli"


def _seconds() -> float:
    try:
        return max(0.0, min(float(os.environ.get(_ENV, LATE_SECONDS)), 300.0))
    except ValueError:
        return LATE_SECONDS


def waiting(row: Any) -> bool:
    """Whether the session's main chat checkpoint says its telemetry has not all arrived
    (the file lists less than the chat holds, or does not exist yet)."""
    from keito_skill.agents.gemini_cli.session import INCOMPLETE
    from keito_skill.agents.gemini_cli.transcript import UNRECORDED_USAGE

    checkpoints = getattr(row, "checkpoints", None) or {}
    main = checkpoints.get(str(getattr(row, "transcript_path", "") or ""))
    extra = main.get("extra") if isinstance(main, dict) else None
    gap = extra.get(INCOMPLETE) if isinstance(extra, dict) else None
    return gap is not None and gap != UNRECORDED_USAGE  # telemetry on, records to come


def after_hook(event: str, payload: dict[str, Any], row: Any) -> None:
    """Called by the hook after it recorded ``row``: start the late reader if needed."""
    if event == "session-start" or not waiting(row) or _seconds() <= 0:
        return
    import subprocess

    subprocess.Popen(
        [sys.executable, "-m", "keito_skill.agents.gemini_cli.late", str(row.session_id)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )


def _outfile(row: Any) -> Path | None:
    from keito_skill.agents.gemini_cli.session import is_telemetry

    for path, data in (row.checkpoints or {}).items():
        if isinstance(data, dict) and is_telemetry(data):
            return Path(path)
    from keito_skill.agents.gemini_cli import paths

    return paths.telemetry_outfile(None, Path(row.cwd) if row.cwd else None)


def _read_up_to(row: Any) -> int:
    """Where the session's telemetry share was last read to (-1: not read yet)."""
    from keito_skill.agents.gemini_cli.session import is_telemetry

    for data in (row.checkpoints or {}).values():
        if isinstance(data, dict) and is_telemetry(data):
            return int(data.get("offset") or 0)
    return -1


def _size(path: Path | None) -> int:
    try:
        return path.stat().st_size if path is not None else -1
    except OSError:
        return -1


def _lock_path(session_id: str) -> Path:
    from keito_skill._safeio import skill_home

    tag = hashlib.sha256(session_id.encode()).hexdigest()[:16]
    return skill_home() / f"gemini-late-{tag}.lock"


def _lock(session_id: str) -> int | None:
    """A per-session lock in the skill home: one late reader per session (the file is
    removed when it is done; a reader starting just then only re-reads, keyed once)."""
    import fcntl

    from keito_skill._safeio import PRIVATE_FILE, private_dir, skill_home

    try:
        private_dir(skill_home())
        fd = os.open(_lock_path(session_id), os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def run(session_id: str) -> bool:
    """Wait for and record the session's late telemetry; True when something was recorded."""
    from keito_skill.errors import TranscriptError
    from keito_skill.ledger import Ledger
    from keito_skill.recorder import record

    fd = _lock(session_id)
    if fd is None:
        return False
    recorded = False
    try:
        end = time.monotonic() + _seconds()
        with Ledger() as ledger:
            row = ledger.session(AGENT, session_id)
        if row is None or not waiting(row):
            return False
        seen = _read_up_to(row)  # what arrived since the hook's read is recorded at once
        while True:
            size = _size(_outfile(row))
            if size == seen:
                if time.monotonic() >= end:
                    break
                time.sleep(_POLL)
                continue
            seen = size
            with Ledger() as ledger, contextlib.suppress(TranscriptError):
                row = record(ledger, AGENT, session_id, row.transcript_path)
                recorded = True
            if not waiting(row):
                break
    finally:
        with contextlib.suppress(OSError):
            os.unlink(_lock_path(session_id))
        os.close(fd)
    return recorded


def main(argv: list[str]) -> int:
    """``python -m keito_skill.agents.gemini_cli.late SESSION_ID``; always exits 0."""
    try:
        if len(argv) == 1 and argv[0] and run(argv[0]):
            from keito_skill.hooks import start_background_sync

            start_background_sync()
    except Exception as exc:  # detached: nothing to report to but the log
        with contextlib.suppress(Exception):
            from keito_skill.logs import file_logger

            file_logger().error("gemini-cli late telemetry: %s: %s", type(exc).__name__, exc)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
