"""Backfill against real transcripts, a real ledger and the local Keito server over HTTP.

The bar: whatever order hooks and backfill run in, and however often, every session ends
up as one time entry per session-day with expenses summing to the transcript's truth.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path

import pytest

from bench.corpus import generate
from keito_skill.backfill import BackfillOptions, run_backfill
from keito_skill.ledger import Ledger
from keito_skill.recorder import record
from keito_skill.summary import summarize
from keito_skill.sync import run_sync
from keito_skill.transcripts import discover, parse_session, session_id_for
from tests.keito_server import KeitoServer
from tests.sessions_kit import (
    AGENTS,
    FIXTURE_CWD,
    cli,
    cli_on_a_terminal,
    copy_session,
    expense_tokens,
    make_repo,
    remote,
    skill_env,
    split_at_first_end,
    sync_to,
    truth_totals,
)
from tests.transcript_data import TOKEN_KEYS

pytestmark = pytest.mark.usefixtures("utc")

HOUR_AGO = time.time() - 3600


def place(
    agent: str, base: Path, cwd: Path, *, text: str | None = None, mtime: float | None = HOUR_AGO
) -> tuple[str, Path]:
    """A fixture session where its agent keeps transcripts under ``base``, run in ``cwd``.

    ``text`` replaces the transcript's content (e.g. only its first half); ``mtime`` is when
    the agent last wrote it (an hour ago by default: a finished session), None for now.
    """
    folder = (
        base / "claude" / "projects" / "-repo"
        if agent == "claude-code"
        else base / "codex" / "sessions" / "2026" / "11" / "21"
    )
    session_id, path = copy_session(agent, folder)
    body = path.read_text().replace(FIXTURE_CWD, str(cwd))
    if text is not None:
        body = text.replace(FIXTURE_CWD, str(cwd))
    path.write_text(body)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return session_id, path


def _options(base: Path, **kw: object) -> BackfillOptions:
    return BackfillOptions(
        roots={"claude-code": [base / "claude"], "codex": [base / "codex"]},
        workers=1,
        **kw,  # type: ignore[arg-type]
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- fixtures through the CLI, end to end --------------------------------------------


@pytest.mark.parametrize("agent", AGENTS)
def test_backfill_sends_each_session_once_and_again_sends_nothing(
    agent: str, keito_server: KeitoServer, home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    base = tmp_path / "agents"
    session_id, path = place(agent, base, repo)
    env = skill_env(home, keito_server, keito_config_dir)
    args = ["backfill", "--json", "--claude-dir", str(base / "claude")]
    args += ["--codex-dir", str(base / "codex")]
    first = cli(*args, env=env)
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert [s["session_id"] for s in out["sessions"]] == [session_id]
    item = out["sessions"][0]
    assert item["agent"] == agent
    assert item["status"] == "new" and item["ended"] is True
    assert item["repo"] == str(repo)
    assert (item["project_id"], item["task_id"]) == (keito_server.project_id, keito_server.task_id)
    assert item["spent_dates"] == ["2026-11-21"]
    assert item["totals"] == truth_totals(agent)
    assert item["cost_usd"] > 0 and item["hours"] > 0
    assert out["summary"]["bytes_read"] == path.stat().st_size
    assert out["sync"]["sent"]["created"] >= 2

    entries = remote(keito_server, "time_entries")
    assert [e["metadata"]["session_id"] for e in entries] == [session_id]
    assert entries[0]["spent_date"] == "2026-11-21"
    # Keito keeps two decimals (issue 15): the entry's hours are the figure rounded so
    assert entries[0]["hours"] == pytest.approx(round(item["hours"], 2), abs=1e-9)
    expenses = remote(keito_server, "expenses")
    assert expense_tokens(expenses, session_id) == truth_totals(agent)
    # each expense's cost is rounded to 4 decimals (issue 15: no float noise)
    assert sum(e["total_cost"] for e in expenses) == pytest.approx(
        item["cost_usd"], abs=1e-4 * len(expenses)
    )

    with Ledger() as ledger:
        row = ledger.session(agent, session_id)
    assert row is not None
    assert (row.origin, row.ended, row.end_reason) == ("backfill", True, "backfill")
    assert row.transcript_path == str(path) and row.cwd == str(repo)

    again = json.loads(cli(*args, env=env).stdout)
    assert again["sessions"] == []
    assert again["summary"]["sessions_unchanged"] == 1
    assert again["summary"]["bytes_read"] == 0
    assert len(remote(keito_server, "time_entries")) == 1
    assert len(remote(keito_server, "expenses")) == len(expenses)


def test_on_a_terminal_the_reading_bar_ends_before_the_sending_bar(
    keito_server: KeitoServer, home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    """Both bars used to be live at once after reading, drawing over each other."""
    repo = make_repo(tmp_path / "repo", keito_server)
    base = tmp_path / "agents"
    for index in range(12):  # 12 sessions: 12 time entries and 12 expenses to send
        place("codex" if index % 2 else "claude-code", base, repo)
    env = skill_env(home, keito_server, keito_config_dir)
    done, drawn = cli_on_a_terminal(
        "backfill",
        "--claude-dir",
        str(base / "claude"),
        "--codex-dir",
        str(base / "codex"),
        env=env,
    )
    assert done.returncode == 0, drawn
    assert "Sync: created 24" in done.stdout
    reading, sending = drawn.find("Reading transcripts"), drawn.find("Sending to Keito")
    assert 0 <= reading < sending
    assert "Reading transcripts" not in drawn[sending:]


def test_a_damaged_ledger_is_one_clear_error_and_a_new_one_sends_nothing_twice(
    keito_server: KeitoServer, home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    """What the error tells the user to do must hold: move the damaged ledger aside, and
    backfill records the sessions again without sending Keito anything twice."""
    repo = make_repo(tmp_path / "repo", keito_server)
    base = tmp_path / "agents"
    for agent in AGENTS:
        place(agent, base, repo)
    env = skill_env(home, keito_server, keito_config_dir)
    args = ["backfill", "--claude-dir", str(base / "claude"), "--codex-dir", str(base / "codex")]
    assert cli(*args, env=env).returncode == 0
    entries, expenses = remote(keito_server, "time_entries"), remote(keito_server, "expenses")
    assert len(entries) == 2

    ledger = home / "ledger.sqlite3"
    for leftover in home.glob("ledger.sqlite3-*"):  # the WAL: part of the old ledger
        leftover.unlink()
    ledger.write_bytes(b"\x00garbage" * 2000)  # a damaged file
    for command in (["status"], ["sync"], ["report"], args, [*args, "--dry-run"]):
        broken = cli(*command, env=env)
        assert broken.returncode == 2, command
        assert broken.stderr.startswith(f"keito-skill: error: cannot use the ledger {ledger}")
        assert f"move {ledger} aside" in broken.stderr and "Traceback" not in broken.stderr
    doctor = cli("doctor", "--json", env=env)
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert checks["ledger"]["ok"] is False and "move" in checks["ledger"]["fix"]

    ledger.rename(home / "ledger.damaged")
    again = json.loads(cli(*args, "--json", env=env).stdout)
    assert again["summary"]["sessions_recorded"] == 2
    assert again["sync"]["sent"]["created"] == 0  # found in Keito, not sent again
    assert len(remote(keito_server, "time_entries")) == len(entries)
    assert len(remote(keito_server, "expenses")) == len(expenses)


def test_dry_run_writes_nothing_and_lists_unmapped_sessions(
    keito_server: KeitoServer, home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    bare = tmp_path / "bare"
    bare.mkdir()
    base = tmp_path / "agents"
    mapped_id, mapped_path = place("claude-code", base, repo)
    unmapped_id, unmapped_path = place("codex", base, bare)
    env = skill_env(home, keito_server, keito_config_dir)
    args = ["backfill", "--dry-run", "--json", "--claude-dir", str(base / "claude")]
    args += ["--codex-dir", str(base / "codex")]

    result = cli(*args, env=env)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert not (home / "ledger.sqlite3").exists()
    by_id = {s["session_id"]: s for s in out["sessions"]}
    assert by_id[unmapped_id]["status"] == "unmapped"
    assert by_id[unmapped_id]["project_id"] is None
    assert by_id[unmapped_id]["totals"] == truth_totals("codex")
    assert by_id[mapped_id]["status"] == "new"
    assert by_id[mapped_id]["project_id"] == keito_server.project_id
    assert by_id[mapped_id]["totals"] == truth_totals("claude-code")
    assert out["summary"]["dry_run"] is True and out["sync"] is None
    human = cli(*[a for a in args if a != "--json"], env=env).stdout
    assert "Backfill: would record 2 sessions" in human
    assert "2 sessions found: would record 2, 0 already recorded, 0 skipped." in human
    assert "1 session with no Keito mapping: add .keito/config.yml" in human
    assert "Dry run: nothing was written or sent." in human

    # An existing ledger is read (checkpoints) but not changed by a byte.
    with Ledger() as ledger:
        record(ledger, "claude-code", mapped_id, mapped_path, cwd=str(repo))
    before = _digest(home / "ledger.sqlite3")
    out = json.loads(cli(*args, env=env).stdout)
    assert _digest(home / "ledger.sqlite3") == before
    assert {s["session_id"] for s in out["sessions"]} == {mapped_id, unmapped_id}
    # The recorded Claude session is not re-read (its checkpoint is at the end of its file).
    assert out["summary"]["bytes_read"] == unmapped_path.stat().st_size
    table = cli(*args[:1], "--dry-run", *args[3:], env=env)
    assert table.returncode == 0 and "Dry run: nothing was written or sent." in table.stdout
    assert remote(keito_server, "time_entries") == []


# ---- idempotent with the hooks ---------------------------------------------------------


@pytest.mark.parametrize("agent", AGENTS)
def test_hooks_then_backfill_records_nothing_new(
    agent: str, keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    base = tmp_path / "agents"
    session_id, path = place(agent, base, repo)
    record(ledger, agent, session_id, path, cwd=str(repo), end_reason="exit")
    sync_to(keito_server, ledger)
    sent = len(remote(keito_server, "expenses"))

    report = run_backfill(_options(base), ledger)
    assert report.sessions == [] and report.unchanged == 1 and report.bytes_read == 0
    again = sync_to(keito_server, ledger)
    assert (again.sent.created, again.sent.updated) == (0, 0)
    assert len(remote(keito_server, "time_entries")) == 1
    expenses = remote(keito_server, "expenses")
    assert len(expenses) == sent
    assert expense_tokens(expenses, session_id) == truth_totals(agent)
    row = ledger.session(agent, session_id)
    assert row is not None and row.origin == "hook" and row.end_reason == "exit"


@pytest.mark.parametrize("agent", AGENTS)
def test_backfill_then_hooks_still_one_entry(
    agent: str, keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    """Backfill meets a live session (recent writes: recorded, not ended); its hooks finish."""
    repo = make_repo(tmp_path / "repo", keito_server)
    base = tmp_path / "agents"
    session_id, path = place(agent, base, repo, mtime=None)
    report = run_backfill(_options(base), ledger)
    assert [(r.session_id, r.ended) for r in report.sessions] == [(session_id, False)]
    sync_to(keito_server, ledger)
    assert len(remote(keito_server, "time_entries")) == 1
    assert remote(keito_server, "expenses") == []  # not ended: usage not expensed yet

    # The agent's SessionEnd hook, as the hooks call it.
    record(ledger, agent, session_id, str(path), cwd=str(repo), end_reason="exit")
    sync_to(keito_server, ledger)
    assert len(remote(keito_server, "time_entries")) == 1
    assert expense_tokens(remote(keito_server, "expenses"), session_id) == truth_totals(agent)
    # And backfill afterwards: nothing changes.
    assert run_backfill(_options(base), ledger).sessions == []


@pytest.mark.parametrize("agent", AGENTS)
def test_killed_agent_is_finished_by_backfill(
    agent: str, keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    """Hooks saw the first prompt; the agent was killed later with no SessionEnd."""
    repo = make_repo(tmp_path / "repo", keito_server)
    base = tmp_path / "agents"
    session_id, path = place(agent, base, repo)
    full = path.read_text()
    first, _ = split_at_first_end(agent, full)
    path.write_text(first)
    record(ledger, agent, session_id, path, cwd=str(repo))  # a Stop hook, mid-session
    recorded = path.stat().st_size
    path.write_text(full)  # the agent went on, then died: no hook ran again
    os.utime(path, (HOUR_AGO, HOUR_AGO))

    report = run_backfill(_options(base), ledger)
    assert [(r.session_id, r.recorded, r.ended) for r in report.sessions] == [
        (session_id, "updated", True)
    ]
    assert report.bytes_read == len(full.encode()) - recorded  # only the new bytes
    row = ledger.session(agent, session_id)
    assert row is not None and (row.ended, row.end_reason, row.origin) == (True, "backfill", "hook")
    sync_to(keito_server, ledger)
    assert len(remote(keito_server, "time_entries")) == 1
    assert expense_tokens(remote(keito_server, "expenses"), session_id) == truth_totals(agent)


@pytest.mark.parametrize("agent", AGENTS)
def test_resume_after_backfill_adds_a_segment_summing_to_truth(
    agent: str, keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    base = tmp_path / "agents"
    session_id, path = place(agent, base, repo)
    full = path.read_text()
    first, _ = split_at_first_end(agent, full)
    path.write_text(first)
    os.utime(path, (HOUR_AGO, HOUR_AGO))
    run_backfill(_options(base), ledger)
    sync_to(keito_server, ledger)
    part = expense_tokens(remote(keito_server, "expenses"), session_id)
    assert 0 < part["output_tokens"] < truth_totals(agent)["output_tokens"]

    path.write_text(full)  # resumed later, without hooks, and finished
    os.utime(path, (HOUR_AGO + 60, HOUR_AGO + 60))
    report = run_backfill(_options(base), ledger)
    assert [r.recorded for r in report.sessions] == ["updated"]
    sync_to(keito_server, ledger)
    expenses = remote(keito_server, "expenses")
    assert {e["metadata"]["segment_number"] for e in expenses} == {1, 2}
    assert expense_tokens(expenses, session_id) == truth_totals(agent)
    assert len(remote(keito_server, "time_entries")) == 1


def test_recent_session_is_recorded_open_then_ended_without_rereading(
    ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from keito_skill.cli.backfill_cmd import _print as print_report

    repo = make_repo(
        tmp_path / "repo", None, project_id="p", task_id="t", billing={"idle_minutes": 2}
    )
    base = tmp_path / "agents"
    session_id, path = place("codex", base, repo, mtime=time.time() - 60)
    first = run_backfill(_options(base), ledger)
    assert [r.ended for r in first.sessions] == [False]  # quiet 1 min < idle 2 min
    row = ledger.session("codex", session_id)
    assert row is not None and not row.ended and row.idle_seconds == 120
    os.utime(path, (time.time() - 180, time.time() - 180))
    second = run_backfill(_options(base), ledger)
    assert [(r.recorded, r.ended) for r in second.sessions] == [("ended", True)]
    assert second.bytes_read == 0
    print_report(second, None)
    [line] = [line for line in capsys.readouterr().out.splitlines() if "codex" in line]
    assert line.split("│")[-2].strip() == "ended"  # said once
    row = ledger.session("codex", session_id)
    assert row is not None and row.ended and row.end_reason == "backfill"


def test_since_and_until_select_sessions_by_activity(ledger: Ledger, tmp_path: Path) -> None:
    base = tmp_path / "agents"
    session_id, _ = place("claude-code", base, tmp_path)
    assert run_backfill(_options(base, until=_date("2026-11-20"), dry_run=True)).sessions == []
    assert run_backfill(_options(base, since=_date("2026-11-22"), dry_run=True)).sessions == []
    window = _options(base, since=_date("2026-11-21"), until=_date("2026-11-21"))
    assert [r.session_id for r in run_backfill(window, ledger).sessions] == [session_id]


def _date(text: str) -> object:
    from datetime import date

    return date.fromisoformat(text)


# ---- overrides -------------------------------------------------------------------------


def test_overrides_apply_only_to_sessions_without_mapping(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server, metadata={"from": "repo"})
    bare = tmp_path / "bare"
    bare.mkdir()
    base = tmp_path / "agents"
    mapped_id, _ = place("claude-code", base, repo)
    loose_id, _ = place("codex", base, bare)
    report = run_backfill(
        _options(base, project_id=keito_server.project_id, task_id=keito_server.task_id), ledger
    )
    statuses = {r.session_id: r.policy.status for r in report.sessions}
    assert statuses == {mapped_id: "mapped", loose_id: "override"}
    mapped = ledger.session("claude-code", mapped_id)
    loose = ledger.session("codex", loose_id)
    assert mapped is not None and mapped.override_project_id is None
    assert loose is not None and loose.override_project_id == keito_server.project_id

    sync_to(keito_server, ledger)
    entries = {e["metadata"]["session_id"]: e for e in remote(keito_server, "time_entries")}
    assert set(entries) == {mapped_id, loose_id}
    assert entries[mapped_id]["metadata"].get("from") == "repo"
    assert "from" not in entries[loose_id]["metadata"]
    assert entries[loose_id]["task_id"] == keito_server.task_id
    loose = ledger.session("codex", loose_id)
    assert loose is not None and loose.mapping_status == "mapped"
    assert loose.mapping_detail == "override (backfill --project/--task)"
    # no config, so no expense category (issue 15: no made-up default): its expenses wait
    held = [r for r in ledger.records(kind="expense") if r.session_id == loose_id]
    assert held and all(r.status == "held" for r in held)
    assert all((r.last_error or "").startswith("no expense category") for r in held)


def test_repo_config_wins_over_an_override(ledger: Ledger, tmp_path: Path) -> None:
    """A session that gains a mapping later bills to the repo's project, not the override."""
    bare = tmp_path / "later"
    bare.mkdir()
    base = tmp_path / "agents"
    session_id, _ = place("claude-code", base, bare)
    run_backfill(_options(base, project_id="proj_override", task_id="task_override"), ledger)
    run_sync(ledger, None)
    payloads = [r.payload for r in ledger.records(kind="time_entry")]
    assert [(p["project_id"], p["task_id"]) for p in payloads] == [
        ("proj_override", "task_override")
    ]
    make_repo(bare, None, project_id="proj_repo", task_id="task_repo")
    ledger.mark_dirty("claude-code", session_id)
    run_sync(ledger, None)
    payloads = [r.payload for r in ledger.records(kind="time_entry")]
    assert [(p["project_id"], p["task_id"]) for p in payloads] == [("proj_repo", "task_repo")]


