"""Noticing a repo config that changed where or how its sessions are billed.

A session is materialised again only when something about it changed. A repo remapped to
another project, given an expense category, or a project Keito had refused fixed, changes
nothing in the session itself; so each sync compares every mapped repo's routing settings
with what it saw last time (``configs.json`` beside the ledger) and marks that repo's
sessions dirty when they differ: their open entries move (a PATCH), and their records not
yet in Keito are rebuilt from the current config.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

from keito_skill._files import atomic_write_text
from keito_skill._safeio import PRIVATE_FILE, read_json_object
from keito_skill.ledger import Ledger
from keito_skill.mapping import ConfigProblem, load_config

_FILE = "configs.json"


def _routing(path: Path) -> str | None:
    """A digest of what decides where and how a repo's records go; None if unreadable."""
    try:
        config = load_config(path).config
    except (ConfigProblem, OSError):
        return None
    wanted = {
        "project_id": config.project_id,
        "task_id": config.task_id,
        "workspace_id": config.workspace_id,
        "expense_category_id": config.expense_category_id,
        "billable": config.billing.billable,
        "granularity": config.billing.granularity,
        "source": config.agent_tracking.source,
    }
    return hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()[:16]


def mark_changed_repos(ledger: Ledger, home: Path, *, mark: bool = True) -> int:
    """Mark dirty the sessions of every repo whose routing changed; returns how many.
    ``mark=False`` only remembers the configs as they are (after materialising)."""
    paths = ledger.mapped_config_paths()
    store = home / _FILE
    seen = read_json_object(store)
    marked = 0
    changed = False
    for path in paths:
        digest = _routing(Path(path))
        if digest is None or seen.get(path) == digest:
            continue
        if mark and path in seen:
            marked += ledger.mark_config_sessions_dirty(path)
        seen[path] = digest
        changed = True
    if changed:
        with contextlib.suppress(OSError):
            atomic_write_text(store, json.dumps(seen), new_mode=PRIVATE_FILE)
    return marked
