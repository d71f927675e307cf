"""Schema v6 keeps the checkpoints apart from the ``sessions`` rows (``session_checkpoints``):
a ledger written before (schema 5) upgrades when opened, keeping every session's data, and
bills exactly as a ledger written by this version does. Schema v7 keeps each stored
summary's span in columns of its own, which must never disagree with the summary."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bench.corpus import generate
from keito_skill.backfill import BackfillOptions, run_backfill
from keito_skill.ledger import SCHEMA_VERSION, Ledger, read_sessions
from keito_skill.report import report_rows
from keito_skill.summaries import summaries
from keito_skill.sync import run_sync
from tests.sessions_kit import make_repo

pytestmark = pytest.mark.usefixtures("utc")


def _as_schema_5(path: Path) -> None:
    """Turn a ledger into what keito-skill wrote at schema 5: the checkpoints in the
    ``sessions`` rows, no ``session_checkpoints`` table."""
    with sqlite3.connect(path) as db:
        db.execute(
            "UPDATE sessions SET checkpoints = COALESCE((SELECT c.checkpoints FROM"
            " session_checkpoints c WHERE c.agent = sessions.agent"
            " AND c.session_id = sessions.session_id), '{}')"
        )
        db.execute("DROP TABLE session_checkpoints")
        db.execute("PRAGMA user_version = 5")
    db.close()


def _raw(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        rows = db.execute(sql).fetchall()
    db.close()
    return rows


def _records(ledger: Ledger) -> list[tuple[Any, ...]]:
    return sorted(
        (r.agent, r.session_id, r.kind, r.key, r.spent_date, r.payload_hash, r.status)
        for r in ledger.records()
    )


def _checkpoints(ledger: Ledger) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r.agent, r.session_id): r.checkpoints for r in ledger.sessions()}


def test_a_schema_5_ledger_upgrades_keeping_everything_and_bills_identically(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo", None, project_id="p", task_id="t")
    corpus = generate(
        tmp_path / "corpus",
        size_bytes=1_500_000,
        seed=5,
        cwds=[str(repo), str(tmp_path / "elsewhere")],
        mean_session_bytes=40_000,
    )
    roots = {"claude-code": [corpus.claude_dir], "codex": [corpus.codex_dir]}
    new, old = tmp_path / "new" / "ledger.sqlite3", tmp_path / "old" / "ledger.sqlite3"
    with Ledger(new) as ledger:
        assert run_backfill(BackfillOptions(roots=roots, workers=1), ledger).errors == []
        expected = _checkpoints(ledger)
    assert len(expected) >= 10 and all(expected.values())
    old.parent.mkdir()
    shutil.copy(new, old)
    _as_schema_5(old)
    stored = _raw(old, "SELECT COUNT(*) FROM sessions WHERE checkpoints != '{}'")
    assert stored == [(len(expected),)]  # the old shape: checkpoints in the rows

    # read without upgrading (a dry run, a read-only ledger): the checkpoints are found
    assert {(r.agent, r.session_id): r.checkpoints for r in read_sessions(old)} == expected
    with Ledger(old, read_only=True) as ledger:
        assert _checkpoints(ledger) == expected
        some = next(iter(expected))
        found = ledger.session(*some)
        assert found is not None and found.checkpoints == expected[some]
    assert _raw(old, "PRAGMA user_version") == [(5,)]

    with Ledger(old) as upgraded, Ledger(new) as fresh:
        assert _raw(old, "PRAGMA user_version") == [(SCHEMA_VERSION,)] and SCHEMA_VERSION == 7
        assert _raw(old, "SELECT COUNT(*) FROM sessions WHERE checkpoints != '{}'") == [(0,)]
        assert _checkpoints(upgraded) == expected
        some = next(iter(expected))
        found = upgraded.session(*some)
        assert found is not None and found.checkpoints == expected[some]
        for ledger in (upgraded, fresh):
            run_sync(ledger, None)
        assert _records(upgraded) == _records(fresh) and _records(fresh)
        rows = [report_rows(x, by="model", since=None, until=None) for x in (upgraded, fresh)]
        assert rows[0] == rows[1] and rows[0]
        figures = [
            [s.totals.model_dump() if s else None for s in summaries(x, x.sessions())]
            for x in (upgraded, fresh)
        ]
        assert figures[0] == figures[1]

        # the upgraded ledger goes on from its checkpoints: only new bytes are read
        target = Path(corpus.sessions[0].path)
        with target.open("a") as handle:
            handle.write("\n")
        os.utime(target, (1, 1))
        reads = [
            run_backfill(BackfillOptions(roots=roots, workers=1), x).bytes_read
            for x in (upgraded, fresh)
        ]
        assert reads[0] == reads[1] < corpus.bytes // 4
        for ledger in (upgraded, fresh):
            run_sync(ledger, None)
        assert _records(upgraded) == _records(fresh)
        assert _checkpoints(upgraded) == _checkpoints(fresh)


def test_checkpoints_an_older_version_wrote_into_the_row_replace_the_moved_ones(
    home: Path,
) -> None:
    """An older keito-skill opening a v6 ledger writes checkpoints into the ``sessions``
    row (and sets its own schema version): they are newer than the side table's."""
    with Ledger() as ledger:
        row = ledger.touch_session("codex", "s1", cwd="/x")
        assert ledger.save_checkpoints("codex", "s1", {"/a": {"offset": 1}}, expected_version=0)
        assert ledger.save_checkpoints("codex", "s1", {"/a": {"offset": 2}}, expected_version=1)
        assert row.version == 0
    path = home / "ledger.sqlite3"
    assert _raw(path, "SELECT checkpoints FROM session_checkpoints") == [('{"/a":{"offset":2}}',)]
    with sqlite3.connect(path) as db:
        db.execute('UPDATE sessions SET checkpoints = \'{"/a":{"offset":9}}\'')
        db.execute("PRAGMA user_version = 5")
    db.close()
    with Ledger() as ledger:
        found = ledger.session("codex", "s1")
        assert found is not None and found.checkpoints == {"/a": {"offset": 9}}
        (listed,) = ledger.sessions()
        assert listed.checkpoints == {"/a": {"offset": 9}}
    assert _raw(path, "SELECT checkpoints FROM sessions") == [("{}",)]


