"""The official Keito skill's hooks (``keito-time-track``), living beside ours.

Keito's CLI installs its own time-tracking skill for coding agents and puts two hooks into
the same files we use (each adapter's :meth:`~keito_skill.agents.Adapter.hook_files`): a
``SessionStart`` and a ``Stop`` handler whose commands run
``.../skills/keito-time-track/hooks/session-start.sh`` and ``.../session-end.sh``
(prefixed with ``KEITO_AGENT_TYPE=...`` and possibly ``KEITO_CLI_BIN=...``). Both tools
would then write a time entry for the same ``session_id``: the client is billed twice.

So ``install`` and ``doctor`` look for them. Disabling them removes exactly their
handlers and keeps what was removed in ``<file>.keito-time-track.json`` beside the file,
with its position, so ``uninstall`` can put them back as they were.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keito_skill.install._jsonfile import SettingsFileError, read_json, write_json

SKILL_NAME = "keito-time-track"
_SCRIPTS = ("session-start.sh", "session-end.sh")
SIDECAR_SUFFIX = ".keito-time-track.json"


def is_official_command(command: object) -> bool:
    """Whether a hook command runs one of the official skill's hook scripts."""
    return (
        isinstance(command, str)
        and SKILL_NAME in command
        and any(script in command for script in _SCRIPTS)
    )


def _is_official(handler: object) -> bool:
    return isinstance(handler, dict) and is_official_command(handler.get("command"))


@dataclass(frozen=True)
class Found:
    """Official hooks found in one settings file."""

    path: Path
    events: tuple[str, ...]
    disabled_backup: Path | None  # set when we disabled them earlier (uninstall restores)


def official_events(doc: Mapping[str, Any]) -> list[str]:
    """Events holding an official handler, in file order."""
    hooks = doc.get("hooks")
    if not isinstance(hooks, dict):
        return []
    events = []
    for event, groups in hooks.items():
        if not isinstance(groups, list):
            continue
        for group in groups:
            handlers = group.get("hooks") if isinstance(group, dict) else None
            if isinstance(handlers, list) and any(_is_official(h) for h in handlers):
                events.append(str(event))
                break
    return events


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def find(path: Path) -> Found:
    """What of the official skill's hooks ``path`` holds (a broken file raises)."""
    events = tuple(official_events(read_json(path)))
    backup = sidecar(path)
    return Found(path, events, backup if backup.is_file() else None)


def disable(path: Path) -> int:
    """Remove the official handlers from ``path``, keeping them in the sidecar file.

    Returns how many handlers were removed (0: nothing written)."""
    doc = read_json(path)
    hooks = doc.get("hooks")
    if not isinstance(hooks, dict):
        return 0
    removed: list[dict[str, Any]] = []
    for event in list(hooks):
        groups = hooks[event]
        if not isinstance(groups, list):
            continue
        kept: list[Any] = []
        for index, group in enumerate(groups):
            handlers = group.get("hooks") if isinstance(group, dict) else None
            if not isinstance(handlers, list) or not any(_is_official(h) for h in handlers):
                kept.append(group)
                continue
            theirs = [h for h in handlers if _is_official(h)]
            removed.append({"event": event, "index": index, "group": {**group, "hooks": theirs}})
            others = [h for h in handlers if not _is_official(h)]
            if others:
                kept.append({**group, "hooks": others})
        if kept:
            hooks[event] = kept
        else:
            del hooks[event]
    if not removed:
        return 0
    earlier = _read_sidecar(sidecar(path))
    sidecar(path).write_text(
        json.dumps({"removed": earlier + removed}, indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    write_json(path, doc)
    return sum(len(item["group"]["hooks"]) for item in removed)


def _read_sidecar(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise SettingsFileError(f"cannot read {path}: {exc}") from None
    items = data.get("removed") if isinstance(data, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def restore(path: Path) -> int:
    """Put back the handlers :func:`disable` removed (at their old positions); returns how
    many. Handlers already present again are not duplicated."""
    backup = sidecar(path)
    items = _read_sidecar(backup)
    if not items:
        backup.unlink(missing_ok=True)
        return 0
    doc = read_json(path)
    hooks = doc.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise SettingsFileError(f'{path}: "hooks" must be a JSON object')
    present = {json.dumps(h, sort_keys=True) for g in _all_groups(hooks) for h in g}
    restored = 0
    for item in items:
        group = item.get("group")
        event = str(item.get("event", ""))
        if not isinstance(group, dict) or not event:
            continue
        handlers = [
            h for h in group.get("hooks", []) if json.dumps(h, sort_keys=True) not in present
        ]
        if not handlers:
            continue
        groups = hooks.setdefault(event, [])
        index = item.get("index")
        at = index if isinstance(index, int) and 0 <= index <= len(groups) else len(groups)
        groups.insert(at, {**group, "hooks": handlers})
        restored += len(handlers)
    if restored:
        write_json(path, doc)
    backup.unlink(missing_ok=True)
    return restored


def _all_groups(hooks: Mapping[str, Any]) -> list[list[Any]]:
    out = []
    for groups in hooks.values():
        if isinstance(groups, list):
            for group in groups:
                if isinstance(group, dict) and isinstance(group.get("hooks"), list):
                    out.append(group["hooks"])
    return out


def settings_files(names: tuple[str, ...] | None = None) -> list[tuple[str, Path]]:
    """``(agent, file)`` for every file that may hold hooks (:meth:`Adapter.hook_files`:
    the agents' own, which follow their environment, and the default ones the official
    installers always write), for ``names`` (default: every agent)."""
    from keito_skill import agents

    out: list[tuple[str, Path]] = []
    for name in names if names is not None else agents.names():
        for path in agents.adapter(name).hook_files():
            if all(path.absolute() != seen.absolute() for _, seen in out):
                out.append((name, path))
    return out


CONFLICT = (
    "the official Keito skill's hooks (keito-time-track) are installed too: both would "
    "write a time entry for the same session"
)
