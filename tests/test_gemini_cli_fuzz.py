"""Property tests: mangled Gemini CLI files never make the readers raise or double count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keito_skill.agents.gemini_cli.telemetry import parse_telemetry
from keito_skill.agents.gemini_cli.transcript import parse_file
from keito_skill.summary import summarize
from keito_skill.transcripts import ParseState
from keito_skill.transcripts._state import TOKEN_FIELDS
from tests.gemini_data import SIMPLE, TELEMETRY, TOOLUSE, gemini_truth, session_of

FILES = {"simple": SIMPLE, "tooluse": TOOLUSE}
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
names = st.sampled_from(sorted(FILES))
JUNK = [
    b"\n",
    b"   \n",
    b"\xff\xfe\x00garbage\n",
    b"[1, 2, 3]\n",
    b"null\n",
    b'{"$set": 5}\n',
    b'{"$set": {"messages": "x", "lastUpdated": 7}}\n',
    b'{"$rewindTo": "abc"}\n',
    b'{"id": "z", "type": "gemini", "tokens": {"input": "x"}, "model": 5}\n',
    b'{"id": "z", "type": "gemini", "tokens": 7, "toolCalls": [1, null]}\n',
    b'{"type": "user", "content": {"text": 1}, "timestamp": "not a date"}\n',
    b'{"timestamp": 1e400, "type": "user"}\n',
    b'{"sessionId": 5, "projectHash": null}\n',
    b'{"a": "' + b"x" * 200_000 + b'"}\n',
]


def _totals(state: ParseState) -> dict[str, int]:
    summary = summarize([state])
    return {key: getattr(summary.totals, key) for key in TOKEN_FIELDS}


def _truth(name: str) -> dict[str, int]:
    per_model = gemini_truth(session_of(FILES[name]), {"main"})
    return {key: sum(m[key] for m in per_model.values()) for key in TOKEN_FIELDS}


@st.composite
def mangled(draw: st.DrawFn, lines: list[bytes]) -> list[bytes]:
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
            out.extend([line, draw(st.sampled_from(JUNK))])
    if out and draw(st.booleans()):
        out[-1] = out[-1].rstrip(b"\n")  # the CLI is still writing the last line
    return out


@SETTINGS
@given(data=st.data(), name=names)
def test_mangled_never_raises_and_resumes_identically(
    data: st.DataObject, name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    lines = data.draw(mangled(FILES[name].read_bytes().splitlines(keepends=True)))
    blob = b"".join(lines)
    path = tmp_path_factory.mktemp("fuzz") / "session.jsonl"
    path.write_bytes(blob)
    whole = parse_file(path)
    assert whole.offset <= len(blob)
    expected = summarize([whole]).model_dump()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(blob)), max_size=6)))
    state: ParseState | None = None
    for cut in [*cuts, len(blob)]:
        path.write_bytes(blob[:cut])
        state = parse_file(path, state=state)
        state = ParseState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert state is not None
    assert summarize([state]).model_dump() == expected


@SETTINGS
@given(data=st.data(), name=names)
def test_duplicated_lines_never_double_count(
    data: st.DataObject, name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    lines = FILES[name].read_bytes().splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 12))):
        source = data.draw(st.integers(0, len(lines) - 1))
        lines.insert(data.draw(st.integers(source + 1, len(lines))), lines[source])
    path = tmp_path_factory.mktemp("dup") / "session.jsonl"
    path.write_bytes(b"".join(lines))
    assert _totals(parse_file(path)) == _truth(name)


@SETTINGS
@given(data=st.data(), name=names)
def test_lost_lines_never_overcount(
    data: st.DataObject, name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    kept = [
        line
        for line in FILES[name].read_bytes().splitlines(keepends=True)
        if data.draw(st.booleans())
    ]
    path = tmp_path_factory.mktemp("drop") / "session.jsonl"
    path.write_bytes(b"".join(kept))
    got, expected = _totals(parse_file(path)), _truth(name)
    assert all(got[key] <= expected[key] for key in TOKEN_FIELDS)


@SETTINGS
@given(data=st.data())
def test_telemetry_damage_never_raises_or_overcounts(
    data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Telemetry values cut, dropped or damaged: never raises; without damage inside a
    value never more than was served; the same in pieces as at once."""
    sid = session_of(TOOLUSE)
    values = [v + b"\n}\n" for v in TELEMETRY.read_bytes().split(b"\n}\n") if v.strip()]
    out: list[bytes] = []
    flipped = False
    for value in values:
        action = data.draw(st.sampled_from(["keep"] * 4 + ["cut", "drop", "flip"]))
        flipped = flipped or action == "flip"
        if action == "keep":
            out.append(value)
        elif action == "cut":
            out.append(value[: data.draw(st.integers(0, len(value) - 1))])
        elif action == "flip":
            pos = data.draw(st.integers(0, len(value) - 4))
            out.append(value[:pos] + bytes([data.draw(st.integers(0, 255))]) + value[pos + 1 :])
    blob = b"".join(out)
    path = tmp_path_factory.mktemp("tel") / "telemetry.log"
    path.write_bytes(blob)
    whole = parse_telemetry(path, sid)
    router = gemini_truth(sid, {"utility_router"})
    # A flipped byte may turn a number into a bigger one, or "main" into another role.
    for model, vector in ({} if flipped else whole.model_totals()).items():
        assert all(vector[i] <= router[model][key] for i, key in enumerate(TOKEN_FIELDS))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(blob)), max_size=5)))
    state: ParseState | None = None
    for cut in [*cuts, len(blob)]:
        path.write_bytes(blob[:cut])
        state = parse_telemetry(path, sid, state=state)
        state = ParseState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert state is not None and state.model_totals() == whole.model_totals()


