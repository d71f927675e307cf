"""The ledger is the only module that speaks SQL, through named queries and changes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from keito_skill.ledger import Ledger

PACKAGE = Path(__file__).resolve().parents[1] / "keito_skill"
# The dev server emulates Keito with its own database: it is not the ledger.
_NOT_THE_LEDGER = ("devserver",)
_SQL = re.compile(r"\.execute(many)?\(|\b(SELECT|UPDATE|DELETE FROM|INSERT INTO)\s+[a-z_*]")


def _sources() -> list[Path]:
    return [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if not any(part in _NOT_THE_LEDGER for part in path.relative_to(PACKAGE).parts)
    ]


def test_no_sql_outside_the_ledger() -> None:
    found = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in _sources()
        if path.name != "ledger.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if _SQL.search(line)
    ]
    assert found == []


def test_no_command_imports_another() -> None:
    cli = PACKAGE / "cli"
    found = [
        f"{path.name}: {line.strip()}"
        for path in sorted(cli.glob("*.py"))
        if path.name != "__init__.py"  # registers the commands (by name, lazily)
        for line in path.read_text().splitlines()
        if re.search(r"from keito_skill\.cli\.[a-z_]*_cmd\b|import keito_skill\.cli\.\w*_cmd", line)
    ]
    assert found == []


def test_a_transaction_is_all_or_nothing(ledger: Ledger) -> None:
    ledger.touch_session("codex", "s1", cwd="/x")
    with pytest.raises(RuntimeError), ledger.transaction():
        ledger.put_record("codex", "s1", "time_entry", "2026-11-21", "2026-11-21", {"hours": 1})
        ledger.set_paused("codex", "s1", True)
        raise RuntimeError("a bug halfway")
    row = ledger.session("codex", "s1")
    assert ledger.records() == [] and row is not None and not row.paused
    with ledger.transaction():
        ledger.put_record("codex", "s1", "time_entry", "2026-11-21", "2026-11-21", {"hours": 1})
        ledger.set_paused("codex", "s1", True)
    row = ledger.session("codex", "s1")
    assert len(ledger.records()) == 1 and row is not None and row.paused


def test_mark_record_changes_only_what_it_is_given(ledger: Ledger) -> None:
    ledger.put_record("codex", "s1", "expense", "k", "2026-11-21", {"units": 1})
    (record,) = ledger.records()
    ledger.mark_record(record.id, status="sending", attempts=1, sent_at=5.0)
    ledger.mark_record(record.id, remote_id="exp_1", last_error=None)
    (after,) = ledger.records(kind="expense", status="sending")
    assert (after.attempts, after.sent_at, after.remote_id, after.last_error) == (
        1,
        5.0,
        "exp_1",
        None,
    )
    assert ledger.records(kind="time_entry") == [] and ledger.records(status="sent") == []


def test_a_session_id_prefix_is_taken_literally(ledger: Ledger) -> None:
    for session_id in ("abc_1234", "abcx1234", "ab%c1234"):
        ledger.touch_session("codex", session_id)
    assert [r.session_id for r in ledger.sessions_by_id_prefix("abc_")] == ["abc_1234"]
    assert [r.session_id for r in ledger.sessions_by_id_prefix("ab%")] == ["ab%c1234"]
    assert [r.session_id for r in ledger.sessions_by_id("abcx1234")] == ["abcx1234"]


def test_sessions_not_sent_are_counted_as_listed(ledger: Ledger) -> None:
    statuses = {"a": "unmapped", "b": "broken", "c": "mapped", "d": "disabled", "e": "new"}
    for session_id, status in statuses.items():
        ledger.touch_session("codex", session_id)
        ledger.save_unbilled(
            "codex", session_id, status=status, detail="why", summary=None, version=0
        )
    assert ledger.count_sessions_not_sent() == len(ledger.sessions_not_sent()) == 2
    assert {r.session_id for r in ledger.sessions_not_sent()} == {"a", "b"}


def test_a_listing_is_newest_first_and_reads_each_column(ledger: Ledger) -> None:
    for session_id in ("old", "mid", "new"):
        ledger.touch_session("codex", session_id, cwd=f"/{session_id}")
        ledger.save_checkpoints("codex", session_id, {"/t": {"offset": 3}}, expected_version=0)
    ledger.set_paused("codex", "mid", True)
    listed = ledger.sessions()
    assert [r.session_id for r in listed] == ["new", "mid", "old"]
    assert [r.updated_at for r in listed] == sorted((r.updated_at for r in listed), reverse=True)
    for row in listed:
        single = ledger.session("codex", row.session_id)
        assert single is not None
        assert (row.cwd, row.paused, row.dirty, row.version) == (
            single.cwd,
            single.paused,
            single.dirty,
            single.version,
        )
        assert row.paused is (row.session_id == "mid") and row.dirty is True
        assert row.offset_of("/t") == 3 and row.checkpoints == single.checkpoints
