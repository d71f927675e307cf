"""Turning recorded sessions into records to send (ledger → ledger, no network).

For each session that changed: summarise its checkpoints, find its repo mapping, and put
one time-entry record per day. When the session ended (or was finalised), close its usage
segment: whatever usage no expense carries yet becomes new expense records, one per
(day, model). Expenses cannot be updated in Keito, so a later resume only ever adds a new
segment; the expenses of a session therefore always add up to its transcript totals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keito_skill.keito._metadata import fit_metadata
from keito_skill.ledger import Ledger, SessionRow
from keito_skill.mapping import ConfigProblem, Mapping, RepoConfig, resolve
from keito_skill.recorder import restore
from keito_skill.summary import TOKEN_FIELDS, SessionSummary, summarize
from keito_skill.sync._payloads import expense, time_entry
from keito_skill.transcripts import parse_session

_REPARSE_ATTEMPTS = 5
MAPPED, UNMAPPED, BROKEN, DISABLED, EMPTY = "mapped", "unmapped", "broken", "disabled", "empty"


def summary_of(row: SessionRow) -> SessionSummary | None:
    """The session's summary from its stored checkpoints (no file is read)."""
    states = restore(row.checkpoints)
    if not states:
        return None
    return summarize(list(states.values()), list(states))


def _reparse(ledger: Ledger, row: SessionRow, idle_seconds: int) -> SessionRow:
    """Re-read a session with the repo's idle threshold (it was recorded with another).

    Stored like any checkpoint (optimistically): if a hook wrote meanwhile, read again.
    """
    for _ in range(_REPARSE_ATTEMPTS):
        if not row.transcript_path or not Path(row.transcript_path).exists():
            ledger.set_session(row.agent, row.session_id, idle_seconds=idle_seconds)
            break
        states, paths = parse_session(
            Path(row.transcript_path), agent=row.agent, idle_seconds=idle_seconds
        )
        checkpoints = {str(p): s.to_dict() for p, s in zip(paths, states, strict=True)}
        if ledger.save_checkpoints(
            row.agent,
            row.session_id,
            checkpoints,
            expected_version=row.version,
            idle_seconds=idle_seconds,
        ):
            break
        again = ledger.session(row.agent, row.session_id)
        assert again is not None
        row = again
    fresh = ledger.session(row.agent, row.session_id)
    assert fresh is not None
    return fresh


def _expensed(ledger: Ledger, row: SessionRow) -> tuple[int, dict[tuple[str, str], dict[str, Any]]]:
    """Highest segment number so far, and what expenses already carry per (day, model)."""
    carried: dict[tuple[str, str], dict[str, Any]] = {}
    last_segment = 0
    for record in ledger.records(
        "agent = ? AND session_id = ? AND kind = 'expense'", (row.agent, row.session_id)
    ):
        meta = record.payload.get("metadata", {})
        last_segment = max(last_segment, int(meta.get("segment_number", 0)))
        slot = carried.setdefault(
            (record.spent_date, str(meta.get("model"))),
            {**dict.fromkeys(TOKEN_FIELDS, 0), "cost": 0.0},
        )
        for key in TOKEN_FIELDS:
            slot[key] += int(meta.get(key, 0))
        slot["cost"] += float(meta.get("cost_usd") or 0.0)
    return last_segment, carried