def test_override_is_given_to_sessions_already_recorded_unmapped(
    ledger: Ledger, tmp_path: Path
) -> None:
    base = tmp_path / "agents"
    session_id, path = place("codex", base, tmp_path)
    record(ledger, "codex", session_id, path, cwd=str(tmp_path), end_reason="exit")
    run_sync(ledger, None)
    row = ledger.session("codex", session_id)
    assert row is not None and row.mapping_status == "unmapped"
    report = run_backfill(_options(base, project_id="p1", task_id="t1"), ledger)
    assert [r.recorded for r in report.sessions] == ["override"] and report.bytes_read == 0
    run_sync(ledger, None)
    row = ledger.session("codex", session_id)
    assert row is not None and (row.mapping_status, row.project_id) == ("mapped", "p1")


def test_ledger_from_schema_1_gains_override_columns(home: Path) -> None:
    with Ledger() as ledger:
        ledger.touch_session("codex", "s1", cwd="/x")
    db = sqlite3.connect(home / "ledger.sqlite3")
    db.execute("ALTER TABLE sessions DROP COLUMN override_project_id")
    db.execute("ALTER TABLE sessions DROP COLUMN override_task_id")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with Ledger() as ledger:
        row = ledger.session("codex", "s1")
        assert row is not None and row.cwd == "/x" and row.override_project_id is None
        ledger.set_override("codex", "s1", "p", "t")
        again = ledger.session("codex", "s1")
        assert again is not None and (again.override_project_id, again.override_task_id) == (
            "p",
            "t",
        )


