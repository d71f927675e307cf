"""Gemini CLI through the registry: hooks, the late telemetry, backfill, watch and report.

The recorded sessions are copied into a throw-away ``GEMINI_CLI_HOME`` as Gemini CLI lays
them out, with the project path rewritten to a mapped repository; the truth is what the
stub served them (``tests/fixtures/gemini-cli-0.61.0/usage-truth.jsonl``), every role.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keito_skill import agents
from keito_skill.ledger import Ledger
from tests.gemini_data import (
    GEMINI_DIR,
    SIMPLE,
    TELEMETRY,
    TOOLUSE,
    TOOLUSE_START,
    gemini_truth,
    session_of,
)
from tests.keito_server import KeitoServer
from tests.sessions_kit import ROOT, cli, expense_tokens, make_repo, remote, skill_env
from tests.transcript_data import TOKEN_KEYS

pytestmark = pytest.mark.usefixtures("utc")
AGENT = "gemini-cli"
EVENT_ARG = {"SessionStart": "session-start", "AfterAgent": "stop", "SessionEnd": "session-end"}
RECORDED_CWD = "/home/dev/src/acme-api"
RECORDED_TMP = "/home/dev/.gemini/tmp/acme-api"


def _totals(per_model: dict[str, dict[str, int]]) -> dict[str, int]:
    return {k: sum(m[k] for m in per_model.values()) for k in TOKEN_KEYS}


class Layout:
    """``$GEMINI_CLI_HOME/.gemini`` holding the recorded sessions of a mapped repo."""

    def __init__(self, tmp: Path, repo: Path) -> None:
        self.home = tmp / "ghome"
        self.gemini = self.home / ".gemini"
        self.project = self.gemini / "tmp" / "acme-api"
        self.chats = self.project / "chats"
        self.chats.mkdir(parents=True)
        (self.project / ".project_root").write_text(str(repo))
        self.repo = repo
        self.telemetry = tmp / "telemetry.log"
        settings = {"telemetry": {"enabled": True, "outfile": str(self.telemetry)}}
        (self.gemini / "settings.json").write_text(json.dumps(settings))

    def copy(self, source: Path) -> Path:
        target = self.chats / source.name
        text = source.read_text().replace(RECORDED_TMP, str(self.project))
        target.write_text(text.replace(RECORDED_CWD, str(self.repo)))
        return target

    def env(self, base: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in base.items() if not k.startswith("GEMINI_")}
        return {**env, "GEMINI_CLI_HOME": str(self.home)}


@pytest.fixture
def layout(tmp_path: Path, keito_server: KeitoServer) -> Layout:
    return Layout(tmp_path, make_repo(tmp_path / "repo", keito_server))


def _payloads(session_id: str, transcript: Path, cwd: Path) -> list[dict[str, object]]:
    out = []
    for line in (GEMINI_DIR / "hook-payloads.jsonl").read_text().splitlines():
        payload = json.loads(line)
        if payload["session_id"] != session_id:
            continue
        payload.update(transcript_path=str(transcript), cwd=str(cwd))
        out.append(payload)
    return out


def _hook(payload: dict[str, object], env: dict[str, str]) -> None:
    event = EVENT_ARG[str(payload["hook_event_name"])]
    done = subprocess.run(
        [sys.executable, "-m", "keito_skill", "hook", event, "--agent", AGENT],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def _cut_before_last_router(blob: bytes, session_id: str) -> int:
    """An offset into the telemetry file before the session's last routing record (and
    so before the main records after it): what a hook sees when the CLI has not exported
    its last batch yet."""
    cut, start = 0, 0
    while (end := blob.find(b"\n}\n", start)) >= 0:
        value = blob[start : end + 3]
        if session_id.encode() in value and b'"role": "utility_router"' in value:
            cut = start
        start = end + 3
    assert cut > 0
    return cut


def test_hooks_then_the_late_telemetry_bill_everything_once(
    layout: Layout, keito_server: KeitoServer, tmp_path: Path, keito_config_dir: Path
) -> None:
    sid = session_of(TOOLUSE)
    env = layout.env(skill_env(tmp_path / "skill", keito_server, keito_config_dir))
    env.update(KEITO_SKILL_NO_BACKGROUND_SYNC="1", KEITO_SKILL_GEMINI_LATE_SECONDS="0")
    transcript = layout.copy(TOOLUSE)
    blob = TELEMETRY.read_bytes()
    layout.telemetry.write_bytes(blob[: _cut_before_last_router(blob, sid)])
    for payload in _payloads(sid, transcript, layout.repo):
        _hook(payload, env)
    with Ledger(tmp_path / "skill" / "ledger.sqlite3") as ledger:
        row = ledger.session(AGENT, sid)
        assert row is not None and row.ended and row.cwd == str(layout.repo)
        assert str(layout.telemetry) in row.checkpoints  # the session's share of the file
    parsed = json.loads(cli("parse", str(transcript), "--json", env=env).stdout)
    assert "telemetry" in parsed["usage_incomplete"]
    assert cli("sync", env=env).returncode == 0
    before = expense_tokens(remote(keito_server, "expenses"), sid)
    assert before != _totals(gemini_truth(sid))  # the last router record is not in yet
    # status says so: billed, but not with all its usage yet
    status = json.loads(cli("status", "--json", env=env).stdout)
    [short] = status["sessions"]["usage_incomplete"]
    assert short["session_id"] == sid and "telemetry" in short["reason"]
    assert "1 session billed without all their usage yet" in cli("status", env=env).stdout

    # The CLI exports the rest at exit; the late reader the hook would start records it.
    layout.telemetry.write_bytes(blob)
    late = subprocess.run(
        [sys.executable, "-m", "keito_skill.agents.gemini_cli.late", sid],
        env={**env, "KEITO_SKILL_GEMINI_LATE_SECONDS": "5"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert (late.returncode, late.stdout, late.stderr) == (0, "", "")
    assert not list((tmp_path / "skill").glob("gemini-late-*"))  # its lock is cleaned up
    assert cli("sync", env=env).returncode == 0
    assert cli("sync", env=env).returncode == 0  # again: nothing new
    status = json.loads(cli("status", "--json", env=env).stdout)
    assert status["sessions"]["usage_incomplete"] == []
    expenses = remote(keito_server, "expenses")
    assert expense_tokens(expenses, sid) == _totals(gemini_truth(sid))
    assert {e["metadata"]["model"] for e in expenses} == {
        "gemini-3.8-flash",
        "gemini-3.5-flash-lite",
    }
    entries = remote(keito_server, "time_entries")
    assert [e["metadata"]["session_id"] for e in entries] == [sid]
    assert entries[0]["metadata"]["agent_type"] == AGENT
    assert entries[0]["notes"].startswith("Gemini CLI")
    parsed = json.loads(cli("parse", str(transcript), "--json", env=env).stdout)
    assert parsed["usage_incomplete"] is None


def test_the_hook_starts_the_late_reader_itself(
    layout: Layout, keito_server: KeitoServer, tmp_path: Path, keito_config_dir: Path
) -> None:
    sid = session_of(TOOLUSE)
    env = layout.env(skill_env(tmp_path / "skill", keito_server, keito_config_dir))
    env.update(KEITO_SKILL_NO_BACKGROUND_SYNC="1", KEITO_SKILL_GEMINI_LATE_SECONDS="30")
    transcript = layout.copy(TOOLUSE)
    blob = TELEMETRY.read_bytes()
    layout.telemetry.write_bytes(blob[: _cut_before_last_router(blob, sid)])
    for payload in _payloads(sid, transcript, layout.repo):
        _hook(payload, env)
    layout.telemetry.write_bytes(blob)  # after the last hook, as the CLI exports at exit
    want = _totals(gemini_truth(sid))
    deadline = time.monotonic() + 60
    got: dict[str, int] = {}
    while time.monotonic() < deadline:
        from keito_skill.summary import SessionSummary

        with Ledger(tmp_path / "skill" / "ledger.sqlite3") as ledger:
            row = ledger.session(AGENT, sid)
        if row is not None and row.summary:
            summary = SessionSummary.model_validate_json(row.summary)
            got = {k: getattr(summary.totals, k) for k in TOKEN_KEYS}
        else:
            from keito_skill.recorder import restore
            from keito_skill.summary import summarize

            assert row is not None
            states = restore(row.checkpoints)
            summary = summarize(list(states.values()))
            got = {k: getattr(summary.totals, k) for k in TOKEN_KEYS}
        if got == want:
            break
        time.sleep(0.2)
    assert got == want


def test_backfill_finds_each_session_once_and_bills_every_request(
    layout: Layout, keito_server: KeitoServer, tmp_path: Path, keito_config_dir: Path
) -> None:
    env = layout.env(skill_env(tmp_path / "skill", keito_server, keito_config_dir))
    for source in (SIMPLE, TOOLUSE, TOOLUSE_START):
        layout.copy(source)
    layout.telemetry.write_bytes(TELEMETRY.read_bytes())
    done = cli("backfill", "--no-sync", "--json", env=env)
    assert done.returncode == 0, done.stderr
    sessions = {s["session_id"]: s for s in json.loads(done.stdout)["sessions"]}
    assert set(sessions) == {session_of(SIMPLE), session_of(TOOLUSE)}  # the resume: one
    for sid, found in sessions.items():
        assert found["agent"] == AGENT
        assert {k: found["totals"][k] for k in TOKEN_KEYS} == _totals(gemini_truth(sid))
    assert cli("sync", env=env).returncode == 0
    rows = json.loads(cli("report", "--by", "agent", "--json", env=env).stdout)["rows"]
    [row] = [r for r in rows if r["agent"] == AGENT]
    for key in TOKEN_KEYS:
        assert row[key] == sum(_totals(gemini_truth(sid))[key] for sid in sessions)
    assert row["sessions"] == 2
    again = json.loads(cli("backfill", "--no-sync", "--json", env=env).stdout)
    assert all(s["status"] != "new" for s in again["sessions"])
    listed = json.loads(cli("sessions", "--agent", AGENT, "--json", env=env).stdout)
    listed = listed["sessions"] if isinstance(listed, dict) else listed
    assert {s["session_id"] for s in listed} == set(sessions)


def test_watch_maps_every_chat_file_to_its_session(layout: Layout) -> None:
    adapter = agents.adapter(AGENT)
    main = layout.copy(TOOLUSE)
    start = layout.copy(TOOLUSE_START)
    sub = layout.chats / session_of(TOOLUSE) / "agent-1.jsonl"
    sub.parent.mkdir()
    sub.write_text('{"sessionId":"agent-1","projectHash":"h","kind":"subagent"}\n')
    watched = layout.gemini / "tmp"
    assert adapter.watch_dirs(layout.gemini) == [watched]
    assert adapter.locate(main, watched) == main
    assert adapter.locate(start, watched) == main  # a resume's history-only file
    assert adapter.locate(sub, watched) == main
    assert adapter.locate(layout.project / "logs.json", watched) is None
    assert adapter.side_files(main) == [start, sub]
    assert adapter.session_id_for(start) == session_of(TOOLUSE)


def test_a_resumed_session_start_naming_the_history_file_keeps_the_sessions_own(
    layout: Layout, keito_server: KeitoServer, tmp_path: Path, keito_config_dir: Path
) -> None:
    """Gemini CLI's resumed SessionStart names the history-only file it wrote first; the
    ledger keeps the conversation's file (else a run killed before its first answer is
    read from a file holding neither prompts nor usage as its main transcript)."""
    sid = session_of(TOOLUSE)
    env = layout.env(skill_env(tmp_path / "skill", keito_server, keito_config_dir))
    env.update(KEITO_SKILL_NO_BACKGROUND_SYNC="1", KEITO_SKILL_GEMINI_LATE_SECONDS="0")
    conversation = layout.copy(TOOLUSE)
    history = layout.copy(TOOLUSE_START)
    starts = [p for p in _payloads(sid, conversation, layout.repo) if p.get("source")]
    resumed = {**starts[1], "transcript_path": str(history)}
    _hook(resumed, env)
    with Ledger(tmp_path / "skill" / "ledger.sqlite3") as ledger:
        row = ledger.session(AGENT, sid)
        assert row is not None and row.transcript_path == str(conversation)


def test_watch_records_a_hookless_gemini_session_with_its_telemetry(
    layout: Layout, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session run without our hooks: watch, told its chat file changed, records it
    from that file and its share of the telemetry file: every request, once."""
    from keito_skill.summary import SessionSummary
    from keito_skill.sync import run_sync
    from keito_skill.sync._materialize import summary_of
    from keito_skill.watch import Watcher

    monkeypatch.setenv("GEMINI_CLI_HOME", str(layout.home))
    sid = session_of(TOOLUSE)
    main = layout.copy(TOOLUSE)
    layout.copy(TOOLUSE_START)
    layout.telemetry.write_bytes(TELEMETRY.read_bytes())
    roots = {name: [] for name in agents.names()} | {AGENT: [layout.gemini]}
    with Ledger() as ledger:
        watcher = Watcher(ledger, roots=roots, quiet_seconds=3600)
        watcher.notify(str(layout.chats / TOOLUSE_START.name))  # any file of the session
        watcher.step()
        row = ledger.session(AGENT, sid)
        assert row is not None and row.origin == "watch" and row.cwd == str(layout.repo)
        assert row.transcript_path == str(main)
        summary = summary_of(row)
        assert isinstance(summary, SessionSummary)
        assert {k: getattr(summary.totals, k) for k in TOKEN_KEYS} == _totals(gemini_truth(sid))
        assert summary.usage_incomplete is None
        run_sync(ledger, None)  # planned locally (no client): one entry for the session
        assert [r.session_id for r in ledger.records(kind="time_entry")] == [sid]
