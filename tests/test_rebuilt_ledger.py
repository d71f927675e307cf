"""A rebuilt ledger neither bills a session's usage twice nor loses it (issue 17, item 2).

(a) The ledger is moved aside while a resumed session is still recent; ``backfill``
records it again (open), then the session ends: its expenses summed to twice the
transcript. (b) The ledger is lost between two usage segments; the new one numbered its
segments from 1 again, its larger segment 1 was taken as already in Keito, and the later
usage was never expensed. A ledger that cannot vouch for what Keito holds for a session now
reads that session's expenses from Keito and expenses only the difference, and segment
keys name the usage they carry (its cumulative position), whichever ledger made them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from keito_skill.backfill import BackfillOptions, run_backfill
from keito_skill.ledger import Ledger
from keito_skill.recorder import record
from tests.keito_server import KeitoServer
from tests.sessions_kit import (
    AGENTS,
    FIXTURE_CWD,
    copy_session,
    expense_tokens,
    make_repo,
    remote,
    split_at_first_end,
    sync_to,
    truth_totals,
)
from tests.transcript_data import TOKEN_KEYS

pytestmark = pytest.mark.usefixtures("utc")


def _session(agent: str, base: Path, repo: Path) -> tuple[str, Path, str, str]:
    """A fixture session where its agent keeps transcripts: id, path, first run, resume."""
    folder = (
        base / "claude" / "projects" / "-repo"
        if agent == "claude-code"
        else base / "codex" / "sessions" / "2026" / "11" / "21"
    )
    session_id, path = copy_session(agent, folder)
    first, rest = split_at_first_end(agent, path.read_text().replace(FIXTURE_CWD, str(repo)))
    path.write_text(first)
    return session_id, path, first, rest


def _backfill(base: Path, ledger: Ledger) -> None:
    options = BackfillOptions(
        roots={"claude-code": [base / "claude"], "codex": [base / "codex"]}, workers=1
    )
    run_backfill(options, ledger)


def _exact(server: KeitoServer, agent: str, session_id: str) -> None:
    expenses = remote(server, "expenses")
    assert expense_tokens(expenses, session_id) == truth_totals(agent)
    segments = [e["metadata"]["segment"] for e in expenses]
    assert len(segments) == len(set(segments))
    assert len(remote(server, "time_entries")) == 1


@pytest.mark.parametrize("agent", AGENTS)
def test_a_ledger_moved_aside_during_a_resumed_session_bills_it_once(
    agent: str, keito_server: KeitoServer, home: Path, tmp_path: Path
) -> None:
    """(a): first run billed; resumed; ledger moved aside; backfill; then the session ends."""
    repo = make_repo(tmp_path / "repo", keito_server)
    base = tmp_path / "agents"
    session_id, path, first, rest = _session(agent, base, repo)
    with Ledger(home / "ledger.sqlite3") as old:
        record(old, agent, session_id, path, cwd=str(repo), end_reason="exit")
        sync_to(keito_server, old)
        path.write_text(first + rest)  # resumed, still going
        record(old, agent, session_id, path, cwd=str(repo), reopen=True)
        sync_to(keito_server, old)
    (home / "ledger.sqlite3").rename(home / "ledger.aside")
    for leftover in home.glob("ledger.sqlite3-*"):
        leftover.unlink()
    with Ledger(home / "ledger.sqlite3") as new:
        os.utime(path, (time.time(), time.time()))  # recent: recorded open
        _backfill(base, new)
        sync_to(keito_server, new)
        record(new, agent, session_id, path, end_reason="exit")  # its SessionEnd hook
        sync_to(keito_server, new)
        sync_to(keito_server, new)
    _exact(keito_server, agent, session_id)


@pytest.mark.parametrize("agent", AGENTS)
@pytest.mark.parametrize("how", ["hooks", "backfill"])
def test_a_ledger_lost_between_two_segments_bills_the_later_usage(
    how: str, agent: str, keito_server: KeitoServer, home: Path, tmp_path: Path
) -> None:
    """(b): first segment billed; ledger lost; the resume recorded by a new ledger (through
    its hooks, or through backfill after the fact) and ended."""
    repo = make_repo(tmp_path / "repo", keito_server)
    base = tmp_path / "agents"
    session_id, path, first, rest = _session(agent, base, repo)
    with Ledger(home / "ledger.sqlite3") as old:
        record(old, agent, session_id, path, cwd=str(repo), end_reason="exit")
        sync_to(keito_server, old)
    part = expense_tokens(remote(keito_server, "expenses"), session_id)
    assert 0 < part["input_tokens"] < truth_totals(agent)["input_tokens"]
    for leftover in home.glob("ledger.sqlite3*"):
        leftover.unlink()  # lost
    with Ledger(home / "ledger.sqlite3") as new:
        path.write_text(first + rest)
        if how == "hooks":
            record(new, agent, session_id, path, cwd=str(repo), reopen=True)
            record(new, agent, session_id, path, end_reason="exit")
        else:
            hour_ago = time.time() - 3600
            os.utime(path, (hour_ago, hour_ago))  # finished: backfill ends it
            _backfill(base, new)
        sync_to(keito_server, new)
        again = sync_to(keito_server, new)
        assert (again.sent.created, again.sent.updated) == (0, 0)
    _exact(keito_server, agent, session_id)


@pytest.mark.parametrize("agent", AGENTS)
def test_segment_keys_name_the_usage_whichever_ledger_made_them(
    agent: str, keito_server: KeitoServer, home: Path, tmp_path: Path
) -> None:
    """The same usage gets the same key from two ledgers: the key is its day, model and
    cumulative position, not a count of the segments one ledger happened to make."""
    keys = []
    for index in range(2):
        repo = make_repo(tmp_path / f"repo{index}", keito_server)
        session_id, path, first, rest = _session(agent, tmp_path / f"agents{index}", repo)
        with Ledger(home / f"ledger{index}.sqlite3") as ledger:
            record(ledger, agent, session_id, path, cwd=str(repo), end_reason="exit")
            sync_to(keito_server, ledger)
            if index == 0:  # this one is resumed: a second segment
                path.write_text(first + rest)
                record(ledger, agent, session_id, path, reopen=True)
                record(ledger, agent, session_id, path, end_reason="exit")
                sync_to(keito_server, ledger)
            keys.append([r.key for r in ledger.records(kind="expense")])
    resumed, once = keys
    assert len(resumed) == 2 and len(once) == 1
    assert once[0] in resumed  # the first segment: same usage, same key
    day_model, span = once[0].rsplit("/", 1)
    start, end = (int(x) for x in span.split("-"))
    assert start == 0 and end > 0
    [later] = [k for k in resumed if k != once[0]]
    assert later.startswith(f"{day_model}/{end}-")  # the resume starts where it ended


def test_a_recreated_ledger_reads_each_days_expenses_once(
    keito_server: KeitoServer, home: Path, tmp_path: Path
) -> None:
    """Many sessions of one day, all already in Keito, recorded again by a new ledger: the
    day's expenses are listed once for all of them, not once per session."""
    repo = make_repo(tmp_path / "repo", keito_server)
    base = tmp_path / "agents"
    hour_ago = time.time() - 3600
    ids = []
    for index in range(6):
        session_id, path, first, rest = _session(AGENTS[index % 2], base, repo)
        path.write_text(first + rest)
        os.utime(path, (hour_ago, hour_ago))
        ids.append((AGENTS[index % 2], session_id))
    with Ledger(home / "ledger.sqlite3") as old:
        _backfill(base, old)
        sync_to(keito_server, old)
    expenses = len(remote(keito_server, "expenses"))
    for leftover in home.glob("ledger.sqlite3*"):
        leftover.unlink()
    keito_server.clear_requests()
    with Ledger(home / "ledger.sqlite3") as new:
        _backfill(base, new)
        report = sync_to(keito_server, new)
    assert report.sent.created == 0 and report.sent.existing == expenses
    lists = [r for r in keito_server.requests() if r["path"] == "/api/v2/expenses"]
    assert [r["method"] for r in lists] == ["GET"]
    assert len(remote(keito_server, "expenses")) == expenses
    for agent, session_id in ids:
        assert expense_tokens(remote(keito_server, "expenses"), session_id) == truth_totals(agent)


