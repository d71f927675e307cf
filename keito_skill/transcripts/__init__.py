"""Reading the agents' own transcript files, incrementally and without ever raising.

Agent-specific knowledge lives in :mod:`.claude_code` and :mod:`.codex`; the rest of the
package sees only :class:`ParseState` (the checkpointable running state) and, through
:mod:`keito_skill.summary`, the agent-neutral ``SessionSummary``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from keito_skill._safeio import open_regular
from keito_skill.errors import TranscriptError
from keito_skill.transcripts import claude_code, codex
from keito_skill.transcripts._reader import READ_CHUNK, LineSource, decode
from keito_skill.transcripts._responses import dedupe_read
from keito_skill.transcripts._state import DEFAULT_IDLE_SECONDS, ParseState

AGENTS = (claude_code.AGENT, codex.AGENT)
_UUID_TAIL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

__all__ = [
    "AGENTS",
    "DEFAULT_IDLE_SECONDS",
    "ParseState",
    "agent_cost",
    "dedupe_read",
    "detect_agent",
    "discover",
    "main_file",
    "parse_file",
    "parse_session",
    "session_id_for",
    "side_files",
    "skip_ahead",
]


# Lines shorter than this are never offered to a parser's ``quick`` path (tests raise it to
# compare the quick paths with full decoding); each parser sets its own ``quick_min``.
QUICK_MIN_BYTES = 0


class _Parser(Protocol):
    quick_min: int

    def feed(self, obj: dict[str, Any]) -> None: ...

    def quick(self, buf: bytearray, start: int, end: int) -> bool: ...


def _parser_for(state: ParseState) -> _Parser:
    if state.agent == claude_code.AGENT:
        return claude_code.ClaudeCodeParser(state)
    if state.agent == codex.AGENT:
        return codex.CodexParser(state)
    raise TranscriptError(f"unknown agent {state.agent!r} (expected one of {', '.join(AGENTS)})")


def agent_cost(agent: str, states: list[ParseState]) -> dict[str, float] | None:
    """The agent's own cost per model when its transcript carries one that reconciles."""
    if agent == claude_code.AGENT:
        return claude_code.agent_cost(states)
    return None


def detect_agent(path: Path, max_lines: int = 50) -> str:
    """Which agent wrote ``path``, judged from its first readable lines."""
    try:
        with open_regular(path) as raw, io.BufferedReader(raw) as handle:
            for _ in range(max_lines):
                line = handle.readline()
                if not line:
                    break
                obj = decode(line)
                if obj is None:
                    continue
                if codex.looks_like(obj):
                    return codex.AGENT
                if claude_code.looks_like(obj):
                    return claude_code.AGENT
    except OSError as exc:
        raise TranscriptError(f"cannot read {path}: {exc.strerror or exc}") from None
    if path.name.startswith("rollout-"):
        return codex.AGENT
    raise TranscriptError(f"{path} does not look like a Claude Code or Codex transcript")


def parse_file(
    path: Path,
    *,
    agent: str | None = None,
    state: ParseState | None = None,
    idle_seconds: int = DEFAULT_IDLE_SECONDS,
    deadline: float | None = None,
) -> ParseState:
    """Fold the bytes of ``path`` after ``state.offset`` into ``state`` (a new one if None).

    Resumes exactly where the checkpoint stopped. A file that shrank (rewritten by the
    agent) or a checkpoint made with another idle threshold is re-read from the start.
    ``deadline`` (a ``time.monotonic()`` value) stops reading early, at a line end: the
    state is a valid checkpoint and the next read goes on from there (a hook's budget).
    Raises :class:`TranscriptError` only when the file cannot be opened (or is not a
    regular file: a FIFO or a device would hang or never end).
    """
    if state is not None and (
        state.idle_seconds != idle_seconds or (agent and agent != state.agent)
    ):
        state = None
    if state is None:
        state = ParseState(agent or detect_agent(path), idle_seconds)
    try:
        handle = open_regular(path)  # unbuffered: LineSource reads in large chunks itself
    except OSError as exc:
        raise TranscriptError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        try:
            size = handle.seek(0, 2)
        except OSError:
            size = 0
        if size < state.offset:
            state = ParseState(state.agent, idle_seconds)
        if state.read_from is None:
            state.read_from = state.offset
        if state.agent == codex.AGENT and "lineage" not in state.extra:
            state.extra["lineage"] = _file_session_id(path)  # until a session_meta names one
        parser = _parser_for(state)
        # A hook reads a few new kilobytes: size the buffer to what is there.
        chunk = min(READ_CHUNK, max(size - state.offset, 0) + 1)
        source = LineSource(handle, state.offset, chunk=chunk, deadline=deadline)
        state.reader = source
        feed, quick = parser.feed, parser.quick
        quick_min = max(QUICK_MIN_BYTES, parser.quick_min)
        lines = 0
        skipped = 0
        try:
            for buf, start, end in source:
                lines += 1
                if end - start >= quick_min and quick(buf, start, end):
                    continue
                line = buf[start:end]
                obj = decode(line)
                if obj is None:
                    if line.strip():
                        skipped += 1
                    continue
                try:
                    feed(obj)
                except (TypeError, ValueError, KeyError, AttributeError, OverflowError):
                    skipped += 1
        except OSError:
            pass
        state.reader = None
        state.offset = source.offset
        if state.session_id is None and state.agent == codex.AGENT:
            match = _UUID_TAIL.search(path.stem)
            if match:  # no session_meta (older Codex): the id the file name ends with
                state.session_id = match.group(0)
        state.lines += lines
        state.skipped_lines += skipped + source.oversized
        state.extra["partial_tail"] = source.partial_tail
        if source.cut_short:
            state.extra["cut_short"] = True  # the deadline stopped it: more to read
        else:
            state.extra.pop("cut_short", None)
    return state


