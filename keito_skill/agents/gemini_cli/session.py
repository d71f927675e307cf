"""A Gemini CLI session's complete usage: its chat files plus its share of the telemetry file.

The chat files (main, subagents) hold the conversation's requests; the routing model and
the other utility calls are only in the telemetry outfile (see :mod:`.telemetry`). So a
session is read as its chat files **and** one more state: the telemetry records of that
session whose role no chat file records, checkpointed like a file under the outfile's path
(the ledger keeps checkpoints per session and path, so each session has its own offset
into the shared file). Every telemetry record is keyed (:func:`.telemetry.response_key`),
so reading it again — a later hook, the background sync, watch, backfill — bills nothing
twice; a record that arrives late (the CLI writes them every 5 s and at exit, after its
last hook) is billed by whichever read comes next.

Completeness is checked, not assumed: the telemetry file also lists the chat's own
requests (roles ``main`` and ``subagent``). When it lists less of them than the chat
files hold, its records have not all arrived yet. The main state then carries
``extra["usage_incomplete"]`` (the reason, shown by ``parse`` and ``status``), as it does
when no telemetry file is configured at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from keito_skill.agents.gemini_cli import paths
from keito_skill.agents.gemini_cli.telemetry import parse_telemetry, time_at
from keito_skill.agents.gemini_cli.transcript import AGENT, UNRECORDED_USAGE
from keito_skill.errors import TranscriptError
from keito_skill.transcripts._state import CACHE_READ, INPUT, OUTPUT, ParseState

TYPE_CHECKING = False  # mypy takes it for typing's; importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "INCOMPLETE",
    "WAITING",
    "is_telemetry",
    "read_telemetry",
    "telemetry_path",
    "usage_gap",
]

#: Records written this long after a session's last event are not the session's.
SETTLED_SECONDS = 600.0
#: ``extra`` key of the main state naming why its usage is not complete.
INCOMPLETE = "usage_incomplete"
WAITING = (
    "Gemini CLI's telemetry file does not hold all of this session's requests yet (it is"
    " written every 5 s and at exit): the routing model's usage is billed when it arrives"
)


def is_telemetry(state: ParseState | Mapping[str, Any]) -> bool:
    """Whether a state (or a checkpoint dict) is a telemetry share, not a chat file."""
    extra = state.get("extra") if isinstance(state, Mapping) else state.extra
    return isinstance(extra, dict) and extra.get("source") == "telemetry"


def telemetry_path(
    known: Mapping[str, ParseState], cwd: str | None, env: Mapping[str, str] | None = None
) -> Path | None:
    """The outfile this session's telemetry is read from: the one already checkpointed
    (settings may have changed since), else what Gemini CLI's settings name now."""
    for path, state in known.items():
        if is_telemetry(state):
            return Path(path)
    return paths.telemetry_outfile(env, Path(cwd) if cwd else None)


def _sum(vectors: list[list[int]]) -> int:
    return sum(v[INPUT] + v[CACHE_READ] + v[OUTPUT] for v in vectors)


def usage_gap(
    chats: list[ParseState], telemetry: ParseState | None, outfile: Path | None
) -> str | None:
    """Why this session's usage is not complete yet, or None when it is."""
    chat = _sum([v for s in chats for v in s.model_totals().values()])
    if outfile is None:
        return UNRECORDED_USAGE if chat else None
    if telemetry is None:
        if not chat:
            return None
        return (
            f"Gemini CLI's telemetry file {outfile} is missing:"
            " the routing model's usage cannot be read"
        )
    recorded = telemetry.extra.get("recorded_roles") or {}
    seen = _sum([list(v) for v in recorded.values() if isinstance(v, list)])
    return WAITING if seen < chat else None


def _settled(chats: list[ParseState], prior: ParseState, outfile: Path) -> bool:
    """Whether this session's share of the telemetry file is known to be whole: it was
    complete when last read, and what was written since starts well after the session's
    last event (so none of it can be the session's). Spares every finished session a read
    of the shared file's growth."""
    if (
        outfile is None
        or not prior.extra.get("complete")
        or prior.session_id != chats[0].session_id
    ):
        return False
    lasts = [s.last_ts for s in chats if s.last_ts is not None]
    if not lasts:
        return False
    when = time_at(outfile, prior.offset)
    return when is not None and when > max(lasts) + SETTLED_SECONDS


def read_telemetry(
    chats: list[ParseState],
    known: Mapping[str, ParseState],
    *,
    idle_seconds: int,
    deadline: float | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[ParseState, Path] | None:
    """This session's telemetry share, read on from its checkpoint in ``known``, and the
    outfile's path (its checkpoint key); None when there is none to read. Marks the main
    chat state (``chats[0]``) with :data:`INCOMPLETE` when usage is missing."""
    main = chats[0]
    sid = main.session_id
    outfile = telemetry_path(known, main.cwd, env)
    state: ParseState | None = None
    prior = known.get(str(outfile)) if outfile is not None else None
    if prior is not None and outfile is not None and _settled(chats, prior, outfile):
        main.extra.pop(INCOMPLETE, None)
        return prior, outfile
    if sid and outfile is not None:
        firsts = [s.first_ts for s in chats if s.first_ts is not None]
        try:
            state = parse_telemetry(
                outfile,
                sid,
                state=known.get(str(outfile)),
                idle_seconds=idle_seconds,
                since=min(firsts) if firsts else None,
                deadline=deadline,
            )
        except TranscriptError:
            state = None
    gap = usage_gap(chats, state, outfile)
    if gap is None:
        main.extra.pop(INCOMPLETE, None)
    else:
        main.extra[INCOMPLETE] = gap
    if state is not None:
        state.extra["complete"] = gap is None
    if state is None or outfile is None:
        return None
    return state, outfile


def add_telemetry(
    states: list[ParseState],
    paths_read: list[Path],
    known: Mapping[str, ParseState],
    *,
    idle_seconds: int,
    deadline: float | None = None,
    skip: bool = False,
) -> None:
    """Append the session's telemetry share to the states just read from its chat files
    (``states[0]`` the main one) and its outfile to ``paths_read``, in place.

    ``skip`` (tracking paused): move past the records written meanwhile without billing
    them, as the chat files are skipped.
    """
    if not states:
        return
    if not skip:
        found = read_telemetry(states, known, idle_seconds=idle_seconds, deadline=deadline)
        if found is not None:
            states.append(found[0])
            paths_read.append(found[1])
        return
    outfile = telemetry_path(known, states[0].cwd)
    prior = known.get(str(outfile)) if outfile is not None else None
    sid = states[0].session_id
    if outfile is None or not sid:
        return
    if prior is None:  # nothing read from it yet: start past everything there now
        prior = ParseState(AGENT, idle_seconds)
        prior.session_id, prior.extra["source"] = sid, "telemetry"
        try:
            prior.offset = outfile.stat().st_size
        except OSError:
            return
    scratch = ParseState.from_dict(prior.to_dict())
    try:
        scratch = parse_telemetry(outfile, sid, state=scratch)
    except TranscriptError:
        return
    if scratch.offset >= prior.offset:
        prior.offset = scratch.offset
        prior.extra = scratch.extra
    states.append(prior)
    paths_read.append(outfile)
