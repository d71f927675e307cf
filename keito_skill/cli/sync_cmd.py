"""``sync`` and ``status``: send what was recorded, and show where things stand."""

from __future__ import annotations

import sys
from typing import Any

import click

from keito_skill.cli._output import SendingBar, counted, emit_json, print_table
from keito_skill.ledger import Ledger
from keito_skill.logs import file_logger
from keito_skill.status import SYNC_COMPLETED, status_data


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--retry-failed", is_flag=True, help="Also retry records Keito rejected before.")
@click.option("--background", is_flag=True, hidden=True, help="Run detached from a hook.")
def sync(as_json: bool, retry_failed: bool, background: bool) -> None:
    """Send every recorded session to Keito: time entries, then expenses."""
    from keito_skill.sync import open_client, run_sync

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
        unsent = 0 if background else ledger.count_sessions_not_sent()
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


_LIST_SESSIONS = 10  # more sessions not sent than this are shown by repository


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
    if s["usage_incomplete"]:
        reasons = sorted({u["reason"] for u in s["usage_incomplete"]})
        _labelled(
            "Usage",
            [
                f"{counted(len(s['usage_incomplete']), 'session')} billed without all their"
                " usage yet (--json lists them):",
                *reasons[:3],
            ],
        )
    if s["ended_without_session_end"]:
        click.echo(
            f"{'':<10}{counted(s['ended_without_session_end'], 'session')} ended by watch or"
            " backfill after going quiet (no SessionEnd was recorded)"
        )


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
