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

from keito_skill.billing import BROKEN, RepoConfigs, decide_for
from keito_skill.keito._metadata import fit_metadata
from keito_skill.ledger import FAILED, FINAL, HELD, PENDING, Ledger, RecordRow, SessionRow
from keito_skill.mapping import RepoConfig, RepoMapping
from keito_skill.summaries import compute, summary_for
from keito_skill.summary import TOKEN_FIELDS, DaySlice, SessionSummary
from keito_skill.sync._daily import REPO_AGENT
from keito_skill.sync._payloads import expense, money, refresh_expense, short_reason, time_entry
from keito_skill.transcripts import parse_session

_REPARSE_ATTEMPTS = 5
MAPPED, EMPTY = "mapped", "empty"


def summary_of(row: SessionRow) -> SessionSummary | None:
    """The session's summary from its stored checkpoints (no file is read)."""
    return compute(row)


def _reparse(ledger: Ledger, row: SessionRow, idle_seconds: int) -> SessionRow:
    """Re-read a session with the repo's idle threshold (it was recorded with another).

    Stored like any checkpoint (optimistically): if a hook wrote meanwhile, read again.
    """
    for _ in range(_REPARSE_ATTEMPTS):
        if not row.transcript_path or not Path(row.transcript_path).exists():
            ledger.set_idle_seconds(row.agent, row.session_id, idle_seconds)
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
    for record in ledger.session_records(row.agent, row.session_id, "expense"):
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
    configs: RepoConfigs | None = None,
    touched: set[tuple[str, str]] | None = None,
) -> str:
    """Bring one session's records up to date; returns its mapping status.

    ``configs``: repo configs already looked up in this pass (thousands of sessions share a
    handful of repos). What to bill, where, or why not: :mod:`keito_skill.billing`.
    """
    decision = decide_for(row, configs)
    if decision.mapping is None:
        return _set_status(ledger, row, decision.status, decision.detail)
    mapping, where = decision.mapping, decision.detail
    config = mapping.config
    if config.idle_seconds != row.idle_seconds:
        row = _reparse(ledger, row, config.idle_seconds)
    summary = summary_for(ledger, row)
    if summary is None or not summary.days:
        return _set_status(ledger, row, EMPTY, "nothing recorded yet")
    stored = summary.model_dump_json()  # as computed: the identity below is the row's
    if summary.session_id != row.session_id:
        # The identity is the ledger's key, the id the agent reports for the file (hooks,
        # backfill and watch all key by it), never the first id inside the transcript: a
        # fork that copies its parent's lines begins with the parent's id.
        summary = summary.model_copy(update={"session_id": row.session_id})

    closing = row.ended or row.close_pending
    segment, carried = _expensed(ledger, row) if closing else (0, {})
    records = ledger.session_records(row.agent, row.session_id)
    with ledger.transaction():
        if ledger.session_version(row.agent, row.session_id) != row.version:
            return "changed"  # a hook wrote meanwhile; the caller goes round again
        if config.billing.granularity == "session":
            entries = [r for r in records if r.kind == "time_entry"]
            last = summary.days[-1].date
            billed = _in_day_entries(ledger, row, summary)
            for day in summary.days:
                if day.date.isoformat() in billed:
                    continue  # billed in its repo's day entry (granularity: day, before)
                _put_day(ledger, row, summary, day, config, entries, past=day.date < last)
        elif touched is not None:  # one entry per repo and day: rebuilt after this pass
            touched.update((where, day.date.isoformat()) for day in summary.days)
        if closing:
            _close_segment(ledger, row, summary, mapping, segment + 1, carried)
        _refresh_unsent_expenses(ledger, records, mapping)
        ledger.save_mapped(
            row.agent,
            row.session_id,
            status=MAPPED,
            detail=where,
            summary=stored,
            project_id=config.project_id,
            task_id=config.task_id,
        )
    return MAPPED


