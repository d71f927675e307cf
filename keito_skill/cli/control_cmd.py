"""``pause``/``resume`` (the current session) and ``disable``/``enable`` (this repo)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from keito_skill.errors import KeitoSkillError
from keito_skill.ledger import Ledger, SessionRow

_MIN_PREFIX = 6  # shorter starts of an id are too likely to be typos


class NoSessionError(KeitoSkillError):
    """No recorded session matches: nothing to pause or resume."""


def _session_from_env() -> str | None:
    """The session id the agents set in the environment of the commands they run."""
    from keito_skill import agents

    names = [name for adapter in agents.adapters() for name in adapter.session_env]
    return next((os.environ[k] for k in names if os.environ.get(k)), None)


def _inside(child: str | None, parent: Path) -> bool:
    if not child:
        return False
    try:
        Path(child).resolve().relative_to(parent)
    except (ValueError, OSError):
        return False
    return True


def current_session(ledger: Ledger, session_id: str | None, cwd: Path) -> SessionRow:
    """The session meant by "this session": given, from the agent's env, or the latest here."""
    wanted = session_id or _session_from_env()
    if wanted:
        rows = ledger.sessions_by_id(wanted)
        if not rows and len(wanted) >= _MIN_PREFIX:  # the start of an id, as tables fold it
            rows = ledger.sessions_by_id_prefix(wanted)
            ids = sorted({row.session_id for row in rows})
            if len(ids) > 1:
                raise NoSessionError(
                    f"{wanted} is the start of more than one session: {', '.join(ids)}"
                )
        if rows:
            return rows[0]
        raise NoSessionError(f"no recorded session {wanted}")
    from keito_skill.mapping import find_config

    config = find_config(cwd)
    root = config.parent.parent if config else cwd.resolve()
    for row in ledger.open_sessions():
        if _inside(row.cwd, root):
            return row
    raise NoSessionError(f"no active session recorded under {root}; pass --session ID")


def _set_paused(session_id: str | None, paused: bool) -> SessionRow:
    from keito_skill.recorder import record

    with Ledger() as ledger:
        row = current_session(ledger, session_id, Path.cwd())
        if row.transcript_path and Path(row.transcript_path).exists():
            # Bring the record up to now first: counted before a pause, skipped before a resume.
            record(ledger, row.agent, row.session_id, row.transcript_path)
        ledger.set_paused(row.agent, row.session_id, paused)
        fresh = ledger.session(row.agent, row.session_id)
    assert fresh is not None
    return fresh


@click.command()
@click.option(
    "--session",
    "session_id",
    default=None,
    help="Session id, or its first characters (default: the current session).",
)
def pause(session_id: str | None) -> None:
    """Stop billing the current session until 'keito-skill resume' (the work meanwhile is
    never billed)."""
    row = _set_paused(session_id, True)
    click.echo(f"Paused tracking of {row.agent} session {row.session_id}.")


@click.command()
@click.option(
    "--session",
    "session_id",
    default=None,
    help="Session id, or its first characters (default: the current session).",
)
def resume(session_id: str | None) -> None:
    """Bill the current session again from now on."""
    row = _set_paused(session_id, False)
    click.echo(f"Resumed tracking of {row.agent} session {row.session_id}.")


def _set_repo(enabled: bool) -> Path:
    from keito_skill._repo import git_root
    from keito_skill.mapping import RepoConfig, find_config, set_enabled, write_config

    config = find_config(Path.cwd())
    if config is not None:
        set_enabled(config, enabled)
        return config
    root = git_root(Path.cwd()) or Path.cwd()
    return write_config(root, RepoConfig.model_validate({"agent_tracking": {"enabled": enabled}}))


@click.command()
def disable() -> None:
    """Stop tracking agent sessions in this repository (undo with enable). What runs while
    it is disabled is never billed, also after enable."""
    from keito_skill.errors import LedgerError
    from keito_skill.sync import _disabled

    try:
        ledger = Ledger()
    except LedgerError:
        # Stopping must not depend on the ledger: the config is what every sync reads.
        click.echo(f"Tracking disabled for this repository ({_set_repo(False)}).")
        raise
    with ledger:
        running = _disabled.before_disable(ledger, Path.cwd())  # billed up to now
        path = _set_repo(False)
        _disabled.after_disable(ledger, running, path)
    click.echo(f"Tracking disabled for this repository ({path}).")


@click.command()
def enable() -> None:
    """Track agent sessions in this repository again (from now on: what ran while it was
    disabled stays unbilled; 'backfill --include-disabled' bills it)."""
    from keito_skill.sync import _disabled

    with Ledger() as ledger:
        _disabled.before_enable(ledger)
        path = _set_repo(True)
    click.echo(f"Tracking enabled for this repository ({path}).")
