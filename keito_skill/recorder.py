"""Recording a session into the ledger: the one path hooks, backfill and watch share.

Reads the transcript from the session's checkpoint (only new bytes), and stores the new
checkpoint optimistically: parsing happens outside any lock, and if another process stored
a newer checkpoint meanwhile, we parse again from that one. Standard library and our own
parser only — this runs inside the agent's hooks.
"""

from __future__ import annotations

from pathlib import Path

from keito_skill import agents
from keito_skill.errors import TranscriptError
from keito_skill.ledger import Ledger, SessionRow
from keito_skill.transcripts import ParseState, parse_session, side_files, skip_ahead

TYPE_CHECKING = False  # mypy takes it for typing's; importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from typing import Any

_ATTEMPTS = 8


def restore(checkpoints: dict[str, Any]) -> dict[str, ParseState]:
    """Checkpoints from the ledger as parse states; an outdated format is dropped (re-read)."""
    states: dict[str, ParseState] = {}
    for path, data in checkpoints.items():
        try:
            states[path] = ParseState.from_dict(data)
        except (ValueError, KeyError, TypeError, AttributeError):  # outdated or damaged
            continue
    return states


def record(
    ledger: Ledger,
    agent: str,
    session_id: str,
    transcript_path: str | Path | None,
    *,
    cwd: str | None = None,
    end_reason: str | None = None,
    origin: str = "hook",
    git_branch: str | None = None,
    git_rev: str | None = None,
    model: str | None = None,
    reopen: bool = False,
    deadline: float | None = None,
) -> SessionRow:
    """Bring the ledger's copy of a session up to date with its transcript.

    ``end_reason`` marks the session ended (its open usage segment will be expensed).
    ``deadline`` (``time.monotonic()``) stops reading the transcript early, at a line end;
    what was read is stored, and the rest is read by the next call.
    Raises :class:`TranscriptError` when the transcript cannot be read; the session itself
    is recorded first (and ended, if asked), so it is never lost.
    """
    row = ledger.touch_session(
        agent,
        session_id,
        transcript_path=str(transcript_path) if transcript_path else None,
        cwd=cwd,
        git_branch=git_branch,
        git_rev=git_rev,
        model=model,
        origin=origin,
        reopen=reopen,
    )
    path = Path(row.transcript_path) if row.transcript_path else None
    for _ in range(_ATTEMPTS):
        if path is None or not path.exists():
            if end_reason is not None:
                ledger.save_checkpoints(
                    agent, session_id, row.checkpoints, expected_version=row.version, end=end_reason
                )
            if path is None:
                return row
            raise TranscriptError(f"transcript not found: {path}")
        known = restore(row.checkpoints)
        if row.paused:
            paths = [path, *side_files(agent, path)]
            states = [
                skip_ahead(p, known.get(str(p)) or ParseState(agent, row.idle_seconds))
                for p in paths
                if p.exists()
            ]
            kept = [p for p in paths if p.exists()]
            extra = getattr(agents.adapter(agent), "extra_states", None)
            if extra is not None:  # usage kept outside the transcript: skipped too
                extra(states, kept, known, idle_seconds=row.idle_seconds, skip=True)
        else:
            try:
                states, kept = parse_session(
                    path,
                    agent=agent,
                    states=known,
                    idle_seconds=row.idle_seconds,
                    deadline=deadline,
                )
            except TranscriptError:
                # A FIFO, a device, no permission: the end is still the end.
                if end_reason is not None:
                    ledger.save_checkpoints(
                        agent,
                        session_id,
                        row.checkpoints,
                        expected_version=row.version,
                        end=end_reason,
                    )
                raise
        checkpoints = {str(p): s.to_dict() for p, s in zip(kept, states, strict=True)}
        if ledger.save_checkpoints(
            agent, session_id, checkpoints, expected_version=row.version, end=end_reason
        ):
            fresh = ledger.session(agent, session_id)
            assert fresh is not None
            return fresh
        again = ledger.session(agent, session_id)
        assert again is not None
        row = again
    raise TranscriptError(f"session {session_id} kept changing under us; try again")
