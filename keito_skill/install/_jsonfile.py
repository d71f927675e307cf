"""Editing the agents' JSON settings files without hurting anything else in them.

The agents' settings and hooks files belong to the user: they hold
permissions, models, other tools' hooks. So every change here is a *merge* that touches
only the handlers keito-skill owns, and every write

* is skipped when nothing changes (a second ``install`` rewrites nothing and makes no
  backup, and trust an agent keyed to a hook's definition stays valid);
* keeps the previous file as ``<name>.keito-skill.bak`` (one file, overwritten by our next
  change, so backups never pile up — and uninstall undoes our part anyway);
* is atomic (temporary file in the same directory, then ``os.replace``) with the file's
  permission bits kept, so an agent starting at that moment reads either the old or the
  new file, never half of one.

Our handlers are recognised by their command: the ``keito-skill`` executable (any path)
followed by the ``hook`` sub-command. That also catches hooks written by an older
keito-skill or from another install location, which are replaced rather than duplicated.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keito_skill._files import atomic_write_text
from keito_skill.errors import KeitoSkillError

__all__ = [
    "BACKUP_SUFFIX",
    "HookSpec",
    "SettingsFileError",
    "is_our_command",
    "merge_hooks",
    "our_handlers",
    "read_json",
    "read_json_prepared",
    "remove_hooks",
    "write_json",
]

BACKUP_SUFFIX = ".keito-skill.bak"
EXECUTABLE = "keito-skill"
_WRAPPERS = frozenset({"env", "exec", "command", "nohup"})


class SettingsFileError(KeitoSkillError):
    """An agent settings file we must edit is unreadable or not a JSON object."""


@dataclass(frozen=True)
class HookSpec:
    """One command handler we want under one event."""

    event: str  # "SessionStart", "Stop", "SessionEnd"
    command: str
    timeout: int

    def handler(self) -> dict[str, Any]:
        """The handler object, in the shape both agents read."""
        return {"type": "command", "command": self.command, "timeout": self.timeout}


def is_our_command(command: object) -> bool:
    """Whether a hook command runs ``keito-skill hook ...`` (from any path).

    Token-based so ``/opt/x/keito-skill hook stop``, ``'/a b/keito-skill' hook stop`` and
    ``env X=1 keito-skill hook stop`` match while ``echo keito-skill hook`` or
    ``keito-skill-foo hook`` do not.
    """
    if not isinstance(command, str) or EXECUTABLE not in command:
        return False
    try:
        tokens = shlex.split(command)
    except ValueError:  # unbalanced quotes: fall back to whitespace
        tokens = command.split()
    # The program is the first word after any ``VAR=value`` prefixes and wrappers.
    index = 0
    while index < len(tokens) and (
        tokens[index] in _WRAPPERS or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", tokens[index])
    ):
        index += 1
    return (
        index + 1 < len(tokens)
        and os.path.basename(tokens[index]) == EXECUTABLE
        and tokens[index + 1] == "hook"
    )


def _is_our_handler(handler: object) -> bool:
    return isinstance(handler, dict) and is_our_command(handler.get("command"))


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; ``{}`` when the file is missing or empty.

    Anything else that is not a JSON object is an error: rewriting it would destroy the
    user's settings.
    """
    return read_json_prepared(path, None)[0]


def read_json_prepared(
    path: Path, prepare: Callable[[str], str] | None
) -> tuple[dict[str, Any], bool]:
    """:func:`read_json` after ``prepare`` (e.g. removing comments) turned the file's
    text into plain JSON, and whether it changed anything: what writing the object back
    would lose."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, False
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsFileError(f"cannot read {path}: {exc}") from None
    if not text.strip():
        return {}, False
    bare = prepare(text) if prepare is not None else text
    try:
        data = json.loads(bare)
    except ValueError as exc:
        raise SettingsFileError(
            f"{path} is not valid JSON ({exc}); fix it and run the command again"
        ) from None
    if not isinstance(data, dict):
        raise SettingsFileError(f"{path} must hold a JSON object, not {type(data).__name__}")
    return data, bare != text


def write_json(path: Path, data: Mapping[str, Any]) -> Path | None:
    """Write ``data`` as indented JSON (atomic, with a backup); returns the backup path."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return atomic_write_text(path, text, backup_suffix=BACKUP_SUFFIX)


def our_handlers(doc: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Our handlers per event, as found in a settings document."""
    found: dict[str, list[dict[str, Any]]] = {}
    hooks = doc.get("hooks")
    if not isinstance(hooks, dict):
        return found
    for event, groups in hooks.items():
        if not isinstance(groups, list):
            continue
        for group in groups:
            if isinstance(group, dict) and isinstance(group.get("hooks"), list):
                for handler in group["hooks"]:
                    if _is_our_handler(handler):
                        found.setdefault(str(event), []).append(handler)
    return found


def _strip(
    doc: dict[str, Any], is_ours: Callable[[object], bool]
) -> tuple[dict[str, Any], dict[str, int]]:
    """A copy of ``doc`` without our handlers, and per event the index of the first group
    that held one (so a replacement goes back where the old one was: an agent may key
    trust by position, and users may have ordered their hooks on purpose)."""
    out: dict[str, Any] = json.loads(json.dumps(doc))
    positions: dict[str, int] = {}
    hooks = out.get("hooks")
    if not isinstance(hooks, dict):
        return out, positions
    for event in list(hooks):
        groups = hooks[event]
        if not isinstance(groups, list):
            continue
        kept: list[Any] = []
        for group in groups:
            if not (isinstance(group, dict) and isinstance(group.get("hooks"), list)):
                kept.append(group)
                continue
            handlers = [h for h in group["hooks"] if not is_ours(h)]
            if len(handlers) == len(group["hooks"]):
                kept.append(group)
                continue
            positions.setdefault(event, len(kept))
            if handlers:  # someone else's handlers shared the group: keep theirs
                kept.append({**group, "hooks": handlers})
        if kept or event not in positions:
            hooks[event] = kept
        else:  # only our handlers were there: leave no empty event behind
            del hooks[event]
    if not hooks and positions:
        del out["hooks"]
    return out, positions


def merge_hooks(doc: Mapping[str, Any], specs: list[HookSpec]) -> dict[str, Any]:
    """``doc`` with exactly one group per spec holding our handler, all else unchanged.

    Every older handler of ours (any event, any path) is removed first; the new group
    takes the position of the first removed one, or goes last.
    """
    out, positions = _strip(dict(doc), _is_our_handler)
    hooks = out.get("hooks")
    if not isinstance(hooks, dict):
        if "hooks" in out:
            raise SettingsFileError('"hooks" must be a JSON object')
        hooks = out["hooks"] = {}
    for spec in specs:
        groups = hooks.get(spec.event)
        if groups is None:
            groups = hooks[spec.event] = []
        if not isinstance(groups, list):
            raise SettingsFileError(f'"hooks.{spec.event}" must be a JSON array')
        index = min(positions.get(spec.event, len(groups)), len(groups))
        groups.insert(index, {"hooks": [spec.handler()]})
    return out


def remove_hooks(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``doc`` without any of our handlers; empty groups, events and ``hooks`` dropped."""
    return _strip(dict(doc), _is_our_handler)[0]
