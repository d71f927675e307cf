"""What adapters hand back to ``install``, ``uninstall`` and ``doctor``, and what those
commands hand them.

Apart from :mod:`._protocol` because these are dataclasses: ``dataclasses`` (with the
``inspect`` module it loads) costs a hook process several milliseconds, and no hook needs
them. The registry (:mod:`keito_skill.agents`) exports them as before, loaded on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["AgentChange", "Check", "InstallContext"]


@dataclass
class Check:
    """One line of ``doctor``'s report: what was checked, whether it passed, and the fix."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None


@dataclass
class AgentChange:
    """What an install or uninstall did for one agent (for the command's report)."""

    agent: str
    hooks_file: Path
    hooks_changed: bool = False
    backup: Path | None = None
    skill_dir: Path | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class InstallContext:
    """What ``install`` / ``uninstall`` hand an adapter: the executable the hooks run, the
    user's consent and the command's way of talking to the user."""

    bin_path: Path
    yes: bool = False
    #: The ``--bin`` the user gave, repeated in any "finish with: ..." command printed.
    bin_override: str | None = None
    #: The agent's own executable (``--<adapter.bin_option>``), None for "find it on PATH".
    agent_bin: str | None = None
    interactive: bool = False
    say: Callable[[str, str], None] = lambda agent, message: None
    confirm: Callable[[str, bool], bool] = lambda question, default: False
