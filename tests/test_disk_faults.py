"""Issue 17 item 7: a full or read-only ``KEITO_SKILL_HOME`` never loses a session's end.

``KEITO_SKILL_HOME`` is a small tmpfs mounted for the test (root only; skipped where
mounting is not allowed), made full with a filler file or remounted read-only while two
sessions end. The hooks must exit 0 silently and keep a note of what they could not
record; commands must say "disk full" / "read-only" in one line (not "disk I/O error ...
move it aside", not a traceback); ``status`` must still read the ledger; and once the disk
is fixed, the next ``sync`` records the ends and sends every session's expenses, and
``status`` says it happened. Before the fix the ends were lost: no expenses, ever.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.keito_server import KeitoServer
from tests.sessions_kit import (
    AGENTS,
    FIXTURE_CWD,
    cli,
    copy_session,
    expense_tokens,
    make_repo,
    remote,
    skill_env,
    split_at_first_end,
    truth_totals,
)
from tests.test_hooks import hook

pytestmark = pytest.mark.usefixtures("utc")


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, unmounted after the test."""
    if not _can_mount():
        pytest.skip("mounting a tmpfs needs root")
    where = tmp_path / "disk"
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as handle:  # unbuffered: nothing left to flush
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    handle.write(b"\0" * size)
            except OSError:
                pass
    return filler


def _payload(agent: str, event: str, session_id: str, path: Path, repo: Path) -> dict[str, object]:
    name = {"session-start": "SessionStart", "stop": "Stop", "session-end": "SessionEnd"}[event]
    return {
        "session_id": session_id,
        "transcript_path": str(path),
        "cwd": str(repo),
        "hook_event_name": name,
        "reason": "exit" if event == "session-end" else None,
    }


@pytest.mark.parametrize("fault", ["disk full", "read-only"])
def test_sessions_ending_on_a_broken_disk_are_expensed_once_it_is_fixed(
    fault: str,
    small_disk: Path,
    tmp_path: Path,
    keito_server: KeitoServer,
    keito_config_dir: Path,
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    home = small_disk / "skill"
    env = skill_env(home, keito_server, keito_config_dir)
    env["KEITO_SKILL_NO_BACKGROUND_SYNC"] = "1"
    env["XDG_RUNTIME_DIR"] = str(tmp_path / "runtime")  # where the hooks' notes go
    (tmp_path / "runtime").mkdir(mode=0o700)
    sessions = []
    for agent in AGENTS:
        session_id, path = copy_session(agent, tmp_path / "transcripts" / agent)
        text = path.read_text().replace(FIXTURE_CWD, str(repo))
        first, rest = split_at_first_end(agent, text)
        path.write_text(first)
        for event in ("session-start", "stop"):
            done = hook(agent, _payload(agent, event, session_id, path, repo), env, event)
            assert done.returncode == 0
        sessions.append((agent, session_id, path, rest))
    assert cli("sync", env=env).returncode == 0  # the time entries so far

    filler = None
    if fault == "disk full":
        filler = _fill(small_disk)
    else:
        subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    for agent, session_id, path, rest in sessions:
        path.write_text(path.read_text() + rest)
        for event in ("stop", "session-end"):
            done = hook(agent, _payload(agent, event, session_id, path, repo), env, event)
            assert (done.returncode, done.stdout, done.stderr) == (0, "", "")

    status = cli("status", "--json", env=env)
    assert status.returncode == 0, status.stderr  # a read-only or full disk is still readable
    assert json.loads(status.stdout)["sessions"]["total"] == 2
    if fault == "read-only":
        broken = cli("sync", env=env)
        assert broken.returncode == 2
        assert len(broken.stderr.strip().splitlines()) == 1, broken.stderr
        assert "read-only" in broken.stderr and "move" not in broken.stderr
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    else:
        broken = cli("sync", env=env)
        assert broken.returncode == 2
        assert len(broken.stderr.strip().splitlines()) == 1, broken.stderr
        assert "disk full" in broken.stderr and "Traceback" not in broken.stderr
        assert filler is not None
        filler.unlink()

    fixed = cli("sync", env=env)
    assert fixed.returncode == 0, fixed.stderr
    expenses = remote(keito_server, "expenses")
    for agent, session_id, _, _ in sessions:
        assert expense_tokens(expenses, session_id) == truth_totals(agent), agent
    after = json.loads(cli("status", "--json", env=env).stdout)
    late = [
        p["message"]
        for p in after["recent_problems"] + after["resolved_problems"]
        if "could not be recorded" in p["message"]
    ]
    assert len(late) >= 2 and all(fault in message for message in late), after["recent_problems"]
    assert after["sessions"]["active"] == 0


def test_watch_keeps_what_it_could_not_record_on_a_full_disk(
    small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change ``watch`` sees while the ledger's disk is full is kept and recorded once
    there is space again (a ledger error used to stop the watcher: sqlite3 errors were not
    among those it survived)."""
    from keito_skill.ledger import Ledger
    from keito_skill.watch import Watcher

    monkeypatch.setenv("KEITO_SKILL_HOME", str(small_disk / "skill"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    claude = tmp_path / "claude" / "projects" / "-repo"
    session_id, path = copy_session("claude-code", claude)
    said: list[str] = []
    with Ledger() as ledger:
        watcher = Watcher(
            ledger,
            roots={"claude-code": [tmp_path / "claude"], "codex": [tmp_path / "codex"]},
            log=said.append,
            state_path=tmp_path / "watch.json",
        )
        filler = _fill(small_disk)
        watcher.notify(str(path))
        watcher.step()
        watcher.step()
        assert ledger.session("claude-code", session_id) is None
        assert sum("cannot be written" in line for line in said) == 1, said  # said once
        assert any("disk full" in line for line in said), said
        filler.unlink()
        watcher.step()
        row = ledger.session("claude-code", session_id)
        assert row is not None and row.offset_of(str(path)) == path.stat().st_size
        assert "the ledger can be written again" in said
