"""What transcripts in the wild do: replayed and copied histories, forks, subagent files
beside the session, events out of order, clocks that step back.

Each response must be billed once, whichever file holds it and whichever is read first
(through the hooks' path, :func:`keito_skill.recorder.record`, and through backfill, both on
a real SQLite ledger), and every second an agent worked must count once.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keito_skill.backfill import BackfillOptions, run_backfill
from keito_skill.ledger import Ledger
from keito_skill.recorder import record
from keito_skill.summary import summarize
from keito_skill.sync._materialize import summary_of
from keito_skill.transcripts import (
    ParseState,
    discover,
    main_file,
    parse_file,
    parse_session,
)
from keito_skill.watch import locate
from tests.keito_server import KeitoServer
from tests.sessions_kit import cli, expense_tokens, make_repo, remote, skill_env
from tests.transcript_data import (
    CLAUDE_DIR,
    CLAUDE_TRANSCRIPT,
    CODEX_DIR,
    CODEX_TRANSCRIPT,
    TOKEN_KEYS,
    truth,
)

pytestmark = pytest.mark.usefixtures("utc")

CLAUDE_ID = "cab679c4-8324-433f-b85d-880ae9d60f45"
CODEX_ID = "01a20020-ab0e-7730-a912-3562a2e2218f"
MODEL = "claude-sonnet-4-5"


def _truth_totals(folder: Path) -> dict[str, int]:
    totals = dict.fromkeys(TOKEN_KEYS, 0)
    for usage in truth(folder).values():
        for key in TOKEN_KEYS:
            totals[key] += usage[key]
    return totals


def _totals(summary: Any) -> dict[str, int]:
    return {key: getattr(summary.totals, key) for key in TOKEN_KEYS}


def _plus(base: dict[str, int], **more: int) -> dict[str, int]:
    return {key: base[key] + more.get(key, 0) for key in base}


def _claude_response(ts: str, n: int, *, session: str = CLAUDE_ID, out: int = 1) -> str:
    return json.dumps(
        {
            "type": "assistant",
            "sessionId": session,
            "timestamp": ts,
            "requestId": f"req_new{n}",
            "message": {
                "id": f"msg_new{n}",
                "model": MODEL,
                "content": [{"type": "text", "text": "ok"}],
                "usage": {"input_tokens": 1, "output_tokens": out},
            },
        }
    )


def _event(ts: str, session: str, **more: Any) -> str:
    return json.dumps(
        {"type": "user", "sessionId": session, "timestamp": ts, "message": {"content": "x"}, **more}
    )


# ---- a response written again bills once -------------------------------------------


def _replayed_claude() -> tuple[str, str]:
    """The fixture, then more responses than any recent-ids window holds, then the
    fixture's lines written again (a resumed session replaying its history)."""
    history = CLAUDE_TRANSCRIPT.read_text()
    filler = "".join(
        _claude_response(f"2026-11-21T22:30:{n % 60:02d}.000Z", n) + "\n" for n in range(300)
    )
    return history + filler, history


def test_history_replayed_in_the_same_file_bills_once(tmp_path: Path) -> None:
    first, replay = _replayed_claude()
    path = tmp_path / f"{CLAUDE_ID}.jsonl"
    path.write_text(first + replay)
    summary = summarize(*_parsed(path))
    expected = _plus(_truth_totals(CLAUDE_DIR), input_tokens=300, output_tokens=300)
    assert _totals(summary) == expected
    assert summary.duplicate_responses.responses == 4
    assert (
        summary.duplicate_responses.totals.output_tokens
        == _truth_totals(CLAUDE_DIR)["output_tokens"]
    )


