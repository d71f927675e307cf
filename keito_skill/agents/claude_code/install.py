"""Installing keito-skill into Claude Code: the skill and the user-level session hooks.

Claude Code reads user hooks from ``settings.json`` in its config directory
(:mod:`.paths`) and skills from ``<config dir>/skills/<name>/``. It runs user hooks
without any trust step.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

from keito_skill.agents._hooks import add_hooks, hook_command, save
from keito_skill.agents._records import AgentChange
from keito_skill.agents.claude_code.paths import config_dir, settings_path
from keito_skill.install import bundle
from keito_skill.install._jsonfile import (
    HookSpec,
    read_json,
    remove_hooks,
)

__all__ = [
    "AGENT",
    "EVENTS",
    "HOOK_TIMEOUT",
    "hook_specs",
    "install",
    "uninstall",
]

AGENT: Final = "claude-code"
EVENTS: Final = {"SessionStart": "session-start", "Stop": "stop", "SessionEnd": "session-end"}
HOOK_TIMEOUT: Final = 10


def hook_specs(bin_path: Path) -> list[HookSpec]:
    """Our three handlers, all with the same timeout (Claude Code honours it as given)."""
    return [
        HookSpec(event, hook_command(bin_path, arg, AGENT), HOOK_TIMEOUT)
        for event, arg in EVENTS.items()
    ]


def install(bin_path: Path, env: Mapping[str, str] | None = None) -> AgentChange:
    """Copy the skill and merge our hooks into ``settings.json`` (idempotent)."""
    path = settings_path(env)
    change = AgentChange(AGENT, path)
    change.skill_dir = bundle.install_skill(config_dir(env) / "skills", agent_metadata=False)
    add_hooks(change, hook_specs(bin_path))
    return change


def uninstall(env: Mapping[str, str] | None = None) -> AgentChange:
    """Remove our hooks (only ours) and our skill directory."""
    path = settings_path(env)
    change = AgentChange(AGENT, path)
    change.skill_dir = bundle.remove_skill(config_dir(env) / "skills")
    before = read_json(path)
    save(change, before, remove_hooks(before), create=False)
    return change