def test_an_expense_keeps_what_it_carries_however_big_the_repo_metadata(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    """A rebuilt ledger reads token counts back from Keito's expenses: fitting metadata to
    4 KB must never drop them, whatever the repo config adds."""
    big = {f"k{i:03}": i for i in range(500)}  # many small keys: ours are the big ones
    repo = make_repo(tmp_path / "repo", keito_server, metadata=big)
    session_id, path = copy_session("codex", tmp_path / "t")
    record(ledger, "codex", session_id, path, cwd=str(repo), end_reason="exit")
    sync_to(keito_server, ledger)
    expenses = remote(keito_server, "expenses")
    assert expenses
    for item in expenses:
        assert {"segment", "segment_number", *TOKEN_KEYS} <= set(item["metadata"])
    assert expense_tokens(expenses, session_id) == truth_totals("codex")


def test_an_expense_in_keito_whose_usage_is_unknown_holds_the_sessions_expenses(
    keito_server: KeitoServer, home: Path, tmp_path: Path
) -> None:
    """Keito has an expense for the session that does not say what it carries (made by
    hand, or by another tool): what is left to bill is unknown, so nothing is guessed."""
    from keito_skill.status import status_data

    repo = make_repo(tmp_path / "repo", keito_server)
    session_id, path = copy_session("claude-code", tmp_path / "t")
    with keito_server.api() as api:
        for kind, extra in (
            ("time_entries", {"task_id": keito_server.task_id, "hours": 0.1}),
            ("expenses", {"expense_category_id": keito_server.category_id, "units": 3}),
        ):
            body = {
                "project_id": keito_server.project_id,
                "spent_date": "2026-11-21",
                "source": "agent",
                "metadata": {"session_id": session_id},
                **extra,
            }
            api.post(f"/api/v2/{kind}", json=body).raise_for_status()
    with Ledger(home / "ledger.sqlite3") as ledger:
        record(ledger, "claude-code", session_id, path, cwd=str(repo), end_reason="exit")
        sync_to(keito_server, ledger)
        held = ledger.records(kind="expense")
        assert held and {r.status for r in held} == {"held"}
        assert all("without the token counts" in (r.last_error or "") for r in held)
        assert any(
            "without the token counts" in e["reason"] for e in status_data(ledger)["last_errors"]
        )
    assert len(remote(keito_server, "expenses")) == 1  # only the one that was there