def test_history_replayed_after_a_checkpoint_bills_once(tmp_path: Path) -> None:
    """The replay arrives in a later hook's read: the ledger knows the file's responses."""
    first, replay = _replayed_claude()
    path = tmp_path / f"{CLAUDE_ID}.jsonl"
    path.write_text(first)
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        record(ledger, "claude-code", CLAUDE_ID, path)
        path.write_text(first + replay)
        row = record(ledger, "claude-code", CLAUDE_ID, path)
        summary = summary_of(row)
    assert summary is not None
    expected = _plus(_truth_totals(CLAUDE_DIR), input_tokens=300, output_tokens=300)
    assert _totals(summary) == expected
    assert summary.duplicate_responses.responses == 4


def _parsed(path: Path) -> tuple[list[ParseState], list[str]]:
    states, paths = parse_session(path, agent="claude-code")
    return states, [str(p) for p in paths]


# ---- a history copied into another session file bills once --------------------------

COPY_ID = "0badc0de-0000-4000-8000-000000000002"
EXTRA_OUT = 77  # the copy's own new response


def _claude_copy(folder: Path) -> tuple[Path, Path, dict[str, int]]:
    """The session, and a second session whose file starts with a copy of its history
    (older Claude Code resumes and forks wrote one) and goes on with a response of its own."""
    original = folder / f"{CLAUDE_ID}.jsonl"
    shutil.copy(CLAUDE_TRANSCRIPT, original)
    copy = folder / f"{COPY_ID}.jsonl"
    copied = CLAUDE_TRANSCRIPT.read_text().replace(CLAUDE_ID, COPY_ID)
    own = _claude_response("2026-11-21T23:00:00.000Z", 1, session=COPY_ID, out=EXTRA_OUT)
    copy.write_text(copied + own + "\n")
    expected = _plus(_truth_totals(CLAUDE_DIR), input_tokens=1, output_tokens=EXTRA_OUT)
    return original, copy, expected


FORK_ID = "01a20020-ffff-7000-8000-000000000003"


def _codex_fork(folder: Path) -> tuple[Path, Path, dict[str, int]]:
    """A rollout, and a fork of it: its own session_meta, then every line of the parent
    (its session_meta too) written again later, then one more response of its own."""
    original = folder / f"rollout-2026-11-21T22-01-10-{CODEX_ID}.jsonl"
    shutil.copy(CODEX_TRANSCRIPT, original)
    lines = CODEX_TRANSCRIPT.read_text().splitlines()
    meta = json.loads(lines[0])
    meta["payload"]["id"] = meta["payload"]["session_id"] = FORK_ID
    meta["timestamp"] = "2026-11-21T23:00:00.000Z"
    copied = [
        re.sub(r'"timestamp":"2026-11-21T22:', '"timestamp":"2026-11-21T23:', x) for x in lines
    ]
    last = [json.loads(x) for x in lines if '"token_count"' in x][-1]
    total = last["payload"]["info"]["total_token_usage"]
    grown = {
        **total,
        "input_tokens": total["input_tokens"] + 100,
        "output_tokens": total["output_tokens"] + EXTRA_OUT,
    }
    grown["total_tokens"] = grown["input_tokens"] + grown["output_tokens"]
    own = {
        "timestamp": "2026-11-21T23:05:00.000Z",
        "type": "event_msg",
        "payload": {
            "type": "token_count",
            "info": {
                "total_token_usage": grown,
                "last_token_usage": {"input_tokens": 100, "output_tokens": EXTRA_OUT},
            },
        },
    }
    fork = folder / f"rollout-2026-11-21T23-00-00-{FORK_ID}.jsonl"
    fork.write_text("\n".join([json.dumps(meta), *copied, json.dumps(own)]) + "\n")
    expected = _plus(_truth_totals(CODEX_DIR), input_tokens=100, output_tokens=EXTRA_OUT)
    return original, fork, expected


COPIES = {
    "claude-code": (_claude_copy, CLAUDE_ID, COPY_ID),
    "codex": (_codex_fork, CODEX_ID, FORK_ID),
}


def _sum(*summaries: Any) -> dict[str, int]:
    totals = dict.fromkeys(TOKEN_KEYS, 0)
    for summary in summaries:
        for key in TOKEN_KEYS:
            totals[key] += getattr(summary.totals, key)
    return totals


