"""Shared pytest fixtures. Each block belongs to one area; keep them separate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# ---- Keito dev server (issue 3: client + local server) -----------------------------
from tests.keito_server import KeitoServer


@pytest.fixture(scope="session")
def keito_server_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeitoServer]:
    """One dev-server subprocess for the whole test session (starting one costs ~1 s)."""
    server = KeitoServer.start(tmp_path_factory.mktemp("keito-server"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def keito_server(keito_server_session: KeitoServer) -> KeitoServer:
    """The shared dev server, reset to its seeded state: no entries, faults or log."""
    keito_server_session.reset()
    return keito_server_session


@pytest.fixture
def keito_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Keito CLI config dir, with every KEITO_* credential variable unset."""
    for name in ("KEITO_API_KEY", "KEITO_ACCOUNT_ID", "KEITO_WORKSPACE_ID", "KEITO_API_URL"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "keito-config"
    monkeypatch.setenv("KEITO_CONFIG_DIR", str(config))
    return config


# ---- end Keito dev server ----------------------------------------------------------


# ---- sessions: ledger, sync, hooks, backfill, watch ---------------------------------
import time  # noqa: E402

from keito_skill.ledger import Ledger  # noqa: E402


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Day slices are local days: pin the zone so the fixtures' dates are known."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``KEITO_SKILL_HOME`` (ledger, locks, logs) for this test."""
    skill_home = tmp_path / "skill-home"
    monkeypatch.setenv("KEITO_SKILL_HOME", str(skill_home))
    return skill_home


@pytest.fixture
def ledger(home: Path) -> Iterator[Ledger]:
    with Ledger() as opened:
        yield opened


# ---- end sessions --------------------------------------------------------------------
