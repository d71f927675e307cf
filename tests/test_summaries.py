"""Stored summaries (issue 19): read from the ledger while current, never once stale.

A session's summary is stored with the checkpoint version it was computed from; a session
that grows (a hook stores newer checkpoints) must show its new figures in ``report``,
``sessions`` and what ``sync`` bills, never the stored ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from keito_skill.ledger import Ledger
from keito_skill.recorder import record
from keito_skill.summaries import is_fresh, key_of, summaries, summary_for
from tests.sessions_kit import (
    CLAUDE_SESSION,
    CLAUDE_TRANSCRIPT,
    FIXTURE_CWD,
    cli,
    skill_env,
    slowed,
    split_at_first_end,
    truth_totals,
)

BOGUS = 987_654_321  # an output figure no real session has: shows which summary was read


def _report_output(env: dict[str, str]) -> int:
    done = cli("report", "--json", env=env)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["rows"]
    return sum(int(r["output_tokens"]) for r in rows)


def _sessions_output(env: dict[str, str], claude: Path) -> list[int]:
    listed = cli(
        "sessions", "--json", "--claude-dir", str(claude), "--agent", "claude-code", env=env
    )
    assert listed.returncode == 0, listed.stderr
    return [s["totals"]["output_tokens"] for s in json.loads(listed.stdout)["sessions"]]


def _poison(ledger: Ledger, session_id: str) -> None:
    """Make the stored summary say ``BOGUS`` output tokens, under the key it has now."""
    row = ledger.session("claude-code", session_id)
    assert row is not None and row.summary is not None
    bogus: dict[str, Any] = json.loads(json.dumps(row.summary))
    bogus["totals"]["output_tokens"] = BOGUS
    for day in bogus["days"]:
        day["totals"]["output_tokens"] = BOGUS
        for usage in day["models"].values():
            usage["output_tokens"] = BOGUS
    stored = ledger.store_summaries(
        [("claude-code", session_id, row.version, key_of(row), json.dumps(bogus))]
    )
    assert stored == 1


def test_a_session_that_grows_after_its_summary_was_stored_shows_the_new_figures(
    home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    claude = tmp_path / "claude"
    transcript = claude / "projects" / "-home-dev-src-acme-api" / f"{CLAUDE_SESSION}.jsonl"
    transcript.parent.mkdir(parents=True)
    first, rest = split_at_first_end("claude-code", slowed(CLAUDE_TRANSCRIPT.read_text()))
    transcript.write_text(first)
    env = skill_env(home, None, keito_config_dir)

    # no ledger yet: sessions reads the transcript and creates nothing
    assert _sessions_output(env, claude) and not (home / "ledger.sqlite3").exists()

    with Ledger() as ledger:
        record(ledger, "claude-code", CLAUDE_SESSION, transcript, cwd=FIXTURE_CWD)
    before = _report_output(env)  # computes the summary and stores it
    assert 0 < before < truth_totals("claude-code")["output_tokens"]
    with Ledger() as ledger:
        row = ledger.session("claude-code", CLAUDE_SESSION)
        assert row is not None and is_fresh(row) and row.summary_key == key_of(row)
        # While current, the stored summary is what every reader uses (poisoned: visible).
        _poison(ledger, CLAUDE_SESSION)
    assert _report_output(env) == BOGUS
    assert _sessions_output(env, claude) == [BOGUS]

    # The session grows: a hook stores newer checkpoints, the stored summary is now stale.
    with transcript.open("a") as handle:
        handle.write(rest)
    with Ledger() as ledger:
        record(ledger, "claude-code", CLAUDE_SESSION, transcript, cwd=FIXTURE_CWD)
        row = ledger.session("claude-code", CLAUDE_SESSION)
        assert row is not None and not is_fresh(row)
        assert row.summary is not None and row.summary["totals"]["output_tokens"] == BOGUS

    whole = truth_totals("claude-code")["output_tokens"]
    assert _report_output(env) == whole
    assert _sessions_output(env, claude) == [whole]
    status = json.loads(cli("status", "--json", env=env).stdout)
    assert status["sessions"]["total"] == 1
    synced = cli("sync", "--json", env=env)  # offline: materialises (what would be billed)
    assert synced.returncode == 0, synced.stderr
    with Ledger() as ledger:
        row = ledger.session("claude-code", CLAUDE_SESSION)
        assert row is not None and is_fresh(row)
        assert row.summary is not None and row.summary["totals"]["output_tokens"] == whole


@pytest.mark.parametrize(
    "damage",
    [
        '{"totals": {"output_tokens": 1',
        "[1, 2]",
        '"text"',
        "",
        '{"a": 1} x',
        '{"days": [{"date": "not a date"}], "ended_at": "2026-11-21T22:00:00+00:00"}',
        '{"days": {"date": "2026-11-21"}}',
        '{"days": [7]}',
    ],
)
def test_a_damaged_stored_summary_is_computed_again_and_never_printed(
    home: Path, tmp_path: Path, keito_config_dir: Path, damage: str
) -> None:
    """``sessions --json`` prints stored summaries as their text and ``report`` reads only
    their days: one that is not a JSON object, or whose days do not read (edited, cut
    short), must be computed again, under a current key."""
    claude = tmp_path / "claude"
    transcript = claude / "projects" / "-home-dev-src-acme-api" / f"{CLAUDE_SESSION}.jsonl"
    transcript.parent.mkdir(parents=True)
    transcript.write_text(slowed(CLAUDE_TRANSCRIPT.read_text()))
    env = skill_env(home, None, keito_config_dir)
    with Ledger() as ledger:
        record(ledger, "claude-code", CLAUDE_SESSION, transcript, cwd=FIXTURE_CWD)
        row = ledger.session("claude-code", CLAUDE_SESSION)
        assert row is not None
        stored = ledger.store_summaries(
            [("claude-code", CLAUDE_SESSION, row.version, key_of(row), damage)]
        )
        assert stored == 1
    whole = truth_totals("claude-code")["output_tokens"]
    assert _report_output(env) == whole  # report reads only the stored days
    assert _sessions_output(env, claude) == [whole]
    if damage == "":  # an edited object with times that are not times: no traceback
        with Ledger() as ledger:
            row = ledger.session("claude-code", CLAUDE_SESSION)
            assert row is not None
            odd = '{"started_at": "soon", "ended_at": {"a": 1}, "session_id": "x"}'
            ledger.store_summaries([("claude-code", CLAUDE_SESSION, row.version, key_of(row), odd)])
        for args in (["--json"], []):
            listed = cli("sessions", *args, "--claude-dir", str(claude), env=env)
            assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
        assert json.loads(listed_json(env, claude)) is not None


def listed_json(env: dict[str, str], claude: Path) -> str:
    return cli("sessions", "--json", "--claude-dir", str(claude), env=env).stdout


def test_a_summary_computed_before_a_hook_wrote_is_not_stored(
    ledger: Ledger, tmp_path: Path
) -> None:
    transcript = tmp_path / f"{CLAUDE_SESSION}.jsonl"
    first, rest = split_at_first_end("claude-code", slowed(CLAUDE_TRANSCRIPT.read_text()))
    transcript.write_text(first)
    record(ledger, "claude-code", CLAUDE_SESSION, transcript, cwd=FIXTURE_CWD)
    old = ledger.session("claude-code", CLAUDE_SESSION)
    assert old is not None and not is_fresh(old)
    with transcript.open("a") as handle:
        handle.write(rest)
    record(ledger, "claude-code", CLAUDE_SESSION, transcript, cwd=FIXTURE_CWD)
    # computed from the old row's checkpoints, after the hook moved them: not stored
    [summary] = summaries(ledger, [old])
    assert (
        summary is not None
        and summary.totals.output_tokens < truth_totals("claude-code")["output_tokens"]
    )
    now = ledger.session("claude-code", CLAUDE_SESSION)
    assert now is not None and now.summary_key is None and not is_fresh(now)
    full = summary_for(ledger, now)
    assert (
        full is not None
        and full.totals.output_tokens == truth_totals("claude-code")["output_tokens"]
    )
    stored = ledger.session("claude-code", CLAUDE_SESSION)
    assert stored is not None and is_fresh(stored)


def test_a_read_only_ledger_still_answers(home: Path, tmp_path: Path) -> None:
    transcript = tmp_path / f"{CLAUDE_SESSION}.jsonl"
    transcript.write_text(slowed(CLAUDE_TRANSCRIPT.read_text()))
    with Ledger() as ledger:
        record(ledger, "claude-code", CLAUDE_SESSION, transcript, cwd=FIXTURE_CWD)
    with Ledger(read_only=True) as reading:
        rows = reading.sessions()
        [summary] = summaries(reading, rows)
        assert summary is not None
        assert summary.totals.output_tokens == truth_totals("claude-code")["output_tokens"]
    with Ledger() as ledger:
        row = ledger.session("claude-code", CLAUDE_SESSION)
        assert row is not None and row.summary_key is None  # nothing stored, nothing lost


@pytest.mark.usefixtures("utc")
def test_a_summary_stored_in_another_time_zone_is_computed_again(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Days are local days: a summary split at another zone's midnight is stale."""
    import time

    transcript = tmp_path / f"{CLAUDE_SESSION}.jsonl"
    transcript.write_text(slowed(CLAUDE_TRANSCRIPT.read_text()))
    record(ledger, "claude-code", CLAUDE_SESSION, transcript, cwd=FIXTURE_CWD)
    row = ledger.session("claude-code", CLAUDE_SESSION)
    assert row is not None
    summaries(ledger, [row])
    row = ledger.session("claude-code", CLAUDE_SESSION)
    assert row is not None and is_fresh(row)
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14: other local days
    time.tzset()
    assert not is_fresh(row)


