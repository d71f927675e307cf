"""Reading the agents' own transcript files, incrementally and without ever raising.

Agent-specific knowledge (file layout, line shapes) lives in each agent's adapter
(:mod:`keito_skill.agents`); this module drives them. The rest of the package sees only
:class:`ParseState` (the checkpointable running state) and, through
:mod:`keito_skill.summary`, the agent-neutral ``SessionSummary``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from pathlib import Path

from keito_skill import agents
from keito_skill._safeio import open_regular
from keito_skill.errors import TranscriptError
from keito_skill.transcripts import _reader
from keito_skill.transcripts._reader import READ_CHUNK, LineSource, decode, decode_slowly
from keito_skill.transcripts._responses import dedupe_read
from keito_skill.transcripts._state import DEFAULT_IDLE_SECONDS, LINE_DAMAGE, ParseState

AGENTS = agents.names()

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


def _adapter(agent: str) -> agents.Adapter:
    try:
        return agents.adapter(agent)
    except agents.UnknownAgentError as exc:
        raise TranscriptError(str(exc)) from None


def agent_cost(agent: str, states: list[ParseState]) -> dict[str, float] | None:
    """The agent's own cost per model when its transcript carries one that reconciles
    (None for an agent no adapter is registered for: its tokens are priced)."""
    return agents.adapter(agent).agent_cost(states) if agent in agents.ADAPTERS else None


def detect_agent(path: Path, max_lines: int = 50) -> str:
    """Which agent wrote ``path``, judged from its first readable lines."""
    known = agents.adapters()
    try:
        with open_regular(path) as raw, io.BufferedReader(raw) as handle:
            for _ in range(max_lines):
                line = handle.readline()
                if not line:
                    break
                obj = decode(line)
                if obj is None:
                    continue
                matches = [adapter for adapter in known if adapter.looks_like(obj)]
                if matches:  # a line two agents' shapes fit: the file name decides
                    named = [adapter for adapter in matches if adapter.owns_name(path)]
                    return (named or matches)[0].name
    except OSError as exc:
        raise TranscriptError(f"cannot read {path}: {exc.strerror or exc}") from None
    for adapter in known:
        if adapter.owns_name(path):
            return adapter.name
    labels = " or ".join(adapter.label for adapter in known)
    raise TranscriptError(f"{path} does not look like a {labels} transcript")


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
        adapter = _adapter(state.agent)
        adapter.begin_read(state, path)
        parser = adapter.parser(state)
        # A hook reads a few new kilobytes: size the buffer to what is there.
        chunk = min(READ_CHUNK, max(size - state.offset, 0) + 1)
        source = LineSource(handle, state.offset, chunk=chunk, deadline=deadline)
        state.reader = source
        feed, quick = parser.feed, parser.quick
        quick_min = max(QUICK_MIN_BYTES, parser.quick_min)
        loads = _reader.FAST_LOADS or decode_slowly  # decode(), spelt out: it runs per line
        lines = 0
        skipped = 0
        try:
            for buf, start, end in source:
                lines += 1
                if end - start >= quick_min and quick(buf, start, end):
                    continue
                line = buf[start:end]
                try:
                    obj = loads(line)
                except ValueError:
                    obj = decode_slowly(line)
                if obj.__class__ is not dict:
                    if line.strip():
                        skipped += 1
                    continue
                try:
                    feed(obj)
                except LINE_DAMAGE:
                    skipped += 1
        except OSError:
            pass
        state.reader = None
        state.offset = source.offset
        adapter.end_read(state, path)
        state.lines += lines
        state.skipped_lines += skipped + source.oversized
        state.extra["partial_tail"] = source.partial_tail
        if source.cut_short:
            state.extra["cut_short"] = True  # the deadline stopped it: more to read
        else:
            state.extra.pop("cut_short", None)
    return state


def discover(
    agent: str | None = None, *, roots: Mapping[str, list[Path]] | None = None
) -> Iterator[tuple[str, Path, list[Path]]]:
    """Every transcript on this machine as ``(agent, main file, side files)``.

    ``roots`` maps an agent to the directories to look in instead of its defaults.
    """
    for adapter in agents.adapters() if agent is None else [_adapter(agent)]:
        for main, sides in adapter.transcript_files((roots or {}).get(adapter.name)):
            yield adapter.name, main, sides


def main_file(agent: str | None, path: Path) -> Path:
    """The session file ``path`` belongs to: itself, or for a side file written beside the
    sessions the session file its lines name (asked of every agent when ``agent`` is None)."""
    for adapter in agents.adapters() if agent is None else [_adapter(agent)]:
        found = adapter.main_file(path)
        if found != path:
            return found
    return path


def side_files(agent: str, main: Path) -> list[Path]:
    """Files beside ``main`` that belong to the same session (subagents)."""
    return _adapter(agent).side_files(main)


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
    extra = getattr(_adapter(agent), "extra_states", None)  # optional: usage in no transcript
    if extra is not None:
        extra(parsed, kept, known, idle_seconds=idle_seconds, deadline=deadline)
    dedupe_read(parsed, [str(p) for p in kept])
    return parsed, kept


def skip_ahead(path: Path, state: ParseState) -> ParseState:
    """Move ``state`` past everything now in ``path`` without counting any of it.

    Used while tracking is paused: the running baselines an agent's format needs (message
    ids seen, cumulative totals) and the timeline's last event advance, so nothing
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


def session_id_for(agent: str, path: Path) -> str:
    """The session id hooks report for the transcript at ``path``, read cheaply (each agent
    knows where it writes it: the file name, or its first line)."""
    return _adapter(agent).session_id_for(path)