def materialize(
    ledger: Ledger,
    row: SessionRow,
    configs: dict[str, Mapping | ConfigProblem | None] | None = None,
) -> str:
    """Bring one session's records up to date; returns its mapping status.

    ``configs``: repo configs already looked up in this pass, by cwd (thousands of sessions
    share a handful of repos).
    """
    if row.mapping_status == DISABLED:
        # Seen while its repository was disabled: never billed, also after ``enable``
        # (only ``backfill --include-disabled`` clears it; see sync/_disabled.py).
        return _set_status(ledger, row, DISABLED, row.mapping_detail or "tracking disabled")
    found = _config_for(row.cwd, {} if configs is None else configs)
    if isinstance(found, ConfigProblem):
        return _set_status(ledger, row, BROKEN, str(found))
    mapping: Mapping | None = found
    if mapping is not None and not mapping.config.agent_tracking.enabled:
        return _set_status(ledger, row, DISABLED, f"{mapping.config_path}: tracking disabled")
    where = str(mapping.config_path) if mapping is not None else ""
    if mapping is None or not mapping.config.is_mapped:
        overridden = _override(row, mapping)
        if overridden is None:
            detail = "no .keito/config.yml" if mapping is None else f"{where}: no project/task"
            return _set_status(ledger, row, UNMAPPED, detail)
        mapping, where = overridden, "override (backfill --project/--task)"
    config = mapping.config
    if not config.agent_tracking.enabled:
        return _set_status(ledger, row, DISABLED, f"{mapping.config_path}: tracking disabled")
    if config.idle_seconds != row.idle_seconds:
        row = _reparse(ledger, row, config.idle_seconds)
    summary = summary_of(row)
    if summary is None or not summary.days:
        return _set_status(ledger, row, EMPTY, "nothing recorded yet")
    if summary.session_id != row.session_id:
        # The identity is the ledger's key, the id the agent reports for the file (hooks,
        # backfill and watch all key by it), never the first id inside the transcript: a
        # fork that copies its parent's lines begins with the parent's id.
        summary = summary.model_copy(update={"session_id": row.session_id})

    closing = row.ended or row.close_pending
    segment, carried = _expensed(ledger, row) if closing else (0, {})
    with ledger.write() as db:
        version = db.execute(
            "SELECT version FROM sessions WHERE agent = ? AND session_id = ?",
            (row.agent, row.session_id),
        ).fetchone()[0]
        if version != row.version:
            return "changed"  # a hook wrote meanwhile; the caller goes round again
        for day in summary.days:
            body, held = time_entry(summary, day, config, git_rev=row.git_rev, cwd=row.cwd)
            ledger.put_record(
                db,
                row.agent,
                row.session_id,
                "time_entry",
                day.date.isoformat(),
                day.date.isoformat(),
                body,
                held=held,
            )
        if closing:
            _close_segment(ledger, db, row, summary, mapping, segment + 1, carried)
        db.execute(
            "UPDATE sessions SET dirty = 0, close_pending = 0, summary = ?, mapping_status = ?,"
            " mapping_detail = ?, project_id = ?, task_id = ? WHERE agent = ? AND session_id = ?",
            (
                summary.model_dump_json(),
                MAPPED,
                where,
                config.project_id,
                config.task_id,
                row.agent,
                row.session_id,
            ),
        )
    return MAPPED


def _close_segment(
    ledger: Ledger,
    db: Any,
    row: SessionRow,
    summary: SessionSummary,
    mapping: Mapping,
    segment: int,
    carried: dict[tuple[str, str], dict[str, Any]],
) -> None:
    for day in summary.days:
        spent = day.date.isoformat()
        for model, usage in day.models.items():
            done = carried.get((spent, model), {})
            delta = {k: max(0, int(getattr(usage, k)) - int(done.get(k, 0))) for k in TOKEN_FIELDS}
            if not any(delta[k] for k in TOKEN_FIELDS if k != "reasoning_output_tokens"):
                continue
            cost = None
            if usage.cost_usd is not None:
                cost = max(0.0, usage.cost_usd - float(done.get("cost", 0.0)))
            body = expense(
                summary,
                mapping.config,
                segment=segment,
                spent_date=spent,
                model=model,
                tokens=delta,
                cost_usd=cost,
            )
            body["metadata"]["segment"] = position_key(spent, model, done, delta)
            # What it carries must survive the 4 KB fit: a ledger rebuilt later reads it back.
            body["metadata"] = fit_metadata(body["metadata"], keep=CARRIED_KEYS)
            ledger.put_record(
                db, row.agent, row.session_id, "expense", body["metadata"]["segment"], spent, body
            )


