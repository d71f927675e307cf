"""``keito-skill hook EVENT --agent AGENT``: what the agents run on their hooks.

A hook must never hurt the agent: it always exits 0, prints nothing on stdout (an agent
may read hook output as instructions), never waits on the network and stays fast. Its
only job is to bring the ledger up to date from the transcript (new bytes only) and start
a detached background ``sync`` that does the sending. Failures go to the rotating log and
the ledger's event table, where ``status`` shows them.

This module is imported without click, rich, httpx, pydantic or price data: the console
entry point dispatches here directly (see :mod:`keito_skill._entry`). Nor ``typing`` (~5 ms
of every hook): the modules on this path import its names under ``if TYPE_CHECKING:``,
with a ``TYPE_CHECKING = False`` of their own (``tests/test_hooks.py`` checks all of this).
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import sys
import time
from pathlib import Path

from keito_skill import agents

TYPE_CHECKING = False  # mypy takes it for typing's; importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from typing import Any

    from keito_skill.ledger import SessionRow

EVENTS = ("session-start", "stop", "session-end")
STDIN_DEADLINE = 2.0
# The whole hook, from start to exit: well under the 10 s timeout ``install`` sets; an
# agent that allows less for an event says so (``Adapter.hook_deadline``). Past it the hook
# keeps what it has read (a valid checkpoint; the next hook, ``watch`` or ``backfill``
# reads on from there).
DEADLINE = 1.5
_WRITE_RESERVE = 0.3  # of the budget, kept for the ledger writes after parsing
_MAX_PAYLOAD = 256 << 20  # agents send transcripts' worth of text in some payloads
NO_SYNC_ENV = "KEITO_SKILL_NO_BACKGROUND_SYNC"


# A surrogate written as UTF-8 bytes: invalid UTF-8 that ``json.loads`` still lets through.
_RAW_SURROGATE = re.compile(rb"\xed[\xa0-\xbf]")


class Deadline(BaseException):
    """The hook's time is up (raised by the alarm; not an ``Exception``, so nothing on the
    way swallows it)."""


def _decode(raw: bytes) -> dict[str, Any]:
    """The payload as a dict; bytes that are not UTF-8 (a lone surrogate written raw) and
    lone surrogate escapes are mended, not a reason to lose the event."""
    from keito_skill._text import may_hold_half_pairs, whole_characters

    try:
        value = json.loads(raw or b"{}")
    except UnicodeDecodeError:
        try:
            value = json.loads(raw.decode("utf-8", errors="replace"))
        except ValueError:
            return {}
    except ValueError:
        return {}
    if may_hold_half_pairs(raw) or _RAW_SURROGATE.search(raw):
        value = whole_characters(value)
    return value if isinstance(value, dict) else {}


def read_payload(deadline: float = STDIN_DEADLINE) -> dict[str, Any]:
    """The hook's JSON from stdin, read with a deadline: an agent may never close it."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return {}
    if os.isatty(fd):
        return {}
    chunks: list[bytes] = []
    size = 0
    end = time.monotonic() + deadline
    while size < _MAX_PAYLOAD:
        left = end - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if chunk.rstrip().endswith(b"}"):
            whole = b"".join(chunks)
            try:
                json.loads(whole)
            except UnicodeDecodeError:
                pass  # complete but not UTF-8: mended below
            except ValueError:
                continue  # a brace inside the JSON, not its end: keep reading
            chunks = [whole]
            return _decode(whole)
    return _decode(b"".join(chunks))


def _small(path: Path) -> str:
    """A small regular file's text (git's HEAD, refs): never a FIFO or a device."""
    from keito_skill._safeio import read_small

    return read_small(path, 64 * 1024).decode(errors="replace")


def git_head(cwd: str | None) -> tuple[str | None, str | None]:
    """(branch, commit) of the repository at ``cwd``, read from ``.git`` without git.

    Only regular files are read, a bounded amount each: a hostile repository's HEAD may be
    a FIFO or a link to ``/dev/zero``.
    """
    if not cwd:
        return None, None
    from keito_skill._repo import git_root

    try:
        folder = git_root(Path(cwd))
        if folder is None:
            return None, None
        dot_git = folder / ".git"
        if dot_git.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = _small(dot_git).strip()
            if not text.startswith("gitdir:"):
                return None, None
            dot_git = (folder / text.split(":", 1)[1].strip()).resolve()
        if dot_git.is_dir():
            return _read_head(dot_git)
    except (OSError, ValueError):
        return None, None
    return None, None


