"""Billing against Keito as it really is (issue 15, sync side; issue 17 items 4 and 5).

Against the dev server over real HTTP: approved and locked entries are final and never
stop a pass, work after them goes out as a continuation, a remapped repo's open entries
move, each repo's records go to its own account, ``billable`` only when configured, a
missing or refused expense category is said as such, and one bad record fails only itself.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from keito_skill.ledger import Ledger
from keito_skill.recorder import record
from keito_skill.status import status_data
from keito_skill.sync import run_sync
from tests.keito_server import KeitoServer
from tests.sessions_kit import (
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

_STAMP = re.compile(r'"timestamp": ?"([0-9T:.\-]+)Z"')


def stretched(agent: str, folder: Path, factor: float = 600.0) -> tuple[str, Path]:
    """A fixture session (a second long) with its clock slowed down: minutes long, so its
    hours do not round to 0.00."""
    return copy_session(agent, folder, factor=factor)


def _hours(entries: list[dict[str, Any]], session_id: str) -> float:
    return round(sum(e["hours"] for e in entries if e["metadata"]["session_id"] == session_id), 2)


def _config(repo: Path, **changes: Any) -> None:
    path = repo / ".keito" / "config.yml"
    data = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data))


def _half_then_rest(ledger: Ledger, agent: str, repo: Path, folder: Path) -> tuple[str, Path, str]:
    """Record a session's first prompt (ended); return what its resume appends."""
    session_id, path = stretched(agent, folder)
    first, rest = split_at_first_end(agent, path.read_text())
    path.write_text(first)
    record(ledger, agent, session_id, path, cwd=str(repo), end_reason="exit")
    return session_id, path, rest


def _resume(ledger: Ledger, agent: str, session_id: str, path: Path, rest: str) -> None:
    record(ledger, agent, session_id, path, reopen=True)
    path.write_text(path.read_text() + rest)
    record(ledger, agent, session_id, path, end_reason="exit")