@pytest.mark.parametrize("agent", sorted(COPIES))
@pytest.mark.parametrize("copy_first", [False, True], ids=["original-first", "copy-first"])
def test_copied_history_bills_once_through_hooks(
    agent: str, copy_first: bool, tmp_path: Path
) -> None:
    make, original_id, copy_id = COPIES[agent]
    original, copy, expected = make(tmp_path)
    order = [(copy_id, copy), (original_id, original)]
    if not copy_first:
        order.reverse()
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        rows = {sid: record(ledger, agent, sid, path) for sid, path in order}
        # Hooks fire again (nothing new), and a third read from scratch changes nothing.
        for sid, path in order:
            record(ledger, agent, sid, path)
        summaries = [summary_of(rows[sid]) for sid, _ in order]
        again = [summary_of(ledger.session(agent, sid)) for sid, _ in order]  # type: ignore[arg-type]
    assert _sum(*summaries) == expected
    assert _sum(*again) == expected
    # The file read second holds the copies: shown, not billed.
    assert summaries[1] is not None and summaries[1].duplicate_responses.responses == 4
    assert summaries[0] is not None and summaries[0].duplicate_responses.responses == 0


@pytest.mark.parametrize("agent", sorted(COPIES))
@pytest.mark.parametrize("hooked", ["none", "original", "copy"])
def test_copied_history_bills_once_through_backfill(
    agent: str, hooked: str, tmp_path: Path
) -> None:
    """Backfill alone, or after a hook recorded one of the two: the pair bills once."""
    make, original_id, copy_id = COPIES[agent]
    if agent == "claude-code":
        folder = tmp_path / "claude" / "projects" / "-repo"
    else:
        folder = tmp_path / "codex" / "sessions" / "2026" / "11" / "21"
    folder.mkdir(parents=True)
    original, copy, expected = make(folder)
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        if hooked != "none":
            sid, path = (original_id, original) if hooked == "original" else (copy_id, copy)
            record(ledger, agent, sid, path)
        options = BackfillOptions(
            roots={"claude-code": [tmp_path / "claude"], "codex": [tmp_path / "codex"]}, workers=1
        )
        report = run_backfill(options, ledger)
        stored = [summary_of(ledger.session(agent, sid)) for sid in (original_id, copy_id)]  # type: ignore[arg-type]
        assert _sum(*stored) == expected
        if hooked == "none":
            assert _sum(*(r.summary for r in report.sessions)) == expected
        again = run_backfill(options, ledger)  # a second run reads nothing and adds nothing
        assert again.bytes_read == 0
        stored = [summary_of(ledger.session(agent, sid)) for sid in (original_id, copy_id)]  # type: ignore[arg-type]
    assert _sum(*stored) == expected


@pytest.mark.parametrize("agent", sorted(COPIES))
def test_copied_history_bills_once_through_the_hook_command_and_sync(
    agent: str, keito_server: KeitoServer, tmp_path: Path, keito_config_dir: Path
) -> None:
    """The real ``keito-skill hook`` (copy first, then the original), then ``sync`` to the
    local Keito server: the two sessions' expenses add up to the usage once."""
    repo = make_repo(tmp_path / "repo", keito_server)
    env = skill_env(tmp_path / "home", keito_server, keito_config_dir)
    env["KEITO_SKILL_NO_BACKGROUND_SYNC"] = "1"
    make, original_id, copy_id = COPIES[agent]
    folder = tmp_path / "transcripts"
    folder.mkdir()
    original, copy, expected = make(folder)
    for sid, path in ((copy_id, copy), (original_id, original)):
        payload = {
            "session_id": sid,
            "transcript_path": str(path),
            "cwd": str(repo),
            "hook_event_name": "SessionEnd",
            "reason": "exit",
        }
        done = cli("hook", "session-end", "--agent", agent, env=env, stdin=json.dumps(payload))
        assert done.returncode == 0 and done.stdout == ""
    assert cli("sync", env=env).returncode == 0
    expenses = remote(keito_server, "expenses")
    billed = dict.fromkeys(TOKEN_KEYS, 0)
    for sid in (original_id, copy_id):
        for key, value in expense_tokens(expenses, sid).items():
            billed[key] += value
    assert billed == expected
    parsed = cli("parse", "--json", str(copy), env=env)
    assert json.loads(parsed.stdout)["duplicate_responses"]["responses"] == 0  # alone: all its own


