"""Writes that commit after we stopped waiting are never sent twice (issue 17, item 1).

Keito may finish a POST after our client gave up on it. A look-up made before that commit
finds nothing, and sending again then makes a second entry. So a record that may have been
sent waits a grace period (longer than any write can take; ``KEITO_SKILL_WRITE_GRACE``
seconds, shortened here) before a look-up decides it is absent; and any look-up that finds
two of our time entries for one key keeps one and deletes the others, unless Keito says
they are final, and says so in ``status``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from keito_skill.ledger import Ledger
from keito_skill.recorder import record
from keito_skill.status import status_data
from keito_skill.sync import run_sync
from tests.keito_server import KeitoServer
from tests.sessions_kit import (
    AGENTS,
    copy_session,
    expense_tokens,
    keito_client,
    make_repo,
    remote,
    split_at_first_end,
    sync_to,
    truth_totals,
)

pytestmark = pytest.mark.usefixtures("utc")

ENTRIES, EXPENSES = "/api/v2/time_entries", "/api/v2/expenses"
COMMIT_AFTER = 2.0  # seconds a write takes to commit on the slow server
CLIENT_TIMEOUT = 0.6  # seconds our client waits for an answer
GRACE = 3.5  # seconds a maybe-sent record waits before it is looked up again


def _one_per_key(server: KeitoServer, ids: dict[str, str]) -> None:
    """One entry per session-day, one expense per segment, expenses equal to the truth."""
    entries = remote(server, "time_entries")
    keys = [(e["metadata"]["session_id"], e["spent_date"]) for e in entries]
    assert sorted(keys) == sorted(set(keys)), "a session-day has two time entries"
    assert {sid for sid, _ in keys} == set(ids)
    expenses = remote(server, "expenses")
    segments = [(e["metadata"]["session_id"], e["metadata"]["segment"]) for e in expenses]
    assert sorted(segments) == sorted(set(segments)), "a segment was expensed twice"
    for session_id, agent in ids.items():
        assert expense_tokens(expenses, session_id) == truth_totals(agent)


def test_writes_committing_after_the_client_timeout_are_sent_once(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's slow server: every write commits after the client has given up, while
    hooks keep recording and syncing. Before the fix every sync POSTed again."""
    monkeypatch.setenv("KEITO_SKILL_WRITE_GRACE", str(GRACE))
    repo = make_repo(tmp_path / "repo", keito_server)
    sessions: dict[str, tuple[str, Path, str, str]] = {}
    for agent in AGENTS:
        session_id, path = copy_session(agent, tmp_path / agent)
        first, rest = split_at_first_end(agent, path.read_text())
        path.write_text(first)
        sessions[session_id] = (agent, path, first, rest)
    keito_server.add_fault(method="POST", latency=COMMIT_AFTER, count=None)
    keito_server.add_fault(method="PATCH", latency=COMMIT_AFTER, count=None)

    def hooks(step: int) -> None:
        """What the agents' hooks record at this step: a prompt, an end, a resume..."""
        for session_id, (agent, path, first, rest) in sessions.items():
            if step == 0:
                record(ledger, agent, session_id, path, cwd=str(repo))
            elif step == 3:
                record(ledger, agent, session_id, path, end_reason="exit")
            elif step == 6:
                path.write_text(first + rest)  # resumed
                record(ledger, agent, session_id, path, reopen=True)
            elif step == 9:
                record(ledger, agent, session_id, path, end_reason="exit")

    with keito_client(keito_server, max_retries=1, timeout=CLIENT_TIMEOUT) as client:
        started = time.monotonic()
        for step in range(14):  # a hook and its sync every ~0.7 s, for ~10 s
            hooks(step)
            run_sync(ledger, client)
            time.sleep(max(0.0, started + 0.7 * (step + 1) - time.monotonic()))
    keito_server.clear_faults()
    time.sleep(COMMIT_AFTER)  # the last slow writes land
    deadline = time.monotonic() + 4 * GRACE
    while [r for r in ledger.records() if r.status != "sent"] and time.monotonic() < deadline:
        sync_to(keito_server, ledger)
        time.sleep(0.5)
    assert [r.key for r in [r for r in ledger.records() if r.status != "sent"]] == []
    _one_per_key(keito_server, {sid: s[0] for sid, s in sessions.items()})
    posts = [r for r in keito_server.requests() if r["method"] == "POST"]
    assert len([r for r in posts if r["path"] == ENTRIES]) == len(sessions)


