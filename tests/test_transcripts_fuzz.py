"""Property tests: mangled transcripts never make the parser raise or double count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keito_skill.summary import summarize
from keito_skill.transcripts import ParseState, parse_file
from keito_skill.transcripts._state import TOKEN_FIELDS
from tests.transcript_data import CLAUDE_DIR, CLAUDE_TRANSCRIPT, CODEX_DIR, CODEX_TRANSCRIPT, truth

FIXTURES = {
    "claude-code": (CLAUDE_TRANSCRIPT.read_bytes().splitlines(keepends=True), CLAUDE_DIR),
    "codex": (CODEX_TRANSCRIPT.read_bytes().splitlines(keepends=True), CODEX_DIR),
}
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
agents = st.sampled_from(sorted(FIXTURES))


def _totals(path: Path, agent: str) -> dict[str, int]:
    summary = summarize([parse_file(path, agent=agent)])
    return {key: getattr(summary.totals, key) for key in TOKEN_FIELDS}


def _truth_totals(agent: str) -> dict[str, int]:
    per_model = truth(FIXTURES[agent][1])
    return {key: sum(m[key] for m in per_model.values()) for key in TOKEN_FIELDS}


@st.composite
def mangled(draw: st.DrawFn, lines: list[bytes]) -> list[bytes]:
    """Lines with random damage: cut, garbage, bad UTF-8, wrong types, blanks, huge."""
    out: list[bytes] = []
    for line in lines:
        action = draw(st.sampled_from(["keep"] * 6 + ["cut", "flip", "drop", "dup", "junk"]))
        if action == "keep":
            out.append(line)
        elif action == "cut":
            out.append(line[: draw(st.integers(0, max(0, len(line) - 2)))] + b"\n")
        elif action == "flip":
            pos = draw(st.integers(0, max(0, len(line) - 2)))
            out.append(line[:pos] + bytes([draw(st.integers(0, 255))]) + line[pos + 1 :])
        elif action == "dup":
            out.extend([line, line])
        elif action == "junk":
            out.append(line)
            out.append(
                draw(
                    st.sampled_from(
                        [
                            b"\n",
                            b"   \n",
                            b"\xff\xfe\x00garbage\n",
                            b"[1, 2, 3]\n",
                            b'"just a string"\n',
                            b"null\n",
                            b'{"type": "assistant", "message": 5}\n',
                            b'{"type": "event_msg", "payload": {"type": "token_count", "info": 7}}'
                            b"\n",
                            b'{"type": "assistant", "message": {"usage": {"input_tokens": "x"}}}\n',
                            b'{"timestamp": "not a date", "type": "user"}\n',
                            b'{"timestamp": 1e400}\n',
                            b'{"type": "unknown-future-entry", "sessionId": "z"}\n',
                            b'{"a": "' + b"x" * 200_000 + b'"}\n',
                        ]
                    )
                )
            )
    if out and draw(st.booleans()):
        out[-1] = out[-1].rstrip(b"\n")  # the agent is still writing the last line
    return out


@SETTINGS
@given(data=st.data(), agent=agents)
def test_mangled_never_raises_and_resumes_identically(
    data: st.DataObject, agent: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    lines = data.draw(mangled(FIXTURES[agent][0]))
    blob = b"".join(lines)
    path = tmp_path_factory.mktemp("fuzz") / "t.jsonl"
    path.write_bytes(blob)
    whole = parse_file(path, agent=agent)
    summary = summarize([whole])
    assert summary.skipped_lines >= 0
    assert whole.offset <= len(blob)

    # Any cut points, checkpoint round-tripped through JSON: same answer as one read.
    cuts = sorted(data.draw(st.lists(st.integers(0, len(blob)), max_size=6)))
    state: ParseState | None = None
    for cut in [*cuts, len(blob)]:
        path.write_bytes(blob[:cut])
        state = parse_file(path, agent=agent, state=state)
        state = ParseState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert state is not None
    assert summarize([state]).model_dump() == summary.model_dump()


@SETTINGS
@given(data=st.data(), agent=agents)
def test_duplicated_lines_never_double_count(
    data: st.DataObject, agent: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Any line written again, anywhere after its first copy, adds no tokens."""
    lines = list(FIXTURES[agent][0])
    for _ in range(data.draw(st.integers(1, 12))):
        source = data.draw(st.integers(0, len(lines) - 1))
        target = data.draw(st.integers(source + 1, len(lines)))
        lines.insert(target, lines[source])
    path = tmp_path_factory.mktemp("dup") / "t.jsonl"
    path.write_bytes(b"".join(lines))
    assert _totals(path, agent) == _truth_totals(agent)


@SETTINGS
@given(data=st.data(), agent=agents)
def test_lost_lines_never_overcount(
    data: st.DataObject, agent: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    lines = FIXTURES[agent][0]
    kept = [line for line in lines if data.draw(st.booleans())]
    path = tmp_path_factory.mktemp("drop") / "t.jsonl"
    path.write_bytes(b"".join(kept))
    got = _totals(path, agent)
    expected = _truth_totals(agent)
    assert all(got[key] <= expected[key] for key in TOKEN_FIELDS)


def test_empty_and_binary_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    summary = summarize([parse_file(empty, agent="codex")])
    assert summary.totals.total == 0 and summary.started_at is None and summary.days == []
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(bytes(b for b in range(256) if b != 10) * 100 + b"\n")
    summary = summarize([parse_file(binary, agent="claude-code")])
    assert summary.skipped_lines == 1
