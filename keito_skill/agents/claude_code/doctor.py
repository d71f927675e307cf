"""Doctor's check for Claude Code: our hooks in ``settings.json``, or the keito plugin.

The keito Claude Code plugin brings its own hooks: it is listed in
``<config dir>/plugins/installed_plugins.json`` under a ``keito@<marketplace>`` key.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from keito_skill.agents._hooks import check_hooks_file
from keito_skill.agents._records import Check
from keito_skill.agents.claude_code import install, paths

__all__ = ["check", "plugin_installed"]


def plugin_installed(config_dir: Path) -> bool:
    """Whether the keito Claude Code plugin is installed (it brings its own hooks)."""
    path = config_dir / "plugins" / "installed_plugins.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    plugins = data.get("plugins") if isinstance(data, dict) else None
    return isinstance(plugins, dict) and any(str(k).startswith("keito@") for k in plugins)


def check() -> Check:
    """One line: are Claude Code's hooks ours, complete and runnable?"""
    name, fix = f"{install.AGENT} hooks", f"keito-skill install --agent {install.AGENT}"
    path = paths.settings_path()
    config_dir = paths.config_dir()
    plugin = plugin_installed(config_dir)

    def absent() -> Check:
        if plugin:
            return Check(name, True, "provided by the keito Claude Code plugin")
        if not (config_dir.exists() or shutil.which("claude")):
            return Check(name, True, "Claude Code not found here; skipped")
        return Check(name, False, f"no keito-skill hooks in {path}", fix)

    found, handlers = check_hooks_file(name, path, fix, list(install.EVENTS), absent=absent)
    if found.ok and handlers and plugin:
        found.detail += " (the keito plugin is installed too: hooks run twice)"
    return found