def discover(
    agent: str | None = None,
    *,
    claude_dirs: list[Path] | None = None,
    codex_dirs: list[Path] | None = None,
) -> Iterator[tuple[str, Path, list[Path]]]:
    """Every transcript on this machine as ``(agent, main file, side files)``."""
    if agent in (None, claude_code.AGENT):
        for main, sides in claude_code.transcript_files(claude_dirs):
            yield claude_code.AGENT, main, sides
    if agent in (None, codex.AGENT):
        for main, sides in codex.transcript_files(codex_dirs):
            yield codex.AGENT, main, sides


def main_file(agent: str | None, path: Path) -> Path:
    """The session file ``path`` belongs to: itself, or for a Claude Code 2.0.x subagent
    file (``agent-*.jsonl`` beside the sessions) the session file its lines name."""
    if agent in (None, claude_code.AGENT):
        return claude_code.parent_file(path) or path
    return path


def side_files(agent: str, main: Path) -> list[Path]:
    """Files beside ``main`` that belong to the same session (Claude Code subagents)."""
    if agent == claude_code.AGENT:
        return claude_code.side_files(main)
    return []


def parse_session(
    main: Path,
    *,
    agent: str | None = None,
    sides: list[Path] | None = None,
    states: dict[str, ParseState] | None = None,
    idle_seconds: int = DEFAULT_IDLE_SECONDS,
    deadline: float | None = None,
) -> tuple[list[ParseState], list[Path]]:
    """Parse a session's main transcript and its side files, resuming from ``states``.

    ``states`` maps a path (as ``str``) to its checkpoint. Returns the states, main first,
    and the paths they belong to. A response listed twice in what was read (a replayed
    history, a copy in a side file) keeps its first listing; the ledger settles the rest
    when the checkpoints are stored (see :mod:`._responses`).
    """
    agent = agent or detect_agent(main)
    paths = [main, *(sides if sides is not None else side_files(agent, main))]
    known = states or {}
    parsed: list[ParseState] = []
    kept: list[Path] = []
    for index, path in enumerate(paths):
        try:
            state = parse_file(
                path,
                agent=agent,
                state=known.get(str(path)),
                idle_seconds=idle_seconds,
                deadline=deadline,
            )
        except TranscriptError:
            if index == 0:
                raise
            continue  # a side file that vanished: the main transcript still counts
        parsed.append(state)
        kept.append(path)
    dedupe_read(parsed, [str(p) for p in kept])
    return parsed, kept


def skip_ahead(path: Path, state: ParseState) -> ParseState:
    """Move ``state`` past everything now in ``path`` without counting any of it.

    Used while tracking is paused: the running baselines an agent's format needs (message
    ids seen, Codex's cumulative totals) and the timeline's last event advance, so nothing
    from the paused stretch is billed later — neither its tokens nor the gap it leaves.
    """
    scratch = ParseState.from_dict(state.to_dict())
    scratch = parse_file(path, agent=state.agent, state=scratch, idle_seconds=state.idle_seconds)
    if scratch.offset < state.offset:  # the file was rewritten: start over, still uncounted
        state = ParseState(state.agent, state.idle_seconds)
    state.offset = scratch.offset
    state.lines = scratch.lines
    state.extra = scratch.extra
    # The next event starts afresh: no step from the paused stretch to it is counted.
    state.prev_ts = None
    state.session_id = state.session_id or scratch.session_id
    state.cwd = state.cwd or scratch.cwd
    return state


def _file_session_id(path: Path) -> str:
    match = _UUID_TAIL.search(path.stem)
    return match.group(0) if match else path.stem


def session_id_for(agent: str, path: Path) -> str:
    """The session id hooks report for the transcript at ``path``, read cheaply.

    Claude Code names the file after the session; Codex writes it in the first line's
    ``session_meta`` (and at the end of the file name). Falls back to the file's stem.
    """
    if agent == codex.AGENT:
        sid = codex.session_id(path)
        if sid:
            return sid
        match = _UUID_TAIL.search(path.stem)
        if match:
            return match.group(0)
    return path.stem
