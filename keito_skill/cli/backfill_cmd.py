"""``backfill``: record the sessions hooks missed, from the agents' transcript directories."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import click

from keito_skill.backfill import BackfillOptions, BackfillReport, Progress, run_backfill
from keito_skill.cli._options import date_range, note_missing_dirs, transcript_dirs
from keito_skill.cli._output import SendingBar, counted, emit_json, human_tokens, print_table
from keito_skill.ledger import Ledger
from keito_skill.transcripts import AGENTS


class _RichProgress(Progress):
    """A files-and-bytes bar on stderr, only when stderr is a terminal."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._task: Any = None
        self._files = 0

    def __enter__(self) -> _RichProgress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Take the bar off the screen: reading is over (the sync's own bar may follow)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def start(self, files: int, total_bytes: int) -> None:
        if not files or not sys.stderr.isatty():
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._files = files
        self._bar = Progress(
            TextColumn("[bold]Reading transcripts[/] {task.fields[files]}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._bar.add_task("read", total=max(total_bytes, 1), files=f"0/{files}")
        self._bar.start()

    def advance(self, files: int, read_bytes: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=read_bytes, files=f"{files}/{self._files}")


_TABLE_ROWS = 200  # a first backfill can find thousands of session-days; --json has them all


def _day(value: datetime | None) -> Any:
    return value.date() if value else None


@click.command()
@click.option(
    "--agent",
    type=click.Choice([*AGENTS, "all"]),
    default="all",
    show_default=True,
    help="Which agent's transcripts to read.",
)
@date_range("sessions active")
@click.option(
    "--project", "project_id", help="Keito project (id or name) for sessions with no mapping."
)
@click.option("--task", "task_id", help="Keito task (id or name) for sessions with no mapping.")
@click.option("--dry-run", is_flag=True, help="Show what would be sent; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object for the run.")
@transcript_dirs
@click.option("--no-sync", is_flag=True, help="Record only; send on the next sync.")
@click.option(
    "--include-disabled",
    is_flag=True,
    help="Also bill sessions recorded while their repository was disabled (if enabled now).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Parser processes (default: one per CPU).",
)
@click.option("--idle-seconds", type=click.IntRange(min=1), default=None, hidden=True)
def backfill(
    agent: str,
    since: datetime | None,
    until: datetime | None,
    project_id: str | None,
    task_id: str | None,
    dry_run: bool,
    as_json: bool,
    roots: dict[str, list[Path]],
    no_sync: bool,
    include_disabled: bool,
    workers: int | None,
    idle_seconds: int | None,
) -> None:
    """Record every session the hooks missed, then sync.

    Reads the agents' transcript directories, builds the same summaries the hooks do, maps
    each session by its working directory's .keito/config.yml and records what the ledger
    does not hold yet. Safe to run any number of times, before or after the hooks.
    --project/--task apply only to sessions with no mapping of their own.
    """
    if bool(project_id) != bool(task_id):
        raise click.UsageError("--project and --task go together")
    note_missing_dirs(roots)
    if project_id and task_id:
        project_id, task_id = _override_ids(project_id, task_id)
    options = BackfillOptions(
        agent=None if agent == "all" else agent,
        since=_day(since),
        until=_day(until),
        project_id=project_id,
        task_id=task_id,
        dry_run=dry_run,
        roots=roots,
        quiet_seconds=idle_seconds,
        workers=workers,
        include_disabled=include_disabled,
    )
    sync_report: dict[str, Any] | None = None
    with _RichProgress() if not as_json else _NoProgress() as progress:
        if dry_run:
            report = run_backfill(options, None, progress)
        else:
            with Ledger() as ledger:
                report = run_backfill(options, ledger, progress)
                progress.close()  # two live bars on one terminal would draw over each other
                if not no_sync:
                    sync_report = _sync(ledger, show_progress=not as_json)
    if as_json:
        out = report.to_dict()
        out["sync"] = sync_report
        emit_json(out)
        return
    _print(report, sync_report)


class _NoProgress(Progress):
    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def close(self) -> None:
        return None


def _override_ids(project: str, task: str) -> tuple[str, str]:
    """The ids ``--project``/``--task`` name (ids or names, as ``init`` takes them).

    An unknown or ambiguous name stops here, listing the candidates, before anything is
    recorded: a session billed to a project that does not exist would only fail at sync.
    Offline, or without credentials, the values are kept as ids (with a note) so a backfill
    still records everything; the sync that sends them checks them then.
    """
    from keito_skill.cli._picking import active_projects, active_tasks, pick
    from keito_skill.keito import (
        KeitoAuthError,
        KeitoClient,
        KeitoCredentialsError,
        KeitoError,
        KeitoForbiddenError,
        load_credentials,
    )

    def kept(why: str) -> tuple[str, str]:
        click.echo(
            f"keito-skill: note: --project/--task not checked ({why}); used as ids", err=True
        )
        return project, task

    try:
        creds = load_credentials()
    except KeitoCredentialsError:
        return kept("no Keito credentials")
    try:
        with KeitoClient.from_credentials(creds, timeout=15.0, max_retries=2) as client:
            chosen = pick("project", active_projects(client), project)
            return chosen.id, pick("task", active_tasks(client, chosen), task).id
    except (KeitoAuthError, KeitoForbiddenError):
        raise
    except KeitoError as exc:
        return kept(f"Keito unreachable: {exc}")


def _sync(ledger: Ledger, *, show_progress: bool) -> dict[str, Any]:
    from keito_skill.sync import open_client, run_sync

    client, offline = open_client()
    try:
        with SendingBar() as bar:
            return run_sync(
                ledger,
                client,
                offline_reason=offline,
                wait=60.0,
                progress=bar if show_progress else None,
            ).to_dict()
    finally:
        if client is not None:
            client.close()


def _print(report: BackfillReport, sync_report: dict[str, Any] | None) -> None:
    rows: list[list[Any]] = []
    for result in report.sessions:
        policy = result.policy
        target = f"{policy.project_id}/{policy.task_id}" if policy.billable else policy.status
        ended = ", ended" if result.ended and result.recorded != "ended" else ""
        for day in result.day_rows():
            rows.append(
                [
                    day["date"],
                    result.agent,
                    policy.repo or "?",
                    target,
                    f"{day['hours']:.2f}" + (" (held)" if day["held"] else ""),
                    human_tokens(day["tokens"]),
                    "?" if day["cost_usd"] is None else f"${day['cost_usd']:.4f}",
                    result.recorded + ended,
                ]
            )
    verb = "would record" if report.dry_run else "recorded"
    if rows:
        print_table(
            f"Backfill: {verb} {counted(len(report.sessions), 'session')}",
            ["date", "agent", "repo", "project/task", "hours", "tokens", "cost", "status"],
            rows[:_TABLE_ROWS],
        )
        if len(rows) > _TABLE_ROWS:
            click.echo(f"... and {len(rows) - _TABLE_ROWS} more session-days (see --json).")
    s = report.summary()
    click.echo(
        f"{counted(s['sessions_found'], 'session')} found: {verb} {s['sessions_recorded']}, "
        f"{s['sessions_unchanged']} already recorded, {s['sessions_skipped']} skipped."
    )
    unmapped = s["by_status"].get("unmapped", 0)
    if unmapped:
        click.echo(
            f"{counted(unmapped, 'session')} with no Keito mapping: add .keito/config.yml to "
            "the repo, or pass --project and --task."
        )
    if report.bytes_read:
        click.echo(
            f"Read {report.bytes_read / 1e6:.1f} MB in {report.seconds:.1f} s "
            f"({s['mb_per_second']} MB/s, {counted(report.workers, 'worker')})."
        )
    for error in report.errors[:10]:
        click.echo(f"  unreadable: {error}")
    if report.dry_run:
        click.echo("Dry run: nothing was written or sent.")
    elif sync_report is not None:
        sent = sync_report["sent"]
        if sync_report.get("offline"):
            click.echo(f"Not sent: {sync_report['offline']}. Everything stays recorded locally.")
        else:
            click.echo(
                f"Sync: created {sent['created']}, updated {sent['updated']}, "
                f"already there {sent['existing']}, failed {sent['failed']}."
            )
