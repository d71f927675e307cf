"""``keito-skill hook EVENT --agent AGENT``: what Claude Code and Codex run on their hooks.

A hook must never hurt the agent: it always exits 0, prints nothing on stdout (an agent
may read hook output as instructions), never waits on the network and stays fast. Its
only job is to bring the ledger up to date from the transcript (new bytes only) and start
a detached background ``sync`` that does the sending. Failures go to the rotating log and
the ledger's event table, where ``status`` shows them.

This module is imported without click, rich, httpx, pydantic or price data: the console
entry point dispatches here directly (see :mod:`keito_skill._entry`).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

EVENTS = ("session-start", "stop", "session-end")
AGENTS = ("claude-code", "codex")
STDIN_DEADLINE = 2.0
_MAX_PAYLOAD = 1 << 20
NO_SYNC_ENV = "KEITO_SKILL_NO_BACKGROUND_SYNC"


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
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if chunk.rstrip().endswith(b"}"):
            try:
                value = json.loads(b"".join(chunks))
            except ValueError:
                continue  # a brace inside the JSON, not its end: keep reading
            return value if isinstance(value, dict) else {}
    try:
        value = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def git_head(cwd: str | None) -> tuple[str | None, str | None]:
    """(branch, commit) of the repository at ``cwd``, read from ``.git`` without git."""
    if not cwd:
        return None, None
    here = Path(cwd)
    for folder in (here, *here.parents):
        dot_git = folder / ".git"
        if dot_git.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = dot_git.read_text(errors="replace").strip()
            if not text.startswith("gitdir:"):
                return None, None
            dot_git = (folder / text.split(":", 1)[1].strip()).resolve()
        if dot_git.is_dir():
            return _read_head(dot_git)
    return None, None


def _read_head(git_dir: Path) -> tuple[str | None, str | None]:
    try:
        head = (git_dir / "HEAD").read_text().strip()
    except OSError:
        return None, None
    if not head.startswith("ref:"):
        return None, head or None
    ref = head.split(":", 1)[1].strip()
    branch = ref.removeprefix("refs/heads/")
    common = git_dir
    commondir = git_dir / "commondir"
    if commondir.is_file():
        common = (git_dir / commondir.read_text().strip()).resolve()
    for base in (git_dir, common):
        try:
            return branch, (base / ref).read_text().strip() or None
        except OSError:
            continue
    try:
        for line in (common / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return branch, line.split(" ", 1)[0]
    except OSError:
        pass
    return branch, None


def start_background_sync() -> None:
    """Start ``keito-skill sync --background`` fully detached from the agent."""
    if os.environ.get(NO_SYNC_ENV):
        return
    subprocess.Popen(
        [sys.executable, "-m", "keito_skill", "sync", "--background"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )


def handle(event: str, agent: str, payload: dict[str, Any]) -> None:
    """Record what one hook call tells us. Raises on failure; :func:`main` contains it."""
    from keito_skill.ledger import Ledger
    from keito_skill.recorder import record

    session_id = payload.get("session_id")
    if not isinstance(session_id, str) or not session_id:
        raise ValueError(f"{agent} {event} hook payload has no session_id")
    transcript = payload.get("transcript_path")
    transcript = transcript if isinstance(transcript, str) and transcript else None
    cwd = payload.get("cwd") if isinstance(payload.get("cwd"), str) else None
    model = payload.get("model") if isinstance(payload.get("model"), str) else None
    with Ledger() as ledger:
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
        record(
            ledger,
            agent,
            session_id,
            transcript,
            cwd=cwd,
            model=model,
            end_reason=(str(reason or "exit")) if event == "session-end" else None,
        )
    start_background_sync()


def _report(message: str) -> None:
    try:
        from keito_skill.logs import file_logger

        file_logger().error("hook: %s", message)
        from keito_skill.ledger import Ledger

        with Ledger(timeout=2.0) as ledger:
            ledger.log_event("error", "hook", message)
    except Exception:  # the last resort must not raise
        pass


def main(argv: list[str]) -> int:
    """Entry for ``keito-skill hook EVENT --agent AGENT``; always returns 0."""
    try:
        event, agent = _parse_args(argv)
        payload = read_payload()
        handle(event, agent, payload)
    except Exception as exc:  # a hook never fails the agent
        _report(f"{' '.join(argv)}: {type(exc).__name__}: {exc}")
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
    if agent not in AGENTS:
        raise ValueError(f"--agent must be one of {', '.join(AGENTS)}")
    return args[0], agent