def test_a_save_that_loses_the_race_leaves_the_checkpoints_alone(home: Path) -> None:
    with Ledger() as ledger:
        ledger.touch_session("codex", "s1", cwd="/x")
        assert ledger.save_checkpoints("codex", "s1", {"/a": {"offset": 1}}, expected_version=0)
        assert not ledger.save_checkpoints("codex", "s1", {"/a": {"offset": 5}}, expected_version=0)
        found = ledger.session("codex", "s1")
        assert found is not None and (found.version, found.checkpoints) == (
            1,
            {"/a": {"offset": 1}},
        )
        ledger.touch_session("codex", "s2", cwd="/x")
        empty = ledger.session("codex", "s2")
        assert empty is not None and empty.checkpoints == {}


def _spans(path: Path) -> list[tuple[Any, ...]]:
    return _raw(path, "SELECT summary_started, summary_ended FROM sessions")


def _summary(started: str, ended: str) -> str:
    return json.dumps({"session_id": "s1", "started_at": started, "ended_at": ended})


def _map(ledger: Ledger, summary: str) -> None:
    ledger.save_mapped(
        "codex", "s1", status="mapped", detail="", summary=summary, project_id="p", task_id="t"
    )


def _drop_span_triggers(db: sqlite3.Connection) -> None:
    """What an SQLite without JSON functions leaves: no triggers keeping the spans."""
    db.execute("DROP TRIGGER sessions_summary_span")
    db.execute("DROP TRIGGER sessions_summary_span_new")


def test_a_stored_summarys_span_follows_it_whoever_writes_it(home: Path) -> None:
    """The listing sorts and filters by the span columns instead of reading the summary's
    JSON: every write of a summary sets them (the ledger's triggers, whichever version of
    keito-skill writes), damaged text leaves them unknown (NULL), and a ledger whose
    triggers are gone gets them back, spans refilled, when this version opens it."""
    path = home / "ledger.sqlite3"
    with Ledger() as ledger:
        ledger.touch_session("codex", "s1", cwd="/x")
        assert _spans(path) == [(None, None)]
        _map(ledger, _summary("A1", "B1"))
        assert _spans(path) == [("A1", "B1")]
        (row,) = ledger.sessions_for_listing()
        assert row.summary_span == ("A1", "B1")
        assert ledger.store_summaries([("codex", "s1", row.version, "k", _summary("A2", "B2"))])
        assert _spans(path) == [("A2", "B2")]
        assert not ledger.store_summaries(  # stale: neither summary nor span change
            [("codex", "s1", row.version + 1, "k", _summary("A3", "B3"))]
        )
        assert _spans(path) == [("A2", "B2")]
        ledger.save_unbilled(
            "codex", "s1", status="unmapped", detail="", summary="{damaged", version=0
        )
        assert _spans(path) == [(None, None)]
        (row,) = ledger.sessions_for_listing()
        assert row.summary_span is None  # unknown: the reader decodes the summary instead
        ledger.save_unbilled("codex", "s1", status="unmapped", detail="", summary=None, version=0)
        assert _spans(path) == [(None, None)]
    with sqlite3.connect(path) as db:  # an older keito-skill: the summary alone
        db.execute("UPDATE sessions SET summary = ?", (_summary("A4", "B4"),))
        db.execute("PRAGMA user_version = 6")
    db.close()
    assert _spans(path) == [("A4", "B4")]  # the ledger's own trigger kept it
    with Ledger() as ledger:
        assert _spans(path) == [("A4", "B4")]
        (row,) = ledger.sessions_for_listing()
        assert row.summary_span == ("A4", "B4")
    # without the triggers (an SQLite without JSON functions wrote last): spans unknown
    # until an SQLite that has them opens the ledger, which keeps them again
    with sqlite3.connect(path) as db:
        _drop_span_triggers(db)
        db.execute("UPDATE sessions SET summary = ?", (_summary("A5", "B5"),))
    db.close()
    assert _spans(path) == [("A4", "B4")]  # stale: nothing kept it
    with Ledger() as ledger:
        assert _spans(path) == [("A5", "B5")]
        _map(ledger, _summary("A6", "B6"))
        assert _spans(path) == [("A6", "B6")]
    # read-only, not upgraded: no span columns yet, so no spans (summaries decoded instead)
    with sqlite3.connect(path) as db:
        _drop_span_triggers(db)
        db.execute("ALTER TABLE sessions DROP COLUMN summary_started")
        db.execute("ALTER TABLE sessions DROP COLUMN summary_ended")
        db.execute("PRAGMA user_version = 6")
    db.close()
    with Ledger(path, read_only=True) as ledger:
        (row,) = ledger.sessions_for_listing()
        assert row.summary_span is None and row.summary == json.loads(_summary("A6", "B6"))