# An expense's keys that a later ledger needs to know what it carries (never shortened).
CARRIED_KEYS = ("session_id", "segment", "segment_number", *TOKEN_FIELDS, "cost_usd")


def position_key(spent: str, model: str, done: dict[str, Any], delta: dict[str, int]) -> str:
    """An expense's key: its day, model and the span of the session's usage it carries
    (cumulative tokens of that day and model, from what earlier expenses carry to the end
    of this one). The same usage gets the same key whichever ledger made it, so a look-up
    by key can trust a match; a count of one ledger's segments could not be trusted."""
    billed = [k for k in TOKEN_FIELDS if k != "reasoning_output_tokens"]
    start = sum(int(done.get(k, 0)) for k in billed)
    return f"{spent}/{model}/{start}-{start + sum(delta[k] for k in billed)}"


def _override(row: SessionRow, mapping: Mapping | None) -> Mapping | None:
    """The project/task ``backfill --project/--task`` gave a session that has none of its own.

    Only a session without a usable mapping takes it: a repo's own ``.keito/config.yml``
    always wins, and a broken one is reported rather than papered over. Everything else
    (billing, notes, metadata) comes from the repo's config when there is one.
    """
    if not (row.override_project_id and row.override_task_id):
        return None
    base = mapping.config if mapping is not None else RepoConfig()
    config = base.model_copy(
        update={"project_id": row.override_project_id, "task_id": row.override_task_id}
    )
    root = mapping.repo_root if mapping is not None else Path(row.cwd or ".")
    return Mapping(config_path=root / ".keito" / "config.yml", repo_root=root, config=config)


def _config_for(
    cwd: str | None, configs: dict[str, Mapping | ConfigProblem | None]
) -> Mapping | ConfigProblem | None:
    if not cwd:
        return None
    if cwd not in configs:
        try:
            configs[cwd] = resolve(cwd)
        except ConfigProblem as problem:
            configs[cwd] = problem
    return configs[cwd]


def park_failed(ledger: Ledger, row: SessionRow, error: Exception) -> str:
    """Set aside a session that could not be materialised, with the reason.

    Only a bug of ours, or data we do not understand, gets here. The session is marked
    ``broken``, so ``status`` shows why and every later sync tries it once more (as it does
    for a broken repo config); the sessions after it are still sent: one session must never
    hold back all the others.
    """
    detail = f"could not be processed ({type(error).__name__}: {error}); please report this"
    with ledger.write() as db:
        db.execute(
            "UPDATE sessions SET mapping_status = ?, mapping_detail = ?,"
            " dirty = CASE WHEN version = ? THEN 0 ELSE dirty END"
            " WHERE agent = ? AND session_id = ?",
            (BROKEN, detail, row.version, row.agent, row.session_id),
        )
    ledger.log_event("error", "sync", f"{row.agent} session {row.session_id}: {detail}")
    return BROKEN


def _set_status(ledger: Ledger, row: SessionRow, status: str, detail: str) -> str:
    if not row.dirty and row.mapping_status == status and row.mapping_detail == detail:
        # Nothing new since it was last looked at (every sync looks again at sessions that
        # could not be sent, in case their repo was mapped since): its stored summary is
        # current, and summarising thousands of them again on every prompt cost seconds.
        return status
    summary = summary_of(row)
    with ledger.write() as db:
        db.execute(
            "UPDATE sessions SET mapping_status = ?, mapping_detail = ?, summary = ?,"
            " dirty = CASE WHEN version = ? THEN 0 ELSE dirty END"
            " WHERE agent = ? AND session_id = ?",
            (
                status,
                detail,
                summary.model_dump_json() if summary else None,
                row.version,
                row.agent,
                row.session_id,
            ),
        )
    return status