def test_final_entries_never_stop_the_pass_and_later_work_is_a_continuation(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    """Before: the PATCH of an approved (409) or locked (403) entry aborted the pass, so no
    later session was ever sent, and the day was re-sent forever."""
    repo = make_repo(tmp_path / "repo", keito_server)
    sessions = {
        name: _half_then_rest(ledger, agent, repo, tmp_path / name)
        for name, agent in (("approved", "claude-code"), ("locked", "codex"), ("open", "codex"))
    }
    agents = {"approved": "claude-code", "locked": "codex", "open": "codex"}
    sync_to(keito_server, ledger)
    first = {e["metadata"]["session_id"]: e for e in remote(keito_server, "time_entries")}
    assert len(first) == 3
    keito_server.approve(first[sessions["approved"][0]]["id"])
    keito_server.lock(first[sessions["locked"][0]]["id"])
    late, _ = stretched("claude-code", tmp_path / "late")  # a new session, sent after them
    record(ledger, "claude-code", late, _, cwd=str(repo), end_reason="exit")
    for name, (session_id, path, rest) in sessions.items():
        _resume(ledger, agents[name], session_id, path, rest)

    report = sync_to(keito_server, ledger)
    assert report.sent.aborted is None
    assert report.sent.final == 2
    entries = remote(keito_server, "time_entries")
    ids = [e["metadata"]["session_id"] for e in entries]
    assert late in ids  # the pass went on to the new session
    for name in ("approved", "locked"):
        session_id = sessions[name][0]
        parts = sorted(
            (e for e in entries if e["metadata"]["session_id"] == session_id),
            key=lambda e: e["metadata"].get("part", 1),
        )
        assert [p["metadata"].get("part", 1) for p in parts] == [1, 2]
        assert parts[0]["hours"] == first[session_id]["hours"]  # the final one unchanged
        row = ledger.session(agents[name], session_id)
        assert row is not None and row.summary is not None
        day_hours = round(row.summary["days"][0]["active_seconds"] / 3600.0, 2)
        assert _hours(entries, session_id) == pytest.approx(day_hours, abs=0.011)
        # the parts' figures add up to the transcript's
        output = sum(p["metadata"]["output_tokens"] for p in parts)
        assert output == truth_totals(agents[name])["output_tokens"]
    open_parts = [e for e in entries if e["metadata"]["session_id"] == sessions["open"][0]]
    assert len(open_parts) == 1  # a session with nothing final keeps one entry, PATCHed
    status = status_data(ledger)
    assert status["records"]["final"] == 2
    assert {f["session_id"] for f in status["final_entries"]} == {
        sessions["approved"][0],
        sessions["locked"][0],
    }
    # and the next sync sends nothing again, forever
    again = sync_to(keito_server, ledger)
    assert (again.sent.created, again.sent.updated, again.sent.final) == (0, 0, 0)


def test_a_days_entry_carries_that_days_counts_only(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    """Before: turns and tool calls were the session's, so a day's entry changed (and was
    sent again) when the session went on into another day."""
    repo = make_repo(tmp_path / "repo", keito_server)
    session_id, path = stretched("claude-code", tmp_path / "t")
    first, rest = split_at_first_end("claude-code", path.read_text())
    moved = _STAMP.sub(
        lambda m: (
            '"timestamp":"'
            + (datetime.fromisoformat(m.group(1)) + timedelta(days=1)).isoformat(
                timespec="milliseconds"
            )
            + 'Z"'
        ),
        rest,
    )
    path.write_text(first)
    record(ledger, "claude-code", session_id, path, cwd=str(repo))
    sync_to(keito_server, ledger)
    [day_one] = remote(keito_server, "time_entries")
    path.write_text(first + moved)
    record(ledger, "claude-code", session_id, path, end_reason="exit")
    keito_server.clear_requests()
    sync_to(keito_server, ledger)
    patched = keito_server.count("PATCH")
    entries = {e["spent_date"]: e for e in remote(keito_server, "time_entries")}
    assert set(entries) == {"2026-11-21", "2026-11-22"}
    # Day one keeps its figures; only the idle-capped gap before the next day's first
    # event may add to its active time (that gap starts on day one).
    before, after = day_one["metadata"], entries["2026-11-21"]["metadata"]
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed <= {"active_seconds", "billed_seconds", "duration_seconds"}, changed
    assert patched <= 1
    total_turns = sum(e["metadata"]["turns"] for e in entries.values())
    total_calls = sum(e["metadata"]["tool_calls"] for e in entries.values())
    assert (total_turns, total_calls) == (2, 2)
    assert entries["2026-11-22"]["metadata"]["turns"] == 1


def test_what_each_write_carries(keito_server: KeitoServer, ledger: Ledger, tmp_path: Path) -> None:
    """``billable`` only when configured (members may not set it), hours as Keito stores
    them, cost without float noise, ``source`` from the config."""
    keito_server.settings(can_edit_time_billability=False)
    repo = make_repo(tmp_path / "repo", keito_server)
    session_id, _ = stretched("claude-code", tmp_path / "t")
    record(ledger, "claude-code", session_id, _, cwd=str(repo), end_reason="exit")
    report = sync_to(keito_server, ledger)
    assert report.sent.aborted is None and report.sent.failed == 0  # before: 403 on billable
    [entry] = remote(keito_server, "time_entries")
    assert entry["hours"] > 0 and round(entry["hours"], 2) == entry["hours"]
    cost = entry["metadata"]["cost_usd"]
    assert cost == round(cost, 4)
    for item in remote(keito_server, "expenses"):
        assert item["total_cost"] == round(item["total_cost"], 4)
    sent = [r for r in ledger.records() if r.kind == "time_entry"]
    assert all("billable" not in r.payload for r in sent)
    if entry.get("started_time"):  # only when they agree with hours
        start = datetime.strptime(entry["started_time"], "%H:%M")
        end = datetime.strptime(entry["ended_time"], "%H:%M")
        assert abs((end - start).total_seconds() / 3600 - entry["hours"]) <= 1 / 60 + 0.01
    # configured: sent (on an account that allows it)
    keito_server.settings(can_edit_time_billability=True)
    other = make_repo(tmp_path / "other", keito_server, billing={"billable": False})
    other_id, path = stretched("codex", tmp_path / "u")
    record(ledger, "codex", other_id, path, cwd=str(other), end_reason="exit")
    sync_to(keito_server, ledger)
    [billed] = [
        e for e in remote(keito_server, "time_entries") if e["metadata"]["session_id"] == other_id
    ]
    assert billed["billable"] is False


def test_metadata_keys_no_longer_sent_are_cleared(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server, metadata={"ticket": "ACME-1"})
    session_id, path, rest = _half_then_rest(ledger, "codex", repo, tmp_path / "t")
    sync_to(keito_server, ledger)
    assert remote(keito_server, "time_entries")[0]["metadata"]["ticket"] == "ACME-1"
    _config(repo, metadata={})
    _resume(ledger, "codex", session_id, path, rest)
    sync_to(keito_server, ledger)
    [entry] = remote(keito_server, "time_entries")
    assert "ticket" not in entry["metadata"]


def test_a_remapped_repo_moves_its_open_entries(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    keito_server.add_project("prj_new", "tsk_new")
    repo = make_repo(tmp_path / "repo", keito_server)
    kept, _ = stretched("codex", tmp_path / "a")
    moved, _ = stretched("claude-code", tmp_path / "b")
    record(ledger, "codex", kept, _, cwd=str(repo), end_reason="exit")
    record(ledger, "claude-code", moved, _, cwd=str(repo), end_reason="exit")
    sync_to(keito_server, ledger)
    entries = {e["metadata"]["session_id"]: e for e in remote(keito_server, "time_entries")}
    keito_server.approve(entries[kept]["id"])  # final: stays where it was billed
    _config(repo, project_id="prj_new", task_id="tsk_new")
    report = sync_to(keito_server, ledger)
    assert report.sent.aborted is None
    after = {e["metadata"]["session_id"]: e for e in remote(keito_server, "time_entries")}
    assert len(after) == 2  # moved, not duplicated
    assert (after[moved]["project_id"], after[moved]["task_id"]) == ("prj_new", "tsk_new")
    assert after[moved]["id"] == entries[moved]["id"]
    assert after[kept]["project_id"] == keito_server.project_id


def test_two_accounts_sync_from_one_machine(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    keito_server.settings(accounts=["acct_other"])
    mine = make_repo(tmp_path / "mine", keito_server, workspace_id=keito_server.account_id)
    theirs = make_repo(tmp_path / "theirs", keito_server, workspace_id="acct_other")
    a, pa = stretched("codex", tmp_path / "a")
    b, pb = stretched("claude-code", tmp_path / "b")
    record(ledger, "codex", a, pa, cwd=str(mine), end_reason="exit")
    record(ledger, "claude-code", b, pb, cwd=str(theirs), end_reason="exit")
    report = sync_to(keito_server, ledger)
    assert report.sent.aborted is None and report.sent.failed == 0
    assert [e["metadata"]["session_id"] for e in remote(keito_server, "time_entries")] == [a]
    headers = {"Authorization": f"Bearer {keito_server.api_key}", "Keito-Account-Id": "acct_other"}
    import httpx

    with httpx.Client(base_url=keito_server.url, headers=headers) as other:
        there = other.get("/api/v2/time_entries").json()["time_entries"]
        spent = other.get("/api/v2/expenses").json()["expenses"]
    assert [e["metadata"]["session_id"] for e in there] == [b]
    assert expense_tokens(spent, b) == truth_totals("claude-code")
    again = sync_to(keito_server, ledger)
    assert (again.sent.created, again.sent.updated) == (0, 0)


def test_no_expense_category_holds_expenses_until_one_is_set(
    keito_server: KeitoServer, home: Path, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    _config(repo, expense_category_id=None)
    with Ledger() as ledger:
        session_id, path = stretched("codex", tmp_path / "t")
        record(ledger, "codex", session_id, path, cwd=str(repo), end_reason="exit")
        sync_to(keito_server, ledger)
        assert len(remote(keito_server, "time_entries")) == 1  # time still goes out
        assert remote(keito_server, "expenses") == []
        status = status_data(ledger)
        held = [e for e in status["last_errors"] if e["kind"] == "expense"]
        assert held and all(e["status"] == "held" for e in held)
        assert all(e["reason"].startswith("no expense category") for e in held)
        _config(repo, expense_category_id=keito_server.category_id)
        sync_to(keito_server, ledger)
    assert expense_tokens(remote(keito_server, "expenses"), session_id) == truth_totals("codex")


def test_a_refused_category_is_said_and_the_rest_is_sent(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    bad = make_repo(tmp_path / "bad", keito_server, expense_category_id="cat_made_up")
    good = make_repo(tmp_path / "good", keito_server)
    a, pa = stretched("codex", tmp_path / "a")
    b, pb = stretched("claude-code", tmp_path / "b")
    record(ledger, "codex", a, pa, cwd=str(bad), end_reason="exit")
    record(ledger, "claude-code", b, pb, cwd=str(good), end_reason="exit")
    report = sync_to(keito_server, ledger)
    assert report.sent.aborted is None
    assert {e["metadata"]["session_id"] for e in remote(keito_server, "time_entries")} == {a, b}
    assert expense_tokens(remote(keito_server, "expenses"), b) == truth_totals("claude-code")
    [failed] = ledger.records(status="failed")
    assert "cat_made_up" in (failed.last_error or "") and "expense_category_id" in (
        failed.last_error or ""
    )
    # the fix: the config names a real category; the rejected expense is rebuilt and sent
    _config(bad, expense_category_id=keito_server.category_id)
    sync_to(keito_server, ledger)
    assert expense_tokens(remote(keito_server, "expenses"), a) == truth_totals("codex")


def test_a_fixed_mapping_fixes_its_failed_records_on_retry(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    """Issue 17 item 4. Before: ``--retry-failed`` resent the stored payload unchanged."""
    repo = make_repo(tmp_path / "repo", keito_server, project_id="prj_typo")
    session_id, path = stretched("codex", tmp_path / "t")
    record(ledger, "codex", session_id, path, cwd=str(repo), end_reason="exit")
    first = sync_to(keito_server, ledger)
    assert first.sent.failed >= 1 and remote(keito_server, "time_entries") == []
    _config(repo, project_id=keito_server.project_id)
    with keito_client(keito_server) as client:
        retried = run_sync(ledger, client, retry_failed=True)
    assert retried.sent.failed == 0
    [entry] = remote(keito_server, "time_entries")
    assert entry["project_id"] == keito_server.project_id
    assert expense_tokens(remote(keito_server, "expenses"), session_id) == truth_totals("codex")


def test_a_record_that_always_gets_500_fails_only_itself(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    """Issue 17 item 5. Before: one record that always got a 500 aborted every pass."""
    repo = make_repo(tmp_path / "repo", keito_server)
    halves = [_half_then_rest(ledger, "codex", repo, tmp_path / f"s{i}") for i in range(5)]
    sync_to(keito_server, ledger)
    entries = {e["metadata"]["session_id"]: e for e in remote(keito_server, "time_entries")}
    bad = halves[0][0]
    keito_server.add_fault(
        method="PATCH", path=f"/api/v2/time_entries/{entries[bad]['id']}", status=500, count=None
    )
    for session_id, path, rest in halves:
        _resume(ledger, "codex", session_id, path, rest)
    report = sync_to(keito_server, ledger)
    keito_server.clear_faults()
    assert report.sent.aborted is None
    assert report.sent.updated == 4  # every other session's entry
    now = {e["metadata"]["session_id"]: e for e in remote(keito_server, "time_entries")}
    for session_id, _, _ in halves[1:]:
        assert now[session_id]["hours"] >= entries[session_id]["hours"]
        assert expense_tokens(remote(keito_server, "expenses"), session_id) == truth_totals("codex")
    [waiting] = [e for e in status_data(ledger)["last_errors"] if e["session_id"] == bad]
    assert "500" in waiting["reason"] and waiting["status"] == "pending"
    sync_to(keito_server, ledger)  # the server is well again: it goes out
    assert remote(keito_server, "time_entries")[0]["hours"] >= 0


def test_an_absurd_project_id_fails_only_its_records(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    """Issue 17 item 5. Before: a project id no URL can carry (httpx InvalidURL) made a
    traceback of every pass."""
    good = make_repo(tmp_path / "good", keito_server)
    goods = []
    for index in range(3):
        session_id, path = stretched("codex", tmp_path / f"g{index}")
        record(ledger, "codex", session_id, path, cwd=str(good), end_reason="exit")
        goods.append(session_id)
    wrong = make_repo(tmp_path / "wrong", keito_server, project_id="p" * 70_000)
    bad_id, path = stretched("claude-code", tmp_path / "bad")
    record(ledger, "claude-code", bad_id, path, cwd=str(wrong), end_reason="exit")
    report = sync_to(keito_server, ledger)
    assert report.sent.aborted is None
    sent = {e["metadata"]["session_id"] for e in remote(keito_server, "time_entries")}
    assert sent == set(goods)
    errors = [e for e in status_data(ledger)["last_errors"] if e["session_id"] == bad_id]
    assert errors and all(e["status"] == "failed" for e in errors)
    assert any("URL" in e["reason"] for e in errors)


def test_day_granularity_bills_a_repos_day_as_one_entry_under_4_kb(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    """500 short sessions on one day: one time entry whose hours are their sum, with a
    compact summary in its metadata; the sessions' own ids stay in the ledger."""
    keito_server.settings(rounding="up_15")
    repo = make_repo(
        tmp_path / "repo", keito_server, billing={"granularity": "day", "rounding": "up_15"}
    )
    _config(repo, expense_category_id=None)  # expenses wait: this test is about time
    ids = []
    for index in range(500):
        agent = ("codex", "claude-code")[index % 2]
        session_id, path = stretched(agent, tmp_path / "t" / str(index), factor=60.0)
        record(ledger, agent, session_id, path, cwd=str(repo), end_reason="exit")
        ids.append(session_id)
    report = sync_to(keito_server, ledger)
    assert report.sent.aborted is None and report.sent.failed == 0
    [entry] = remote(keito_server, "time_entries")
    meta = entry["metadata"]
    assert len(json.dumps(meta).encode()) <= 3800  # default separators, ensure_ascii
    assert meta["sessions"] == 500 and meta["granularity"] == "day"
    assert meta["agents"] == {"claude-code": 250, "codex": 250}
    summaries = [r.summary for r in ledger.sessions() if r.summary]
    worked = sum(s["days"][0]["active_seconds"] for s in summaries) / 3600.0
    assert meta["output_tokens"] == sum(s["days"][0]["totals"]["output_tokens"] for s in summaries)
    # one entry rounded up once, not 500 times: Keito stores the sum rounded to 15 min
    assert entry["hours"] == pytest.approx(worked, abs=0.25)
    [rec] = [r for r in ledger.records() if r.kind == "time_entry"]
    assert sorted(s[1] for s in rec.payload["_sessions"]) == sorted(ids)
    # a later session of that day joins the same entry (a PATCH, no second entry)
    late, path = stretched("codex", tmp_path / "late", factor=60.0)
    record(ledger, "codex", late, path, cwd=str(repo), end_reason="exit")
    sync_to(keito_server, ledger)
    [again] = remote(keito_server, "time_entries")
    assert again["id"] == entry["id"] and again["metadata"]["sessions"] == 501


def test_report_and_status_show_what_rounding_bills(
    keito_server: KeitoServer, home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    from tests.sessions_kit import cli, skill_env

    repo = make_repo(tmp_path / "repo", keito_server, billing={"rounding": "up_15"})
    env = skill_env(home, keito_server, keito_config_dir)
    with Ledger() as ledger:
        for index in range(4):
            session_id, path = stretched("codex", tmp_path / f"s{index}", factor=60.0)
            record(ledger, "codex", session_id, path, cwd=str(repo), end_reason="exit")
    cli("sync", env=env)
    rows = json.loads(cli("report", "--by", "agent", "--json", env=env).stdout)["rows"]
    [row] = rows
    assert row["rounding"] == "up_15"
    assert row["rounded_hours"] == pytest.approx(4 * 0.25)  # each short entry: a quarter
    assert row["hours"] < 0.5
    assert "billed" in cli("report", env=env).stdout
    status = json.loads(cli("status", "--json", env=env).stdout)
    assert status["rounding"]["below_step"] == 4
    assert "granularity: day" in cli("status", env=env).stdout


def test_day_entries_are_final_too_and_switching_granularity_never_bills_twice(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server, billing={"granularity": "day"})
    first, path = stretched("codex", tmp_path / "a")
    record(ledger, "codex", first, path, cwd=str(repo), end_reason="exit")
    sync_to(keito_server, ledger)
    [entry] = remote(keito_server, "time_entries")
    keito_server.approve(entry["id"])
    later, path = stretched("claude-code", tmp_path / "b")
    record(ledger, "claude-code", later, path, cwd=str(repo), end_reason="exit")
    report = sync_to(keito_server, ledger)
    assert report.sent.final == 1 and report.sent.aborted is None
    sync_to(keito_server, ledger)  # the continuation, once the final part is known
    entries = sorted(
        remote(keito_server, "time_entries"), key=lambda e: e["metadata"].get("part", 1)
    )
    assert [e["metadata"].get("part", 1) for e in entries] == [1, 2]
    assert entries[0]["hours"] == entry["hours"]
    assert entries[1]["hours"] > 0
    # back to one entry per session: the sessions the day entries bill are not sent again
    _config(repo, billing={"granularity": "session"})
    third, path = stretched("codex", tmp_path / "c")
    record(ledger, "codex", third, path, cwd=str(repo), end_reason="exit")
    sync_to(keito_server, ledger)
    own = [
        e
        for e in remote(keito_server, "time_entries")
        if not e["metadata"]["session_id"].startswith("day-")
    ]
    assert [e["metadata"]["session_id"] for e in own] == [third]


def test_a_key_that_may_not_set_billable_fails_only_that_repos_entries(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    keito_server.settings(can_edit_time_billability=False)
    strict = make_repo(tmp_path / "strict", keito_server, billing={"billable": True})
    plain = make_repo(tmp_path / "plain", keito_server)
    a, pa = stretched("codex", tmp_path / "a")
    b, pb = stretched("codex", tmp_path / "b")
    record(ledger, "codex", a, pa, cwd=str(strict), end_reason="exit")
    record(ledger, "codex", b, pb, cwd=str(plain), end_reason="exit")
    report = sync_to(keito_server, ledger)
    assert report.sent.aborted is None
    assert [e["metadata"]["session_id"] for e in remote(keito_server, "time_entries")] == [b]
    [failed] = [r for r in ledger.records(status="failed") if r.kind == "time_entry"]
    assert "billing.billable" in (failed.last_error or "")
    _config(strict, billing={})  # the fix the reason names
    sync_to(keito_server, ledger)
    assert {e["metadata"]["session_id"] for e in remote(keito_server, "time_entries")} == {a, b}


def test_a_session_day_under_a_hundredth_of_an_hour_is_not_a_zero_hour_entry(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    """Before: a one-second session became an entry of 0.0003 h (0.00 h as Keito keeps
    it). Now it is held while it may still grow, its expenses go out, and once it has
    ended short ``status`` says so."""
    repo = make_repo(tmp_path / "repo", keito_server)
    session_id, path = copy_session("codex", tmp_path / "t", factor=1.0)  # a second long
    record(ledger, "codex", session_id, path, cwd=str(repo))
    sync_to(keito_server, ledger)
    assert remote(keito_server, "time_entries") == []
    [held] = ledger.records(kind="time_entry")
    assert held.status == "held" and "so far" in (held.last_error or "")
    record(ledger, "codex", session_id, path, end_reason="exit")
    sync_to(keito_server, ledger)
    assert remote(keito_server, "time_entries") == []
    assert expense_tokens(remote(keito_server, "expenses"), session_id) == truth_totals("codex")
    [shown] = [e for e in status_data(ledger)["last_errors"] if e["kind"] == "time_entry"]
    assert shown["status"] == "held" and "session ended" in shown["reason"]


def test_a_repo_naming_an_account_the_key_cannot_use_holds_back_only_itself(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    mine = make_repo(tmp_path / "mine", keito_server)
    wrong = make_repo(tmp_path / "wrong", keito_server, workspace_id="acct_not_mine")
    a, pa = stretched("codex", tmp_path / "a")
    b, pb = stretched("codex", tmp_path / "b")
    record(ledger, "codex", a, pa, cwd=str(wrong), end_reason="exit")
    record(ledger, "codex", b, pb, cwd=str(mine), end_reason="exit")
    report = sync_to(keito_server, ledger)
    assert report.sent.aborted is None
    assert [e["metadata"]["session_id"] for e in remote(keito_server, "time_entries")] == [b]
    waiting = [e for e in status_data(ledger)["last_errors"] if e["session_id"] == a]
    assert waiting and all("acct_not_mine" in e["reason"] for e in waiting)
    _config(wrong, workspace_id=keito_server.account_id)  # fixed: it goes out
    sync_to(keito_server, ledger)
    assert {e["metadata"]["session_id"] for e in remote(keito_server, "time_entries")} == {a, b}
