"""What agents whose hooks live in a JSON settings file share (all of them so far):
the hook command we install, saving the file, and doctor's look at it.

The file's shape (``{"hooks": {"<Event>": [{"hooks": [{"type": "command", ...}]}]}}``)
is edited by :mod:`keito_skill.install._jsonfile`; this module adds what an adapter
needs around it.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keito_skill.agents._records import AgentChange, Check

if TYPE_CHECKING:
    from keito_skill.install._jsonfile import HookSpec

__all__ = [
    "add_hooks",
    "check_hooks_file",
    "hook_command",
    "missing_binaries",
    "missing_events",
    "save",
]


def hook_command(bin_path: Path, event_arg: str, agent: str) -> str:
    """``<abs>/keito-skill hook <event> --agent <agent>``, quoted for the shell."""
    return f"{shlex.quote(str(bin_path))} hook {event_arg} --agent {agent}"


def missing_events(doc: Mapping[str, object], events: Iterable[str]) -> list[str]:
    """Those of ``events`` that have no handler of ours in the hooks document ``doc``."""
    from keito_skill.install._jsonfile import our_handlers

    found = our_handlers(doc)
    return [event for event in events if event not in found]


def _has_content(doc: dict[str, Any]) -> bool:
    """Whether a hooks document holds anything but an empty ``hooks`` table."""
    return any(key != "hooks" or value for key, value in doc.items())


def save(
    change: AgentChange, before: dict[str, Any], after: dict[str, Any], *, create: bool
) -> None:
    """Write ``change.hooks_file`` when ``after`` differs (or, with ``create``, is missing),
    keeping a backup of what it replaces. On uninstall (not ``create``), a file that
    install created and that holds nothing else is removed instead."""
    from keito_skill.install import _created as created
    from keito_skill.install._jsonfile import write_json

    path = change.hooks_file
    if create and not path.exists():
        created.remember(path)
    elif not create and after != before and not _has_content(after) and created.forget(path):
        path.unlink(missing_ok=True)
        change.hooks_changed = True
        return
    if after != before or (create and not path.exists()):
        change.backup = write_json(path, after)
        change.hooks_changed = True


def add_hooks(change: AgentChange, specs: list[HookSpec]) -> None:
    """Merge ``specs`` into ``change.hooks_file`` (created when missing; idempotent)."""
    from keito_skill.install._jsonfile import merge_hooks, read_json

    before = read_json(change.hooks_file)
    save(change, before, merge_hooks(before, specs), create=True)


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def missing_binaries(handlers: dict[str, list[dict[str, Any]]]) -> list[str]:
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


def check_hooks_file(
    name: str,
    path: Path,
    fix: str,
    events: list[str],
    *,
    absent: Callable[[], Check | None],
) -> tuple[Check, dict[str, list[dict[str, Any]]]]:
    """Doctor's look at a hooks file: readable, every one of ``events`` handled by us,
    our executable present. ``absent`` answers when none of our hooks is there (a check,
    or None to report the events as missing). Returns the check and our handlers."""
    from keito_skill.install._jsonfile import SettingsFileError, our_handlers, read_json

    try:
        doc = read_json(path)
    except SettingsFileError as exc:
        return Check(name, False, str(exc), f"repair {path}, then {fix}"), {}
    handlers = our_handlers(doc)
    if not handlers:
        instead = absent()
        if instead is not None:
            return instead, handlers
    missing = [event for event in events if event not in handlers]
    if missing:
        return Check(name, False, f"missing {', '.join(missing)} in {path}", fix), handlers
    gone = missing_binaries(handlers)
    if gone:
        detail = f"hooks run {', '.join(gone)}, which does not exist"
        return Check(name, False, detail, fix), handlers
    return Check(name, True, f"{', '.join(events)} in {path}"), handlers
