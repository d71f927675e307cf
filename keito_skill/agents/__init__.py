"""The agent registry: one package per coding agent, addressed only through here.

Each agent lives in ``keito_skill/agents/<package>/`` and exposes an ``ADAPTER`` object
satisfying :class:`Adapter` (see :mod:`._protocol` for what it must provide). Adding an
agent is one new package plus one line in :data:`ADAPTERS`. Packages are imported on first
use, so the hook path pays only for the agent it serves.
"""

from __future__ import annotations

import importlib

from keito_skill.errors import KeitoSkillError

TYPE_CHECKING = False  # mypy takes it for typing's; importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from typing import Any, Final

    from keito_skill.agents._protocol import Adapter, Parser
    from keito_skill.agents._records import AgentChange, Check, InstallContext

__all__ = [
    "ADAPTERS",
    "Adapter",
    "AgentChange",
    "Check",
    "InstallContext",
    "Parser",
    "UnknownAgentError",
    "adapter",
    "adapters",
    "label",
    "names",
]

#: Agent name -> the module holding its ``ADAPTER``, in the order agents are listed.
ADAPTERS: Final[dict[str, str]] = {
    "claude-code": "keito_skill.agents.claude_code",
    "codex": "keito_skill.agents.codex",
    "gemini-cli": "keito_skill.agents.gemini_cli",
}


class UnknownAgentError(KeitoSkillError, ValueError):
    """An agent name no adapter is registered for."""


def names() -> tuple[str, ...]:
    """Every registered agent's name, in registry order."""
    return tuple(ADAPTERS)


def adapter(name: str) -> Adapter:
    """The adapter for ``name``; :class:`UnknownAgentError` for a name not registered."""
    module = ADAPTERS.get(name)
    if module is None:
        raise UnknownAgentError(f"unknown agent {name!r} (expected one of {', '.join(ADAPTERS)})")
    found: Adapter = importlib.import_module(module).ADAPTER
    return found


def label(name: str) -> str:
    """The agent's display name; an unregistered name (an old ledger row) as it is."""
    return adapter(name).label if name in ADAPTERS else name


def adapters() -> list[Adapter]:
    """Every registered adapter, in registry order."""
    return [adapter(name) for name in ADAPTERS]


_RECORDS = frozenset(("AgentChange", "Check", "InstallContext"))
_PROTOCOLS = frozenset(("Adapter", "Parser"))


def __getattr__(name: str) -> Any:
    """``Check``, ``AgentChange`` and ``InstallContext``, loaded when first asked for (they
    are dataclasses, which a hook process should not pay to import); likewise ``Adapter``
    and ``Parser`` (``typing.Protocol`` classes: ``typing`` costs a hook ~5 ms)."""
    if name in _RECORDS:
        from keito_skill.agents import _records

        return getattr(_records, name)
    if name in _PROTOCOLS:
        from keito_skill.agents import _protocol

        return getattr(_protocol, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
