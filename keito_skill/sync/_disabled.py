"""``disable`` / ``enable``: what ran while a repository was disabled is never billed.

Disabled means never billed, as the official skill's ``enabled: false``: hooks still record
(they never read configs), but a session seen while its repository is disabled is marked
``disabled`` for good, and ``enable`` does not bring it back (materialise keeps it so).
Only ``backfill --include-disabled`` bills such sessions, on the user's explicit request.

Syncs decide it as they go (each hook starts one), and the two commands close the gaps:

* ``disable`` first bills what the repository's running sessions did until now (their
  time so far, and their usage as a closed segment), then marks them disabled;
* ``enable`` first settles every session recorded meanwhile, while the config still says
  disabled, so a session no sync saw yet is not billed as if recorded after ``enable``.
"""

from __future__ import annotations

from pathlib import Path

from keito_skill._repo import git_root
from keito_skill.ledger import Ledger, SessionRow
from keito_skill.mapping import find_config

DISABLED = "disabled"


def _root(cwd: Path) -> Path:
    config = find_config(cwd)
    if config is not None:
        return config.parent.parent
    return git_root(cwd) or cwd


def _inside(child: str | None, root: Path) -> bool:
    if not child:
        return False
    try:
        Path(child).resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return False
    return True


def _running_here(ledger: Ledger, root: Path) -> list[SessionRow]:
    """Sessions still running (and not disabled) whose repository is the one at ``root``."""
    config = find_config(root)
    rows = [
        row
        for row in ledger.open_sessions()
        if row.mapping_status != DISABLED and _inside(row.cwd, root)
    ]
    return [row for row in rows if row.cwd and find_config(row.cwd) == config]


def before_disable(ledger: Ledger, cwd: Path) -> list[SessionRow]:
    """Bill the repository's running sessions up to now; returns them (to mark after)."""
    from keito_skill.sync import materialize_all

    running = _running_here(ledger, _root(cwd))
    for row in running:
        ledger.ask_to_close(row.agent, row.session_id)
    materialize_all(ledger)
    return running


def after_disable(ledger: Ledger, running: list[SessionRow], config: Path) -> None:
    """Mark the sessions that were running at ``disable`` as disabled: never billed more."""
    for row in running:
        ledger.mark_disabled(row.agent, row.session_id, f"{config}: tracking disabled while it ran")


def before_enable(ledger: Ledger) -> None:
    """Settle every session recorded so far while the repository still says disabled."""
    from keito_skill.sync import materialize_all

    materialize_all(ledger)