def test_empty_and_binary_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    summary = summarize([parse_file(empty)])
    assert summary.totals.total == 0 and summary.days == []
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(bytes(b for b in range(256) if b != 10) * 100 + b"\n")
    assert summarize([parse_file(binary)]).skipped_lines == 1
    assert parse_telemetry(binary, "s").model_totals() == {}


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_recorded_in_pieces_through_the_ledger_bills_every_request_once(
    data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Hooks (and late reads) at any points of the chat file and the telemetry file, the
    telemetry read again from its start by a lost checkpoint: the ledger's session always
    ends with exactly what was served, every role, never more on the way."""
    import os

    from keito_skill.ledger import Ledger
    from keito_skill.recorder import record
    from keito_skill.sync._materialize import summary_of

    sid = session_of(TOOLUSE)
    tmp = tmp_path_factory.mktemp("ledger")
    chat_blob, tel_blob = TOOLUSE.read_bytes(), TELEMETRY.read_bytes()
    chat, tel = tmp / "chats" / TOOLUSE.name, tmp / "telemetry.log"
    chat.parent.mkdir()
    settings_file = tmp / "ghome" / ".gemini" / "settings.json"
    settings_file.parent.mkdir(parents=True)
    settings_file.write_text(json.dumps({"telemetry": {"enabled": True, "outfile": str(tel)}}))
    truth = {k: sum(m[k] for m in gemini_truth(sid).values()) for k in TOKEN_FIELDS}
    steps = data.draw(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), max_size=5))
    old = os.environ.get("GEMINI_CLI_HOME")
    os.environ["GEMINI_CLI_HOME"] = str(tmp / "ghome")
    try:
        with Ledger(tmp / "ledger.sqlite3") as ledger:
            for a, b in [*sorted(steps), (1.0, 1.0)]:
                chat.write_bytes(chat_blob[: int(len(chat_blob) * a)])
                tel.write_bytes(tel_blob[: int(len(tel_blob) * b)])
                row = record(ledger, "gemini-cli", sid, chat)
                summary = summary_of(row)
                got = {k: getattr(summary.totals, k) for k in TOKEN_FIELDS} if summary else {}
                assert all(got.get(k, 0) <= truth[k] for k in TOKEN_FIELDS)
                if data.draw(st.booleans()):  # a lost telemetry checkpoint: read again
                    row = ledger.session("gemini-cli", sid)
                    assert row is not None
                    kept = {p: c for p, c in row.checkpoints.items() if p != str(tel)}
                    ledger.save_checkpoints("gemini-cli", sid, kept, expected_version=row.version)
            row = record(ledger, "gemini-cli", sid, chat)
            summary = summary_of(row)
            assert summary is not None
            assert {k: getattr(summary.totals, k) for k in TOKEN_FIELDS} == truth
            assert summary.usage_incomplete is None
    finally:
        if old is None:
            os.environ.pop("GEMINI_CLI_HOME", None)
        else:
            os.environ["GEMINI_CLI_HOME"] = old
