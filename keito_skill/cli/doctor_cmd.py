"""``keito-skill doctor``: is everything in place for sessions to become Keito entries?

A time tracker fails quietly: a missing hook, a hook the agent does not trust, a revoked key or
an unmapped repository all just mean "no entries", noticed at invoicing time. Doctor
checks each link of the chain and, for each failing one, prints the exact command that
fixes it. Exit 0 when every check passes, 1 otherwise (so scripts and CI can gate on it).
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import asdict
from pathlib import Path

import click

from keito_skill.agents import Check
from keito_skill.cli._options import agent_bin_options
from keito_skill.cli._output import emit_json

__all__ = ["Check", "doctor", "run_checks"]


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _check_binary() -> Check:
    from keito_skill.install.bundle import resolve_bin

    path = resolve_bin()
    if _executable(str(path)):
        return Check("keito-skill binary", True, str(path))
    return Check(
        "keito-skill binary",
        False,
        f"{path} not found or not executable",
        "pipx install keito-skill (or pip install keito-skill), then keito-skill install",
    )


def _check_agents(bins: dict[str, str | None]) -> list[Check]:
    """Each agent's own checks: our hooks in place, and runnable (trusted where needed)."""
    from keito_skill import agents

    checks: list[Check] = []
    for adapter in agents.adapters():
        option = adapter.bin_option.replace("-", "_") if adapter.bin_option else None
        checks.extend(adapter.doctor(bins.get(option) if option else None))
    return checks


def _check_official_hooks() -> list[Check]:
    """The official Keito skill's hooks beside ours: both would bill the same session."""
    from keito_skill.install import official
    from keito_skill.install._jsonfile import SettingsFileError

    found: list[str] = []
    for _agent, path in official.settings_files():
        try:
            events = official.find(path).events
        except SettingsFileError:
            continue  # the agent's own check reports a broken file
        if events:
            found.append(f"{', '.join(events)} in {path}")
    if not found:
        return [Check("official keito hooks", True, "none (keito-time-track not installed)")]
    return [
        Check(
            "official keito hooks",
            False,
            f"{official.CONFLICT}: {'; '.join(found)}",
            "keito-skill install --yes (disables them, keeping a copy; uninstall restores them)",
        )
    ]


def _check_mapping(cwd: Path, cwd_given: bool) -> Check:
    from keito_skill.billing import repo_config
    from keito_skill.mapping import ConfigProblem

    name = "repo mapping"
    init = "keito-skill init" + (f" --cwd {shlex.quote(str(cwd))}" if cwd_given else "")
    found = repo_config(cwd)
    if isinstance(found, ConfigProblem):
        fix = f"fix line {found.line} of {found.path}, or run {init}"
        return Check(name, False, str(found), fix)
    if found is None:
        return Check(name, False, f"no .keito/config.yml applies to {cwd}", init)
    config = found.config
    if not config.is_mapped:
        absent = [k for k in ("project_id", "task_id") if not getattr(config, k)]
        detail = f"{found.config_path}: {' and '.join(absent)} missing"
        return Check(name, False, detail, init)
    project = config.project_name or config.project_id
    task = config.task_name or config.task_id
    detail = f"{project} / {task} ({found.config_path})"
    if not config.agent_tracking.enabled:
        detail += "; tracking disabled here (keito-skill enable turns it back on)"
    if found.warnings:
        detail += "; " + "; ".join(found.warnings)
    return Check(name, True, detail)


def _check_ledger() -> Check:
    import sqlite3

    from keito_skill.errors import LedgerError
    from keito_skill.ledger import Ledger, skill_home
    from keito_skill.status import status_data

    name = "ledger"
    try:
        with Ledger() as ledger:
            health = ledger.check()
            data = status_data(ledger)
    except LedgerError as exc:
        return Check(name, False, f"cannot use the ledger {exc.path}: {exc.reason}", exc.fix)
    except (sqlite3.Error, OSError) as exc:
        return Check(
            name,
            False,
            f"cannot open the ledger in {skill_home()}: {exc}",
            f"move {skill_home()} aside; keito-skill starts a new ledger",
        )
    if health != "ok":
        return Check(
            name,
            False,
            f"{data['ledger']} is damaged: {health}",
            f"move {data['ledger']} aside; keito-skill starts a new one (unsent records are lost)",
        )
    records = data["records"]
    detail = (
        f"{records['pending']} pending, {records['sent']} sent, {records['failed']} failed, "
        f"{records['held']} held ({data['ledger']})"
    )
    if records["failed"]:
        return Check(
            name,
            False,
            detail,
            "keito-skill status (shows why), then keito-skill sync --retry-failed",
        )
    return Check(name, True, detail)


def _check_watch_service() -> list[Check]:
    """The ``watch`` user service, when one is installed: does its program still exist?"""
    from keito_skill.install import service

    kind = service.default_kind()
    program = service.installed_program(kind)
    if program is None:
        return []
    name = "watch service"
    where = service.service_path(kind)
    if _executable(program):
        return [Check(name, True, f"{where} runs {program}")]
    fix = f"keito-skill watch --install-service, then {service.start_hint(kind, where)}"
    return [Check(name, False, f"{where} runs {program}, which is not there any more", fix)]


def run_checks(cwd: Path, cwd_given: bool, bins: dict[str, str | None]) -> list[Check]:
    """Every check, in the order a session's data travels."""
    from keito_skill.cli._doctor_keito import keito_checks

    return [
        _check_binary(),
        *_check_agents(bins),
        *_check_official_hooks(),
        *_check_watch_service(),
        *keito_checks(cwd),
        _check_mapping(cwd, cwd_given),
        _check_ledger(),
    ]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--cwd",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Repository to check the mapping of (default: the current directory).",
)
@agent_bin_options
def doctor(as_json: bool, cwd: Path | None, **bins: str | None) -> None:
    """Check hooks (and the agents' trust in them), Keito (URL, key, account, key type,
    project, task, expense category), the repo mapping and the ledger; print the fixes.

    Exits 0 when every check passes, 1 otherwise.
    """
    checks = run_checks((cwd or Path.cwd()).absolute(), cwd is not None, bins)
    ok = all(c.ok for c in checks)
    if as_json:
        emit_json({"ok": ok, "checks": [asdict(c) for c in checks]})
    else:
        for check in checks:
            mark = "ok  " if check.ok else "FAIL"
            click.echo(f"{mark} {check.name:<20} {check.detail}")
            if not check.ok and check.fix:
                click.echo(f"     {'':<20} fix: {check.fix}")
        click.echo("All checks passed." if ok else "Some checks failed; run the fixes above.")
    sys.exit(0 if ok else 1)