def test_a_file_read_again_from_its_start_keeps_its_own_responses(tmp_path: Path) -> None:
    """A checkpoint dropped (a format change) makes the file be read from byte 0: its
    responses are its own, not copies of themselves."""
    path = tmp_path / f"{CLAUDE_ID}.jsonl"
    shutil.copy(CLAUDE_TRANSCRIPT, path)
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        row = record(ledger, "claude-code", CLAUDE_ID, path)
        ledger.save_checkpoints("claude-code", CLAUDE_ID, {}, expected_version=row.version)
        row = record(ledger, "claude-code", CLAUDE_ID, path)
        summary = summary_of(row)
    assert summary is not None
    assert _totals(summary) == _truth_totals(CLAUDE_DIR)
    assert summary.duplicate_responses.responses == 0


# ---- time over all of a session's files, in any order ------------------------------


def test_subagent_working_while_main_file_is_silent_counts(tmp_path: Path) -> None:
    main = tmp_path / "projects" / "-p" / "s1.jsonl"
    side = main.parent / "s1" / "subagents" / "agent-a.jsonl"
    side.parent.mkdir(parents=True)
    main.write_text(
        _event("2026-11-21T10:00:00Z", "s1") + "\n" + _event("2026-11-21T10:30:00Z", "s1") + "\n"
    )
    side.write_text(
        "".join(
            _event(f"2026-11-21T10:{m:02d}:00Z", "s1", isSidechain=True) + "\n"
            for m in range(1, 30)
        )
    )
    summary = summarize(*_parsed(main))
    assert summary.active_seconds == 30 * 60  # not 5 min: the main file alone
    assert summary.days[0].active_seconds == 30 * 60


def test_events_out_of_order_count(tmp_path: Path) -> None:
    """Claude Code writes a /compact line after the compaction it precedes."""
    path = tmp_path / "s.jsonl"
    stamps = ["10:00", "10:10", "10:06", "10:12"]  # sorted gaps: 6 (5 counted), 4, 2
    path.write_text("".join(_event(f"2026-11-21T{t}:00Z", "s") + "\n" for t in stamps))
    summary = summarize([parse_file(path)])
    assert summary.active_seconds == 11 * 60  # was 7 min: 10:06 was measured from 10:10
    assert summary.wall_seconds == 12 * 60


def test_clock_stepping_back_adds_no_wall_time(tmp_path: Path) -> None:
    """A 6-minute session whose clock stepped back 3 hours is 6 minutes, not 2.99 h."""
    path = tmp_path / "s.jsonl"
    stamps = ["12:00", "12:03", "09:03", "09:06"]
    path.write_text("".join(_event(f"2026-11-21T{t}:00Z", "s") + "\n" for t in stamps))
    summary = summarize([parse_file(path)])
    assert summary.wall_seconds == 6 * 60
    assert summary.active_seconds == 6 * 60
    assert [d.wall_seconds for d in summary.days] == [6 * 60]


