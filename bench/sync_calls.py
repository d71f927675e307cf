"""Sync: API calls per session, and a many-session backfill sent with bounded concurrency.

Against the local Keito dev server (a real subprocess over loopback HTTP), whose request
log (``GET /_admin/requests``) records every API call with its arrival time:

1. a corpus of ``sessions`` small sessions in a mapped repo is recorded with
   ``backfill --no-sync``, then sent with a real ``keito-skill sync --json``;
2. the server adds ``rtt`` seconds to every answer (a stand-in for the network to the
   real Keito) and answers the first two expense POSTs with 429 + ``Retry-After: 1``;
3. we count calls by kind, check that every record went exactly once (count of remote
   entries/expenses), that the 429 held *every* worker back for the Retry-After, and how
   many requests were in flight at most;
4. the same ledger (a copy) is sent again with one worker, in-process, on a reset server:
   the sequential baseline.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from bench._common import backfill, check, console_script, run, skill_env
from bench.corpus import generate
from keito_skill.keito import KeitoClient
from keito_skill.ledger import Ledger
from keito_skill.sync import _send, materialize_all
from tests.keito_server import KeitoServer
from tests.sessions_kit import make_repo, remote

SESSION_BYTES = 26_500  # what generate() writes per session with the settings below
RETRY_AFTER = 1.0


def _env(home: Path, server: KeitoServer) -> dict[str, str]:
    return skill_env(
        home,
        KEITO_API_KEY=server.api_key,
        KEITO_ACCOUNT_ID=server.account_id,
        KEITO_API_URL=server.url,
        TZ="UTC",
    )


def _calls(log: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for entry in log:
        key = f"{entry['method']} {entry['path'].rstrip('/').rsplit('/', 1)[-1]}"
        if entry["method"] == "PATCH":
            key = "PATCH time_entries/{id}"
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def _in_flight(times: list[float], window: float) -> int:
    """Most requests that arrived within one ``window`` (≈ answers still outstanding)."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _pacing(log: list[dict[str, Any]]) -> dict[str, Any]:
    """For each 429: requests that arrived while everyone should have been waiting."""
    limited = [float(e["time"]) for e in log if e["status"] == 429]
    early = 0
    for at in limited:
        # Requests already on the wire when the 429 came back may land just after it.
        early += sum(1 for e in log if at + 0.15 < float(e["time"]) < at + RETRY_AFTER - 0.05)
    return {"responses_429": len(limited), "requests_inside_retry_after": early}


def measure(work: Path, *, sessions: int, rtt: float = 0.02) -> dict[str, Any]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    server = KeitoServer.start(work / "server")
    try:
        return _measure(server, work, sessions=sessions, rtt=rtt)
    finally:
        server.stop()


