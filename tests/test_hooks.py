"""The hook entry point, fed the payloads Claude Code and Codex really sent (fixtures)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keito_skill.hooks import EVENTS, git_head
from keito_skill.ledger import Ledger
from tests import gemini_data
from tests.keito_server import KeitoServer
from tests.sessions_kit import (
    AGENTS,
    FIXTURE_CWD,
    FOLDERS,
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

EVENT_ARG = {"SessionStart": "session-start", "Stop": "stop", "SessionEnd": "session-end"}


def _payloads(agent: str, session_id: str, transcript: Path, cwd: Path) -> list[dict[str, object]]:
    """The fixture's recorded hook payloads, pointed at our copy of the session."""
    out = []
    for line in (FOLDERS[agent] / "hook-payloads.jsonl").read_text().splitlines():
        payload = json.loads(line)
        payload.update(session_id=session_id, transcript_path=str(transcript), cwd=str(cwd))
        out.append(payload)
    return out


def hook(
    agent: str, payload: dict[str, object] | str, env: dict[str, str], event: str | None = None
) -> subprocess.CompletedProcess[str]:
    if isinstance(payload, dict):
        event = event or EVENT_ARG[str(payload["hook_event_name"])]
        stdin = json.dumps(payload)
    else:
        stdin = payload
    return subprocess.run(
        [sys.executable, "-m", "keito_skill", "hook", event or "stop", "--agent", agent],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


def _replay(agent: str, tmp_path: Path, env: dict[str, str], repo: Path) -> str:
    """Write the transcript as the agent did, firing each hook when the agent did."""
    session_id, path = copy_session(agent, tmp_path / "transcripts")
    first, rest = split_at_first_end(agent, path.read_text())
    path.write_text("")
    payloads = _payloads(agent, session_id, path, repo)
    chunks = iter([first, rest])
    for payload in payloads:
        if payload["hook_event_name"] == "SessionStart":
            path.write_text(path.read_text() + next(chunks))
        result = hook(agent, payload, env)
        assert result.returncode == 0
        assert result.stdout == ""  # an agent could read stdout as instructions
        assert result.stderr == ""
    return session_id


@pytest.mark.parametrize("agent", AGENTS)
def test_replayed_hooks_give_one_entry_and_exact_expenses(
    agent: str, keito_server: KeitoServer, tmp_path: Path, keito_config_dir: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    env = skill_env(tmp_path / "home", keito_server, keito_config_dir)
    env["KEITO_SKILL_NO_BACKGROUND_SYNC"] = "1"
    session_id = _replay(agent, tmp_path, env, repo)
    with Ledger(tmp_path / "home" / "ledger.sqlite3") as ledger:
        row = ledger.session(agent, session_id)
        assert row is not None and row.ended and row.end_reason == "other"
        assert row.cwd == str(repo)
    assert cli("sync", env=env).returncode == 0
    entries = remote(keito_server, "time_entries")
    assert [e["metadata"]["session_id"] for e in entries] == [session_id]
    assert {k: entries[0]["metadata"][k] for k in TOKEN_KEYS} == truth_totals(agent)
    expenses = remote(keito_server, "expenses")
    assert expense_tokens(expenses, session_id) == truth_totals(agent)
    # Both ends came before any sync: one segment, one expense for the session's one model.
    assert [e["metadata"]["segment_number"] for e in expenses] == [1]


def test_session_end_starts_a_detached_sync(
    keito_server: KeitoServer, tmp_path: Path, keito_config_dir: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    env = skill_env(tmp_path / "home", keito_server, keito_config_dir)
    session_id = _replay("codex", tmp_path, env, repo)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        expenses = remote(keito_server, "expenses")
        if expense_tokens(expenses, session_id) == truth_totals("codex"):
            break
        time.sleep(0.2)
    assert expense_tokens(remote(keito_server, "expenses"), session_id) == truth_totals("codex")
    assert len(remote(keito_server, "time_entries")) == 1


def test_keito_down_during_the_session_then_sync_recovers(
    keito_server: KeitoServer, tmp_path: Path, keito_config_dir: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    down = skill_env(tmp_path / "home", keito_server, keito_config_dir)
    down["KEITO_API_URL"] = "http://127.0.0.1:9"  # nothing listens there
    started = time.monotonic()
    session_id = _replay("claude-code", tmp_path, down, repo)
    assert time.monotonic() - started < 30  # hooks never wait on the network
    # No wait for the detached syncs (still on the dead URL): a person's sync waits for
    # the one that runs (sync/_lock.py), then sends.
    up = skill_env(tmp_path / "home", keito_server, keito_config_dir)
    result = cli("sync", "--json", env=up)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [e["metadata"]["session_id"] for e in remote(keito_server, "time_entries")] == [
        session_id
    ]
    expenses = remote(keito_server, "expenses")
    assert expense_tokens(expenses, session_id) == truth_totals("claude-code")


@pytest.mark.parametrize(
    "stdin",
    ["", "not json", "[1,2]", '{"session_id": 5}', '{"hook_event_name": "Stop"}'],
    ids=["empty", "garbage", "array", "bad-id", "no-id"],
)
def test_bad_payloads_exit_zero_silently_and_are_reported(
    stdin: str, tmp_path: Path, keito_config_dir: Path
) -> None:
    env = skill_env(tmp_path / "home", None, keito_config_dir)
    result = hook("codex", stdin, env, event="stop")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    status = json.loads(cli("status", "--json", env=env).stdout)
    assert any("session_id" in p["message"] for p in status["recent_problems"])
    text = cli("status", env=env).stdout
    assert "\nProblems  " in text and "session_id" in text
    log = (tmp_path / "home" / "logs" / "keito-skill.log").read_text()
    assert "no session_id" in log


def test_bad_arguments_still_exit_zero(tmp_path: Path, keito_config_dir: Path) -> None:
    env = skill_env(tmp_path / "home", None, keito_config_dir)
    for args in (["hook"], ["hook", "bogus", "--agent", "codex"], ["hook", "stop", "--agent", "x"]):
        result = subprocess.run(
            [sys.executable, "-m", "keito_skill", *args],
            input="{}",
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=30,
        )
        assert (result.returncode, result.stdout) == (0, "")


@pytest.mark.parametrize("closed", ["1>&-", "2>&-", "1>&- 2>&-"])
def test_a_hook_started_with_its_output_closed_records_and_exits_zero(
    tmp_path: Path, keito_config_dir: Path, closed: str
) -> None:
    """An agent may start the hook with stdout or stderr closed: Python then has no stream
    there, and the hook's fast exit must not trip over it (it exited 1 with a traceback)."""
    env = skill_env(tmp_path / "home", None, keito_config_dir)
    env["KEITO_SKILL_NO_BACKGROUND_SYNC"] = "1"
    session_id, path = copy_session("claude-code", tmp_path / "t")
    payload = json.dumps({"session_id": session_id, "transcript_path": str(path), "cwd": "/tmp"})
    result = subprocess.run(
        ["sh", "-c", f'"$0" -m keito_skill hook stop --agent claude-code {closed}', sys.executable],
        input=payload, text=True, env=env, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0
    with Ledger(tmp_path / "home" / "ledger.sqlite3") as ledger:
        row = ledger.session("claude-code", session_id)
        assert row is not None and row.checkpoints  # recorded all the same


def test_stdin_never_closed_does_not_hang(tmp_path: Path, keito_config_dir: Path) -> None:
    env = skill_env(tmp_path / "home", None, keito_config_dir)
    env["KEITO_SKILL_NO_BACKGROUND_SYNC"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "keito_skill", "hook", "session-start", "--agent", "claude-code"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdin is not None
    proc.stdin.write(b'{"session_id": "open-stdin", "cwd": "/tmp"')  # no closing brace, no EOF
    proc.stdin.flush()
    started = time.monotonic()
    assert proc.wait(timeout=20) == 0  # it gave up on stdin after its deadline
    assert time.monotonic() - started < 10
    assert proc.stdout is not None and proc.stdout.read() == b""
    proc.stdin.close()


def _gemini_session(tmp: Path, env: dict[str, str]) -> tuple[str, Path]:
    """The recorded Gemini CLI tool-use session laid out as the CLI does under a new
    ``GEMINI_CLI_HOME`` (set in ``env``), its whole telemetry file configured."""
    project = tmp / "ghome" / ".gemini" / "tmp" / "acme-api"
    (project / "chats").mkdir(parents=True)
    (project / ".project_root").write_text(str(ROOT))
    telemetry = tmp / "telemetry.log"
    telemetry.write_bytes(gemini_data.TELEMETRY.read_bytes())
    settings = {"telemetry": {"enabled": True, "outfile": str(telemetry)}}
    (tmp / "ghome" / ".gemini" / "settings.json").write_text(json.dumps(settings))
    transcript = project / "chats" / gemini_data.TOOLUSE.name
    text = gemini_data.TOOLUSE.read_text().replace("/home/dev/.gemini/tmp/acme-api", str(project))
    transcript.write_text(text.replace(FIXTURE_CWD, str(ROOT)))
    for name in [name for name in env if name.startswith("GEMINI_")]:
        del env[name]
    env["GEMINI_CLI_HOME"] = str(tmp / "ghome")
    return gemini_data.session_of(gemini_data.TOOLUSE), transcript


@pytest.mark.parametrize("event", EVENTS)
@pytest.mark.parametrize("agent", [*AGENTS, "gemini-cli"])
def test_the_hook_path_imports_nothing_heavy(
    tmp_path: Path, keito_config_dir: Path, agent: str, event: str
) -> None:
    env = skill_env(tmp_path / "home", None, keito_config_dir)
    env["KEITO_SKILL_NO_BACKGROUND_SYNC"] = "1"
    if agent == "gemini-cli":
        session_id, path = _gemini_session(tmp_path / "g", env)
    else:
        session_id, path = copy_session(agent, tmp_path / "t")
    # cwd: this checkout, so that session-start reads a real repository's HEAD
    payload = json.dumps({"session_id": session_id, "transcript_path": str(path), "cwd": str(ROOT)})
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "keito_skill", "hook", event, "--agent", agent],
        input=payload,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout == ""
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "keito_skill.recorder" in imported  # the hook did its work...
    if event != "session-start":  # ...reading the transcript (and Gemini CLI's telemetry)
        assert f"keito_skill.agents.{agent.replace('-', '_')}.transcript" in imported
        assert agent != "gemini-cli" or "keito_skill.agents.gemini_cli.telemetry" in imported
    with Ledger(tmp_path / "home" / "ledger.sqlite3") as ledger:
        row = ledger.session(agent, session_id)
        assert row is not None and row.ended == (event == "session-end")
        assert ledger.recent_events() == []  # nothing went wrong on the way
    heavy_ones = ("click", "httpx", "rich", "pydantic", "genai_prices", "yaml", "orjson")
    # dataclasses loads inspect: several milliseconds of every prompt's hook; typing ~5 ms
    # (the hook path imports its names under ``if TYPE_CHECKING:`` only)
    for heavy in (*heavy_ones, "dataclasses", "inspect", "logging", "typing", "typing_extensions"):
        assert heavy not in imported, f"{heavy} imported on the hook path"


def test_a_prompt_with_half_an_emoji_is_recorded_and_sent(
    keito_server: KeitoServer, tmp_path: Path, keito_config_dir: Path
) -> None:
    """A JavaScript string may hold half a surrogate pair; Claude Code writes it as an escape.
    It used to reach the ledger as text nothing could encode: ``sync`` and ``report`` then
    failed on the session for good. Now it becomes U+FFFD on the way in."""
    repo = make_repo(tmp_path / "repo", keito_server, notes={"mode": "first_prompt"})
    env = skill_env(tmp_path / "home", keito_server, keito_config_dir)
    env["KEITO_SKILL_NO_BACKGROUND_SYNC"] = "1"
    session_id, path = copy_session("claude-code", tmp_path / "t")
    lines = path.read_text().splitlines(keepends=True)
    for index, line in enumerate(lines):
        obj = json.loads(line)
        message = obj.get("message") if obj.get("type") == "user" else None
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            message["content"] = "tidy the \ud83d module"  # an emoji cut in two
            lines[index] = json.dumps(obj) + "\n"  # json.dumps escapes it, as Claude Code does
            break
    else:
        pytest.fail("no prompt in the fixture")
    assert "\\ud83d" in lines[index]
    path.write_text("".join(lines))
    payload = {"session_id": session_id, "transcript_path": str(path), "cwd": str(repo)}
    for event in ("stop", "session-end"):
        assert hook("claude-code", payload, env, event).returncode == 0
    assert cli("sync", env=env).returncode == 0
    entries = remote(keito_server, "time_entries")
    assert [e["metadata"]["session_id"] for e in entries] == [session_id]
    assert "tidy the \ufffd module" in entries[0]["notes"]
    assert expense_tokens(remote(keito_server, "expenses"), session_id) == truth_totals(
        "claude-code"
    )
    report = cli("report", "--json", env=env)
    assert report.returncode == 0 and json.loads(report.stdout)["rows"]


@pytest.mark.parametrize("agent", AGENTS)
def test_paused_stretch_is_not_billed(
    agent: str, keito_server: KeitoServer, tmp_path: Path, keito_config_dir: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    env = skill_env(tmp_path / "home", keito_server, keito_config_dir)
    env["KEITO_SKILL_NO_BACKGROUND_SYNC"] = "1"
    session_id, path = copy_session(agent, tmp_path / "t")
    first, rest = split_at_first_end(agent, path.read_text())
    start, stop, _end, restart, stop2, end2 = _payloads(agent, session_id, path, repo)
    path.write_text(first)
    for payload in (start, stop):
        assert hook(agent, payload, env).returncode == 0
    result = cli("pause", "--session", session_id, env=env)
    assert result.returncode == 0 and "Paused" in result.stdout
    path.write_text(first + rest)  # the second prompt happens while paused
    for payload in (restart, stop2):
        assert hook(agent, payload, env).returncode == 0
    assert cli("resume", "--session", session_id, env=env).returncode == 0
    assert hook(agent, end2, env).returncode == 0
    cli("sync", env=env)
    expenses = remote(keito_server, "expenses")
    billed = expense_tokens(expenses, session_id)
    # Only the first prompt's usage: the stub served increasing usage per response.
    assert 0 < billed["output_tokens"] < truth_totals(agent)["output_tokens"]
    first_only = cli("parse", "--json", str(_write(tmp_path / "first.jsonl", first)), env=env)
    assert billed["output_tokens"] == json.loads(first_only.stdout)["totals"]["output_tokens"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_git_head_reads_branch_and_commit(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    run = {"cwd": repo, "check": True, "capture_output": True, "text": True}
    subprocess.run(["git", "init", "-q", "-b", "feature/x"], **run)  # type: ignore[call-overload]
    (repo / "a").write_text("a")
    subprocess.run(["git", "add", "a"], **run)  # type: ignore[call-overload]
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a"], **run
    )  # type: ignore[call-overload]
    rev = subprocess.run(["git", "rev-parse", "HEAD"], **run).stdout.strip()  # type: ignore[call-overload]
    (repo / "sub" / "dir").mkdir(parents=True)
    assert git_head(str(repo / "sub" / "dir")) == ("feature/x", rev)
    subprocess.run(["git", "pack-refs", "--all"], **run)  # type: ignore[call-overload]
    assert git_head(str(repo)) == ("feature/x", rev)
    assert git_head(str(tmp_path / "nowhere")) == (None, None)
