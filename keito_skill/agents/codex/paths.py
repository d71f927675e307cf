"""Where Codex keeps its files: the one resolver for parse, backfill, watch, install and
doctor.

Everything is under ``$CODEX_HOME`` (``~/.codex`` by default): ``hooks.json`` (user
hooks), ``config.toml`` (hook trust, features), ``skills/``, and the rollouts in
``sessions/YYYY/MM/DD/rollout-*.jsonl`` and ``archived_sessions/``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

TYPE_CHECKING = False  # mypy takes it for typing's; importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from typing import Final

__all__ = ["ENV", "SESSION_DIRS", "codex_home", "config_path", "hooks_path", "session_dirs"]

ENV: Final = "CODEX_HOME"
SESSION_DIRS: Final = ("sessions", "archived_sessions")


def codex_home(env: Mapping[str, str] | None = None) -> Path:
    """``$CODEX_HOME``, else ``~/.codex``."""
    env = os.environ if env is None else env
    configured = env.get(ENV, "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".codex"


def hooks_path(env: Mapping[str, str] | None = None) -> Path:
    """The user-level hooks file."""
    return codex_home(env) / "hooks.json"


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """``config.toml``: where Codex records hook trust."""
    return codex_home(env) / "config.toml"


def session_dirs(root: Path) -> list[Path]:
    """The rollout directories of a Codex home; one of them given itself is kept as is."""
    if root.name in SESSION_DIRS:
        return [root]
    return [root / sub for sub in SESSION_DIRS]
