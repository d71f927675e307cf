"""Installing keito-skill into Claude Code: the skill and the user-level session hooks.

Claude Code reads user hooks from ``settings.json`` in its config directory:
``$CLAUDE_CONFIG_DIR`` when set (the first directory when it is a comma-separated list,
as keito-skill's transcript reader also assumes), else ``~/.claude``. Skills live in
``<config dir>/skills/<name>/``. Claude Code runs user hooks without any trust step.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from keito_skill.install import _created as created
from keito_skill.install import bundle
from keito_skill.install._jsonfile import (
    HookSpec,
    merge_hooks,
    our_handlers,
    read_json,
    remove_hooks,
    write_json,
)

__all__ = [
    "AGENT",
    "EVENTS",
    "HOOK_TIMEOUT",
    "AgentChange",
    "config_dir",
    "hook_specs",
    "install",
    "missing_events",
    "settings_path",
    "uninstall",
]

AGENT: Final = "claude-code"
EVENTS: Final = {"SessionStart": "session-start", "Stop": "stop", "SessionEnd": "session-end"}
HOOK_TIMEOUT: Final = 10


@dataclass
class AgentChange:
    """What an install or uninstall did for one agent (for the command's report)."""

    agent: str
    hooks_file: Path
    hooks_changed: bool = False
    backup: Path | None = None
    skill_dir: Path | None = None
    notes: list[str] = field(default_factory=list)

    def save(self, before: dict[str, Any], after: dict[str, Any], *, create: bool) -> None:
        """Write the hooks file when ``after`` differs (or, with ``create``, is missing),
        keeping a backup of what it replaces. On uninstall (not ``create``), a file that
        install created and that holds nothing else is removed instead."""
        if create and not self.hooks_file.exists():
            created.remember(self.hooks_file)
        elif (
            not create
            and after != before
            and not _has_content(after)
            and created.forget(self.hooks_file)
        ):
            self.hooks_file.unlink(missing_ok=True)
            self.hooks_changed = True
            return
        if after != before or (create and not self.hooks_file.exists()):
            self.backup = write_json(self.hooks_file, after)
            self.hooks_changed = True


def _has_content(doc: dict[str, Any]) -> bool:
    """Whether a hooks document holds anything but an empty ``hooks`` table."""
    return any(key != "hooks" or value for key, value in doc.items())


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """Claude Code's config directory (first entry of ``CLAUDE_CONFIG_DIR``, else ~/.claude)."""
    env = os.environ if env is None else env
    configured = env.get("CLAUDE_CONFIG_DIR", "")
    first = next((part.strip() for part in configured.split(",") if part.strip()), "")
    return Path(first).expanduser() if first else Path.home() / ".claude"


def settings_path(env: Mapping[str, str] | None = None) -> Path:
    """The user settings file holding hooks."""
    return config_dir(env) / "settings.json"


def hook_command(bin_path: Path, event_arg: str, agent: str) -> str:
    """``<abs>/keito-skill hook <event> --agent <agent>``, quoted for the shell."""
    return f"{shlex.quote(str(bin_path))} hook {event_arg} --agent {agent}"


def hook_specs(bin_path: Path) -> list[HookSpec]:
    """Our three handlers, all with the same timeout (Claude Code honours it as given)."""
    return [
        HookSpec(event, hook_command(bin_path, arg, AGENT), HOOK_TIMEOUT)
        for event, arg in EVENTS.items()
    ]


def missing_events(settings: Mapping[str, object]) -> list[str]:
    """Events among :data:`EVENTS` that have no handler of ours."""
    found = our_handlers(settings)
    return [event for event in EVENTS if event not in found]


def install(bin_path: Path, env: Mapping[str, str] | None = None) -> AgentChange:
    """Copy the skill and merge our hooks into ``settings.json`` (idempotent)."""
    path = settings_path(env)
    change = AgentChange(AGENT, path)
    change.skill_dir = bundle.install_skill(config_dir(env) / "skills", codex=False)
    before = read_json(path)
    change.save(before, merge_hooks(before, hook_specs(bin_path)), create=True)
    return change


def uninstall(env: Mapping[str, str] | None = None) -> AgentChange:
    """Remove our hooks (only ours) and our skill directory."""
    path = settings_path(env)
    change = AgentChange(AGENT, path)
    change.skill_dir = bundle.remove_skill(config_dir(env) / "skills")
    before = read_json(path)
    change.save(before, remove_hooks(before), create=False)
    return change