def test_a_maybe_sent_record_waits_for_the_grace_period(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within the grace period nothing is looked up or sent for that session; after it, a
    look-up finds the late write and no second POST leaves. ``status`` says why it waits."""
    monkeypatch.setenv("KEITO_SKILL_WRITE_GRACE", str(GRACE))
    repo = make_repo(tmp_path / "repo", keito_server)
    session_id, path = copy_session("codex", tmp_path / "t")
    record(ledger, "codex", session_id, path, cwd=str(repo), end_reason="exit")
    keito_server.add_fault(method="POST", path=EXPENSES, latency=COMMIT_AFTER, count=1)
    with keito_client(keito_server, max_retries=1, timeout=CLIENT_TIMEOUT) as client:
        first = run_sync(ledger, client)
        assert first.sent.aborted  # the expense's answer never came
        time.sleep(COMMIT_AFTER)  # it has committed now, but we cannot know that
        keito_server.clear_requests()
        waiting = run_sync(ledger, client)
        assert keito_server.requests() == []  # not even a look-up: too soon to trust one
        assert waiting.sent.unconfirmed == 1
        status = status_data(ledger)
        assert status["records"]["unconfirmed"] == 1
        time.sleep(GRACE)
        after = run_sync(ledger, client)
    assert after.sent.existing == 1 and after.sent.created == 0
    assert [r["method"] for r in keito_server.requests() if r["path"] == EXPENSES] == ["GET"]
    _one_per_key(keito_server, {session_id: "codex"})


def test_a_failed_lookup_is_not_a_maybe_sent_write(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a POST that left can have been sent: an outage during the look-up before it
    leaves the record free to go at the next sync, without waiting for the grace period."""
    monkeypatch.setenv("KEITO_SKILL_WRITE_GRACE", "3600")
    repo = make_repo(tmp_path / "repo", keito_server)
    session_id, path = copy_session("claude-code", tmp_path / "t")
    record(ledger, "claude-code", session_id, path, cwd=str(repo), end_reason="exit")
    keito_server.add_fault(method="GET", status=503, retry_after="0", count=None)
    assert sync_to(keito_server, ledger).sent.aborted
    assert {r.status for r in ledger.records()} == {"pending"}
    keito_server.clear_faults()
    assert sync_to(keito_server, ledger).sent.aborted is None
    _one_per_key(keito_server, {session_id: "claude-code"})


# ---- duplicates found by a look-up ---------------------------------------------------


def _entry(server: KeitoServer, session_id: str, hours: float, **meta: Any) -> dict[str, Any]:
    body = {
        "project_id": server.project_id,
        "task_id": server.task_id,
        "spent_date": "2026-11-21",
        "hours": hours,
        "source": "agent",
        "metadata": {"session_id": session_id, **meta},
    }
    with server.api() as api:
        response = api.post(ENTRIES, json=body)
    response.raise_for_status()
    time.sleep(0.01)  # distinct created_at
    return dict(response.json())


def _lock(server: KeitoServer, entry_id: str) -> None:
    """Lock an entry in the dev server's own database (an approved, final entry)."""
    db_path = server.proc.args[server.proc.args.index("--db") + 1]  # type: ignore[index, union-attr]
    with sqlite3.connect(str(db_path)) as db:
        db.execute("UPDATE time_entries SET is_locked = 1 WHERE id = ?", (entry_id,))


@pytest.mark.parametrize("shared", [False, True], ids=["own-lookup", "shared-lookup"])
def test_a_lookup_that_finds_two_entries_keeps_one_and_deletes_the_other(
    shared: bool, keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    ids: dict[str, str] = {}
    doubled = ""
    for agent in AGENTS if shared else AGENTS[:1]:  # two sessions on one day share a list
        session_id, path = copy_session(agent, tmp_path / agent)
        record(ledger, agent, session_id, path, cwd=str(repo), end_reason="exit")
        ids[session_id] = agent
        doubled = doubled or session_id
    first = _entry(keito_server, doubled, 0.5)
    second = _entry(keito_server, doubled, 0.7)
    report = sync_to(keito_server, ledger)
    assert report.sent.aborted is None
    entries = remote(keito_server, "time_entries")
    mine = [e for e in entries if e["metadata"]["session_id"] == doubled]
    assert [e["id"] for e in mine] == [first["id"]]  # the first kept (and updated)
    assert report.sent.duplicates == 1
    _one_per_key(keito_server, ids)
    [noted] = status_data(ledger)["duplicates"]
    assert second["id"] in noted["message"] and "deleted" in noted["message"]
    assert first["id"] in noted["message"]


def test_a_final_duplicate_is_left_and_reported(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    """A locked (approved) duplicate cannot be deleted: it is the one kept; the other goes.
    Two final ones: both stay, and ``status`` says so."""
    repo = make_repo(tmp_path / "repo", keito_server)
    session_id, path = copy_session("codex", tmp_path / "a")
    record(ledger, "codex", session_id, path, cwd=str(repo), end_reason="exit")
    first, second, third = (_entry(keito_server, session_id, h) for h in (0.5, 0.6, 0.7))
    _lock(keito_server, second["id"])
    _lock(keito_server, third["id"])
    report = sync_to(keito_server, ledger)
    left = {e["id"] for e in remote(keito_server, "time_entries")}
    assert left == {second["id"], third["id"]}  # the unlocked one deleted, finals left
    assert report.sent.duplicates == 1
    messages = [d["message"] for d in status_data(ledger)["duplicates"]]
    assert any(third["id"] in m and "left" in m for m in messages), json.dumps(messages)
    assert any(first["id"] in m and "deleted" in m for m in messages), json.dumps(messages)


def test_another_part_of_a_session_day_is_not_a_duplicate(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    """An entry with ``part`` 2 (a continuation after part 1 became final) is a different
    entry of the same session-day: a look-up keeps it."""
    repo = make_repo(tmp_path / "repo", keito_server)
    session_id, path = copy_session("claude-code", tmp_path / "a")
    record(ledger, "claude-code", session_id, path, cwd=str(repo), end_reason="exit")
    second_part = _entry(keito_server, session_id, 0.2, part=2)
    report = sync_to(keito_server, ledger)
    assert report.sent.duplicates == 0 and report.sent.created >= 1
    ids = {e["id"] for e in remote(keito_server, "time_entries")}
    assert second_part["id"] in ids and len(ids) == 2
    assert status_data(ledger)["duplicates"] == []
