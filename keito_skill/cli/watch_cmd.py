"""``watch``: follow the transcript directories; record, finalise idle sessions, sync."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import click

from keito_skill import agents
from keito_skill.cli._options import transcript_dirs
from keito_skill.ledger import Ledger
from keito_skill.logs import file_logger


def _sync_once(stop: threading.Event) -> dict[str, Any] | None:
    """One ``sync``, in a child process that is stopped as soon as ``stop`` is set.

    A sync against a slow Keito can take minutes (timeouts, retries); run in this process
    it kept ``watch`` from stopping on SIGTERM for as long (systemd kills at 90 s). The
    child is ended at once instead: a request it had in flight is looked up before
    anything is sent again (the record stays ``sending``), and SQLite rolls back a write
    it had not committed. Returns the sync's JSON report, or None when it was stopped.
    """
    with tempfile.TemporaryFile() as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "keito_skill", "sync", "--json"],
            stdin=subprocess.DEVNULL,
            stdout=out,
        )
        while True:
            try:
                child.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if stop.is_set():
                    child.terminate()
                    try:
                        child.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        child.kill()
                        child.wait()
                    return None
        out.seek(0)
        text = out.read()
    try:
        report = json.loads(text)
    except ValueError:
        raise RuntimeError(f"sync exited with code {child.returncode}") from None
    return report if isinstance(report, dict) else None


@click.command()
@transcript_dirs
@click.option(
    "--idle-minutes",
    type=click.IntRange(min=0, max=1440),
    default=None,
    help="End sessions quiet this long (default: each repo's billing.idle_minutes, else 5;"
    " 0: at once).",
)
@click.option("--idle-seconds", type=click.FloatRange(min=0.1), default=None, hidden=True)
@click.option("--sync-delay", type=click.FloatRange(min=0.0), default=10.0, hidden=True)
@click.option("--no-sync", is_flag=True, help="Record only; do not send to Keito.")
@click.option(
    "--once", is_flag=True, help="One pass (catch up, end idle sessions, sync), then exit."
)
@click.option(
    "--print-service",
    type=click.Choice(["systemd", "launchd"]),
    default=None,
    help="Print a user-service definition that runs `keito-skill watch`, and exit.",
)
@click.option(
    "--install-service",
    is_flag=True,
    help="Write that service file to its user path (systemd on Linux, launchd on macOS).",
)
def watch(
    roots: dict[str, list[Path]],
    idle_minutes: int | None,
    idle_seconds: float | None,
    sync_delay: float,
    no_sync: bool,
    once: bool,
    print_service: str | None,
    install_service: bool,
) -> None:
    """Record sessions as their transcripts change; end the ones that went idle.

    Catches what hooks miss: agents killed before SessionEnd (ended after the repo's
    billing.idle_minutes of quiet), agents running without hooks, and syncs shortly after
    changes. Stops cleanly on SIGINT/SIGTERM. Run it as a user service: see
    --print-service and --install-service.
    """
    from keito_skill.install import service

    extra = _service_args(roots, idle_minutes, no_sync)
    if print_service is not None or install_service:
        for note in service.notes():
            click.echo(f"keito-skill: note: {note}", err=True)
    if print_service is not None and not install_service:
        click.echo(service.render(print_service, extra_args=extra), nl=False)
        return
    if install_service:
        kind = print_service or service.default_kind()
        path = service.install(kind, extra_args=extra)
        click.echo(f"Wrote {path}")
        click.echo(f"Start it with: {service.start_hint(kind, path)}")
        return

    from keito_skill.watch import Watcher

    log = file_logger()

    def say(message: str) -> None:
        log.info("watch: %s", message)
        click.echo(f"keito-skill watch: {message}", err=True)

    quiet = idle_seconds if idle_seconds is not None else None
    if quiet is None and idle_minutes is not None:
        quiet = idle_minutes * 60.0  # 0: end every open session at once
    with Ledger() as ledger:
        watcher = Watcher(
            ledger,
            roots=roots,
            quiet_seconds=quiet,
            sync=None if no_sync else lambda: _sync_once(watcher.stop),
            sync_delay=sync_delay,
            log=say,
        )

        def stop(signum: int, _frame: object) -> None:
            say(f"stopping ({signal.Signals(signum).name})")
            watcher.request_stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        watcher.run(once=once)
    sys.exit(0)


def _service_args(
    roots: dict[str, list[Path]],
    idle_minutes: int | None,
    no_sync: bool,
) -> list[str]:
    """The options given now, carried into the service's command line (absolute paths)."""
    args: list[str] = []
    for name, dirs in roots.items():
        option = agents.adapter(name).dir_option
        args += [arg for path in dirs for arg in (f"--{option}", str(path.absolute()))]
    if idle_minutes is not None:
        args += ["--idle-minutes", str(idle_minutes)]
    if no_sync:
        args.append("--no-sync")
    return args
