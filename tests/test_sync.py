"""Ledger + sync against the local Keito server over HTTP: once, never lost, never twice."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from keito_skill.keito import KeitoClient
from keito_skill.ledger import Ledger
from keito_skill.recorder import record
from keito_skill.status import status_data
from keito_skill.sync import run_sync
from tests.keito_server import KeitoServer
from tests.sessions_kit import (
    AGENTS,
    ROOT,
    cli,
    cli_on_a_terminal,
    copy_session,
    expense_tokens,
    keito_client,
    make_repo,
    remote,
    skill_env,
    split_at_first_end,
    sync_to,
    truth_totals,
)
from tests.transcript_data import TOKEN_KEYS

pytestmark = pytest.mark.usefixtures("utc")


def _record_full(ledger: Ledger, agent: str, repo: Path, folder: Path) -> tuple[str, Path]:
    session_id, path = copy_session(agent, folder)
    record(ledger, agent, session_id, path, cwd=str(repo), end_reason="exit")
    return session_id, path


@pytest.mark.parametrize("agent", AGENTS)
def test_session_becomes_one_entry_and_expenses_equal_truth(
    agent: str, keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server, metadata={"client_ref": "ACME-42"})
    session_id, _ = _record_full(ledger, agent, repo, tmp_path / "transcripts")
    report = sync_to(keito_server, ledger)
    assert report.sent.created >= 2 and report.sent.failed == 0
    entries = remote(keito_server, "time_entries")
    assert len(entries) == 1
    entry = entries[0]
    meta = entry["metadata"]
    assert entry["source"] == "agent"
    assert entry["project_id"] == keito_server.project_id
    assert entry["task_id"] == keito_server.task_id
    assert entry["spent_date"] == "2026-11-21"
    assert meta["session_id"] == session_id
    assert meta["agent_type"] == agent
    assert meta["client_ref"] == "ACME-42"
    assert {k: meta[k] for k in TOKEN_KEYS} == truth_totals(agent)
    for key in (
        "agent_id",
        "model",
        "cost_usd",
        "duration_seconds",
        "active_seconds",
        "cwd",
        "skill",
    ):
        assert key in meta
    assert meta["cwd"] == str(repo)
    expenses = remote(keito_server, "expenses")
    assert expenses and all(e["metadata"]["session_id"] == session_id for e in expenses)
    assert expense_tokens(expenses, session_id) == truth_totals(agent)
    assert sum(e["total_cost"] for e in expenses) == pytest.approx(meta["cost_usd"], abs=1e-6)

    # Sync again: nothing new is sent, nothing is duplicated.
    again = sync_to(keito_server, ledger)
    assert (again.sent.created, again.sent.updated) == (0, 0)
    assert len(remote(keito_server, "time_entries")) == 1
    assert len(remote(keito_server, "expenses")) == len(expenses)


def test_one_session_that_cannot_be_processed_does_not_hold_back_the_others(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug of ours on one session's data used to abort the whole sync: no session was sent.
    Now that session is set aside as broken, with the reason, and tried again next time."""
    from keito_skill.sync import _materialize

    repo = make_repo(tmp_path / "repo", keito_server)
    bad, _ = _record_full(ledger, "claude-code", repo, tmp_path / "a")
    good, _ = _record_full(ledger, "codex", repo, tmp_path / "b")
    real = _materialize.summary_for

    def failing(ledger: object, row: object, **kw: object) -> object:
        if getattr(row, "session_id", None) == bad:
            raise KeyError("a field we never saw")
        return real(ledger, row, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(_materialize, "summary_for", failing)
    report = sync_to(keito_server, ledger)
    assert [e["metadata"]["session_id"] for e in remote(keito_server, "time_entries")] == [good]
    assert expense_tokens(remote(keito_server, "expenses"), good) == truth_totals("codex")
    assert report.sessions.get("broken") == 1
    row = ledger.session("claude-code", bad)
    assert row is not None and row.mapping_status == "broken"
    assert "KeyError" in (row.mapping_detail or "") and "a field we never saw" in (
        row.mapping_detail or ""
    )
    assert any(bad in e["message"] for e in ledger.recent_events(level="error"))
    # the cause gone (a fixed release), the next sync sends it
    monkeypatch.setattr(_materialize, "summary_for", real)
    sync_to(keito_server, ledger)
    sent = {e["metadata"]["session_id"] for e in remote(keito_server, "time_entries")}
    assert sent == {good, bad}
    row = ledger.session("claude-code", bad)
    assert row is not None and row.mapping_status == "mapped"


def test_new_one_day_session_costs_three_api_calls(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    _record_full(ledger, "codex", repo, tmp_path / "first")
    sync_to(keito_server, ledger)  # the first sync ever also asks /users/me, once
    _record_full(ledger, "codex", repo, tmp_path / "t")
    keito_server.clear_requests()
    sync_to(keito_server, ledger)
    calls = [(r["method"], r["path"]) for r in keito_server.requests()]
    assert calls == [
        ("GET", "/api/v2/time_entries"),
        ("POST", "/api/v2/time_entries"),
        ("POST", "/api/v2/expenses"),
    ]
    # the look-up is narrowed to the key's own user (a team-wide key lists everyone's)
    assert "user_id=" in keito_server.requests()[0]["query"]


@pytest.mark.parametrize("agent", AGENTS)
def test_resumed_session_adds_a_segment_and_sums_to_truth(
    agent: str, keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    session_id, path = copy_session(agent, tmp_path / "t")
    first, rest = split_at_first_end(agent, path.read_text())
    path.write_text(first)
    record(ledger, agent, session_id, path, cwd=str(repo), end_reason="exit")
    sync_to(keito_server, ledger)
    after_first = remote(keito_server, "expenses")
    first_tokens = expense_tokens(after_first, session_id)
    assert 0 < first_tokens["output_tokens"] < truth_totals(agent)["output_tokens"]

    # The resume: same session id, more usage appended to the same transcript.
    record(ledger, agent, session_id, path, cwd=str(repo), reopen=True)
    path.write_text(first + rest)
    record(ledger, agent, session_id, path, end_reason="exit")
    sync_to(keito_server, ledger)
    expenses = remote(keito_server, "expenses")
    assert len(expenses) > len(after_first)
    assert {e["metadata"]["segment_number"] for e in expenses} == {1, 2}
    assert expense_tokens(expenses, session_id) == truth_totals(agent)
    entries = remote(keito_server, "time_entries")
    assert len(entries) == 1
    assert entries[0]["metadata"]["output_tokens"] == truth_totals(agent)["output_tokens"]


def _costs(expenses: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    """Money billed per (day, model), from expense bodies (sent, or still in a ledger)."""
    billed: dict[tuple[str, str], float] = {}
    for body in expenses:
        key = (body["spent_date"], body["metadata"]["model"])
        billed[key] = billed.get(key, 0.0) + body["total_cost"]
    return billed


@pytest.mark.parametrize("agent", AGENTS)
def test_a_resumed_sessions_second_segment_bills_only_the_cost_not_yet_expensed(
    agent: str, keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    """Issue 18's missing test. Billing the whole session's cost again on resume is the worst
    kind of bug (a client over-billed); the second segment carries, per day and model, what
    the whole session costs minus what the first segment's expenses already billed."""
    repo = make_repo(tmp_path / "repo", keito_server)
    # What the whole session costs in one segment: the same transcript in its own ledger.
    with Ledger(tmp_path / "whole" / "ledger.sqlite3") as whole:
        other_id, other_path = copy_session(agent, tmp_path / "whole")
        record(whole, agent, other_id, other_path, cwd=str(repo), end_reason="exit")
        run_sync(whole, None)  # records made, nothing sent
        one_segment = _costs([r.payload for r in whole.records(kind="expense")])
    assert one_segment and all(cost > 0 for cost in one_segment.values())

    session_id, path = copy_session(agent, tmp_path / "t")
    first, rest = split_at_first_end(agent, path.read_text())
    path.write_text(first)
    record(ledger, agent, session_id, path, cwd=str(repo), end_reason="exit")
    sync_to(keito_server, ledger)
    segment_1 = _costs(remote(keito_server, "expenses"))
    assert 0 < sum(segment_1.values()) < sum(one_segment.values())

    # The resume: same session id, more usage appended to the same transcript.
    record(ledger, agent, session_id, path, cwd=str(repo), reopen=True)
    path.write_text(first + rest)
    record(ledger, agent, session_id, path, end_reason="exit")
    sync_to(keito_server, ledger)
    expenses = remote(keito_server, "expenses")
    assert {e["metadata"]["session_id"] for e in expenses} == {session_id}
    segment_2 = _costs([e for e in expenses if e["metadata"]["segment_number"] == 2])
    assert segment_2, "the resume billed nothing"
    for key, cost in segment_2.items():
        assert cost == pytest.approx(one_segment[key] - segment_1.get(key, 0.0), abs=1e-6), key
    assert sum(_costs(expenses).values()) == pytest.approx(sum(one_segment.values()), abs=1e-6)
    # The time entry states the session's cost; the expenses add up to exactly that.
    entries = remote(keito_server, "time_entries")
    assert len(entries) == 1
    assert entries[0]["metadata"]["cost_usd"] == pytest.approx(sum(one_segment.values()), abs=1e-4)


def test_dropped_answer_after_commit_is_found_not_duplicated(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The writes here commit before the answer is dropped: no grace period to wait out
    # (tests/test_slow_writes.py covers writes that commit later).
    monkeypatch.setenv("KEITO_SKILL_WRITE_GRACE", "0")
    repo = make_repo(tmp_path / "repo", keito_server)
    session_id, _ = _record_full(ledger, "claude-code", repo, tmp_path / "t")
    keito_server.add_fault(method="POST", path="/api/v2/time_entries", drop="after", count=1)
    keito_server.add_fault(method="POST", path="/api/v2/expenses", drop="after", count=1)
    with keito_client(keito_server) as client:
        first = run_sync(ledger, client)
        assert first.sent.aborted
        second = run_sync(ledger, client)
        assert second.sent.aborted  # the expense's answer was dropped this time
        third = run_sync(ledger, client)
    assert third.sent.aborted is None
    assert len(remote(keito_server, "time_entries")) == 1
    expenses = remote(keito_server, "expenses")
    assert len(expenses) == 1
    assert expense_tokens(expenses, session_id) == truth_totals("claude-code")
    assert all(r.status == "sent" for r in ledger.records())


def test_sync_killed_between_sent_and_marked_sent(
    keito_server: KeitoServer, home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    """SIGKILL the sync process while Keito is committing its POST; sync again: one copy."""
    repo = make_repo(tmp_path / "repo", keito_server)
    env = skill_env(home, keito_server, keito_config_dir)
    env["KEITO_SKILL_WRITE_GRACE"] = "0"  # each write has committed before the next sync
    with Ledger() as ledger:
        session_id, _ = _record_full(ledger, "codex", repo, tmp_path / "t")
    for path in ("/api/v2/time_entries", "/api/v2/expenses"):
        keito_server.clear_requests()
        keito_server.add_fault(method="POST", path=path, latency=2.0, count=1)
        proc = subprocess.Popen(
            [sys.executable, "-m", "keito_skill", "sync"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not any(r["method"] == "POST" and r["path"] == path for r in keito_server.requests()):
            assert time.monotonic() < deadline, "the POST never reached the server"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        while not any(  # the server finishes the write it received (answers nobody)
            r["method"] == "POST" and r["path"] == path and r["status"] is not None
            for r in keito_server.requests()
        ):
            assert time.monotonic() < deadline + 30, "the server never finished the write"
            time.sleep(0.05)
    result = cli("sync", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert len(remote(keito_server, "time_entries")) == 1
    expenses = remote(keito_server, "expenses")
    assert len(expenses) == 1
    assert expense_tokens(expenses, session_id) == truth_totals("codex")


@pytest.mark.parametrize("status", [503, 429])
def test_outage_then_recovery_sends_everything_once(
    status: int, keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    ids = [_record_full(ledger, agent, repo, tmp_path / agent)[0] for agent in AGENTS]
    keito_server.add_fault(status=status, retry_after="0", count=None)
    down = sync_to(keito_server, ledger)
    assert down.sent.aborted and down.sent.created == 0
    keito_server.clear_faults()
    assert remote(keito_server, "time_entries") == []
    up = sync_to(keito_server, ledger)
    assert up.sent.aborted is None
    entries = remote(keito_server, "time_entries")
    assert sorted(e["metadata"]["session_id"] for e in entries) == sorted(ids)
    expenses = remote(keito_server, "expenses")
    for agent, session_id in zip(AGENTS, ids, strict=True):
        assert expense_tokens(expenses, session_id) == truth_totals(agent)


def test_server_unreachable_then_back(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    session_id, _ = _record_full(ledger, "claude-code", repo, tmp_path / "t")
    dead = KeitoClient(
        "http://127.0.0.1:9", "k", "a", timeout=1.0, max_retries=1, backoff_base=0.01
    )
    with dead:
        report = run_sync(ledger, dead)
    assert report.sent.aborted
    sync_to(keito_server, ledger)
    assert [e["metadata"]["session_id"] for e in remote(keito_server, "time_entries")] == [
        session_id
    ]


def test_twenty_processes_record_at_once(
    keito_server: KeitoServer, home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    env = skill_env(home, keito_server, keito_config_dir)
    jobs = []
    for index in range(20):
        agent = AGENTS[index % 2]
        session_id, path = copy_session(agent, tmp_path / f"t{index}")
        jobs.append((agent, session_id, path))
    script = (
        "import sys\n"
        "from keito_skill.ledger import Ledger\n"
        "from keito_skill.recorder import record\n"
        "agent, sid, path, cwd = sys.argv[1:5]\n"
        "with Ledger() as l:\n"
        "    record(l, agent, sid, path, cwd=cwd)\n"
        "    record(l, agent, sid, path, end_reason='exit')\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, agent, sid, str(path), str(repo)], env=env, cwd=ROOT
        )
        for agent, sid, path in jobs
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * 20
    result = cli("sync", "--json", env=env)
    assert result.returncode == 0, result.stderr
    entries = remote(keito_server, "time_entries")
    assert sorted(e["metadata"]["session_id"] for e in entries) == sorted(s for _, s, _ in jobs)
    expenses = remote(keito_server, "expenses")
    for agent, session_id, _ in jobs:
        assert expense_tokens(expenses, session_id) == truth_totals(agent)
    assert len({e["metadata"]["segment"] + e["metadata"]["session_id"] for e in expenses}) == len(
        expenses
    )


def test_oversized_metadata_is_shrunk_and_a_400_fails_only_its_record(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    big = make_repo(tmp_path / "big", keito_server, metadata={"notes_blob": "x" * 6000})
    fine = make_repo(tmp_path / "fine", keito_server)
    big_id, _ = _record_full(ledger, "claude-code", big, tmp_path / "a")
    fine_id, _ = _record_full(ledger, "codex", fine, tmp_path / "b")
    keito_server.add_fault(
        method="POST",
        path="/api/v2/expenses",
        status=400,
        count=1,
        error="invalid_request",
        error_description="expense_category_id is archived",
    )
    report = sync_to(keito_server, ledger)
    assert report.sent.failed == 1
    reason = report.sent.errors[0]["reason"]  # Keito's words, then the fix
    assert "expense_category_id is archived" in reason and "--retry-failed" in reason
    entries = {e["metadata"]["session_id"]: e for e in remote(keito_server, "time_entries")}
    assert set(entries) == {big_id, fine_id}
    meta = entries[big_id]["metadata"]
    assert len(json.dumps(meta, separators=(",", ":")).encode()) <= 4096
    assert meta["session_id"] == big_id and meta["input_tokens"] > 0
    failed = ledger.records(status="failed")
    assert len(failed) == 1 and "archived" in (failed[0].last_error or "")
    errors = status_data(ledger)["last_errors"]
    assert [(e["status"], e["kind"]) for e in errors] == [("failed", "expense")]
    # Everything else arrived; the rejected expense waits for --retry-failed.
    with keito_client(keito_server) as client:
        retried = run_sync(ledger, client, retry_failed=True)
    assert retried.sent.failed == 0 and retried.sent.created == 1
    assert status_data(ledger)["last_errors"] == []  # sent now: no longer an error
    expenses = remote(keito_server, "expenses")
    assert expense_tokens(expenses, big_id) == truth_totals("claude-code")
    assert expense_tokens(expenses, fine_id) == truth_totals("codex")


def test_offline_records_locally_then_sync_sends_it_all(
    keito_server: KeitoServer, home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    offline_env = skill_env(home, None, keito_config_dir)
    with Ledger() as ledger:
        session_id, _ = _record_full(ledger, "claude-code", repo, tmp_path / "t")
    result = cli("sync", "--json", env=offline_env)
    assert result.returncode == 0
    assert json.loads(result.stdout)["offline"]
    status = json.loads(cli("status", "--json", env=offline_env).stdout)
    assert status["credentials"]["configured"] is False
    assert status["records"]["pending"] >= 2
    assert remote(keito_server, "time_entries") == []
    online = skill_env(home, keito_server, keito_config_dir)
    sent = json.loads(cli("sync", "--json", env=online).stdout)
    assert sent["sent"]["created"] >= 2
    assert [e["metadata"]["session_id"] for e in remote(keito_server, "time_entries")] == [
        session_id
    ]
    status = json.loads(cli("status", "--json", env=online).stdout)
    assert status["records"]["pending"] == 0 and status["records"]["sent"] >= 2


def test_status_text_on_an_empty_ledger(home: Path, keito_config_dir: Path) -> None:
    result = cli("status", env=skill_env(home, None, keito_config_dir))
    assert result.returncode == 0, result.stderr
    sessions = [line for line in result.stdout.splitlines() if line.startswith("Sessions")]
    assert sessions == ["Sessions  0 (0 active, 0 paused)"]


def test_unmapped_and_broken_repos_are_kept_and_shown(
    keito_server: KeitoServer, home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    env = skill_env(home, keito_server, keito_config_dir)
    bare = tmp_path / "bare"
    bare.mkdir()
    subprocess.run(["git", "init", "-q", str(bare)], check=True)
    broken = make_repo(tmp_path / "broken", keito_server)
    (broken / ".keito" / "config.yml").write_text(
        f"project_id: {keito_server.project_id}\ntask_id: {keito_server.task_id}\n"
        "billing:\n  duration: sometimes\n"
    )
    with Ledger() as ledger:
        unmapped_id, _ = _record_full(ledger, "codex", bare, tmp_path / "a")
        broken_id, _ = _record_full(ledger, "claude-code", broken, tmp_path / "b")
    said = cli("sync", env=env).stdout
    assert said.splitlines() == [
        "Nothing new to send.",
        "2 sessions not sent: no usable Keito mapping ('keito-skill status' lists them).",
    ]
    status = json.loads(cli("status", "--json", env=env).stdout)
    attention = {a["session_id"]: a for a in status["sessions"]["needs_attention"]}
    assert attention[unmapped_id]["status"] == "unmapped"
    assert attention[broken_id]["status"] == "broken"
    assert "config.yml:4" in attention[broken_id]["detail"]
    assert remote(keito_server, "time_entries") == []
    # Fix the file: the kept session is sent on the next sync.
    make_repo(broken, keito_server)
    cli("sync", env=env)
    assert [e["metadata"]["session_id"] for e in remote(keito_server, "time_entries")] == [
        broken_id
    ]


def test_sessions_that_cannot_be_sent_cost_one_look_per_sync(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every sync looks again at sessions it could not send (their repo may be mapped since),
    and a background sync runs after every prompt. Ended ones used to make each sync run all
    its passes, each summarising every such session again: 6.5 s of CPU per prompt with
    3,375 of them. Now: one look per sync, and no summary unless the session changed."""
    from keito_skill.sync import _materialize

    bare = tmp_path / "bare"
    subprocess.run(["git", "init", "-q", str(bare)], check=True)
    repo = make_repo(tmp_path / "repo", keito_server)
    for index in range(3):
        _record_full(ledger, "codex", bare, tmp_path / f"u{index}")
    _record_full(ledger, "claude-code", repo, tmp_path / "m")
    first = sync_to(keito_server, ledger)
    assert first.sessions == {"unmapped": 3, "mapped": 1}
    assert len(remote(keito_server, "time_entries")) == 1

    summaries: list[str] = []
    real = _materialize.summary_for

    def counting(ledger: Any, row: Any, **kw: Any) -> Any:
        summaries.append(row.session_id)
        return real(ledger, row, **kw)

    monkeypatch.setattr(_materialize, "summary_for", counting)
    again = sync_to(keito_server, ledger)
    assert again.sessions == {"unmapped": 3}  # looked at once each, not once per pass
    assert summaries == []  # and not summarised again: nothing changed
    unmapped = [r for r in ledger.sessions() if r.mapping_status == "unmapped"]
    assert len(unmapped) == 3 and all(row.summary for row in unmapped)


def test_status_groups_many_sessions_not_sent_by_repository(
    home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    """A backfill of a machine's history can leave thousands of sessions in unmapped repos:
    the human view shows one row per repository and reason, ``--json`` every session."""
    env = skill_env(home, None, keito_config_dir)
    repos = {}
    for name in ("alpha", "beta"):
        repos[name] = tmp_path / name
        subprocess.run(["git", "init", "-q", str(repos[name])], check=True)
    with Ledger() as ledger:
        for index in range(9):
            _record_full(ledger, "codex", repos["alpha"], tmp_path / f"a{index}")
        for index in range(3):
            _record_full(ledger, "claude-code", repos["beta"], tmp_path / f"b{index}")
    cli("sync", env=env)
    shown = cli("status", env=env).stdout
    assert "12 sessions not sent, by repository (all of them: --json)" in shown
    rows = [line for line in shown.splitlines() if "no .keito/config.yml" in line]
    assert len(rows) == 2
    assert str(repos["alpha"]) in rows[0] and " 9 " in rows[0]
    assert str(repos["beta"]) in rows[1] and " 3 " in rows[1]
    assert "keito-skill init" in shown
    data = json.loads(cli("status", "--json", env=env).stdout)
    assert len(data["sessions"]["needs_attention"]) == 12


def test_sync_reports_progress_and_shows_a_bar_on_a_terminal(
    keito_server: KeitoServer, home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    """A first sync after a backfill can be thousands of records: progress is reported as
    each record settles, and drawn on stderr only when it is a terminal."""
    repo = make_repo(tmp_path / "repo", keito_server)
    with Ledger() as ledger:
        for index in range(11):  # 11 sessions: 11 time entries + 11 expenses
            _record_full(ledger, "codex", repo, tmp_path / f"s{index}")
    env = skill_env(home, keito_server, keito_config_dir)
    done, drawn = cli_on_a_terminal("sync", env=env)
    assert done.returncode == 0
    assert done.stdout.startswith("created 22, updated 0")
    assert "Sending to Keito" in drawn and "22/22" in drawn
    # piped, as in CI or a script: nothing but the result
    quiet = cli("sync", env=env)
    assert quiet.stderr == "" and quiet.stdout.startswith("Nothing new to send.")


def test_progress_is_called_as_records_settle(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    for index in range(3):
        _record_full(ledger, "claude-code", repo, tmp_path / f"p{index}")
    seen: list[tuple[int, int]] = []
    with keito_client(keito_server) as client:
        run_sync(ledger, client, progress=lambda done, total: seen.append((done, total)))
    assert sorted(seen) == [(n, 6) for n in range(1, 7)]  # 3 entries + 3 expenses, each once


def test_api_key_never_leaks(
    keito_server: KeitoServer, home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    env = skill_env(home, keito_server, keito_config_dir)
    with Ledger() as ledger:
        _record_full(ledger, "claude-code", repo, tmp_path / "t")
    outputs = [
        cli(*args, env=env)
        for args in (
            ["sync"],
            ["sync", "--json"],
            ["status"],
            ["status", "--json"],
            ["report", "--json"],
        )
    ]
    keito_server.add_fault(status=401, count=None)
    with Ledger() as ledger:
        _record_full(ledger, "codex", repo, tmp_path / "u")
    outputs.append(cli("sync", "--json", env=env))
    outputs.append(cli("status", "--json", env=env))
    key = keito_server.api_key
    for out in outputs:
        assert key not in out.stdout and key not in out.stderr
    for path in home.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
    keito_server.clear_faults()
    for kind in ("time_entries", "expenses"):
        assert key not in json.dumps(remote(keito_server, kind))


def test_report_groups_hours_tokens_cost(
    keito_server: KeitoServer, home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    env = skill_env(home, keito_server, keito_config_dir)
    with Ledger() as ledger:
        _record_full(ledger, "claude-code", repo, tmp_path / "a")
        _record_full(ledger, "codex", repo, tmp_path / "b")
    cli("sync", env=env)
    by_agent = json.loads(cli("report", "--by", "agent", "--json", env=env).stdout)["rows"]
    assert {r["agent"]: r["output_tokens"] for r in by_agent} == {
        a: truth_totals(a)["output_tokens"] for a in AGENTS
    }
    by_model = json.loads(cli("report", "--by", "model", "--json", env=env).stdout)["rows"]
    assert {r["model"] for r in by_model} == {"claude-opus-5-5", "gpt-5-codex"}
    by_project = json.loads(cli("report", "--by", "project", "--json", env=env).stdout)["rows"]
    assert [r["project"] for r in by_project] == [keito_server.project_id]
    assert by_project[0]["project_name"] is None  # this repo's config names no project
    config = repo / ".keito" / "config.yml"
    config.write_text(config.read_text() + "project_name: Demo Project\n")
    named = cli("report", "--by", "project", env=env).stdout
    assert f"Demo Project ({keito_server.project_id})" in named
    for chosen in (keito_server.project_id, "demo project"):  # by id, or by the config's name
        only = json.loads(cli("report", "--project", chosen, "--json", env=env).stdout)
        assert sum(r["sessions"] for r in only["rows"]) == 2 and only["project"] == chosen
    codex = json.loads(cli("report", "--agent", "codex", "--by", "agent", "--json", env=env).stdout)
    assert [(r["agent"], r["output_tokens"]) for r in codex["rows"]] == [
        ("codex", truth_totals("codex")["output_tokens"])
    ]
    elsewhere = cli("report", "--project", "Another Client", env=env).stdout
    assert elsewhere.startswith("No recorded sessions for project Another Client.")
    # ... and says which projects do have sessions, by name and id
    assert f"Projects with recorded sessions: Demo Project ({keito_server.project_id})." in (
        elsewhere
    )
    later = cli("report", "--project", "Another Client", "--since", "2030-01-01", env=env).stdout
    assert "Projects with recorded" not in later and "backfill" in later  # none in that range
    assert by_project[0]["sessions"] == 2
    assert by_project[0]["cost_usd"] > 0
    empty = json.loads(cli("report", "--since", "2030-01-01", "--json", env=env).stdout)["rows"]
    assert empty == []
    none = cli("report", "--since", "2030-01-01", "--until", "2030-02-01", env=env).stdout
    assert none.startswith("No recorded sessions from 2030-01-01 until 2030-02-01.")
    table = cli("report", env=env)
    assert table.returncode == 0 and "Agent work by day" in table.stdout


def test_repo_idle_threshold_rereads_the_session_once(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    """Recorded with the default 5 minutes, billed with the repo's own idle_minutes."""
    repo = make_repo(tmp_path / "repo", keito_server, billing={"idle_minutes": 1})
    session_id, _ = _record_full(ledger, "codex", repo, tmp_path / "t")
    row = ledger.session("codex", session_id)
    assert row is not None and row.idle_seconds == 300
    sync_to(keito_server, ledger)
    row = ledger.session("codex", session_id)
    assert row is not None and row.idle_seconds == 60
    assert {c["idle_seconds"] for c in row.checkpoints.values()} == {60}
    entries = remote(keito_server, "time_entries")
    assert [e["metadata"]["session_id"] for e in entries] == [session_id]
    assert expense_tokens(remote(keito_server, "expenses"), session_id) == truth_totals("codex")
