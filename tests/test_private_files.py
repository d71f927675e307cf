"""Issue 17 item 13: what we keep holds prompts and messages, so only its owner reads it.

The skill home is created 0700, the ledger (with its ``-wal``/``-shm``), the log, the
locks and the hooks' notes 0600 whatever the umask; a home and files left looser by an
older version are tightened when next opened. Before the fix: 0755 and 0644.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from keito_skill.ledger import Ledger
from tests.sessions_kit import cli, skill_env


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> object:
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.usefixtures("open_umask")
def test_a_fresh_home_is_private(tmp_path: Path, keito_config_dir: Path) -> None:
    home = tmp_path / "home"
    env = skill_env(home, None, keito_config_dir)
    payload = {"session_id": "p1", "cwd": str(tmp_path), "transcript_path": "/nonexistent"}
    done = cli("hook", "stop", "--agent", "codex", env=env, stdin=json.dumps(payload))
    assert done.returncode == 0
    assert cli("sync", env=env).returncode == 0
    assert _mode(home) == 0o700
    for name in ("ledger.sqlite3", "ledger.sqlite3-wal", "ledger.sqlite3-shm", "sync.lock"):
        if (home / name).exists():
            assert _mode(home / name) == 0o600, name
    assert (home / "ledger.sqlite3").exists()
    assert _mode(home / "logs") == 0o700
    log = home / "logs" / "keito-skill.log"
    assert log.exists() and _mode(log) == 0o600


@pytest.mark.usefixtures("open_umask")
def test_looser_modes_left_by_an_older_version_are_tightened(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    with Ledger(home / "ledger.sqlite3") as ledger:
        ledger.touch_session("codex", "s")
    os.chmod(home / "ledger.sqlite3", 0o644)
    os.chmod(home, 0o755)
    with Ledger(home / "ledger.sqlite3") as ledger:
        ledger.touch_session("codex", "s")
        assert _mode(home) == 0o700
        assert _mode(home / "ledger.sqlite3") == 0o600
        wal = home / "ledger.sqlite3-wal"
        assert not wal.exists() or _mode(wal) == 0o600