def _reference_active(stamps: list[float], idle: float) -> float:
    ordered = sorted(set(stamps))
    return sum(min(b - a, idle) for a, b in itertools.pairwise(ordered))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    minutes=st.lists(st.integers(0, 24 * 60), min_size=1, max_size=30),
    sides=st.lists(st.booleans(), min_size=30, max_size=30),
    cut=st.integers(0, 30),
    in_order=st.booleans(),
)
def test_time_is_exact_in_any_order_and_in_two_halves(
    minutes: list[int], sides: list[bool], cut: int, in_order: bool, tmp_path: Path
) -> None:
    """Events over a main file and a subagent file: written in order within each file,
    active time is the gaps between all events sorted, each capped at the threshold; in any
    order, reading in two halves (with a checkpoint between) gives what one read gives."""
    start = 1_795_300_000.0  # 2026-11-21T...Z
    main_stamps = [m for m, side in zip(minutes, sides, strict=False) if not side]
    side_stamps = [m for m, side in zip(minutes, sides, strict=False) if side]
    if in_order:
        main_stamps, side_stamps = sorted(main_stamps), sorted(side_stamps)
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    main = folder / "s.jsonl"
    side = folder / "s" / "subagents" / "agent-1.jsonl"
    side.parent.mkdir(parents=True)

    def lines(stamps: list[int]) -> list[str]:
        return [_event(_iso(start + 60 * m), "s") + "\n" for m in stamps]

    main_lines, side_lines = lines(main_stamps), lines(side_stamps)
    main.write_text("".join(main_lines))
    side.write_text("".join(side_lines))
    once = summarize(*_parsed(main))
    if in_order:
        assert once.active_seconds == pytest.approx(
            _reference_active([start + 60 * m for m in minutes], 300.0)
        )
        assert once.wall_seconds == pytest.approx(60.0 * (max(minutes) - min(minutes)))
    # The same files written in two goes, read after each with a JSON checkpoint between.
    main.write_text("".join(main_lines[: cut // 2]))
    side.write_text("".join(side_lines[: cut // 2]))
    states, paths = parse_session(main, agent="claude-code")
    known = {
        str(p): ParseState.from_dict(json.loads(json.dumps(s.to_dict())))
        for p, s in zip(paths, states, strict=True)
    }
    main.write_text("".join(main_lines))
    side.write_text("".join(side_lines))
    states, paths = parse_session(main, agent="claude-code", states=known)
    twice = summarize(states, [str(p) for p in paths])
    assert twice.active_seconds == pytest.approx(once.active_seconds)
    assert twice.wall_seconds == pytest.approx(once.wall_seconds)
    assert [d.active_seconds for d in twice.days] == pytest.approx(
        [d.active_seconds for d in once.days]
    )
    assert [d.wall_seconds for d in twice.days] == pytest.approx(
        [d.wall_seconds for d in once.days]
    )


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- Claude Code 2.0.x subagent files beside the session ---------------------------


def _sibling_layout(root: Path) -> tuple[Path, Path]:
    project = root / "projects" / "-home-dev-src-acme-api"
    project.mkdir(parents=True)
    main = project / f"{CLAUDE_ID}.jsonl"
    shutil.copy(CLAUDE_TRANSCRIPT, main)
    sibling = project / "agent-5e1f2a3b.jsonl"
    sibling.write_text(
        json.dumps(
            {
                "parentUuid": None,
                "isSidechain": True,
                "userType": "external",
                "cwd": "/home/dev/src/acme-api",
                "sessionId": CLAUDE_ID,
                "version": "2.0.14",
                "agentId": "5e1f2a3b",
                "type": "assistant",
                "timestamp": "2026-11-21T22:00:51.000Z",
                "requestId": "req_sibling",
                "message": {
                    "id": "msg_sibling",
                    "model": "claude-haiku-4-5",
                    "usage": {"input_tokens": 11, "output_tokens": 22},
                },
            }
        )
        + "\n"
    )
    return main, sibling


def test_sibling_agent_files_bill_to_their_session(tmp_path: Path) -> None:
    main, sibling = _sibling_layout(tmp_path)
    found = list(discover("claude-code", roots={"claude-code": [tmp_path]}))
    assert [(m, sides) for _, m, sides in found] == [(main, [sibling])]
    assert main_file(None, sibling) == main
    assert main_file(None, main) == main
    assert locate(sibling, [("claude-code", tmp_path / "projects")]) == ("claude-code", main)
    summary = summarize(*_parsed(sibling if False else main))
    assert summary.session_id == CLAUDE_ID
    assert summary.models["claude-haiku-4-5"].output_tokens == 22
    assert summary.side_paths == [str(sibling)]


def test_sibling_agent_files_bill_to_their_session_through_backfill(tmp_path: Path) -> None:
    _main, _sibling = _sibling_layout(tmp_path / "claude")
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        run_backfill(
            BackfillOptions(roots={"claude-code": [tmp_path / "claude"]}, workers=1), ledger
        )
        rows = ledger.sessions()
        assert [r.session_id for r in rows] == [CLAUDE_ID]
        summary = summary_of(rows[0])
    assert summary is not None and summary.models["claude-haiku-4-5"].output_tokens == 22


# ---- the smaller points ------------------------------------------------------------


def test_a_session_without_usage_costs_zero(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(_event("2026-11-21T10:00:00Z", "s") + "\n")
    summary = summarize([parse_file(path)])
    assert summary.cost_usd == 0
    assert summary.models == {}


def test_an_all_zero_model_row_is_not_shown(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    zero = json.loads(_claude_response("2026-11-21T10:00:00Z", 1, session="s"))
    zero["message"]["model"] = "claude-haiku-4-5"
    zero["message"]["usage"] = {"input_tokens": 0, "output_tokens": 0}
    path.write_text(
        json.dumps(zero) + "\n" + _claude_response("2026-11-21T10:01:00Z", 2, session="s") + "\n"
    )
    summary = summarize([parse_file(path)])
    assert list(summary.models) == [MODEL]
    assert all(list(d.models) == [MODEL] for d in summary.days)


def test_agent_version_is_the_one_the_session_started_with(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(
        _event("2026-11-21T10:00:00Z", "s", version="1.0.98")
        + "\n"
        + _event("2026-11-21T10:01:00Z", "s", version="2.0.14")
        + "\n"
    )
    assert summarize([parse_file(path)]).agent_version == "1.0.98"


def test_codex_rollout_without_session_meta_takes_the_file_name_id(tmp_path: Path) -> None:
    lines = CODEX_TRANSCRIPT.read_text().split("\n", 1)[1]
    path = tmp_path / f"rollout-2025-09-01T10-00-00-{FORK_ID}.jsonl"
    path.write_text(lines)
    summary = summarize([parse_file(path, agent="codex")])
    assert summary.session_id == FORK_ID
    assert _totals(summary) == _truth_totals(CODEX_DIR)


# ---- transcripts other people published (tests/fixtures/README.md) -----------------

WILD = Path(__file__).parent / "fixtures" / "wild"


def _unpack(folder: Path, into: Path) -> Path:
    import gzip

    for packed in folder.rglob("*.jsonl.gz"):
        target = into / packed.relative_to(folder).with_suffix("")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(gzip.decompress(packed.read_bytes()))
    mains = sorted(into.glob("*.jsonl"))
    assert len(mains) == 1
    return mains[0]


def test_published_claude_code_2_1_39_session_with_subagents(tmp_path: Path) -> None:
    main = _unpack(WILD / "claude-code-2.1.39-spotter", tmp_path)
    states, paths = parse_session(main)
    summary = summarize(states, [str(p) for p in paths])
    # Counted here without the parser: usage once per response, timestamps sorted.
    usage: dict[tuple[str, str], dict[str, int]] = {}
    stamps: list[float] = []
    for path in paths:
        for line in path.read_text().splitlines():
            obj = json.loads(line)
            if isinstance(obj.get("timestamp"), str):
                stamps.append(datetime.fromisoformat(obj["timestamp"]).timestamp())
            message = obj.get("message")
            if isinstance(message, dict) and isinstance(message.get("usage"), dict):
                usage[(message["id"], obj["requestId"])] = message["usage"]
    expected = {
        key: sum(int(u.get(key) or 0) for u in usage.values())
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    }
    expected["output_tokens"] = sum(int(u["output_tokens"]) for u in usage.values())
    assert len(paths) == 3  # the main file, a subagent, a compaction agent
    assert summary.session_id == main.stem and summary.agent_version == "2.1.39"
    assert {k: getattr(summary.totals, k) for k in expected} == expected
    assert summary.duplicate_responses.responses == 0
    assert summary.unpriced_models == [] and summary.cost_usd is not None
    assert summary.active_seconds == pytest.approx(_reference_active(stamps, 300.0), abs=1e-3)


@pytest.mark.parametrize(
    "name",
    [
        "rollout-2026-02-23T12-41-04-019c8a4d-8f45-7010-8b5d-7fad920aa6f9.jsonl",
        "rollout-2026-02-23T20-34-25-019c8bfe-ec25-79e0-97d7-bda6a9c575ff.jsonl",
    ],
)
def test_published_codex_0_104_rollouts(name: str, tmp_path: Path) -> None:
    import gzip

    packed = WILD / "codex-0.104.0-localpush" / f"{name}.gz"
    path = tmp_path / name
    path.write_bytes(gzip.decompress(packed.read_bytes()))
    summary = summarize(*_parsed_as(path, "codex"))
    # Counted here without the parser: the last running total the rollout reports.
    last = [
        json.loads(line)["payload"]["info"]["total_token_usage"]
        for line in path.read_text().splitlines()
        if '"total_token_usage"' in line
    ][-1]
    assert summary.totals.input_tokens == last["input_tokens"] - last["cached_input_tokens"]
    assert summary.totals.cache_read_input_tokens == last["cached_input_tokens"]
    assert summary.totals.output_tokens == last["output_tokens"]
    assert summary.totals.reasoning_output_tokens == last["reasoning_output_tokens"]
    assert summary.agent_version == "0.104.0-alpha.1"
    assert summary.session_id is not None and name.endswith(f"{summary.session_id}.jsonl")
    assert summary.duplicate_responses.responses == 0
    assert summary.unpriced_models == []


def _parsed_as(path: Path, agent: str) -> tuple[list[ParseState], list[str]]:
    states, paths = parse_session(path, agent=agent)
    return states, [str(p) for p in paths]


def test_parse_shows_copies_and_reads_a_sibling_file_as_its_session(tmp_path: Path) -> None:
    first, replay = _replayed_claude()
    path = tmp_path / f"{CLAUDE_ID}.jsonl"
    path.write_text(first + replay)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KEITO_SKILL_HOME": str(tmp_path)}
    shown = cli("parse", str(path), env=env)
    assert shown.returncode == 0, shown.stderr
    assert "copies    4 responses written again" in shown.stdout
    as_json = json.loads(cli("parse", "--json", str(path), env=env).stdout)
    assert as_json["duplicate_responses"]["responses"] == 4
    main, sibling = _sibling_layout(tmp_path / "claude")
    of_sibling = json.loads(cli("parse", "--json", str(sibling), env=env).stdout)
    assert of_sibling["session_id"] == CLAUDE_ID
    assert of_sibling["transcript_path"] == str(main)
    assert of_sibling["side_paths"] == [str(sibling)]


def test_a_session_file_read_under_a_new_path_keeps_its_responses(tmp_path: Path) -> None:
    """The same transcript reached by another path (a symlinked config directory): its
    responses are the session's own, not copies of what it owned under the old path."""
    real = tmp_path / "real"
    real.mkdir()
    path = real / f"{CLAUDE_ID}.jsonl"
    shutil.copy(CLAUDE_TRANSCRIPT, path)
    (tmp_path / "link").symlink_to(real)
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        record(ledger, "claude-code", CLAUDE_ID, path)
        row = record(ledger, "claude-code", CLAUDE_ID, tmp_path / "link" / path.name)
        summary = summary_of(row)
    assert summary is not None
    assert list(row.checkpoints) == [str(tmp_path / "link" / path.name)]
    assert _totals(summary) == _truth_totals(CLAUDE_DIR)
    assert summary.duplicate_responses.responses == 0