def _measure(server: KeitoServer, work: Path, *, sessions: int, rtt: float) -> dict[str, Any]:
    repo = make_repo(work / "repo", server)
    corpus = generate(
        work / "corpus",
        size_bytes=sessions * SESSION_BYTES,
        seed=11,
        cwds=(str(repo),),
        mean_session_bytes=3_000,
        big_line_bytes=2_000,
    )
    home = work / "home"
    env = _env(home, server)
    backfill(corpus, home, "--no-sync", env=env)
    with Ledger(home / "ledger.sqlite3") as ledger:
        materialize_all(ledger)
        records = ledger.records()
    baseline_home = work / "home-sequential"
    baseline_home.mkdir()
    shutil.copy(home / "ledger.sqlite3", baseline_home / "ledger.sqlite3")

    per_session: dict[str, int] = {}
    for record in records:
        per_session[record.session_id] = per_session.get(record.session_id, 0) + 1
    one_record_each = sum(1 for n in per_session.values() if n == 2)

    server.reset()
    server.add_fault(method="POST", path="/api/v2/expenses", status=429, retry_after="1", count=2)
    server.add_fault(latency=rtt, count=None)
    sent = run([*console_script(), "sync", "--json"], env=env)
    check(sent, "sync")
    log = server.requests()
    server.clear_faults()
    report = json.loads(sent.stdout)
    entries, expenses = remote(server, "time_entries"), remote(server, "expenses")
    times = [float(e["time"]) for e in log]
    calls = _calls(log)
    lists = calls.get("GET time_entries", 0)
    result: dict[str, Any] = {
        "sessions": len(corpus.sessions),
        "records": {
            "time_entries": sum(r.kind == "time_entry" for r in records),
            "expenses": sum(r.kind == "expense" for r in records),
            "sessions_with_one_entry_and_one_expense": one_record_each,
        },
        "rtt_s": rtt,
        "workers": _send.WORKERS,
        "sync_seconds": round(sent.seconds, 2),
        "sync_report": report.get("sent", report),
        "calls": calls,
        "calls_total": len(log),
        "calls_per_session": round(len(log) / len(corpus.sessions), 3),
        "shared_lookups": lists,
        "one_day_one_model_session_calls": round(2 + lists / len(corpus.sessions), 3),
        "remote": {
            "time_entries": len(entries),
            "expenses": len(expenses),
            "duplicate_entries": len(entries)
            - len({(e["metadata"]["session_id"], e["spent_date"]) for e in entries}),
            "duplicate_expenses": len(expenses)
            - len({(e["metadata"]["session_id"], e["metadata"]["segment"]) for e in expenses}),
        },
        "max_in_flight": _in_flight(times, rtt * 0.9),
        "pacing": _pacing(log),
        "requests_per_second": round(len(log) / (max(times) - min(times)), 1) if times else None,
    }
    result["sequential"] = _sequential(server, baseline_home, rtt)
    result["speedup_vs_sequential"] = round(
        result["sequential"]["seconds"] / result["sync_seconds"], 2
    )
    return result


def _sequential(server: KeitoServer, home: Path, rtt: float) -> dict[str, Any]:
    """The same records sent by one worker (in-process, same client settings)."""
    server.reset()
    server.add_fault(latency=rtt, count=None)
    report = _send.SendReport()
    with Ledger(home / "ledger.sqlite3") as ledger:
        client = KeitoClient(server.url, server.api_key, server.account_id)
        with client:
            started = time.perf_counter()
            _send.send_pending(ledger, client, report, workers=1)
            seconds = time.perf_counter() - started
    server.clear_faults()
    return {
        "seconds": round(seconds, 2),
        "calls_total": len(server.requests()),
        "created": report.created,
        "aborted": report.aborted,
    }


def single_session_calls(work: Path) -> dict[str, Any]:
    """The exact calls for one new one-day, one-model session, sent by ``sync``."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    server = KeitoServer.start(work / "server")
    try:
        repo = make_repo(work / "repo", server)
        corpus = generate(
            work / "corpus",
            size_bytes=1,
            seed=3,
            cwds=(str(repo),),
            mean_session_bytes=3_000,
            big_line_bytes=2_000,
        )
        session = corpus.sessions[0]
        env = _env(work / "home", server)
        backfill(corpus, work / "home", "--no-sync", env=env)
        server.clear_requests()
        check(run([*console_script(), "sync", "--json"], env=env), "sync")
        calls = [f"{e['method']} {e['path']}" for e in server.requests()]
        # Asked once per key and machine (remembered in users.json), not per session.
        once = [c for c in calls if c.endswith("/users/me")]
        return {
            "agent": session.agent,
            "days": len(session.days),
            "models": len(session.tokens),
            "calls": calls,
            "count": len(calls) - len(once),
            "once_per_key": once,
        }
    finally:
        server.stop()


def summary_line(result: dict[str, Any]) -> str:
    return (
        f"{result['sessions']} sessions: {result['calls_total']} calls "
        f"({result['calls_per_session']}/session), {result['sync_seconds']} s with "
        f"{result['workers']} workers vs {result['sequential']['seconds']} s sequential"
    )


if __name__ == "__main__":  # pragma: no cover - manual use
    import sys

    from bench._common import CACHE

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    one = single_session_calls(CACHE / "work-sync-one")
    print(json.dumps(one, indent=2))
    many = measure(CACHE / "work-sync", sessions=count)
    print(json.dumps(many, indent=2))
    print(summary_line(many))