def test_backfill_stores_what_summarising_the_stored_checkpoints_gives(
    ledger: Ledger, tmp_path: Path
) -> None:
    """The workers' summaries are stored as they come (no second summarising): they must
    be exactly the summaries of the checkpoints stored with them."""
    from bench.corpus import generate
    from keito_skill.backfill import BackfillOptions, run_backfill
    from keito_skill.summaries import compute

    corpus = generate(tmp_path / "corpus", size_bytes=6_000_000, seed=5, mean_session_bytes=30_000)
    options = BackfillOptions(
        roots={"claude-code": [corpus.claude_dir], "codex": [corpus.codex_dir]}, workers=2
    )
    report = run_backfill(options, ledger)
    assert report.workers == 2 and report.errors == []
    rows = ledger.sessions()
    assert len(rows) == len(corpus.sessions)
    for row in rows:
        assert is_fresh(row), row.session_id
        computed = compute(row)
        assert computed is not None
        assert row.summary == json.loads(computed.model_dump_json()), row.session_id


def test_without_sqlite_json_functions_a_listing_decodes_instead(
    ledger: Ledger, tmp_path: Path
) -> None:
    """An SQLite built without JSON functions keeps no spans (its ledger has no span
    triggers, the spans are NULL); summaries are then decoded as before, with the same
    figures. A listing's rows hold only what it reads."""
    import sqlite3

    transcript = tmp_path / f"{CLAUDE_SESSION}.jsonl"
    transcript.write_text(slowed(CLAUDE_TRANSCRIPT.read_text()))
    record(ledger, "claude-code", CLAUDE_SESSION, transcript, cwd=FIXTURE_CWD)
    summaries(ledger, ledger.sessions())  # stored
    [spanned] = ledger.sessions_for_listing()
    assert spanned.summary_span is not None
    with pytest.raises(AttributeError):
        spanned.cwd  # noqa: B018 - not a column a listing reads
    [as_text] = summaries(ledger, [spanned])
    assert as_text is not None and as_text.text is not None  # printed as stored

    with sqlite3.connect(ledger.path) as db:  # as an SQLite without JSON functions leaves it
        db.execute("DROP TRIGGER sessions_summary_span")
        db.execute("DROP TRIGGER sessions_summary_span_new")
        db.execute("UPDATE sessions SET summary_started = NULL, summary_ended = NULL")
    db.close()
    [plain] = ledger.sessions_for_listing()
    assert plain.summary_span is None
    [decoded] = summaries(ledger, [plain])
    assert decoded is not None and decoded.text is None
    assert decoded.data == json.loads(as_text.text)
    assert decoded.ended_at == as_text.ended_at and decoded.ended_at is not None
    assert decoded.totals.output_tokens == truth_totals("claude-code")["output_tokens"]


