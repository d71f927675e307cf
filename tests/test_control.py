"""``disable``/``enable`` (this repo) against the local Keito server, and ``install --watch``."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from keito_skill.ledger import Ledger
from keito_skill.mapping import load_config
from keito_skill.recorder import record
from tests.keito_server import KeitoServer
from tests.sessions_kit import (
    FIXTURE_CWD,
    ROOT,
    cli,
    copy_session,
    expense_tokens,
    make_repo,
    remote,
    skill_env,
    split_at_first_end,
    truth_totals,
)

pytestmark = pytest.mark.usefixtures("utc")


def _in(repo: Path, *args: str, env: dict[str, str]) -> dict[str, object]:
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "keito_skill", *args],
        cwd=repo,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return {"stdout": result.stdout}


def test_disabled_repo_is_recorded_but_never_billed_even_after_enable(
    keito_server: KeitoServer, home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    """Disabled means never billed (issue 17, item 8): what ran while the repository was
    disabled stays unbilled after ``enable``; sessions after ``enable`` are billed."""
    repo = make_repo(tmp_path / "repo", keito_server)
    env = skill_env(home, keito_server, keito_config_dir)
    (repo / "sub").mkdir()
    out = _in(repo / "sub", "disable", env=env)  # from anywhere inside the repo
    assert "disabled" in str(out["stdout"])
    assert load_config(repo / ".keito" / "config.yml").config.agent_tracking.enabled is False
    with Ledger(home / "ledger.sqlite3") as ledger:
        session_id, path = copy_session("codex", tmp_path / "t")
        record(ledger, "codex", session_id, path, cwd=str(repo), end_reason="exit")
    cli("sync", env=env)
    assert remote(keito_server, "time_entries") == []
    status = json.loads(cli("status", "--json", env=env).stdout)
    assert status["sessions"]["by_mapping"] == {"disabled": 1}

    _in(repo, "enable", env=env)
    assert load_config(repo / ".keito" / "config.yml").config.agent_tracking.enabled is True
    cli("sync", env=env)
    assert remote(keito_server, "time_entries") == []
    assert remote(keito_server, "expenses") == []
    status = json.loads(cli("status", "--json", env=env).stdout)
    assert status["sessions"]["by_mapping"] == {"disabled": 1}

    with Ledger(home / "ledger.sqlite3") as ledger:  # a session after enable is billed
        later, path = copy_session("claude-code", tmp_path / "later")
        record(ledger, "claude-code", later, path, cwd=str(repo), end_reason="exit")
    cli("sync", env=env)
    assert [e["metadata"]["session_id"] for e in remote(keito_server, "time_entries")] == [later]


def test_a_session_recorded_while_disabled_with_no_sync_before_enable_is_not_billed(
    keito_server: KeitoServer, home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    """No sync ran between the recording and ``enable`` (hooks without background syncs,
    or the one they started lost the race): ``enable`` itself settles it as disabled."""
    repo = make_repo(tmp_path / "repo", keito_server)
    env = skill_env(home, keito_server, keito_config_dir)
    _in(repo, "disable", env=env)
    with Ledger(home / "ledger.sqlite3") as ledger:
        session_id, path = copy_session("claude-code", tmp_path / "t")
        record(ledger, "claude-code", session_id, path, cwd=str(repo), end_reason="exit")
    _in(repo, "enable", env=env)
    cli("sync", env=env)
    assert remote(keito_server, "time_entries") == []
    assert remote(keito_server, "expenses") == []


def test_a_session_running_at_disable_is_billed_up_to_it_and_backfill_can_opt_in(
    keito_server: KeitoServer, home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    """The part before ``disable`` is billed (time and usage); the rest is not, even after
    ``enable``; ``backfill --include-disabled`` is the explicit way to bill all of it."""
    repo = make_repo(tmp_path / "repo", keito_server)
    env = skill_env(home, keito_server, keito_config_dir)
    agents = tmp_path / "agents"
    folder = agents / "codex" / "sessions" / "2026" / "11" / "21"
    session_id, path = copy_session("codex", folder)
    full = path.read_text().replace(FIXTURE_CWD, str(repo))
    first, _rest = split_at_first_end("codex", full)
    path.write_text(first)
    with Ledger(home / "ledger.sqlite3") as ledger:
        record(ledger, "codex", session_id, path, cwd=str(repo))  # running
    cli("sync", env=env)
    [entry] = remote(keito_server, "time_entries")
    _in(repo, "disable", env=env)
    cli("sync", env=env)
    before = expense_tokens(remote(keito_server, "expenses"), session_id)
    assert 0 < before["output_tokens"] < truth_totals("codex")["output_tokens"]
    path.write_text(full)  # worked on while disabled, then ended
    with Ledger(home / "ledger.sqlite3") as ledger:
        record(ledger, "codex", session_id, path, end_reason="exit")
    _in(repo, "enable", env=env)
    cli("sync", env=env)
    assert expense_tokens(remote(keito_server, "expenses"), session_id) == before
    assert [e["hours"] for e in remote(keito_server, "time_entries")] == [entry["hours"]]

    hour_ago = time.time() - 3600
    os.utime(path, (hour_ago, hour_ago))
    args = ["--codex-dir", str(agents / "codex"), "--claude-dir", str(agents / "none")]
    assert cli("backfill", *args, env=env).returncode == 0  # not without asking
    assert expense_tokens(remote(keito_server, "expenses"), session_id) == before
    done = cli("backfill", "--include-disabled", *args, env=env)
    assert done.returncode == 0, done.stderr
    assert expense_tokens(remote(keito_server, "expenses"), session_id) == truth_totals("codex")
    assert len(remote(keito_server, "time_entries")) == 1


def test_disable_outside_a_mapped_repo_writes_a_disabled_config(
    home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    repo = make_repo(tmp_path / "bare", None)
    (repo / ".keito" / "config.yml").unlink()
    _in(repo, "disable", env=skill_env(home, None, keito_config_dir))
    config = load_config(repo / ".keito" / "config.yml").config
    assert config.agent_tracking.enabled is False and not config.is_mapped
    assert ".keito/config.yml" in (repo / ".gitignore").read_text()


def test_install_watch_writes_the_user_service(home: Path, tmp_path: Path) -> None:
    user = tmp_path / "user"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEITO_", "CLAUDE_", "CODEX_"))}
    env.update(HOME=str(user), KEITO_SKILL_HOME=str(home), XDG_CONFIG_HOME=str(user / ".config"))
    # Where Keito is comes along; the key, set only in this shell, does not.
    env.update(KEITO_API_URL="http://keito.example:8080", KEITO_API_KEY="kk_only_in_shell")
    keito_bin = str(Path(sys.executable).parent / "keito-skill")
    result = cli("install", "--agent", "claude-code", "--bin", keito_bin, "--watch", env=env)
    assert result.returncode == 0, result.stderr
    unit = user / ".config" / "systemd" / "user" / "keito-skill-watch.service"
    assert str(unit) in result.stdout and "systemctl --user" in result.stdout
    assert " watch" in unit.read_text()
    assert "Environment=KEITO_API_URL=http://keito.example:8080" in unit.read_text()
    assert "KEITO_API_KEY" not in unit.read_text() and "kk_only_in_shell" not in unit.read_text()
    assert "KEITO_API_KEY is set only in this shell" in result.stdout
    assert "kk_only_in_shell" not in result.stdout + result.stderr
    printed = cli("watch", "--print-service", "systemd", env=env)
    assert "run 'keito-skill auth login'" in printed.stderr
    assert "[Service]" in printed.stdout and "note" not in printed.stdout  # stdout stays a unit
    del env["KEITO_API_KEY"]
    wanted = unit.parent / "default.target.wants" / unit.name
    wanted.parent.mkdir()
    wanted.symlink_to(unit)  # what 'systemctl --user enable' leaves
    # No systemctl: never ask the developer's own user manager to stop anything.
    env["PATH"] = str(tmp_path / "no-bin")
    one = cli("uninstall", "--agent", "claude-code", env=env)
    assert one.returncode == 0 and unit.exists()  # the watcher still serves Codex
    both = cli("uninstall", env=env)
    assert both.returncode == 0, both.stderr
    assert f"systemd service {unit} removed" in both.stdout
    assert not unit.exists() and not wanted.is_symlink()
    # It could not be stopped, so the user is told how.
    assert "systemctl --user stop keito-skill-watch.service" in both.stdout
    again = cli("uninstall", env=env)
    assert again.returncode == 0 and "service" not in again.stdout


def test_a_session_is_found_by_the_start_of_its_id(home: Path, tmp_path: Path) -> None:
    from keito_skill.cli.control_cmd import NoSessionError, current_session

    one, two = "abcdef12-0000-4000-8000-000000000001", "abcdef34-0000-4000-8000-000000000002"
    with Ledger(home / "ledger.sqlite3") as ledger:
        for session_id in (one, two):
            _, path = copy_session("codex", tmp_path / session_id, session_id)
            record(ledger, "codex", session_id, path, cwd=str(tmp_path))
        assert current_session(ledger, one, tmp_path).session_id == one
        assert current_session(ledger, "abcdef3", tmp_path).session_id == two
        with pytest.raises(NoSessionError, match=f"more than one session: {one}, {two}"):
            current_session(ledger, "abcdef", tmp_path)
        for not_an_id in ("abcd", "%%%%%%", "abcde_12"):  # too short; LIKE's wildcards
            with pytest.raises(NoSessionError, match="no recorded session"):
                current_session(ledger, not_an_id, tmp_path)


def test_a_date_range_that_ends_before_it_starts_is_refused(
    home: Path, keito_config_dir: Path
) -> None:
    env = skill_env(home, None, keito_config_dir)
    for command in ("report", "sessions", "backfill"):
        result = cli(command, "--until", "2026-11-01", "--since", "2026-11-22", env=env)
        assert result.returncode == 2
        assert "2026-11-22 is after --until 2026-11-01" in result.stderr
    same_day = cli("report", "--since", "2026-11-22", "--until", "2026-11-22", env=env)
    assert same_day.returncode == 0, same_day.stderr
