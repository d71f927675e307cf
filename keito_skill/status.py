"""``status``'s figures: credentials, sessions, records and problems, from the ledger.

Read only (no network, no ledger writes), so ``status`` works offline and on a ledger whose
disk is full or read-only; ``doctor`` reads the same figures.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from keito_skill.billing import RepoConfigs
from keito_skill.ledger import Ledger

_OUR_ENDS = frozenset({"backfill", "idle"})  # see keito_skill.backfill.OUR_END_REASONS
# The event a sync that sent everything logs: problems before it are shown as resolved.
SYNC_COMPLETED = "sync completed"


def credentials_info() -> dict[str, Any]:
    """Where the credentials come from (never the key), without opening a client."""
    from keito_skill.keito import KeitoConfigError, KeitoCredentialsError, load_credentials

    try:
        creds = load_credentials()
    except (KeitoCredentialsError, KeitoConfigError) as exc:  # a bad URL: shown, not fatal
        return {"configured": False, "reason": str(exc)}
    return {
        "configured": True,
        "account_id": creds.account_id,
        "api_url": creds.api_url,
        "api_key_source": creds.api_key_source,
        "account_id_source": creds.account_id_source,
    }


def _when(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds") if ts else None


def status_data(ledger: Ledger) -> dict[str, Any]:
    """Where things stand: credentials, sessions, records, problems (``status --json``)."""
    creds = credentials_info()
    counts = ledger.counts()
    sessions = ledger.sessions()
    by_mapping: dict[str, int] = {}
    for row in sessions:
        by_mapping[row.mapping_status] = by_mapping.get(row.mapping_status, 0) + 1
    attention = [
        {
            "agent": row.agent,
            "session_id": row.session_id,
            "cwd": row.cwd,
            "status": row.mapping_status,
            "detail": row.mapping_detail,
        }
        for row in sessions
        if row.mapping_status in ("unmapped", "broken")  # what sessions_not_sent() selects
    ]
    failed = [
        {
            "session_id": r.session_id,
            "kind": r.kind,
            "key": r.key,
            "status": r.status,
            "reason": r.last_error,
            "at": _when(r.updated_at),
        }
        for r in ledger.records_with_errors()[-20:]
    ]
    final = [
        {
            "session_id": r.session_id,
            "spent_date": r.spent_date,
            "key": r.key,
            "hours": r.payload.get("hours"),
            "reason": r.last_error,
        }
        for r in ledger.records(status="final")[-20:]
    ]
    ok = ledger.recent_events(1, level="info", source="sync", message=SYNC_COMPLETED)
    last_ok = ok[0]["at"] if ok else None
    problems = ledger.recent_events(20, level="error")
    current = [p for p in problems if last_ok is None or p["at"] > last_ok]
    resolved = [p for p in problems if last_ok is not None and p["at"] <= last_ok]
    ended_late = [row for row in sessions if row.ended and row.end_reason in _OUR_ENDS]
    return {
        "credentials": creds,
        "ledger": str(ledger.path),
        "last_successful_sync": _when(last_ok),
        "sessions": {
            "total": len(sessions),
            "active": sum(1 for r in sessions if not r.ended),
            "paused": sum(1 for r in sessions if r.paused),
            "by_mapping": by_mapping,
            "needs_attention": attention,
            # Ended by watch/backfill when their transcript went quiet: no SessionEnd was
            # recorded (agent killed, hook missed, or the ledger could not be written).
            "ended_without_session_end": len(ended_late),
            # Part of their usage not read yet (Gemini CLI's telemetry not written yet, or
            # not configured): billed less than they used until it arrives.
            "usage_incomplete": [
                {"agent": agent, "session_id": sid, "cwd": cwd, "reason": why}
                for agent, sid, cwd, why in ledger.sessions_with_incomplete_usage()
            ],
        },
        "records": {
            "pending": counts.get("pending", 0) + counts.get("sending", 0),
            # of which maybe sent, waiting (a grace period) to be looked up before a resend
            "unconfirmed": counts.get("sending", 0),
            "sent": counts.get("sent", 0),
            "failed": counts.get("failed", 0),
            "held": counts.get("held", 0),
            "final": counts.get("final", 0),
        },
        "final_entries": final,
        "rounding": rounding_warning(ledger),
        "last_errors": failed,
        # Problems since the last successful sync; older ones were followed by a success.
        "recent_problems": [{**e, "at": _when(e["at"])} for e in current[:10]],
        "resolved_problems": [{**e, "at": _when(e["at"])} for e in resolved[:10]],
        # duplicate time entries found in Keito: deleted, or left there because final
        "duplicates": [
            {**e, "at": _when(e["at"])} for e in ledger.recent_events(10, source="duplicates")
        ],
    }


def rounding_warning(ledger: Ledger, *, share: float = 0.5) -> dict[str, Any] | None:
    """When most time entries are shorter than the account's rounding step (a repo's
    ``billing.rounding``), the account bills far more than was worked: say so, and what
    ``billing.granularity: day`` would do about it."""
    configs = RepoConfigs()  # one config read per repo
    short = total = 0
    billed = worked = 0.0
    for record in ledger.records(kind="time_entry"):
        if record.status == "held":
            continue
        rules = configs.billing(str(record.payload.get("metadata", {}).get("cwd") or ""))
        step = rules.rounding_step() if rules else None
        if rules is None or step is None:
            continue
        hours = float(record.payload.get("hours") or 0.0)
        total += 1
        short += hours < step
        worked += hours
        billed += rules.rounded_hours(hours)
    if total == 0 or short < max(2, share * total):
        return None
    return {
        "entries": total,
        "below_step": short,
        "hours": round(worked, 2),
        "rounded_hours": round(billed, 2),
        "message": (
            f"{short} of {total} time entries are shorter than the account's rounding step:"
            f" {worked:.2f} h worked bills as {billed:.2f} h. Consider"
            " 'billing: {granularity: day}' in .keito/config.yml (one entry per day)."
        ),
    }