def test_a_summary_computed_again_is_listed_with_its_own_times(
    ledger: Ledger, tmp_path: Path
) -> None:
    """A row listed with its stored summary's span, computed again because a hook moved its
    checkpoints since: asked again (a directory listed twice), it must not pair the new
    summary with the old summary's times (a session that went on would sort and filter by
    when it used to end)."""
    transcript = tmp_path / f"{CLAUDE_SESSION}.jsonl"
    first, rest = split_at_first_end("claude-code", slowed(CLAUDE_TRANSCRIPT.read_text()))
    transcript.write_text(first)
    record(ledger, "claude-code", CLAUDE_SESSION, transcript, cwd=FIXTURE_CWD)
    [early] = summaries(ledger, ledger.sessions())  # stored
    assert early is not None
    with transcript.open("a") as handle:
        handle.write(rest)
    record(ledger, "claude-code", CLAUDE_SESSION, transcript, cwd=FIXTURE_CWD)
    [row] = ledger.sessions_for_listing()
    assert row.summary_span is not None  # the old summary's times, its key stale
    [fresh] = summaries(ledger, [row])
    [again] = summaries(ledger, [row])
    assert fresh is not None and again is not None
    assert fresh.ended_at is not None and early.ended_at is not None
    assert fresh.ended_at > early.ended_at
    assert again.ended_at == fresh.ended_at
    assert again.totals.output_tokens == truth_totals("claude-code")["output_tokens"]