def _read_head(git_dir: Path) -> tuple[str | None, str | None]:
    try:
        head = _small(git_dir / "HEAD").strip()
    except OSError:
        return None, None
    if not head.startswith("ref:"):
        return None, head or None
    ref = head.split(":", 1)[1].strip()
    branch = ref.removeprefix("refs/heads/")
    common = git_dir
    commondir = git_dir / "commondir"
    if commondir.is_file():
        common = (git_dir / _small(commondir).strip()).resolve()
    for base in (git_dir, common):
        try:
            return branch, _small(base / ref).strip() or None
        except OSError:
            continue
    try:
        from keito_skill._safeio import read_small

        for line in (
            read_small(common / "packed-refs", 16 << 20).decode(errors="replace").splitlines()
        ):
            if line.endswith(" " + ref):
                return branch, line.split(" ", 1)[0]
    except OSError:
        pass
    return branch, None


def sync_wanted(home: Path) -> bool:
    """False when a sync already holds the queue (starting, or waiting for the one that
    runs): it reads the ledger after this hook's write, so another would only exit.

    Checked before starting a background sync: 50 hooks at once used to start 50 syncs
    that each paid ~0.4 s of imports to find that out (see :mod:`keito_skill._queue`).
    """
    import fcntl

    from keito_skill._queue import QUEUE_LOCK

    try:
        fd = os.open(home / QUEUE_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return True  # cannot tell: let the sync decide under its own locks
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def start_background_sync() -> None:
    """Start ``keito-skill sync --background`` fully detached from the agent."""
    if os.environ.get(NO_SYNC_ENV):
        return
    from keito_skill._safeio import skill_home

    if not sync_wanted(skill_home()):
        return
    import subprocess  # ~6 ms, paid only when a sync is started

    subprocess.Popen(
        [sys.executable, "-m", "keito_skill", "sync", "--background"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )


def handle(event: str, agent: str, payload: dict[str, Any], deadline: float | None = None) -> None:
    """Record what one hook call tells us. Raises on failure; :func:`main` contains it.

    ``deadline`` (``time.monotonic()``): the ledger waits for other writers no longer than
    that, and the transcript is read until shortly before it.
    """
    from keito_skill.ledger import Ledger
    from keito_skill.recorder import record

    session_id = payload.get("session_id")
    if not isinstance(session_id, str) or not session_id:
        raise ValueError(f"{agent} {event} hook payload has no session_id")
    transcript = payload.get("transcript_path")
    transcript = transcript if isinstance(transcript, str) and transcript else None
    if transcript is not None:
        # The session's own file for any file of it the agent names (an agent may name a
        # file it wrote first on a resume, holding only the restated history).
        from keito_skill.transcripts import main_file

        transcript = str(main_file(agent, Path(transcript)))
    cwd = payload.get("cwd") if isinstance(payload.get("cwd"), str) else None
    model = payload.get("model") if isinstance(payload.get("model"), str) else None
    left = 30.0 if deadline is None else max(0.05, deadline - time.monotonic())
    with Ledger(timeout=left) as ledger:
        if event == "session-start":
            branch, rev = git_head(cwd)
            ledger.touch_session(
                agent,
                session_id,
                transcript_path=transcript,
                cwd=cwd,
                git_branch=branch,
                git_rev=rev,
                model=model,
                reopen=payload.get("source") in ("resume", "clear", "compact"),
            )
            return
        reason = payload.get("reason") if event == "session-end" else None
        row = record(
            ledger,
            agent,
            session_id,
            transcript,
            cwd=cwd,
            model=model,
            end_reason=(str(reason or "exit")) if event == "session-end" else None,
            deadline=None if deadline is None else deadline - _WRITE_RESERVE,
        )
    after = getattr(agents.adapter(agent), "after_hook", None)  # optional: work after a hook
    if after is not None:
        after(event, payload, row)
    if _read_cut_short(row):
        # Time ran out before the end of the transcript: the sync started now reads on
        # (after a SessionEnd no hook comes again to do it).
        _keep_missed("stop", agent, payload, "read cut short by the hook's deadline", quiet=True)
    start_background_sync()


def _report(message: str) -> None:
    try:
        from keito_skill.logs import file_logger

        file_logger().error("hook: %s", message)
        from keito_skill.ledger import Ledger

        with Ledger(timeout=0.2) as ledger:
            ledger.log_event("error", "hook", message)
    except Exception:  # the last resort must not raise
        pass


def _keep_missed(
    event: str, agent: str, payload: dict[str, Any], why: str, *, quiet: bool = False
) -> None:
    """The ledger could not take this call: note it for the next sync to replay."""
    session_id = payload.get("session_id")
    if not isinstance(session_id, str) or not session_id:
        return
    from keito_skill._misses import note

    note(
        {
            "agent": agent,
            "event": event,
            "session_id": session_id,
            "transcript_path": payload.get("transcript_path"),
            "cwd": payload.get("cwd"),
            "reason": payload.get("reason"),
            "why": why,
            "quiet": quiet,  # nothing went wrong: replayed without a problem in status
        }
    )


def _read_cut_short(row: SessionRow) -> bool:
    """Whether the hook's read stopped at its deadline, with more of the transcript left.

    Asked of the stored checkpoints' text while it is not decoded yet: a long session's
    checkpoints run to 100 KB and more, and decoding them only for this cost every prompt
    ~2 ms. The key is there only while a read is cut short, so its absence answers; when
    the text has it (or the checkpoints were decoded already), the decoded values decide.
    """
    raw = type(row).checkpoints.raw(row)
    if isinstance(raw, str) and '"cut_short"' not in raw:
        return False
    return any(
        isinstance(c, dict) and c.get("extra", {}).get("cut_short")
        for c in row.checkpoints.values()
    )


def _why(exc: BaseException) -> str | None:
    """Why the ledger refused a write, when it did (else None: not a ledger problem)."""
    import sqlite3

    from keito_skill.errors import LedgerError

    if isinstance(exc, Deadline):
        return "the hook's time ran out"
    if isinstance(exc, LedgerError):
        return exc.reason
    if isinstance(exc, sqlite3.Error | OSError):
        from keito_skill._diskerrors import classify
        from keito_skill.ledger import skill_home

        state = classify(skill_home(), exc)
        return f"{state} ({exc})" if state else str(exc)
    return None


def _alarm(signum: int, frame: object) -> None:
    raise Deadline


def main(argv: list[str]) -> int:
    """Entry for ``keito-skill hook EVENT --agent AGENT``; always returns 0, within
    :data:`DEADLINE` (or the shorter budget the agent's adapter asks for that event)."""
    started = time.monotonic()
    event, agent, payload = "?", "?", {}
    budget = DEADLINE
    try:
        event, agent = _parse_args(argv)
        budget = agents.adapter(agent).hook_deadline(event) or DEADLINE
        deadline = started + budget
        # A backstop for what no bound above covers: a slow disk, a stuck system call.
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, budget + 0.2)
        try:
            payload = read_payload(min(STDIN_DEADLINE, budget / 2))
            handle(event, agent, payload, deadline)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except BaseException as exc:  # a hook never fails the agent
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            return 0
        why = _why(exc)
        if why is not None and event in EVENTS:
            _keep_missed(event, agent, payload, why)
        _report(f"{' '.join(argv)}: {type(exc).__name__}: {exc}" + (f" ({why})" if why else ""))
    return 0


def _parse_args(argv: list[str]) -> tuple[str, str]:
    args = list(argv)
    agent = None
    if "--agent" in args:
        at = args.index("--agent")
        agent = args[at + 1] if at + 1 < len(args) else None
        del args[at : at + 2]
    else:
        for arg in list(args):
            if arg.startswith("--agent="):
                agent = arg.split("=", 1)[1]
                args.remove(arg)
    if len(args) != 1 or args[0] not in EVENTS:
        raise ValueError(f"usage: keito-skill hook {{{','.join(EVENTS)}}} --agent AGENT")
    if agent not in agents.ADAPTERS:
        raise ValueError(f"--agent must be one of {', '.join(agents.names())}")
    return args[0], agent