def test_ledger_lists_offsets_without_checkpoints_and_reads_them_on_use(home: Path) -> None:
    checkpoints = {"/t/a.jsonl": {"offset": 120, "lines": 3}, "/t/b.jsonl": {"offset": 7}}
    with Ledger() as ledger:
        ledger.touch_session("codex", "s1", cwd="/x")
        assert ledger.save_checkpoints("codex", "s1", checkpoints, expected_version=0)
        (row,) = ledger.sessions()
        assert "checkpoints" not in vars(row)  # not read by the listing
        assert (row.offset_of("/t/a.jsonl"), row.offset_of("/t/c.jsonl")) == (120, None)
        assert "checkpoints" not in vars(row)  # the offsets column answered
        assert row.checkpoints == checkpoints  # read now, from the same row
        single = ledger.session("codex", "s1")
        assert single is not None and single.checkpoints == checkpoints


def test_ledger_from_schema_2_falls_back_to_the_checkpoints_for_offsets(home: Path) -> None:
    with Ledger() as ledger:
        ledger.touch_session("codex", "s1", cwd="/x")
        ledger.save_checkpoints("codex", "s1", {"/t/a.jsonl": {"offset": 5}}, expected_version=0)
    db = sqlite3.connect(home / "ledger.sqlite3")
    db.execute("ALTER TABLE sessions DROP COLUMN offsets")
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    with Ledger() as ledger:
        (row,) = ledger.sessions()
        assert row.offset_of("/t/a.jsonl") == 5  # no offsets column yet: from the checkpoints
        assert ledger.save_checkpoints(
            "codex", "s1", {"/t/a.jsonl": {"offset": 9}}, expected_version=row.version
        )
        (again,) = ledger.sessions()
        assert again.offset_of("/t/a.jsonl") == 9 and "checkpoints" not in vars(again)


