"""The transcript engine against real recorded transcripts: exact tokens, time, checkpoints."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from keito_skill.agents.codex import transcript as codex
from keito_skill.summary import summarize
from keito_skill.transcripts import (
    ParseState,
    detect_agent,
    parse_file,
    parse_session,
    session_id_for,
)
from tests.transcript_data import (
    CLAUDE_DIR,
    CLAUDE_TRANSCRIPT,
    CODEX_DIR,
    CODEX_TRANSCRIPT,
    TOKEN_KEYS,
    truth,
)

CASES = [
    pytest.param(CLAUDE_TRANSCRIPT, CLAUDE_DIR, "claude-code", id="claude-code"),
    pytest.param(CODEX_TRANSCRIPT, CODEX_DIR, "codex", id="codex"),
]


def _tokens(summary_models: dict[str, object]) -> dict[str, dict[str, int]]:
    return {
        model: {k: getattr(usage, k) for k in TOKEN_KEYS} for model, usage in summary_models.items()
    }


@pytest.mark.parametrize(("path", "folder", "agent"), CASES)
def test_tokens_equal_usage_truth_exactly(path: Path, folder: Path, agent: str) -> None:
    states, paths = parse_session(path)
    summary = summarize(states, [str(p) for p in paths])
    expected = truth(folder)
    assert summary.agent == agent
    assert _tokens(summary.models) == expected
    for key in TOKEN_KEYS:
        assert getattr(summary.totals, key) == sum(m[key] for m in expected.values())
    assert summary.skipped_lines == 0


def test_claude_fixture_details() -> None:
    summary = summarize(parse_session(CLAUDE_TRANSCRIPT)[0])
    assert summary.session_id == "cab679c4-8324-433f-b85d-880ae9d60f45"
    assert summary.agent_version == "2.1.328"
    assert summary.cwd == "/home/dev/src/acme-api"
    assert summary.git_branch == "master"
    assert summary.turns == 2
    assert summary.tool_calls == 2
    assert summary.last_assistant_message == "Step 4: done, the module looks fine."
    # The agent's own figure (cost-state line) reconciles with the counted tokens.
    assert summary.cost_source == "agent"
    assert summary.cost_usd == pytest.approx(0.046152, abs=1e-9)
    assert len(summary.days) == 1


def test_codex_fixture_details() -> None:
    summary = summarize(parse_session(CODEX_TRANSCRIPT)[0])
    assert summary.session_id == "01a20020-ab0e-7730-a912-3562a2e2218f"
    assert summary.agent_version == "0.169.0"
    assert summary.git_commit == "f68eb5be0318b61893ae2750db78e0a514f236d7"
    assert summary.turns == 2
    assert summary.tool_calls == 2
    assert summary.cost_source == "computed"
    assert summary.cost_usd is not None and summary.cost_usd > 0
    assert summary.last_assistant_message == "Step 4: done, the module looks fine."


@pytest.mark.parametrize(("path", "folder", "agent"), CASES)
def test_detects_agent_from_content(path: Path, folder: Path, agent: str, tmp_path: Path) -> None:
    renamed = tmp_path / "whatever.jsonl"
    shutil.copy(path, renamed)
    assert detect_agent(renamed) == agent


@pytest.mark.parametrize(("path", "folder", "agent"), CASES)
def test_resume_from_every_byte_gives_same_result(
    path: Path, folder: Path, agent: str, tmp_path: Path
) -> None:
    """Grow the file a chunk at a time (cut anywhere, even inside a line) with a JSON
    round-tripped checkpoint between reads: the end result equals one full read."""
    data = path.read_bytes()
    full = summarize([parse_file(path)]).model_dump()
    growing = tmp_path / path.name
    for step in (97, 1021, 4099):
        growing.write_bytes(b"")
        state: ParseState | None = None
        for cut in range(0, len(data) + step, step):
            growing.write_bytes(data[: min(cut, len(data))])
            state = parse_file(growing, agent=agent, state=state)
            state = ParseState.from_dict(json.loads(json.dumps(state.to_dict())))
        assert state is not None
        assert state.offset == len(data)
        resumed = summarize([state]).model_dump()
        assert resumed == full


def test_second_read_costs_only_new_bytes(tmp_path: Path) -> None:
    data = CLAUDE_TRANSCRIPT.read_bytes()
    lines = data.splitlines(keepends=True)
    half = b"".join(lines[: len(lines) // 2])
    target = tmp_path / "s.jsonl"
    target.write_bytes(half)
    state = parse_file(target, agent="claude-code")
    assert state.lines == len(lines) // 2
    target.write_bytes(data)
    state = parse_file(target, agent="claude-code", state=state)
    # Only the lines after the checkpoint were read the second time.
    assert state.lines == len(lines)
    assert state.offset == len(data)


def test_idle_gaps_are_capped_and_split_at_midnight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()
    events = [
        "2026-11-20T23:50:00Z",  # start
        "2026-11-20T23:58:00Z",  # +8 min gap -> 5 min active
        "2026-11-21T00:02:00Z",  # +4 min, crossing midnight: 2 min each day
        "2026-11-21T09:00:00Z",  # overnight gap -> 5 min, on the 21st
    ]
    lines = [
        json.dumps(
            {"type": "user", "sessionId": "s1", "timestamp": ts, "message": {"content": "hi"}}
        )
        for ts in events
    ]
    path = tmp_path / "s1.jsonl"
    path.write_text("\n".join(lines) + "\n")
    summary = summarize([parse_file(path)])
    by_day = {str(d.date): d.active_seconds for d in summary.days}
    assert by_day == {"2026-11-20": 300 + 120, "2026-11-21": 120 + 300}
    assert summary.active_seconds == 840
    assert summary.wall_seconds == (9 * 60 + 10) * 60
    first, second = summary.days
    assert first.started_at.isoformat().startswith("2026-11-20T23:50")
    assert second.ended_at.isoformat().startswith("2026-11-21T09:00")


def test_usage_split_by_day(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()

    def assistant(ts: str, mid: str, out: int) -> str:
        return json.dumps(
            {
                "type": "assistant",
                "sessionId": "s2",
                "timestamp": ts,
                "requestId": "r" + mid,
                "message": {
                    "id": mid,
                    "model": "claude-sonnet-4-5",
                    "content": [{"type": "text", "text": "ok"}],
                    "usage": {"input_tokens": 10, "output_tokens": out},
                },
            }
        )

    path = tmp_path / "s2.jsonl"
    path.write_text(
        assistant("2026-11-20T23:59:00Z", "m1", 5)
        + "\n"
        + assistant("2026-11-21T00:01:00Z", "m2", 7)
        + "\n"
    )
    summary = summarize([parse_file(path)])
    assert [d.totals.output_tokens for d in summary.days] == [5, 7]
    assert summary.totals.output_tokens == 12
    assert summary.cost_source == "computed"
    day_costs = [d.cost_usd for d in summary.days]
    assert all(c is not None for c in day_costs)
    assert sum(c for c in day_costs if c is not None) == pytest.approx(summary.cost_usd)


def test_unknown_model_is_flagged_not_zero(tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl"
    path.write_text(
        json.dumps(
            {
                "type": "assistant",
                "sessionId": "u",
                "timestamp": "2026-11-21T10:00:00Z",
                "message": {
                    "id": "m",
                    "model": "totally-new-model-9",
                    "usage": {"input_tokens": 3},
                },
            }
        )
        + "\n"
    )
    summary = summarize([parse_file(path)])
    assert summary.cost_usd is None
    assert summary.unpriced_models == ["totally-new-model-9"]
    assert summary.models["totally-new-model-9"].input_tokens == 3


def test_claude_streamed_partial_usage_counts_final_numbers(tmp_path: Path) -> None:
    """Older Claude Code versions wrote growing output counts on lines of one response."""
    rows = []
    for out in (1, 40, 120):
        rows.append(
            {
                "type": "assistant",
                "sessionId": "p",
                "timestamp": "2026-11-21T10:00:00Z",
                "requestId": "req1",
                "message": {
                    "id": "msg1",
                    "model": "claude-sonnet-4-5",
                    "usage": {"input_tokens": 50, "output_tokens": out},
                },
            }
        )
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = summarize([parse_file(path)])
    assert summary.totals.input_tokens == 50
    assert summary.totals.output_tokens == 120


def test_claude_subagent_files_belong_to_the_session(tmp_path: Path) -> None:
    project = tmp_path / "projects" / "-home-dev-src-acme-api"
    project.mkdir(parents=True)
    main = project / "cab679c4-8324-433f-b85d-880ae9d60f45.jsonl"
    shutil.copy(CLAUDE_TRANSCRIPT, main)
    side_dir = project / main.stem / "subagents"
    side_dir.mkdir(parents=True)
    (side_dir / "agent-1.jsonl").write_text(
        json.dumps(
            {
                "type": "assistant",
                "isSidechain": True,
                "sessionId": main.stem,
                "timestamp": "2026-11-21T22:00:51.000Z",
                "requestId": "req_side",
                "message": {
                    "id": "msg_side",
                    "model": "claude-haiku-4-5",
                    "usage": {"input_tokens": 11, "output_tokens": 22},
                },
            }
        )
        + "\n"
    )
    states, paths = parse_session(main)
    assert len(paths) == 2
    summary = summarize(states, [str(p) for p in paths])
    assert summary.models["claude-haiku-4-5"].output_tokens == 22
    assert (
        summary.models["claude-opus-5-5"].input_tokens
        == truth(CLAUDE_DIR)["claude-opus-5-5"]["input_tokens"]
    )
    # The agent's cost-state no longer covers every model counted: priced by us instead.
    assert summary.cost_source == "computed"


def _rollout(tmp_path: Path, first_line: str, name: str = "rollout-x.jsonl") -> Path:
    path = tmp_path / name
    path.write_text(first_line + "\n" + CODEX_TRANSCRIPT.read_text().split("\n", 1)[1])
    return path


def _meta(payload: str) -> str:
    return '{"timestamp":"2026-11-21T22:01:10.711Z","type":"session_meta","payload":' + payload


def test_codex_session_id_from_the_head_of_real_rollouts() -> None:
    """The recorded rollout's id is read from its first 4 KB, and equals the decoded one."""
    head = CODEX_TRANSCRIPT.read_bytes()[:4096]
    assert codex._META_ID.match(head) is not None  # the fast path, not the fallback
    assert session_id_for("codex", CODEX_TRANSCRIPT) == "01a20020-ab0e-7730-a912-3562a2e2218f"
    decoded = json.loads(CODEX_TRANSCRIPT.read_text().split("\n", 1)[0])["payload"]["id"]
    assert codex.session_id(CODEX_TRANSCRIPT) == decoded


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        # plain members before the id, as Codex writes them: read from the head
        ('{"account_scoped":true,"session_id":"s-1","id":"id-1","n":-3}}', "id-1"),
        # a nested member before the id: decoded in full
        ('{"git":{"branch":"main"},"id":"id-2"}}', "id-2"),
        # an escaped id: decoded, and unescaped
        ('{"id":"id\\u002d3"}}', "id-3"),
        # an empty id: the session_id member, as the parser takes it
        ('{"id":"","session_id":"s-4"}}', "s-4"),
        # an id that is no string: no id at all, for the parser too (then the file name)
        ('{"id":7,"session_id":"s-5"}}', None),
    ],
)
def test_codex_session_id_agrees_with_decoding(
    tmp_path: Path, payload: str, expected: str | None
) -> None:
    path = _rollout(tmp_path, _meta(payload))
    assert codex.session_id(path) == expected
    assert session_id_for("codex", path) == (expected or path.stem)
    assert parse_file(path, agent="codex").session_id == expected


def test_codex_session_id_falls_back_to_the_file_name(tmp_path: Path) -> None:
    uuid = "01a20020-ab0e-7730-a912-3562a2e2218f"
    path = _rollout(
        tmp_path, '{"type":"turn_context","payload":{}}', f"rollout-2026-x-{uuid}.jsonl"
    )
    assert codex.session_id(path) is None
    assert session_id_for("codex", path) == uuid
    assert codex.session_id(tmp_path / "missing.jsonl") is None
