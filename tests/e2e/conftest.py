"""Fixtures for the real-agent end-to-end tests.

Every test here needs the pinned agent binaries; when npm or the registry is unavailable
the tests are skipped with the reason (``agents_unavailable_reason``), never failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .agents import AgentBinaries, AgentSandbox, agents_unavailable_reason, ensure_agents
from .stub_model import StubModelServer


@pytest.fixture(scope="session")
def agent_bins() -> AgentBinaries:
    """The installed Claude Code and Codex binaries (installed on first use), or skip."""
    reason = agents_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    return ensure_agents()


@pytest.fixture
def stub_model(tmp_path: Path) -> Iterator[StubModelServer]:
    """A fresh stub model API on loopback, writing ``tmp_path/usage-truth.jsonl``."""
    with StubModelServer(tmp_path / "usage-truth.jsonl") as stub:
        yield stub


@pytest.fixture
def agent_sandbox(
    tmp_path: Path, agent_bins: AgentBinaries, stub_model: StubModelServer
) -> AgentSandbox:
    """An isolated HOME / CODEX_HOME / project wired to ``stub_model``."""
    return AgentSandbox(tmp_path / "sandbox", agent_bins, stub_model)