@pytest.mark.parametrize("workers", [2, 3, 4])
def test_batches_cover_every_session_once_in_order_and_shrink_towards_the_end(
    workers: int,
) -> None:
    from keito_skill.backfill import _SESSION_WEIGHT, batches

    sizes = sorted(hashlib.sha256(str(i).encode()).digest()[0] * 10_000 for i in range(500))
    sizes.reverse()  # largest first, as parse_stream orders them
    grouped = batches(sizes, workers)
    assert [i for batch in grouped for i in batch] == list(range(len(sizes)))
    weights = [sum(sizes[i] + _SESSION_WEIGHT for i in batch) for batch in grouped]
    whole = sum(weights)
    assert workers * 4 <= len(grouped) <= workers * 32 + 1  # few round trips
    # Large first, small last: no worker is left with a large batch when the rest are done.
    assert max(weights[len(weights) // 2 :]) <= max(weights) / 2
    assert max(weights[-3:]) <= whole / (workers * 16)


def test_no_batch_is_much_larger_than_the_cap_however_much_there_is() -> None:
    from keito_skill.backfill import _BATCH_MAX_WEIGHT, _SESSION_WEIGHT, batches

    sizes = [10_000_000] * 2000  # 21 GB of weight: a quarter of a share would be 2.6 GB
    grouped = batches(sizes, 2)
    assert [i for batch in grouped for i in batch] == list(range(len(sizes)))
    largest = max(sum(sizes[i] + _SESSION_WEIGHT for i in batch) for batch in grouped)
    assert largest <= _BATCH_MAX_WEIGHT + sizes[0] + _SESSION_WEIGHT


# ---- a generated corpus: totals, parallelism, checkpoints ------------------------------


def test_corpus_backfill_equals_sessions_one_by_one(ledger: Ledger, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", None, project_id="p", task_id="t")
    corpus = generate(
        tmp_path / "corpus",
        size_bytes=24_000_000,
        seed=11,
        cwds=[str(repo), str(tmp_path / "elsewhere")],
        mean_session_bytes=30_000,
        big_line_bytes=250_000,
    )
    assert len(corpus.sessions) >= 200
    options = BackfillOptions(
        roots={"claude-code": [corpus.claude_dir], "codex": [corpus.codex_dir]}, workers=2
    )
    report = run_backfill(options, ledger)
    assert report.workers == 2 and report.errors == []
    assert report.bytes_read == corpus.bytes
    got = {(r.agent, r.session_id): r for r in report.sessions}
    assert len(got) == len(corpus.sessions)

    # The reference: each session parsed alone, from scratch, in this process.
    one_by_one = {}
    for agent, main, sides in discover(
        roots={"claude-code": [corpus.claude_dir], "codex": [corpus.codex_dir]}
    ):
        states, paths = parse_session(main, agent=agent, sides=sides)
        one_by_one[(agent, session_id_for(agent, main))] = summarize(
            states, [str(p) for p in paths]
        )
    for truth_row in corpus.sessions:
        key = (truth_row.agent, truth_row.session_id)
        result = got[key]
        assert result.summary.totals.model_dump() == truth_row.totals(), key
        assert result.summary.totals == one_by_one[key].totals
        assert result.summary.cost_usd == pytest.approx(one_by_one[key].cost_usd, abs=1e-9)
        assert [d.date.isoformat() for d in result.summary.days] == truth_row.days
        assert result.ended
        if truth_row.agent == "claude-code":
            assert result.summary.cost_usd == pytest.approx(truth_row.agent_cost_usd, abs=1e-6)

    rows = ledger.sessions()
    assert len(rows) == len(corpus.sessions)
    assert all(r.ended and r.end_reason == "backfill" and r.origin == "backfill" for r in rows)
    sizes = {str(p): p.stat().st_size for p in corpus.root.rglob("*.jsonl")}
    for row in rows:
        for path, checkpoint in row.checkpoints.items():
            assert checkpoint["offset"] == sizes[path]

    # Materialised: every mapped session's expenses add up to the corpus truth.
    run_sync(ledger, None)
    mapped = [s for s in corpus.sessions if s.cwd == str(repo)]
    wanted = dict.fromkeys(TOKEN_KEYS, 0)
    for session in mapped:
        for key, value in session.totals().items():
            wanted[key] += value
    carried = dict.fromkeys(TOKEN_KEYS, 0)
    for rec in ledger.records(kind="expense"):
        for key in TOKEN_KEYS:
            carried[key] += rec.payload["metadata"][key]
    assert carried == wanted
    days = sum(len(s.days) for s in mapped)
    assert len(ledger.records(kind="time_entry")) == days

    # Second run: nothing is re-read; one appended line is all that is read.
    again = run_backfill(options, ledger)
    assert (again.sessions, again.bytes_read, again.unchanged) == ([], 0, len(corpus.sessions))
    target = Path(corpus.sessions[1].path)
    line = (
        '{"timestamp":"2026-10-30T10:00:00.000Z","type":"event_msg",'
        '"payload":{"type":"user_message","message":"one more"}}\n'
    )
    with target.open("a") as handle:
        handle.write(line)
    os.utime(target, (HOUR_AGO, HOUR_AGO))
    third = run_backfill(options, ledger)
    assert third.bytes_read == len(line) and [r.session_id for r in third.sessions] == [
        corpus.sessions[1].session_id
    ]


def test_directories_reached_by_another_name_find_what_the_ledger_holds(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second run through a symlinked (or relative) directory matches every session to
    its row and renames the side files found with it, instead of scanning the project
    directory again per session (quadratic: 3.2 s for a 3,374-session listing)."""
    import keito_skill.backfill as backfill_module

    corpus = generate(
        tmp_path / "corpus",
        size_bytes=4_000_000,
        seed=4,
        mean_session_bytes=20_000,
        big_line_bytes=50_000,
    )
    assert sum(1 for s in corpus.sessions if s.side_paths) >= 2  # subagent files
    first = run_backfill(
        BackfillOptions(
            roots={"claude-code": [corpus.claude_dir], "codex": [corpus.codex_dir]}, workers=1
        ),
        ledger,
    )
    assert len(first.sessions) == len(corpus.sessions)

    scans: list[Path] = []
    real_side_files = backfill_module.side_files
    monkeypatch.setattr(
        backfill_module,
        "side_files",
        lambda agent, main: scans.append(main) or real_side_files(agent, main),
    )
    link = tmp_path / "link"
    link.symlink_to(corpus.root, target_is_directory=True)
    again = run_backfill(
        BackfillOptions(
            roots={"claude-code": [link / "claude"], "codex": [link / "codex"]}, workers=1
        ),
        ledger,
    )
    assert (again.sessions, again.bytes_read) == ([], 0)
    assert again.unchanged == len(corpus.sessions)
    assert scans == []
    # Both names at once: each session is found once, not once per name.
    both = run_backfill(
        BackfillOptions(
            roots={
                "claude-code": [corpus.claude_dir, link / "claude"],
                "codex": [link / "codex", corpus.codex_dir],
            },
            workers=1,
            dry_run=True,
        ),
        ledger,
    )
    assert (both.found, both.unchanged, both.sessions) == (
        len(corpus.sessions),
        len(corpus.sessions),
        [],
    )


def test_a_hook_writing_during_the_parse_wins_and_nothing_doubles(
    keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    """The ledger snapshot is taken, a hook records the session, then backfill settles."""
    from keito_skill.backfill import (
        BackfillReport,
        Progress,
        _settle_parsed,
        find_candidates,
        parse_stream,
    )

    repo = make_repo(tmp_path / "repo", keito_server)
    base = tmp_path / "agents"
    session_id, path = place("codex", base, repo)
    options = _options(base)
    report = BackfillReport(dry_run=False)
    candidates = find_candidates(options, ledger.sessions(), report)
    assert [c.row for c in candidates] == [None]
    record(ledger, "codex", session_id, path, cwd=str(repo))  # the hook, meanwhile
    for candidate, parsed in parse_stream(candidates, options, Progress(), report):
        result = _settle_parsed(candidate, parsed, options, time.time(), ledger)
        assert result is not None and result.ended
    row = ledger.session("codex", session_id)
    assert row is not None and (row.origin, row.ended, row.end_reason) == ("hook", True, "backfill")
    assert row.checkpoints[str(path)]["offset"] == path.stat().st_size
    sync_to(keito_server, ledger)
    assert len(remote(keito_server, "time_entries")) == 1
    assert expense_tokens(remote(keito_server, "expenses"), session_id) == truth_totals("codex")


def test_agent_option_limits_the_scan(ledger: Ledger, tmp_path: Path) -> None:
    base = tmp_path / "agents"
    place("claude-code", base, tmp_path)
    codex_id, _ = place("codex", base, tmp_path)
    report = run_backfill(_options(base, agent="codex"), ledger)
    assert [(r.agent, r.session_id) for r in report.sessions] == [("codex", codex_id)]
    assert report.found == 1
    assert [r.agent for r in ledger.sessions()] == ["codex"]


def test_override_by_name_is_resolved_and_an_unknown_one_stops_the_run(
    keito_server: KeitoServer, home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    bare = tmp_path / "bare"  # no .keito/config.yml: the override applies
    bare.mkdir()
    base = tmp_path / "agents"
    session_id, _ = place("codex", base, bare)
    dirs = ["--claude-dir", str(base / "claude"), "--codex-dir", str(base / "codex")]
    env = skill_env(home, keito_server, keito_config_dir)
    unknown = cli("backfill", "--project", "No Such", "--task", "x", *dirs, env=env)
    assert unknown.returncode == 2
    assert "no project named 'No Such'; available: Demo Project (prj_demo)" in unknown.stderr
    with Ledger(home / "ledger.sqlite3") as ledger:
        assert ledger.sessions() == []  # stopped before recording anything
    named = cli(
        "backfill",
        "--json",
        "--project",
        "demo project",
        "--task",
        "SOFTWARE DEVELOPMENT",
        *dirs,
        env=env,
    )
    assert named.returncode == 0, named.stderr
    item = json.loads(named.stdout)["sessions"][0]
    assert (item["session_id"], item["status"]) == (session_id, "new")
    assert (item["project_id"], item["task_id"]) == (keito_server.project_id, keito_server.task_id)
    [entry] = remote(keito_server, "time_entries")
    assert entry["project"]["id"] == keito_server.project_id
    # Without credentials the values are kept as ids, and the user is told.
    offline = skill_env(tmp_path / "home2", None, keito_config_dir)
    kept = cli(
        "backfill", "--dry-run", "--json", "--project", "p1", "--task", "t1", *dirs, env=offline
    )
    assert kept.returncode == 0, kept.stderr
    assert "--project/--task not checked (no Keito credentials); used as ids" in kept.stderr
    assert json.loads(kept.stdout)["sessions"][0]["project_id"] == "p1"


def test_a_dry_run_on_an_empty_ledger_file_lists_every_session(
    home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    """A ledger file that exists but was never written (an interrupted first start) is
    empty, not damaged: the dry run lists what it would record."""
    base = tmp_path / "agents"
    place("codex", base, tmp_path / "repo")
    home.mkdir(parents=True, exist_ok=True)
    (home / "ledger.sqlite3").write_bytes(b"")
    env = skill_env(home, None, keito_config_dir)
    dry = cli("backfill", "--dry-run", "--json", "--codex-dir", str(base / "codex"), env=env)
    assert dry.returncode == 0, dry.stderr
    assert [s["recorded"] for s in json.loads(dry.stdout)["sessions"]] == ["new"]
    assert (home / "ledger.sqlite3").read_bytes() == b""  # a dry run writes nothing
