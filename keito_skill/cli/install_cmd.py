"""``keito-skill install`` / ``uninstall``: put the skill and its hooks into the agents.

Each agent's adapter installs its skill and hooks; some agents then need more before
they run a hook: the user's trust, where an untrusted hook fails *silently* (the worst
failure a time tracker can have). That step asks for consent: a prompt on a terminal,
``--yes`` otherwise. Without a terminal and without ``--yes`` the hooks are installed
but not yet runnable and the exact command to finish is printed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from keito_skill import agents
from keito_skill.cli._options import agent_bin_options

AGENT_CHOICES = (*agents.names(), "all")


def _agents(choice: str, *, installing: bool = False) -> list[str]:
    if choice != "all":
        return [choice]
    if not installing:
        return list(agents.names())
    # An adapter may say its agent is not on this machine (``present``): install skips it.
    return [n for n in agents.names() if getattr(agents.adapter(n), "present", lambda: True)()]


def _interactive() -> bool:
    """Whether we may ask the user: the answer comes from stdin, so it must be a terminal."""
    return sys.stdin.isatty()


def _say(change_agent: str, message: str) -> None:
    click.echo(f"{change_agent:<12}{message}")


def _agent_bin(adapter: agents.Adapter, options: dict[str, str | None]) -> str | None:
    return options.get(adapter.bin_option.replace("-", "_")) if adapter.bin_option else None


def _official_hooks(names: list[str], yes: bool) -> None:
    """Say when the official Keito skill's hooks are installed too, and (with ``--yes`` or
    on confirmation) disable them, keeping a copy that ``uninstall`` puts back. Done
    before our hooks go in, so trust (where an agent needs it) is recorded on the final
    hooks file."""
    from keito_skill.install import official

    for agent, path in official.settings_files(tuple(names)):
        found = official.find(path)
        if not found.events:
            continue
        _say(agent, f"{official.CONFLICT} ({', '.join(found.events)} in {path}).")
        if not yes and not (
            _interactive()
            and click.confirm("Disable the official skill's hooks (kept for uninstall)?", True)
        ):
            _say("", "left them in place; 'keito-skill install --yes' disables them")
            continue
        count = official.disable(path)
        _say("", f"disabled {count} official hooks; copy kept in {official.sidecar(path)}")


def _restore_official(names: list[str]) -> None:
    from keito_skill.install import official

    for agent, path in official.settings_files(tuple(names)):
        count = official.restore(path)
        if count:
            _say(agent, f"restored {count} official keito-time-track hooks in {path}")


def _next_steps(cwd: Path) -> str:
    """What is still missing before sessions become Keito records (read locally, no
    network: ``doctor`` is the one that asks Keito)."""
    from keito_skill.keito import KeitoError, load_credentials
    from keito_skill.mapping import ConfigProblem, resolve

    steps = []
    try:
        load_credentials()
    except KeitoError:
        steps.append("'keito-skill auth login'")
    try:
        found = resolve(cwd)
    except ConfigProblem:
        found = None
    config = found.config if found is not None and found.config.is_mapped else None
    if config is None:
        steps.append("'keito-skill init' in each repository you bill for")
    if steps or config is None:
        return "Next: " + ", then ".join(steps) + "."
    where = f"{config.project_name or config.project_id} / {config.task_name or config.task_id}"
    return f"Ready: sessions here are billed to {where}. 'keito-skill doctor' checks it all."


@click.command()
@click.option(
    "--agent",
    type=click.Choice(AGENT_CHOICES),
    default="all",
    show_default=True,
    help="Which agent to install into.",
)
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="Consent to trusting our hooks (agents that ask) and disabling the official skill's; "
    "no prompts.",
)
@click.option(
    "--bin",
    "bin_override",
    metavar="PATH",
    default=None,
    help="keito-skill executable the hooks run (default: the one on PATH, else beside Python).",
)
@agent_bin_options
@click.option(
    "--watch",
    is_flag=True,
    help="Also write a user service running 'keito-skill watch' (systemd or launchd).",
)
def install(
    agent: str, yes: bool, bin_override: str | None, watch: bool, **bins: str | None
) -> None:
    """Install the Keito skill and session hooks into the coding agents.

    Safe to run again: hooks are merged (never duplicated), other settings are kept,
    and the file changed is backed up as <file>.keito-skill.bak. The official Keito
    skill's hooks, if present, would bill the same sessions: --yes (or a yes on the
    terminal) disables them, keeping a copy that uninstall restores.
    """
    from keito_skill.install import bundle

    bin_path = bundle.resolve_bin(bin_override)
    if not bin_path.is_file():
        click.echo(
            f"warning: {bin_path} does not exist yet; hooks will do nothing until it does "
            "(pass --bin PATH to choose the executable)",
            err=True,
        )
    bundle.record_bin(bin_path)
    _official_hooks(_agents(agent, installing=True), yes)
    ok = True
    for name in _agents(agent, installing=True):
        adapter = agents.adapter(name)
        ctx = agents.InstallContext(
            bin_path,
            yes=yes,
            bin_override=bin_override,
            agent_bin=_agent_bin(adapter, bins),
            interactive=_interactive(),
            say=_say,
            confirm=lambda question, default: click.confirm(question, default=default),
        )
        change = adapter.install(ctx)
        _say(name, f"skill   {change.skill_dir}")
        state = "updated" if change.hooks_changed else "already up to date"
        backup = f" (backup: {change.backup})" if change.backup else ""
        _say("", f"hooks   {change.hooks_file} {state}{backup}")
        ok = adapter.after_install(ctx) is not False and ok
    if watch:
        from keito_skill.install import service

        kind = service.default_kind()
        unit = service.install(kind)
        _say("watch", f"{kind} service {unit}; start it with: {service.start_hint(kind, unit)}")
        for note in service.notes():
            _say("", f"note: {note}")
    click.echo(f"Hooks run {bin_path}.")
    click.echo(_next_steps(Path.cwd()))
    if not ok:
        sys.exit(1)


@click.command()
@click.option(
    "--agent",
    type=click.Choice(AGENT_CHOICES),
    default="all",
    show_default=True,
    help="Which agent to remove keito-skill from.",
)
@agent_bin_options
def uninstall(agent: str, **bins: str | None) -> None:
    """Remove keito-skill's hooks (only ours), skill directories and hook trust entries.

    Official keito-time-track hooks that install disabled are put back.

    With --agent all, the 'keito-skill watch' user service goes too. Recorded sessions and
    the Keito credentials are left alone.
    """
    from keito_skill.install import bundle

    for name in _agents(agent):
        adapter = agents.adapter(name)
        ctx = agents.InstallContext(bundle.resolve_bin(None), agent_bin=_agent_bin(adapter, bins))
        change = adapter.uninstall(ctx)
        removed = f"removed {change.skill_dir}" if change.skill_dir else "no skill of ours"
        _say(name, f"skill   {removed}")
        state = "hooks removed" if change.hooks_changed else "no hooks of ours"
        backup = f" (backup: {change.backup})" if change.backup else ""
        _say("", f"hooks   {change.hooks_file}: {state}{backup}")
        for note in change.notes:
            _say("", note)
    _restore_official(_agents(agent))
    if agent == "all":  # the watcher serves every agent: it goes with the last of them
        from keito_skill.install import service

        kind = service.default_kind()
        gone = service.uninstall(kind)
        if gone is not None:
            path, stopped = gone
            _say("watch", f"{kind} service {path} removed")
            if not stopped:
                _say("", f"if it is still running, stop it with: {service.stop_hint(kind)}")
