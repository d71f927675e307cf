"""Where Claude Code keeps its files: the one resolver for parse, backfill, watch, install
and doctor.

Claude Code keeps everything (``settings.json`` with the user's hooks, ``skills/``,
``plugins/``, ``projects/<slug>/<session-id>.jsonl``) in one directory:
``$CLAUDE_CONFIG_DIR`` when set, else ``~/.claude``. It does not read ``XDG_CONFIG_HOME``
(its maintainers point users who want ``~/.config/claude`` at ``CLAUDE_CONFIG_DIR``), so
neither do we. ``CLAUDE_CONFIG_DIR`` may list several directories, comma-separated, for
reading several accounts' transcripts at once; install and doctor use the first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

TYPE_CHECKING = False  # mypy takes it for typing's; importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from typing import Final

__all__ = ["ENV", "config_dir", "config_dirs", "projects_dir", "settings_path"]

ENV: Final = "CLAUDE_CONFIG_DIR"


def config_dirs(env: Mapping[str, str] | None = None) -> list[Path]:
    """Every entry of ``CLAUDE_CONFIG_DIR`` (comma-separated), else ``[~/.claude]``."""
    env = os.environ if env is None else env
    configured = env.get(ENV, "")
    dirs = [Path(part.strip()).expanduser() for part in configured.split(",") if part.strip()]
    return dirs or [Path.home() / ".claude"]


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """The directory Claude Code reads its settings from: the first of :func:`config_dirs`."""
    return config_dirs(env)[0]


def settings_path(env: Mapping[str, str] | None = None) -> Path:
    """The user settings file holding hooks."""
    return config_dir(env) / "settings.json"


def projects_dir(root: Path) -> Path:
    """The transcripts directory of a config dir; a ``projects`` directory (or a directory
    without one, given on the command line) is taken as it is."""
    if root.name == "projects" or (root.is_dir() and not (root / "projects").exists()):
        return root
    return root / "projects"
