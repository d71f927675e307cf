"""``keito-skill watch`` as a real process: a killed agent's session is ended and sent once.

The watcher is started as a subprocess with a short idle threshold (the hidden
``--idle-seconds``), transcripts are appended line by line like a live agent writes them,
then the writing stops — the agent was killed, no SessionEnd — and the local Keito server
must receive the session's time entry and expenses exactly once.
"""

from __future__ import annotations

import json
import os
import plistlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keito_skill.ledger import Ledger
from keito_skill.recorder import record
from keito_skill.sync import run_sync
from keito_skill.watch import Watcher, locate, watch_paths
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
from tests.transcript_data import TOKEN_KEYS

pytestmark = pytest.mark.usefixtures("utc")

IDLE = 3.0


def _session_lines(agent: str, folder: Path, repo: Path) -> tuple[str, Path, list[str]]:
    """A fixture session's lines (new id, cwd = repo) and where the agent would write them."""
    session_id, path = copy_session(agent, folder)
    lines = path.read_text().replace(FIXTURE_CWD, str(repo)).splitlines(keepends=True)
    path.unlink()
    return session_id, path, lines


def _wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


class _Watch:
    """A ``keito-skill watch`` subprocess whose stderr goes to a file we can poll."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._handle = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "keito_skill", "watch", *args],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=self._handle,
        )
        _wait_for(lambda: "watching" in self.text() or self.proc.poll() is not None, 30, "start")
        assert self.proc.poll() is None, self.text()

    def text(self) -> str:
        return self.log.read_text()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        self._handle.close()
        return code


def test_killed_agents_are_ended_by_watch_and_sent_exactly_once(
    keito_server: KeitoServer, home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    claude_root = tmp_path / "agents" / "claude"
    codex_root = tmp_path / "agents" / "codex"
    (claude_root / "projects").mkdir(parents=True)
    (codex_root / "sessions").mkdir(parents=True)
    env = skill_env(home, keito_server, keito_config_dir)
    watcher = _Watch(
        [
            "--claude-dir",
            str(claude_root),
            "--codex-dir",
            str(codex_root),
            "--idle-seconds",
            str(IDLE),
            "--sync-delay",
            "0.3",
        ],
        env,
        tmp_path / "watch.log",
    )
    try:
        sessions = {
            "claude-code": _session_lines("claude-code", claude_root / "projects" / "-repo", repo),
            "codex": _session_lines("codex", codex_root / "sessions" / "2026" / "11" / "21", repo),
        }
        # Both agents write at once, a line at a time, then are killed mid-flight.
        longest = max(len(lines) for _, _, lines in sessions.values())
        last_write: dict[str, float] = {}
        for index in range(longest):
            for agent, (_, path, lines) in sessions.items():
                if index < len(lines):
                    path.parent.mkdir(parents=True, exist_ok=True)
                    with path.open("a") as handle:
                        handle.write(lines[index])
                    last_write[agent] = time.time()
            time.sleep(0.03)
        stopped = time.time()

        def arrived() -> bool:
            expenses = remote(keito_server, "expenses")
            return all(
                expense_tokens(expenses, sid) == truth_totals(agent)
                for agent, (sid, _, _) in sessions.items()
            )

        _wait_for(arrived, 40, "time entries and expenses at Keito")
        with Ledger() as ledger:
            for agent, (session_id, path, _) in sessions.items():
                row = ledger.session(agent, session_id)
                assert row is not None, agent
                assert (row.ended, row.end_reason, row.origin) == (True, "idle", "watch")
                assert row.cwd == str(repo) and row.transcript_path == str(path)
                assert row.ended_at is not None
                # Ended once its own transcript was quiet for the idle threshold (each
                # agent stopped writing at its own time), well within idle + a minute.
                assert IDLE <= row.ended_at - last_write[agent] < IDLE + 15
        entries = remote(keito_server, "time_entries")
        expenses = remote(keito_server, "expenses")
        ids = sorted(sid for sid, _, _ in sessions.values())
        assert sorted(e["metadata"]["session_id"] for e in entries) == ids
        assert all(e["spent_date"] == "2026-11-21" for e in entries)

        time.sleep(IDLE * 2)  # nothing more happens: no second entry, no new expense
        assert len(remote(keito_server, "time_entries")) == len(entries)
        assert len(remote(keito_server, "expenses")) == len(expenses)
        for agent, (session_id, _, _) in sessions.items():
            assert expense_tokens(remote(keito_server, "expenses"), session_id) == (
                truth_totals(agent)
            )
    finally:
        code = watcher.stop(signal.SIGTERM)
    assert code == 0, watcher.text()
    assert "stopping (SIGTERM)" in watcher.text()
    state = json.loads((home / "watch.json").read_text())
    assert state["last_seen"] >= stopped


def test_sigint_exits_zero(home: Path, tmp_path: Path, keito_config_dir: Path) -> None:
    env = skill_env(home, None, keito_config_dir)
    watcher = _Watch(
        ["--claude-dir", str(tmp_path / "c"), "--codex-dir", str(tmp_path / "x"), "--no-sync"],
        env,
        tmp_path / "watch.log",
    )
    assert watcher.stop(signal.SIGINT) == 0
    assert "stopping (SIGINT)" in watcher.text()


def test_once_ends_a_hook_recorded_session_and_catches_up_hookless_ones(
    keito_server: KeitoServer, home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    claude_root = tmp_path / "agents" / "claude"
    codex_root = tmp_path / "agents" / "codex"
    folder = claude_root / "projects" / "-repo"
    session_id, path = copy_session("claude-code", folder)
    full = path.read_text().replace(FIXTURE_CWD, str(repo))
    first, _ = split_at_first_end("claude-code", full)
    path.write_text(first)
    with Ledger() as ledger:  # the Stop hook of the first prompt; then the agent was killed
        record(ledger, "claude-code", session_id, path, cwd=str(repo))
    path.write_text(full)
    past = time.time() - 30
    os.utime(path, (past, past))
    env = skill_env(home, keito_server, keito_config_dir)
    args = ["watch", "--once", "--claude-dir", str(claude_root), "--codex-dir", str(codex_root)]
    args += ["--idle-seconds", "1"]
    with Ledger() as ledger:
        hooked = ledger.session("claude-code", session_id)
    assert hooked is not None
    _wait_for(
        lambda: time.time() > hooked.updated_at + 1.05,
        30,
        "the hook's write to be older than the idle threshold too",
    )
    done = cli(*args, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "first start: sessions written before now are not read here" in done.stderr
    assert "one pass done: recorded 0, ended 1" in done.stderr
    with Ledger() as ledger:
        row = ledger.session("claude-code", session_id)
    assert row is not None and (row.ended, row.end_reason, row.origin) == (True, "idle", "hook")
    assert expense_tokens(remote(keito_server, "expenses"), session_id) == truth_totals(
        "claude-code"
    )

    # A Codex session run without hooks while no watcher ran: the next start catches up.
    codex_id, codex_path = copy_session("codex", codex_root / "sessions" / "2026" / "11" / "21")
    codex_path.write_text(codex_path.read_text().replace(FIXTURE_CWD, str(repo)))
    again = cli(*args, env=env, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "catching up 1 session written while no watcher ran" in again.stderr
    assert "one pass done: recorded 1, ended" in again.stderr
    with Ledger() as ledger:
        row = ledger.session("codex", codex_id)
    assert row is not None and row.origin == "watch" and row.cwd == str(repo)
    entries = remote(keito_server, "time_entries")
    assert sorted(e["metadata"]["session_id"] for e in entries) == sorted([session_id, codex_id])


def test_session_ended_idle_that_grows_again_is_reopened(home: Path, tmp_path: Path) -> None:
    """A long pause, not a kill: the session goes on, and sums to its truth in the end."""
    repo = make_repo(tmp_path / "repo", None, project_id="p", task_id="t")
    claude_root = tmp_path / "claude"
    session_id, path = copy_session("claude-code", claude_root / "projects" / "-repo")
    full = path.read_text().replace(FIXTURE_CWD, str(repo))
    first, _ = split_at_first_end("claude-code", full)
    path.write_text(first)
    ahead = [0.0]  # the watcher's clock runs this far ahead of the real one
    with Ledger() as ledger:
        watcher = Watcher(
            ledger,
            roots={"claude-code": [claude_root], "codex": []},
            quiet_seconds=0.3,
            clock=lambda: time.time() + ahead[0],
        )
        watcher.notify(str(path))
        watcher.step()
        row = ledger.session("claude-code", session_id)
        assert row is not None and not row.ended and row.cwd == str(repo)
        ahead[0] = 60.0  # a minute later, for the watcher: quiet for longer than 0.3 s
        watcher.step()
        row = ledger.session("claude-code", session_id)
        assert row is not None and (row.ended, row.end_reason) == (True, "idle")
        run_sync(ledger, None)  # segment 1 is expensed

        path.write_text(full)  # the pause is over: the transcript grows, at the watcher's now
        os.utime(path, (watcher.clock(), watcher.clock()))
        watcher.notify(str(path))
        watcher.step()
        row = ledger.session("claude-code", session_id)
        assert row is not None and not row.ended  # reopened
        ahead[0] = 120.0
        watcher.step()
        run_sync(ledger, None)
        expenses = ledger.records(kind="expense")
        assert {r.payload["metadata"]["segment_number"] for r in expenses} == {1, 2}
        carried = {k: sum(r.payload["metadata"][k] for r in expenses) for k in TOKEN_KEYS}
        assert carried == truth_totals("claude-code")
        assert len(ledger.records(kind="time_entry")) == 1


def test_locate_maps_subagent_files_to_their_session(tmp_path: Path) -> None:
    roots = watch_paths({"claude-code": [tmp_path / "claude"], "codex": [tmp_path / "codex"]})
    projects = tmp_path / "claude" / "projects"
    assert roots[0] == ("claude-code", projects)
    main = projects / "-repo" / "abc.jsonl"
    assert locate(main, roots) == ("claude-code", main)
    side = projects / "-repo" / "abc" / "subagents" / "agent-1.jsonl"
    assert locate(side, roots) == ("claude-code", main)
    rollout = tmp_path / "codex" / "sessions" / "2026" / "11" / "21" / "rollout-x.jsonl"
    assert locate(rollout, roots) == ("codex", rollout)
    assert locate(rollout.with_name("notes.jsonl"), roots) is None
    assert locate(projects / "-repo" / "abc.txt", roots) is None
    assert locate(tmp_path / "elsewhere.jsonl", roots) is None


# ---- the user service ------------------------------------------------------------------


def test_print_service_systemd_and_launchd(home: Path, tmp_path: Path) -> None:
    env = {**os.environ, "KEITO_SKILL_HOME": str(home), "KEITO_API_KEY": "kto_secret_123"}
    unit = cli("watch", "--print-service", "systemd", "--idle-minutes", "7", env=env)
    assert unit.returncode == 0, unit.stderr
    lines = unit.stdout.splitlines()
    exec_start = next(line for line in lines if line.startswith("ExecStart="))
    program = exec_start.removeprefix("ExecStart=").split()[0]
    assert Path(program).is_absolute() and Path(program).exists()
    assert exec_start.endswith(" watch --idle-minutes 7")
    assert f"Environment=KEITO_SKILL_HOME={home}" in lines
    assert "WantedBy=default.target" in lines and "Restart=on-failure" in lines
    assert "kto_secret_123" not in unit.stdout

    plist = cli("watch", "--print-service", "launchd", env=env)
    assert plist.returncode == 0, plist.stderr
    data = plistlib.loads(plist.stdout.encode())
    assert data["Label"] == "io.keito.skill.watch"
    assert Path(data["ProgramArguments"][0]).is_absolute()
    assert data["ProgramArguments"][-1] == "watch"
    assert data["RunAtLoad"] is True
    assert data["EnvironmentVariables"] == {"KEITO_SKILL_HOME": str(home)}


def test_install_service_writes_the_user_unit(home: Path, tmp_path: Path) -> None:
    user_home = tmp_path / "user"
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CONFIG_HOME", "KEITO_API_KEY")}
    env.update(HOME=str(user_home), KEITO_SKILL_HOME=str(home))
    claude = tmp_path / "my claude"
    result = cli(
        "watch",
        "--install-service",
        "--print-service",
        "systemd",
        "--claude-dir",
        str(claude),
        env=env,
    )
    assert result.returncode == 0, result.stderr
    unit = user_home / ".config" / "systemd" / "user" / "keito-skill-watch.service"
    assert f"Wrote {unit}" in result.stdout
    assert "systemctl --user enable --now keito-skill-watch.service" in result.stdout
    text = unit.read_text()
    assert f'--claude-dir "{claude}"' in text  # quoted: the path has a space

    result = cli("watch", "--install-service", "--print-service", "launchd", env=env)
    assert result.returncode == 0, result.stderr
    plist = user_home / "Library" / "LaunchAgents" / "io.keito.skill.watch.plist"
    assert plistlib.loads(plist.read_bytes())["Label"] == "io.keito.skill.watch"


def test_sigterm_stops_watch_at_once_while_keito_is_slow(
    keito_server: KeitoServer, home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    """Issue 17 item 10: a sync stuck on a slow Keito used to hold SIGTERM for 101 s."""
    repo = make_repo(tmp_path / "repo", keito_server)
    claude_root = tmp_path / "agents" / "claude"
    (claude_root / "projects").mkdir(parents=True)
    env = skill_env(home, keito_server, keito_config_dir)
    # Each call answers just within the client's timeout: a sync of three ended sessions
    # (a look-up, then time entries and expenses) takes half a minute; it held SIGTERM.
    keito_server.add_fault(path="/api/v2", latency=9.0, count=None)
    watcher = _Watch(
        ["--claude-dir", str(claude_root), "--codex-dir", str(tmp_path / "codex"),
         "--sync-delay", "3", "--idle-seconds", "1"],
        env, tmp_path / "watch.log",
    )  # fmt: skip
    try:
        for _ in range(3):  # one look-up, then six records, four at a time
            _, path, lines = _session_lines("claude-code", claude_root / "projects" / "-r", repo)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(lines))
        _wait_for(lambda: keito_server.count() > 0, 30, "the sync to reach Keito")
    finally:
        asked = time.monotonic()
        watcher.proc.send_signal(signal.SIGTERM)
        try:
            code = watcher.proc.wait(timeout=60)
        finally:
            keito_server.clear_faults()
            if watcher.proc.poll() is None:
                watcher.proc.kill()
            watcher.stop()
    assert code == 0, watcher.text()
    assert time.monotonic() - asked < 10
    with Ledger() as ledger:
        assert len(ledger.sessions()) == 3  # what was recorded stays recorded


def test_idle_minutes_zero_ends_sessions_at_once(
    home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    """Issue 17 item 20: ``--idle-minutes 0`` was refused; it means "end at once"."""
    env = skill_env(home, None, keito_config_dir)
    with Ledger() as ledger:
        ledger.touch_session("claude-code", "z1")
    done = cli(
        "watch", "--once", "--no-sync", "--idle-minutes", "0", "--claude-dir",
        str(tmp_path / "c"), "--codex-dir", str(tmp_path / "x"), env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with Ledger() as ledger:
        row = ledger.session("claude-code", "z1")
    assert row is not None and (row.ended, row.end_reason) == (True, "idle")
