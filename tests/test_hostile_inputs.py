"""Issue 17: inputs that used to hang a hook or a command, or lose a hook's event.

A FIFO or a device where a transcript or ``.git/HEAD`` should be, a payload over 1 MiB,
a lone surrogate in a payload. Each case runs the real command as a subprocess with a
generous timeout: before the fix these never returned (``subprocess.TimeoutExpired``) or
lost the event. How fast the hook returns is measured in ``bench/hook_deadline.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keito_skill.ledger import Ledger
from tests.sessions_kit import ROOT, cli, copy_session, make_repo, skill_env

pytestmark = pytest.mark.usefixtures("utc")

HANG = 20.0  # seconds: far above the hook's deadline, far below "forever"


def _hook(
    env: dict[str, str], event: str, agent: str, payload: bytes
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "keito_skill", "hook", event, "--agent", agent],
        input=payload,
        capture_output=True,
        env={**env, "KEITO_SKILL_NO_BACKGROUND_SYNC": "1"},
        cwd=ROOT,
        timeout=HANG,
    )


def _hostile(kind: str, tmp_path: Path) -> Path:
    """A path that is not a regular file: reading it blocks or never ends."""
    if kind == "fifo":
        path = tmp_path / "hostile.jsonl"
        os.mkfifo(path)
        return path
    target = Path(f"/dev/{kind}")
    if not target.exists():
        pytest.skip(f"no {target} here")
    link = tmp_path / "hostile.jsonl"
    link.symlink_to(target)
    return link


@pytest.mark.parametrize("kind", ["fifo", "zero", "urandom"])
def test_session_end_on_a_fifo_or_a_device_returns_and_keeps_the_end(
    kind: str, tmp_path: Path, keito_config_dir: Path
) -> None:
    home = tmp_path / "home"
    env = skill_env(home, None, keito_config_dir)
    transcript = _hostile(kind, tmp_path)
    payload = {"session_id": f"s-{kind}", "transcript_path": str(transcript), "cwd": "/tmp"}
    done = _hook(env, "session-end", "claude-code", json.dumps(payload).encode())
    assert done.returncode == 0 and done.stdout == b""
    with Ledger(home / "ledger.sqlite3") as ledger:
        row = ledger.session("claude-code", f"s-{kind}")
        assert row is not None and row.ended  # the end is kept: watch/backfill cannot redo it
        problems = [e["message"] for e in ledger.recent_events(5)]
    assert any("not a regular file" in p for p in problems), problems


@pytest.mark.parametrize("head", ["fifo", "zero"])
def test_session_start_in_a_repo_whose_head_is_a_fifo_or_dev_zero(
    head: str, tmp_path: Path, keito_config_dir: Path
) -> None:
    repo = make_repo(tmp_path / "repo", None)
    head_file = repo / ".git" / "HEAD"
    head_file.unlink()
    if head == "fifo":
        os.mkfifo(head_file)
    else:
        head_file.symlink_to("/dev/zero")
    home = tmp_path / "home"
    env = skill_env(home, None, keito_config_dir)
    payload = {"session_id": "s1", "cwd": str(repo), "source": "startup"}
    done = _hook(env, "session-start", "codex", json.dumps(payload).encode())
    assert done.returncode == 0
    with Ledger(home / "ledger.sqlite3") as ledger:
        row = ledger.session("codex", "s1")
    assert row is not None and row.cwd == str(repo) and row.git_rev is None


def _claude_dir_with_a_fifo(tmp_path: Path) -> tuple[Path, Path]:
    claude = tmp_path / "claude"
    project = claude / "projects" / "-work-repo"
    project.mkdir(parents=True)
    copy_session("claude-code", project)
    fifo = project / "0d3a1b2c-0000-4000-8000-000000000000.jsonl"
    os.mkfifo(fifo)
    (project / "1d3a1b2c-0000-4000-8000-000000000000.jsonl").symlink_to("/dev/zero")
    return claude, fifo


def test_sessions_and_backfill_skip_fifos_and_devices(
    tmp_path: Path, keito_config_dir: Path
) -> None:
    claude, _ = _claude_dir_with_a_fifo(tmp_path)
    env = skill_env(tmp_path / "home", None, keito_config_dir)
    listed = cli("sessions", "--claude-dir", str(claude), "--json", env=env, timeout=HANG)
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 1  # the real session only
    dry = cli(
        "backfill", "--dry-run", "--json", "--claude-dir", str(claude), "--codex-dir",
        str(tmp_path / "none"), env=env, timeout=HANG,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert len(report["sessions"]) == 1
    assert any("not a regular file" in e for e in report["summary"]["errors"])


def test_pause_of_a_session_whose_transcript_became_a_fifo(
    tmp_path: Path, keito_config_dir: Path
) -> None:
    home = tmp_path / "home"
    env = skill_env(home, None, keito_config_dir)
    fifo = tmp_path / "t.jsonl"
    os.mkfifo(fifo)
    with Ledger(home / "ledger.sqlite3") as ledger:
        ledger.touch_session("claude-code", "abcdef-123", transcript_path=str(fifo))
    done = cli("pause", "--session", "abcdef-123", env=env, timeout=HANG)
    assert done.returncode == 2, done.stderr
    assert "not a regular file" in done.stderr and "Traceback" not in done.stderr


def test_watch_stops_on_sigterm_with_a_fifo_in_the_agents_dir(
    tmp_path: Path, keito_config_dir: Path
) -> None:
    claude = tmp_path / "claude"
    project = claude / "projects" / "-work-repo"
    project.mkdir(parents=True)
    env = skill_env(tmp_path / "home", None, keito_config_dir)
    log = tmp_path / "watch.log"
    with log.open("wb") as sink:
        watch = subprocess.Popen(
            [sys.executable, "-m", "keito_skill", "watch", "--no-sync", "--claude-dir",
             str(claude), "--codex-dir", str(tmp_path / "codex")],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=sink,
        )  # fmt: skip

    def logged(text: bytes) -> None:  # polled, with a deadline only against a hang
        deadline = time.monotonic() + HANG
        while text not in log.read_bytes():
            assert watch.poll() is None, log.read_bytes()
            assert time.monotonic() < deadline, f"watch never logged {text!r}"
            time.sleep(0.05)

    try:
        logged(b"watching")
        os.mkfifo(project / "2d3a1b2c-0000-4000-8000-000000000000.jsonl")
        (project / "3d3a1b2c-0000-4000-8000-000000000000.jsonl").symlink_to("/dev/zero")
        logged(b"not a regular file")  # it met them; now it must sit still
        cpu = _cpu_seconds(watch.pid)
        time.sleep(3.0)  # the window the CPU is measured over, not a wait for anything
        spent = _cpu_seconds(watch.pid) - cpu
        watch.send_signal(signal.SIGTERM)
        watch.wait(timeout=HANG)
        err = log.read_bytes()
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
    assert watch.returncode == 0, err
    assert spent < 1.5, f"watch used {spent:.1f} s of CPU in 3 s"  # not spinning
    assert b"not a regular file" in err


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_payload_over_one_mebibyte_is_read(tmp_path: Path, keito_config_dir: Path) -> None:
    home = tmp_path / "home"
    env = skill_env(home, None, keito_config_dir)
    payload = {
        "session_id": "big",
        "cwd": "/tmp",
        "hook_event_name": "Stop",
        "last_assistant_message": "x" * (3 << 20),
    }
    done = _hook(env, "stop", "codex", json.dumps(payload).encode())
    assert done.returncode == 0
    with Ledger(home / "ledger.sqlite3") as ledger:
        assert ledger.session("codex", "big") is not None
        assert ledger.recent_events(5) == []


@pytest.mark.parametrize(
    "raw",
    [
        b'{"session_id": "lone", "cwd": "/tmp/\\ud83d-half", "hook_event_name": "Stop"}',
        b'{"session_id": "lone", "cwd": "/tmp/\xed\xa0\xbd-half", "hook_event_name": "Stop"}',
    ],
    ids=["escaped", "raw-bytes"],
)
def test_a_lone_surrogate_in_a_payload_keeps_the_event(
    raw: bytes, tmp_path: Path, keito_config_dir: Path
) -> None:
    home = tmp_path / "home"
    env = skill_env(home, None, keito_config_dir)
    done = _hook(env, "stop", "claude-code", raw)
    assert done.returncode == 0
    with Ledger(home / "ledger.sqlite3") as ledger:
        row = ledger.session("claude-code", "lone")
        assert row is not None, ledger.recent_events(5)
        assert row.cwd is not None and row.cwd.startswith("/tmp")


def test_a_read_cut_short_by_the_deadline_is_finished_later(tmp_path: Path) -> None:
    """The hook's deadline stops the read at a line end; the session end is kept, and the
    next read (a hook, watch, backfill) takes the rest: expenses still sum to the truth."""
    from keito_skill.recorder import record
    from keito_skill.summary import summarize
    from keito_skill.transcripts import ParseState, parse_file
    from tests.sessions_kit import truth_totals

    _, path = copy_session("codex", tmp_path)
    cut = parse_file(path, agent="codex", deadline=time.monotonic() - 1)
    assert cut.offset == 0 and cut.lines == 0  # nothing read, nothing lost
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        row = record(ledger, "codex", "s", path, end_reason="exit", deadline=time.monotonic() - 1)
        assert row.ended and row.offset_of(str(path)) == 0
        row = record(ledger, "codex", "s", None)  # the next read, with time to spare
        assert row.offset_of(str(path)) == path.stat().st_size
        states = [ParseState.from_dict(c) for c in row.checkpoints.values()]
    totals = summarize(states).totals
    assert {k: getattr(totals, k) for k in truth_totals("codex")} == truth_totals("codex")


def test_usage_errors_are_one_line(tmp_path: Path, keito_config_dir: Path) -> None:
    """Issue 17 item 20: the README promises one line (click printed usage and a hint)."""
    env = skill_env(tmp_path / "home", None, keito_config_dir)
    for args in (["sync", "--bogus"], ["report", "--by", "week"], ["no-such-command"]):
        done = cli(*args, env=env)
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("keito-skill: error: "), done.stderr


def test_a_session_end_cut_short_is_read_on_by_the_next_sync(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a SessionEnd no hook comes again: the rest of a transcript the deadline cut
    short is read by the sync the hook starts (through the hook's note)."""
    from keito_skill import hooks
    from keito_skill._misses import pending
    from keito_skill.sync import run_sync

    monkeypatch.setenv(hooks.NO_SYNC_ENV, "1")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))
    session_id, path = copy_session("codex", tmp_path / "t")
    payload = {"session_id": session_id, "transcript_path": str(path), "cwd": str(tmp_path)}
    hooks.handle("session-end", "codex", payload, deadline=time.monotonic())  # no time at all
    assert pending() == 1
    with Ledger() as ledger:
        row = ledger.session("codex", session_id)
        assert row is not None and row.ended and row.offset_of(str(path)) == 0
        run_sync(ledger, None)
        row = ledger.session("codex", session_id)
        assert row is not None and row.ended and row.offset_of(str(path)) == path.stat().st_size
        assert ledger.recent_events(5, level="error") == []  # nothing went wrong
    assert pending() == 0


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_a_sibling_agent_file_that_is_not_a_regular_file_is_passed_over(
    kind: str, tmp_path: Path
) -> None:
    """A Claude Code 2.0.x ``agent-*.jsonl`` beside the sessions is opened to learn its
    session (issue 16): a FIFO or a device there must not hang discovery or ``watch``."""
    project = tmp_path / "projects" / "-work-repo"
    project.mkdir(parents=True)
    main = project / "2d3a1b2c-0000-4000-8000-000000000000.jsonl"
    main.write_text('{"sessionId":"2d3a1b2c-0000-4000-8000-000000000000"}\n')
    sibling = project / "agent-a1b2c3.jsonl"
    if kind == "fifo":
        os.mkfifo(sibling)
    else:
        sibling.symlink_to(f"/dev/{kind}")
    code = (
        "import sys; from pathlib import Path;"
        "from keito_skill.agents.claude_code import transcript as claude_code;"
        "from keito_skill.transcripts import main_file;"
        "root = Path(sys.argv[1]);"
        "print(len(list(claude_code.transcript_files([root]))));"
        "print(main_file('claude-code', Path(sys.argv[2])).name)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "projects"), str(sibling)],
        capture_output=True, text=True, cwd=ROOT, timeout=HANG,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", sibling.name]
