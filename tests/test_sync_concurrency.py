"""Sending with a small thread pool: in order per session, paced by 429s, stopped by outages.

Against the local Keito server over HTTP; its request log (arrival times) shows how
many requests were in flight and whether a Retry-After held everyone back.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from keito_skill.ledger import Ledger
from keito_skill.recorder import record
from keito_skill.sync import _send, run_sync
from tests.keito_server import KeitoServer
from tests.sessions_kit import AGENTS, copy_session, keito_client, make_repo, remote, sync_to

pytestmark = pytest.mark.usefixtures("utc")

ENTRIES, EXPENSES = "/api/v2/time_entries", "/api/v2/expenses"


def _sessions(ledger: Ledger, server: KeitoServer, tmp_path: Path, count: int) -> list[str]:
    """``count`` ended one-day sessions (alternating agents), all on the fixtures' day."""
    repo = make_repo(tmp_path / "repo", server)
    ids = []
    for index in range(count):
        agent = AGENTS[index % 2]
        session_id, path = copy_session(agent, tmp_path / f"t{index}")
        record(ledger, agent, session_id, path, cwd=str(repo), end_reason="exit")
        ids.append(session_id)
    return ids


def _api(server: KeitoServer) -> list[dict[str, object]]:
    return server.requests()


def test_many_sessions_once_each_in_order_with_one_shared_lookup(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    ids = _sessions(ledger, keito_server, tmp_path, 12)
    keito_server.clear_requests()
    report = sync_to(keito_server, ledger)
    assert report.sent.aborted is None and report.sent.failed == 0
    calls = [(r["method"], r["path"]) for r in _api(keito_server)]
    entries = remote(keito_server, "time_entries")
    assert sorted(e["metadata"]["session_id"] for e in entries) == sorted(ids)
    # One list for the day they share, then one entry and one expense per session.
    assert calls.count(("GET", ENTRIES)) == 1
    assert calls.count(("POST", ENTRIES)) == len(ids)
    assert calls.count(("POST", EXPENSES)) == len(ids)
    assert len(calls) <= 3 * len(ids)
    for session_id in ids:
        mine = [r for r in ledger.records() if r.session_id == session_id]
        entry = next(r for r in mine if r.kind == "time_entry")
        assert all(r.status == "sent" for r in mine)
        assert all(
            entry.sent_at is not None and r.sent_at is not None and entry.sent_at <= r.sent_at
            for r in mine
            if r.kind == "expense"
        )

    # Again: nothing left to send, nothing duplicated.
    again = sync_to(keito_server, ledger)
    assert (again.sent.created, again.sent.updated) == (0, 0)
    assert len(remote(keito_server, "time_entries")) == len(ids)


def test_requests_overlap_but_never_more_than_the_pool(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    ids = _sessions(ledger, keito_server, tmp_path, 8)
    latency = 0.4
    keito_server.add_fault(method="POST", latency=latency, count=None)
    keito_server.clear_requests()
    started = time.monotonic()
    report = sync_to(keito_server, ledger)
    elapsed = time.monotonic() - started
    keito_server.clear_faults()
    assert report.sent.aborted is None
    posts = sorted(float(r["time"]) for r in _api(keito_server) if r["method"] == "POST")  # type: ignore[arg-type]
    assert len(posts) == 2 * len(ids)
    # Sequential would take 16 x 0.4 s; four at a time about a quarter of that.
    assert elapsed < 0.6 * len(posts) * latency
    in_flight = max(sum(1 for t in posts if s <= t < s + latency * 0.9) for s in posts)
    assert 2 <= in_flight <= _send.WORKERS


def test_a_429_holds_every_worker_back_for_retry_after(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    ids = _sessions(ledger, keito_server, tmp_path, 8)
    keito_server.add_fault(method="POST", path=EXPENSES, status=429, retry_after="1", count=1)
    # Every other POST is slow enough that the other workers still have sessions to send
    # during the pause (on a fast server they were all done before it began, so the check
    # below held even with no pacing at all).
    keito_server.add_fault(method="POST", latency=0.2, count=None)
    keito_server.clear_requests()
    report = sync_to(keito_server, ledger)
    assert report.sent.aborted is None and report.sent.failed == 0
    log = _api(keito_server)
    limited = next(r for r in log if r["status"] == 429)
    at = float(limited["time"])  # type: ignore[arg-type]
    after = [float(r["time"]) for r in log if float(r["time"]) > at]  # type: ignore[arg-type]
    # Requests already on the wire when the 429 came back may land just after it; after
    # that nobody (not only the worker that got it) sends anything until a second passed.
    assert not [t for t in after if at + 0.15 < t < at + 0.95]
    assert after and max(after) >= at + 0.95
    assert sorted(e["metadata"]["session_id"] for e in remote(keito_server, "time_entries")) == (
        sorted(ids)
    )
    assert len(remote(keito_server, "expenses")) == len(ids)


def test_an_outage_stops_every_worker_and_leaves_everything_pending(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    ids = _sessions(ledger, keito_server, tmp_path, 8)
    keito_server.add_fault(status=503, retry_after="0", count=None)
    keito_server.clear_requests()
    with keito_client(keito_server, max_retries=1) as client:
        down = run_sync(ledger, client)
    keito_server.clear_faults()
    assert down.sent.aborted and down.sent.created == 0
    assert down.sent.pending == len(ledger.records()) == 2 * len(ids)
    # Stopped: at most the pool's first records were tried (each with one retry), plus
    # the shared look-up; not one attempt per session.
    assert len(_api(keito_server)) <= 2 * (_send.WORKERS + 1)
    assert all(r.status in ("pending", "sending") for r in ledger.records())
    up = sync_to(keito_server, ledger)
    assert up.sent.aborted is None
    entries = remote(keito_server, "time_entries")
    assert sorted(e["metadata"]["session_id"] for e in entries) == sorted(ids)
    assert len(remote(keito_server, "expenses")) == len(ids)


def test_dropped_answers_mid_pool_are_found_by_the_shared_lookup(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEITO_SKILL_WRITE_GRACE", "0")  # the dropped writes have committed
    ids = _sessions(ledger, keito_server, tmp_path, 8)
    keito_server.add_fault(method="POST", path=ENTRIES, drop="after", count=2)
    with keito_client(keito_server) as client:
        first = run_sync(ledger, client)
        assert first.sent.aborted
        second = run_sync(ledger, client)
    assert second.sent.aborted is None
    entries = remote(keito_server, "time_entries")
    assert sorted(e["metadata"]["session_id"] for e in entries) == sorted(ids)
    assert len(remote(keito_server, "expenses")) == len(ids)
    assert all(r.status == "sent" for r in ledger.records())


def test_a_single_worker_sends_in_ledger_order(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    _sessions(ledger, keito_server, tmp_path, 4)
    keito_server.clear_requests()
    report = _send.SendReport()
    with keito_client(keito_server) as client:
        from keito_skill.sync import materialize_all

        materialize_all(ledger)
        _send.send_pending(ledger, client, report, workers=1)
    assert report.created == 8 and report.pending == 0
    posts = [r["path"] for r in _api(keito_server) if r["method"] == "POST"]
    assert posts == [ENTRIES, EXPENSES] * 4
