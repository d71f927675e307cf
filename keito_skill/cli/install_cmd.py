"""``keito-skill install`` / ``uninstall``: put the skill and its hooks into the agents.

Claude Code runs user hooks as soon as they are in ``settings.json``. Codex runs a hook
only once the user has trusted it, and an untrusted hook fails *silently* — the worst
failure a time tracker can have. So installing for Codex also records the trust, with
consent: a prompt on a terminal, ``--yes`` otherwise. Without a terminal and without
``--yes`` the hooks are installed untrusted and the exact command to finish is printed.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

AGENT_CHOICES = ("claude-code", "codex", "all")


def _agents(choice: str) -> list[str]:
    return ["claude-code", "codex"] if choice == "all" else [choice]


def _interactive() -> bool:
    """Whether we may ask the user: the answer comes from stdin, so it must be a terminal."""
    return sys.stdin.isatty()


def _finish_command(bin_override: str | None, codex_bin: str | None) -> str:
    parts = ["keito-skill", "install", "--agent", "codex", "--yes"]
    if bin_override:
        parts += ["--bin", bin_override]
    if codex_bin:
        parts += ["--codex-bin", str(Path(codex_bin).expanduser().absolute())]
    return shlex.join(parts)


def _say(change_agent: str, message: str) -> None:
    click.echo(f"{change_agent:<12}{message}")


def _trust_codex(yes: bool, bin_override: str | None, codex_bin_opt: str | None) -> bool | None:
    """Trust our Codex hooks if we may and can; returns whether they will run.

    ``None`` when trust was not attempted — no consent (the finishing command is printed),
    or codex is not installed, which is not an error for someone who uses only Claude
    Code, so ``install --agent all --yes`` still succeeds. ``False`` (exit 1) when it was
    attempted and failed.
    """
    from keito_skill.install import codex
    from keito_skill.install.codex_trust import CodexTrustError

    finish = _finish_command(bin_override, codex_bin_opt)
    codex_bin = codex.find_codex(codex_bin_opt)
    if codex_bin is None:
        where = f"at {codex_bin_opt}" if codex_bin_opt else "on PATH"
        _say("codex", f"hooks NOT trusted yet: codex not found {where}.")
        _say("", f"Once codex is installed, finish with: {finish}")
        _say("", "(or run 'keito-skill doctor' to see what is missing)")
        return None
    codex.record_codex(codex_bin)
    if not yes:
        if not _interactive():
            _say("codex", "hooks installed but NOT trusted: Codex skips untrusted hooks.")
            _say("", f"To trust them (as Codex's /hooks screen would), run: {finish}")
            return None
        if not click.confirm(
            "Codex runs a hook only once you trust it. Trust keito-skill's 3 hooks "
            "(session-start, stop, session-end) now?",
            default=True,
        ):
            _say("codex", f"hooks NOT trusted. Trust them later with: {finish}")
            return None
    try:
        written = codex.trust(codex_bin)
        left = [h for h in codex.our_hook_infos(codex_bin) if not h.trusted or not h.enabled]
    except CodexTrustError as exc:
        _say("codex", f"hooks NOT trusted: {exc}")
        _say("", f"Retry with: {finish}  (or trust them in Codex's /hooks screen)")
        return False
    if left:
        states = ", ".join(
            f"{h.event}: {h.trust_status if h.enabled else 'disabled'}" for h in left
        )
        _say("codex", f"hooks still not runnable ({states}); enable them in Codex's /hooks")
        return False
    detail = f"{len(written)} trust entries written to" if written else "already trusted in"
    _say("codex", f"hooks trusted ({detail} {codex.codex_home() / 'config.toml'})")
    return True


def _official_hooks(agents: list[str], yes: bool) -> None:
    """Say when the official Keito skill's hooks are installed too, and (with ``--yes`` or
    on confirmation) disable them, keeping a copy that ``uninstall`` puts back. Done
    before our hooks go in, so Codex trust is recorded on the final hooks file."""
    from keito_skill.install import official

    for agent, path in official.settings_files(tuple(agents)):
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


def _restore_official(agents: list[str]) -> None:
    from keito_skill.install import official

    for agent, path in official.settings_files(tuple(agents)):
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
    help="Consent to trusting our Codex hooks and disabling the official skill's; no prompts.",
)
@click.option(
    "--bin",
    "bin_override",
    metavar="PATH",
    default=None,
    help="keito-skill executable the hooks run (default: the one on PATH, else beside Python).",
)
@click.option("--codex-bin", metavar="PATH", default=None, help="codex executable (default: PATH).")
@click.option(
    "--watch",
    is_flag=True,
    help="Also write a user service running 'keito-skill watch' (systemd or launchd).",
)
def install(
    agent: str, yes: bool, bin_override: str | None, codex_bin: str | None, watch: bool
) -> None:
    """Install the Keito skill and session hooks into Claude Code and/or Codex.

    Safe to run again: hooks are merged (never duplicated), other settings are kept,
    and the file changed is backed up as <file>.keito-skill.bak. The official Keito
    skill's hooks, if present, would bill the same sessions: --yes (or a yes on the
    terminal) disables them, keeping a copy that uninstall restores.
    """
    from keito_skill.install import bundle, claude, codex

    bin_path = bundle.resolve_bin(bin_override)
    if not bin_path.is_file():
        click.echo(
            f"warning: {bin_path} does not exist yet; hooks will do nothing until it does "
            "(pass --bin PATH to choose the executable)",
            err=True,
        )
    bundle.record_bin(bin_path)
    _official_hooks(_agents(agent), yes)
    ok = True
    for name in _agents(agent):
        change = claude.install(bin_path) if name == "claude-code" else codex.install(bin_path)
        _say(name, f"skill   {change.skill_dir}")
        state = "updated" if change.hooks_changed else "already up to date"
        backup = f" (backup: {change.backup})" if change.backup else ""
        _say("", f"hooks   {change.hooks_file} {state}{backup}")
        if name == "codex":
            ok = _trust_codex(yes, bin_override, codex_bin) is not False and ok
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
@click.option("--codex-bin", metavar="PATH", default=None, help="codex executable (default: PATH).")
def uninstall(agent: str, codex_bin: str | None) -> None:
    """Remove keito-skill's hooks (only ours), skill directories and Codex trust entries.

    Official keito-time-track hooks that install disabled are put back.

    With --agent all, the 'keito-skill watch' user service goes too. Recorded sessions and
    the Keito credentials are left alone.
    """
    from keito_skill.install import claude, codex

    for name in _agents(agent):
        if name == "claude-code":
            change = claude.uninstall()
        else:
            change = codex.uninstall(codex_bin=codex.find_codex(codex_bin))
        removed = f"removed {change.skill_dir}" if change.skill_dir else "no skill of ours"
        _say(name, f"skill   {removed}")
        state = "hooks removed" if change.hooks_changed else "no hooks of ours"
        backup = f" (backup: {change.backup})" if change.backup else ""
        _say("", f"hooks   {change.hooks_file}: {state}{backup}")
        for note in change.notes:
            _say("", note)
    _restore_official(_agents(agent))
    if agent == "all":  # the watcher serves both agents: it goes with the last of them
        from keito_skill.install import service

        kind = service.default_kind()
        gone = service.uninstall(kind)
        if gone is not None:
            path, stopped = gone
            _say("watch", f"{kind} service {path} removed")
            if not stopped:
                _say("", f"if it is still running, stop it with: {service.stop_hint(kind)}")
