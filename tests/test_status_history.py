"""Issue 17 items 7 and 20: ``status`` tells current problems from past ones.

An error logged before a later successful sync used to be shown as if it were current;
now it is counted as an earlier problem, and only what went wrong since is listed. Sessions
that watch or backfill ended (no SessionEnd was recorded) are counted, so a lost end that
was finished later shows.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from keito_skill.ledger import Ledger
from tests.keito_server import KeitoServer
from tests.sessions_kit import cli, copy_session, make_repo, skill_env

pytestmark = pytest.mark.usefixtures("utc")


def test_problems_before_a_successful_sync_are_shown_as_earlier(
    tmp_path: Path, keito_server: KeitoServer, keito_config_dir: Path
) -> None:
    home = tmp_path / "home"
    env = skill_env(home, keito_server, keito_config_dir)
    with Ledger(home / "ledger.sqlite3") as ledger:
        ledger.log_event("error", "sync", "connection lost: Keito did not answer")
    time.sleep(0.01)
    assert cli("sync", env=env).returncode == 0
    data = json.loads(cli("status", "--json", env=env).stdout)
    assert data["recent_problems"] == []
    assert [p["message"] for p in data["resolved_problems"]] == [
        "connection lost: Keito did not answer"
    ]
    text = cli("status", env=env).stdout
    assert "connection lost" not in text and "1 earlier problem before the last" in text
    with Ledger(home / "ledger.sqlite3") as ledger:
        ledger.log_event("error", "hook", "a new one")
    data = json.loads(cli("status", "--json", env=env).stdout)
    assert [p["message"] for p in data["recent_problems"]] == ["a new one"]


def test_sessions_ended_by_backfill_are_counted(
    tmp_path: Path, keito_server: KeitoServer, keito_config_dir: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    claude = tmp_path / "claude" / "projects" / "-repo"
    _, path = copy_session("claude-code", claude)
    path.write_text(path.read_text().replace("/home/dev/src/acme-api", str(repo)))
    quiet = time.time() - 3600  # killed an hour ago: no SessionEnd ever came
    os.utime(path, (quiet, quiet))
    env = skill_env(tmp_path / "home", keito_server, keito_config_dir)
    done = cli(
        "backfill", "--claude-dir", str(tmp_path / "claude"), "--codex-dir",
        str(tmp_path / "none"), env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(cli("status", "--json", env=env).stdout)
    assert data["sessions"]["ended_without_session_end"] == 1
    assert "1 session ended by watch or backfill" in cli("status", env=env).stdout
