"""``sessions``: every session in the agents' transcript directories, answered from the
ledger where it can be.

Re-parsing every transcript to list them took seconds on a heavy user's machine. Each
transcript found is matched to the ledger's row the way a second ``backfill`` does (by
path, else by the session id hooks report; then by size against the stored checkpoint
offsets): a session the ledger holds whole is listed from its stored summary
(:mod:`keito_skill.summaries`); only what the ledger does not hold yet is read, from the
stored checkpoint when there is one. Responses are counted once over the listing, as the
ledger counts them: a transcript read here gives up those the ledger already bills
elsewhere.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from keito_skill.backfill import BackfillOptions, BackfillReport, Candidate, find_candidates
from keito_skill.errors import LedgerError, TranscriptError
from keito_skill.ledger import Ledger, SessionRow, skill_home
from keito_skill.recorder import restore
from keito_skill.summaries import StoredSummary, summaries
from keito_skill.transcripts import dedupe_read, parse_session


def list_sessions(
    agent: str | None,
    *,
    since: date | None,
    until: date | None,
    roots: dict[str, list[Path]],
    idle_seconds: int,
) -> list[StoredSummary]:
    """The sessions found (with any activity in ``since``..``until``), newest first.

    ``idle_seconds``: the idle threshold their times are shown with; a session the ledger
    holds under another threshold (its repo's) is read again with this one.
    """
    options = BackfillOptions(agent=agent, since=since, roots=roots)
    path = skill_home() / "ledger.sqlite3"
    ledger = _open(path)
    try:
        rows = ledger.sessions_for_listing() if ledger is not None else []
        candidates = find_candidates(options, rows, BackfillReport(dry_run=True))
        held = [
            c.row
            for c in candidates
            if c.row is not None and c.unchanged() and c.row.idle_seconds == idle_seconds
        ]
        stored = dict(
            zip(
                [(r.agent, r.session_id) for r in held],
                summaries(ledger, held),
                strict=True,
            )
        )
        owners: dict[str, tuple[str, int]] = {}  # each response counted once over the listing
        found: list[StoredSummary] = []
        for candidate in candidates:
            row = candidate.row
            key = (row.agent, row.session_id) if row is not None else None
            summary = stored.get(key) if key is not None else None
            if summary is None:
                summary = _read(candidate, ledger, owners, idle_seconds)
            if summary is not None and _shown(summary, since, until):
                found.append(summary)
    finally:
        if ledger is not None:
            ledger.close()
    found.sort(key=_ended, reverse=True)
    return found


def _open(path: Path) -> Ledger | None:
    """The ledger if there is one (listing never creates it), else None."""
    if not path.exists():
        return None
    try:
        return Ledger.for_reading(path)
    except LedgerError:
        return None  # damaged: the transcripts are still listed, read from the start


def _read(
    candidate: Candidate,
    ledger: Ledger | None,
    owners: dict[str, tuple[str, int]],
    idle_seconds: int,
) -> StoredSummary | None:
    """A session the ledger does not hold whole, read from its files (from the stored
    checkpoint when that was read with the same idle threshold)."""
    from keito_skill.summary import summarize

    row: SessionRow | None = candidate.row
    known = restore(row.checkpoints) if row is not None and row.idle_seconds == idle_seconds else {}
    try:
        states, paths = parse_session(
            candidate.path,
            agent=candidate.agent,
            sides=candidate.paths[1:],
            states=known,
            idle_seconds=idle_seconds,
        )
    except TranscriptError:
        return None
    names = [str(p) for p in paths]
    if ledger is not None:
        listed = [entry[0] for state in states for entry in state.responses]
        for key, owner in ledger.response_owners(listed).items():
            owners.setdefault(key, owner)
    dedupe_read(states, names, owners)
    return StoredSummary.of(summarize(states, names))


def _ended(summary: StoredSummary) -> datetime:
    when = summary.ended_at or summary.started_at
    assert when is not None  # only sessions with an end are listed (_shown)
    return when


def _shown(summary: StoredSummary, since: date | None, until: date | None) -> bool:
    ended, started = summary.ended_at, summary.started_at
    if ended is None:
        return False
    if since and ended.date() < since:
        return False
    return not (until and started and started.date() > until)
