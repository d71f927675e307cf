"""``keito-skill doctor``: is everything in place for sessions to become Keito entries?

A time tracker fails quietly: a missing hook, an untrusted Codex hook, a revoked key or
an unmapped repository all just mean "no entries", noticed at invoicing time. Doctor
checks each link of the chain and, for each failing one, prints the exact command that
fixes it. Exit 0 when every check passes, 1 otherwise (so scripts and CI can gate on it).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from keito_skill.cli._check import Check
from keito_skill.cli._output import emit_json


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


def _hook_binaries(handlers: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Executables our hooks point at that do not exist (an old or moved install)."""
    missing: list[str] = []
    for items in handlers.values():
        for handler in items:
            try:
                first = shlex.split(str(handler.get("command", "")))[0]
            except (ValueError, IndexError):
                continue
            if os.path.isabs(first) and not _executable(first) and first not in missing:
                missing.append(first)
    return missing


def _claude_plugin_installed(config_dir: Path) -> bool:
    """Whether the keito Claude Code plugin is installed (it brings its own hooks)."""
    path = config_dir / "plugins" / "installed_plugins.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    plugins = data.get("plugins") if isinstance(data, dict) else None
    return isinstance(plugins, dict) and any(str(k).startswith("keito@") for k in plugins)


def _check_claude() -> Check:
    from keito_skill.install import claude
    from keito_skill.install._jsonfile import SettingsFileError, our_handlers, read_json

    name, fix = "claude-code hooks", "keito-skill install --agent claude-code"
    path = claude.settings_path()
    try:
        doc = read_json(path)
    except SettingsFileError as exc:
        return Check(name, False, str(exc), f"repair {path}, then {fix}")
    handlers = our_handlers(doc)
    plugin = _claude_plugin_installed(claude.config_dir())
    if not handlers:
        if plugin:
            return Check(name, True, "provided by the keito Claude Code plugin")
        if not (claude.config_dir().exists() or shutil.which("claude")):
            return Check(name, True, "Claude Code not found here; skipped")
        return Check(name, False, f"no keito-skill hooks in {path}", fix)
    missing = claude.missing_events(doc)
    if missing:
        return Check(name, False, f"missing {', '.join(missing)} in {path}", fix)
    gone = _hook_binaries(handlers)
    if gone:
        return Check(name, False, f"hooks run {', '.join(gone)}, which does not exist", fix)
    detail = f"SessionStart, Stop, SessionEnd in {path}"
    if plugin:
        detail += " (the keito plugin is installed too: hooks run twice)"
    return Check(name, True, detail)


def _check_codex(codex_bin_opt: str | None) -> list[Check]:
    from keito_skill.install import codex
    from keito_skill.install._jsonfile import SettingsFileError, our_handlers, read_json
    from keito_skill.install.codex_trust import CodexTrustError

    fix = "keito-skill install --agent codex --yes"
    if codex_bin_opt:
        fix += f" --codex-bin {shlex.quote(str(Path(codex_bin_opt).expanduser().absolute()))}"
    path = codex.hooks_path()
    codex_bin = codex.find_codex(codex_bin_opt)
    try:
        doc = read_json(path)
    except SettingsFileError as exc:
        return [Check("codex hooks", False, str(exc), f"repair {path}, then {fix}")]
    handlers = our_handlers(doc)
    if not handlers and not (codex.codex_home().exists() or codex_bin):
        return [Check("codex hooks", True, "Codex not found here; skipped")]
    missing = codex.missing_events(doc)
    if missing:
        return [Check("codex hooks", False, f"missing {', '.join(missing)} in {path}", fix)]
    gone = _hook_binaries(handlers)
    if gone:
        detail = f"hooks run {', '.join(gone)}, which does not exist"
        return [Check("codex hooks", False, detail, fix)]
    checks = [Check("codex hooks", True, f"SessionStart, Stop, SessionEnd in {path}")]
    name = "codex hooks trusted"
    if codex_bin is None:
        where = f"at {codex_bin_opt}" if codex_bin_opt else "on PATH"
        checks.append(
            Check(
                name,
                False,
                f"codex not found {where}: cannot tell whether Codex will run the hooks",
                "keito-skill doctor --codex-bin PATH (then follow its fix)",
            )
        )
        return checks
    try:
        infos = codex.our_hook_infos(codex_bin)
    except CodexTrustError as exc:
        checks.append(Check(name, False, str(exc), fix))
        return checks
    seen = {info.event for info in infos}
    if len(seen) < len(codex.EVENTS):
        checks.append(
            Check(
                name,
                False,
                f"Codex loads {', '.join(sorted(seen)) or 'none'} of our 3 hooks from {path} "
                "(hooks turned off in config.toml [features]?)",
                "enable hooks in $CODEX_HOME/config.toml, then " + fix,
            )
        )
        return checks
    bad = [i for i in infos if not i.trusted or not i.enabled]
    if not bad:
        checks.append(Check(name, True, f"{len(infos)} hooks trusted and enabled"))
        return checks
    states = ", ".join(f"{i.event}: {i.trust_status if i.enabled else 'disabled'}" for i in bad)
    if all(i.trusted for i in bad):  # only disabled ones: trust cannot fix that
        remedy = "enable keito-skill's hooks in Codex's /hooks screen"
    else:
        remedy = fix
    checks.append(Check(name, False, f"Codex will not run: {states}", remedy))
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


def run_checks(cwd: Path, cwd_given: bool, codex_bin: str | None) -> list[Check]:
    """Every check, in the order a session's data travels."""
    from keito_skill.cli._doctor_keito import keito_checks

    return [
        _check_binary(),
        _check_claude(),
        *_check_codex(codex_bin),
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
@click.option("--codex-bin", metavar="PATH", default=None, help="codex executable (default: PATH).")
def doctor(as_json: bool, cwd: Path | None, codex_bin: str | None) -> None:
    """Check hooks, Codex trust, Keito (URL, key, account, key type, project, task,
    expense category), the repo mapping and the ledger; print the fixes.

    Exits 0 when every check passes, 1 otherwise.
    """
    checks = run_checks((cwd or Path.cwd()).absolute(), cwd is not None, codex_bin)
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
