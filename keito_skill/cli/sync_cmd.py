"""``sync`` and ``status``: send what was recorded, and show where things stand."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from keito_skill.cli._output import SendingBar, counted, emit_json, print_table
from keito_skill.ledger import Ledger
from keito_skill.logs import file_logger

if TYPE_CHECKING:
    from keito_skill.mapping import Billing

_OUR_ENDS = frozenset({"backfill", "idle"})  # see keito_skill.backfill.OUR_END_REASONS


def open_client(*, max_retries: int = 4) -> tuple[Any | None, str | None]:
    """A Keito client from the user's credentials, or None with the reason."""
    from keito_skill.keito import KeitoClient, KeitoCredentialsError, load_credentials

    try:
        creds = load_credentials()
    except KeitoCredentialsError as exc:
        return None, str(exc)
    return KeitoClient.from_credentials(creds, max_retries=max_retries), None


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


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--retry-failed", is_flag=True, help="Also retry records Keito rejected before.")
@click.option("--background", is_flag=True, hidden=True, help="Run detached from a hook.")
def sync(as_json: bool, retry_failed: bool, background: bool) -> None:
    """Send every recorded session to Keito: time entries, then expenses."""
    from keito_skill.sync import run_sync

    log = file_logger()
    # A background sync gives up sooner: the next hook starts another one anyway.
    client, offline = open_client(max_retries=1 if background else 4)
    with Ledger() as ledger, SendingBar() as bar:
        try:
            report = run_sync(
                ledger,
                client,
                offline_reason=offline,
                retry_failed=retry_failed,
                wait=120.0,
                background=background,
                progress=None if background or as_json else bar,
            )
        finally:
            if client is not None:
                client.close()
        if report.ran and not report.offline and not report.sent.aborted:
            # ``status`` shows only the problems since then as current.
            ledger.log_event("info", "sync", SYNC_COMPLETED)
        unsent = 0 if background else len(ledger.sessions(_UNSENT))
    sent = report.sent
    log.info(
        "sync: ran=%s created=%d updated=%d existing=%d failed=%d aborted=%s offline=%s",
        report.ran,
        sent.created,
        sent.updated,
        sent.existing,
        sent.failed,
        sent.aborted,
        report.offline,
    )
    for error in sent.errors:
        log.warning(
            "sync: %s %s %s rejected: %s",
            error["session_id"],
            error["kind"],
            error["key"],
            error["reason"],
        )
    if background:
        return
    if as_json:
        emit_json(report.to_dict())
    elif not report.ran:
        click.echo("Another sync is running; it will send everything recorded so far.")
    else:
        if sent.created or sent.updated or sent.existing or sent.failed or report.offline:
            click.echo(
                f"created {sent.created}, updated {sent.updated}, already there {sent.existing}, "
                f"failed {sent.failed}"
            )
        elif not sent.aborted:
            click.echo("Nothing new to send.")
        if unsent:
            click.echo(
                f"{counted(unsent, 'session')} not sent: no usable Keito mapping "
                "('keito-skill status' lists them)."
            )
        for error in sent.errors:
            click.echo(
                f"  failed: {error['kind']} {error['key']} of {error['session_id']}: "
                f"{error['reason']}"
            )
        if report.offline:
            click.echo(f"Not sent: {report.offline}. Everything stays recorded locally.")
        if sent.aborted:
            click.echo(f"Stopped early: {sent.aborted}. Pending records go out on the next sync.")
    if sent.aborted:
        sys.exit(1)


_UNSENT = "mapping_status IN ('unmapped', 'broken')"
SYNC_COMPLETED = "sync completed"
_LIST_SESSIONS = 10  # more sessions not sent than this are shown by repository


