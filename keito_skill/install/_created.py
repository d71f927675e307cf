"""What ``install`` created (rather than edited), so ``uninstall`` removes it again.

An agent's hooks file that did not exist before our install holds nothing
but our hooks; left behind as ``{}`` after uninstall it is clutter that looks like ours. The
same goes for a ``skills/`` directory made only to hold our skill. Each such path is noted
in ``KEITO_SKILL_HOME/installed.json`` when created; uninstall deletes it if it is empty
of anything else by then (a file the user has since added settings to stays).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from keito_skill._safeio import skill_home

_RECORD = "installed.json"


def _load() -> list[str]:
    try:
        data = json.loads((skill_home() / _RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return (
        [p for p in data.get("created", []) if isinstance(p, str)] if isinstance(data, dict) else []
    )


def _store(paths: list[str]) -> None:
    from keito_skill._files import atomic_write_text

    atomic_write_text(
        skill_home() / _RECORD,
        json.dumps({"created": sorted(set(paths))}, indent=1),
        new_mode=0o600,
    )


def remember(path: Path) -> None:
    """Note that install created ``path``."""
    paths = _load()
    if str(path) not in paths:
        _store([*paths, str(path)])


def forget(path: Path) -> bool:
    """Drop ``path`` from the notes; True when install had created it."""
    paths = _load()
    if str(path) not in paths:
        return False
    _store([p for p in paths if p != str(path)])
    return True


def remove_if_empty_dir(path: Path) -> bool:
    """Remove the directory ``path`` if install created it and nothing else is in it."""
    if str(path) not in _load():
        return False
    with contextlib.suppress(OSError):
        path.rmdir()  # fails when not empty: then it is the user's now too
        forget(path)
        return True
    return False