def _close_segment(
    ledger: Ledger,
    row: SessionRow,
    summary: SessionSummary,
    mapping: RepoMapping,
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
            key = body["metadata"]["segment"] = position_key(spent, model, done, delta)
            # What it carries must survive the 4 KB fit: a ledger rebuilt later reads it back.
            body["metadata"] = fit_metadata(body["metadata"], keep=CARRIED_KEYS)
            held = _no_category(mapping)
            ledger.put_record(row.agent, row.session_id, "expense", key, spent, body, held=held)


def _no_category(mapping: RepoMapping) -> str | None:
    """Why expenses must wait: no category to file them under (ids are per account)."""
    if mapping.config.expense_category_id:
        return None
    return (
        f"no expense category: set expense_category_id in {mapping.config_path}"
        " (the category's id from Keito's web app); sent on the next sync"
    )


def _refresh_unsent_expenses(
    ledger: Ledger, records: list[RecordRow], mapping: RepoMapping
) -> None:
    """Expenses not in Keito yet follow the current config: a category set since, a
    project fixed after Keito refused the old one (a retry sends the new payload)."""
    held = _no_category(mapping)
    for record in records:
        if (
            record.kind != "expense"
            or record.remote_id
            or record.status
            not in (
                PENDING,
                FAILED,
                HELD,
            )
        ):
            continue
        body = refresh_expense(record.payload, mapping.config)
        body["metadata"] = fit_metadata(body["metadata"], keep=CARRIED_KEYS)
        ledger.put_record(
            record.agent,
            record.session_id,
            "expense",
            record.key,
            record.spent_date,
            body,
            held=held,
        )


# Time-entry metadata that adds up over a session-day's parts.
_FIGURES = (
    *TOKEN_FIELDS,
    "turns",
    "tool_calls",
    "duration_seconds",
    "active_seconds",
    "billed_seconds",
)
# What describes a day rather than measures it: kept as first sent once the session has
# moved on to a later day, so continuing a session never rewrites an earlier day's entry.
_SETTLED = ("git_branch", "git_rev", "cwd", "agent_version", "cost_source", "skill")


def part_of(key: str) -> int:
    """A time-entry record's part: ``2026-11-21`` is part 1, ``2026-11-21#2`` part 2."""
    _, _, part = key.partition("#")
    return int(part) if part.isdigit() else 1


def _in_day_entries(ledger: Ledger, row: SessionRow, summary: SessionSummary) -> set[str]:
    """The days of this session that a repo day entry in Keito already bills (the repo
    used ``granularity: day`` then): a switch back must not bill them twice."""
    dates = [d.date.isoformat() for d in summary.days]
    found: set[str] = set()
    for record in ledger.time_entries_in_keito(dates, agent=REPO_AGENT):
        members = record.payload.get("_sessions") or []
        if any(m[0] == row.agent and m[1] == row.session_id for m in members):
            found.add(record.spent_date)
    return found


def _put_day(
    ledger: Ledger,
    row: SessionRow,
    summary: SessionSummary,
    day: DaySlice,
    config: RepoConfig,
    entries: list[RecordRow],
    *,
    past: bool,
) -> None:
    """The record for one session-day: its entry, or, once an earlier part of the day is
    final in Keito (approved, locked), a continuation entry with what came after."""
    spent = day.date.isoformat()
    body, held = time_entry(summary, day, config, git_rev=row.git_rev, cwd=row.cwd)
    if held is not None and held.startswith("under 0.01 h") and row.ended:
        held = held.replace("so far", "and the session ended").replace("not sent", "not billed")
    put_parts(ledger, row.agent, row.session_id, spent, body, held, entries, past=past)


def put_parts(
    ledger: Ledger,
    agent: str,
    session_id: str,
    spent: str,
    body: dict[str, Any],
    held: str | None,
    entries: list[RecordRow],
    *,
    past: bool,
) -> None:
    """Put the open part of one entry-day: part 1, or the continuation after the parts
    Keito holds as final."""
    mine = [r for r in entries if r.spent_date == spent]
    finals = [r for r in mine if r.status == FINAL]
    part = max((part_of(r.key) for r in finals), default=0) + 1
    if finals:
        continued = _continuation(body, finals, part)
        if continued is None:
            return  # nothing more than Keito already holds
        body = continued
        if held is None and body["hours"] <= 0:
            held = short_reason(body["metadata"].get("billed_seconds") or 0.0)
    key = spent if part == 1 else f"{spent}#{part}"
    old = next((r for r in mine if r.key == key), None)
    if old is not None:
        body = _settled(body, old, past=past)
    ledger.put_record(agent, session_id, "time_entry", key, spent, body, held=held)


def _continuation(
    body: dict[str, Any], finals: list[RecordRow], part: int
) -> dict[str, Any] | None:
    """``body`` less what the final parts hold (as Keito holds them), as part ``part``."""
    meta = dict(body["metadata"])
    before = [dict(r.payload.get("metadata") or {}) for r in finals]
    for key in _FIGURES:
        if isinstance(meta.get(key), int | float):
            taken = sum(float(m.get(key) or 0) for m in before)
            left = max(0.0, float(meta[key]) - taken)
            meta[key] = int(left) if isinstance(meta[key], int) else round(left, 3)
    if meta.get("cost_usd") is not None:
        taken = sum(float(m.get("cost_usd") or 0) for m in before)
        meta["cost_usd"] = money(max(0.0, float(meta["cost_usd"]) - taken))
    held_hours = sum(float(r.payload.get("hours") or 0) for r in finals)
    hours = round(max(0.0, float(body["hours"]) - held_hours), 2)
    if hours <= 0 and not any(meta.get(k) for k in _FIGURES if k != "duration_seconds"):
        return None
    meta["part"] = part
    out = {k: v for k, v in body.items() if k not in ("started_time", "ended_time")}
    out.update(hours=hours, metadata=meta, notes=f"{body['notes']} (continued, part {part})")
    return out


def _settled(body: dict[str, Any], old: RecordRow, *, past: bool) -> dict[str, Any]:
    """``body`` adjusted against the record's previous payload: metadata keys no longer
    sent are cleared (``null``) once the entry exists in Keito, and a day the session has
    moved on from keeps the notes and descriptions it was sent with."""
    previous = dict(old.payload.get("metadata") or {})
    meta = dict(body["metadata"])
    if old.sent_hash is not None:
        for key in previous:
            meta.setdefault(key, None)
    if past:
        if old.payload.get("notes"):
            body = {**body, "notes": old.payload["notes"]}
        for key in _SETTLED:
            if key in previous:
                meta[key] = previous[key]
        if all(previous.get(k) == meta.get(k) for k in TOKEN_FIELDS):
            meta["cost_usd"] = previous.get("cost_usd", meta.get("cost_usd"))
    return {**body, "metadata": meta}


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


def park_failed(ledger: Ledger, row: SessionRow, error: Exception) -> str:
    """Set aside a session that could not be materialised, with the reason.

    Only a bug of ours, or data we do not understand, gets here. The session is marked
    ``broken``, so ``status`` shows why and every later sync tries it once more (as it does
    for a broken repo config); the sessions after it are still sent: one session must never
    hold back all the others.
    """
    detail = f"could not be processed ({type(error).__name__}: {error}); please report this"
    ledger.set_aside(row.agent, row.session_id, status=BROKEN, detail=detail, version=row.version)
    ledger.log_event("error", "sync", f"{row.agent} session {row.session_id}: {detail}")
    return BROKEN


def _set_status(ledger: Ledger, row: SessionRow, status: str, detail: str) -> str:
    if not row.dirty and row.mapping_status == status and row.mapping_detail == detail:
        # Nothing new since it was last looked at (every sync looks again at sessions that
        # could not be sent, in case their repo was mapped since): its stored summary is
        # current, and summarising thousands of them again on every prompt cost seconds.
        return status
    summary = summary_for(ledger, row)
    ledger.save_unbilled(
        row.agent,
        row.session_id,
        status=status,
        detail=detail,
        summary=summary.model_dump_json() if summary else None,
        version=row.version,
    )
    return status