def _when(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds") if ts else None


def status_data(ledger: Ledger) -> dict[str, Any]:
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
        if row.mapping_status in ("unmapped", "broken")  # what _UNSENT selects
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
        for r in ledger.records("last_error IS NOT NULL AND status NOT IN ('sent', 'final')")[-20:]
    ]
    final = [
        {
            "session_id": r.session_id,
            "spent_date": r.spent_date,
            "key": r.key,
            "hours": r.payload.get("hours"),
            "reason": r.last_error,
        }
        for r in ledger.records("status = 'final'")[-20:]
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


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(as_json: bool) -> None:
    """Credentials, what is pending, sent or failed, and the last errors."""
    with Ledger.for_reading() as ledger:
        data = status_data(ledger)
    if as_json:
        emit_json(data)
        return
    creds = data["credentials"]
    if creds["configured"]:
        click.echo(
            f"Keito     account {creds['account_id']} at {creds['api_url']} "
            f"(key from {creds['api_key_source']})"
        )
    else:
        click.echo(f"Keito     not configured — recording locally only ({creds['reason']})")
    click.echo(f"Ledger    {data['ledger']}")
    s, r = data["sessions"], data["records"]
    mappings = ", ".join(f"{v} {k}" for k, v in sorted(s["by_mapping"].items()))
    click.echo(
        f"Sessions  {s['total']} ({s['active']} active, {s['paused']} paused)"
        + (f": {mappings}" if mappings else "")
    )
    unconfirmed = f" ({r['unconfirmed']} maybe sent, checked later)" if r["unconfirmed"] else ""
    click.echo(
        f"Records   {r['pending']} pending{unconfirmed}, {r['sent']} sent, {r['failed']} failed, "
        f"{r['held']} held, {r['final']} final (approved or locked in Keito)"
    )
    if data["rounding"]:
        click.echo(f"Rounding  {data['rounding']['message']}")
    if s["needs_attention"]:
        _print_not_sent(s["needs_attention"])
    lines = [
        f"{e['status']}: {e['kind']} {e['key']} of {e['session_id']}: {e['reason']}"
        for e in data["last_errors"][-5:]
    ]
    _labelled("Errors", lines)
    _labelled("Duplicate", [f"{d['at']} {d['message']}" for d in data["duplicates"][:5]])
    _labelled(
        "Problems",
        [f"{p['at']} {p['source']}: {p['message']}" for p in data["recent_problems"][:5]],
    )
    if data["resolved_problems"]:
        click.echo(
            f"{'':<10}{counted(len(data['resolved_problems']), 'earlier problem')} before the"
            f" last successful sync ({data['last_successful_sync']}); --json lists them"
        )
    if s["ended_without_session_end"]:
        click.echo(
            f"{'':<10}{counted(s['ended_without_session_end'], 'session')} ended by watch or"
            " backfill after going quiet (no SessionEnd was recorded)"
        )


def rounding_warning(ledger: Ledger, *, share: float = 0.5) -> dict[str, Any] | None:
    """When most time entries are shorter than the account's rounding step (a repo's
    ``billing.rounding``), the account bills far more than was worked: say so, and what
    ``billing.granularity: day`` would do about it."""
    billing: dict[str, Billing | None] = {}  # by cwd: one config read per repo
    short = total = 0
    billed = worked = 0.0
    for record in ledger.records("kind = 'time_entry' AND status != 'held'"):
        cwd = str(record.payload.get("metadata", {}).get("cwd") or "")
        if cwd not in billing:
            from keito_skill.mapping import ConfigProblem, resolve  # pydantic: only if needed

            try:
                found = resolve(cwd) if cwd else None
            except (ConfigProblem, OSError):
                found = None
            billing[cwd] = found.config.billing if found else None
        rules = billing[cwd]
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


def _print_not_sent(attention: list[dict[str, Any]]) -> None:
    """Sessions that cannot be sent, one row per repository and reason: a backfill of a
    machine's history can leave thousands, and the fix (``init`` there, or a config
    repaired) is per repository. A handful is listed by session; ``--json`` has them all."""
    if len(attention) <= _LIST_SESSIONS:
        print_table(
            "Sessions not sent",
            ["session", "agent", "repository", "status", "why"],
            [[a["session_id"], a["agent"], a["cwd"], a["status"], a["detail"]] for a in attention],
        )
        return
    groups: dict[tuple[str, str, str], int] = {}
    for a in attention:
        key = (a["cwd"] or "-", a["status"], a["detail"] or "")
        groups[key] = groups.get(key, 0) + 1
    print_table(
        f"{counted(len(attention), 'session')} not sent, by repository (all of them: --json)",
        ["repository", "sessions", "status", "why"],
        [[cwd, n, status, why] for (cwd, status, why), n in sorted(groups.items())],
    )
    if any(status == "unmapped" for _, status, _ in groups):
        click.echo("Map a repository with 'keito-skill init' there; its sessions are then sent.")


def _labelled(label: str, lines: list[str]) -> None:
    """``label`` beside the first line, the rest under it (the layout of the lines above)."""
    for index, line in enumerate(lines):
        click.echo(f"{label if index == 0 else '':<10}{line}")
