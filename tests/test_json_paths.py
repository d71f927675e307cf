"""The two JSON paths (orjson in bulk work, the JSON module in a hook) give the same values,
and text that half a surrogate pair would make unencodable is mended where it enters."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from keito_skill import ledger as ledger_module
from keito_skill._text import whole_characters
from keito_skill.ledger import Ledger
from keito_skill.transcripts import _reader

LINES = [
    b'{"type":"user","message":{"content":"tidy the \\ud83d module"}}',  # a cut emoji
    b'{"type":"user","message":{"content":"a whole one: \\ud83d\\ude00"}}',
    b'{"k\\udc00ey":["\\udfff",{"x":"\\uDBFF!"}]}',  # lone halves in keys, lists, upper case
    b'{"cost":NaN,"big":123456789012345678901234567890}',  # what orjson refuses
    b'{"plain":"text","n":1.5}',
    b'{"a path":"C:\\\\ud83d"}',  # an escaped backslash, then plain text: left as it is
]


@pytest.fixture(params=["orjson", "json module"])
def json_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test once as a backfill does (orjson), once as a hook does (JSON module)."""
    if request.param == "json module":
        monkeypatch.setattr(_reader, "FAST_LOADS", None)
        monkeypatch.setattr(ledger_module, "_fast_loads", None)
        monkeypatch.setattr(ledger_module, "_fast_dumps", None)
    return str(request.param)


def _encodable(value: Any) -> None:
    """Raises if any string in ``value`` (keys included) could not be written as UTF-8."""
    if isinstance(value, str):
        value.encode()
    elif isinstance(value, dict):
        for key, item in value.items():
            _encodable(key)
            _encodable(item)
    elif isinstance(value, list):
        for item in value:
            _encodable(item)


@pytest.mark.parametrize("line", LINES)
def test_decode_gives_the_same_mended_values_either_way(
    line: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_orjson = _reader.decode(line)
    monkeypatch.setattr(_reader, "FAST_LOADS", None)
    without = _reader.decode(line)
    assert with_orjson is not None
    assert json.dumps(with_orjson, sort_keys=True) == json.dumps(without, sort_keys=True)
    _encodable(with_orjson)


def test_decode_mends_only_lone_halves() -> None:
    assert _reader.decode(LINES[0]) == {
        "type": "user",
        "message": {"content": "tidy the \ufffd module"},
    }
    assert _reader.decode(LINES[1]) == {"type": "user", "message": {"content": "a whole one: 😀"}}
    assert _reader.decode(LINES[2]) == {"k\ufffdey": ["\ufffd", {"x": "\ufffd!"}]}
    assert _reader.decode(LINES[5]) == {"a path": "C:\\ud83d"}
    assert whole_characters("\ud83d\ude00") == "\ufffd\ufffd"  # halves, even side by side


def test_checkpoints_round_trip_in_both_paths(json_path: str, tmp_path: Path) -> None:
    checkpoint = {
        "offset": 12,
        "first_prompt": "naïve — 😀",
        "cost_states": {"p": {"total": float("nan"), "models": {"m": {"cost": float("inf")}}}},
        "big": 2**70,
        "lines": [1.25, 1e16, None, True],
    }
    stored = ledger_module._dumps(checkpoint)
    back = ledger_module._loads(stored)
    # NaN and infinity become null in both paths, as orjson writes them
    assert back["cost_states"] == {"p": {"total": None, "models": {"m": {"cost": None}}}}
    assert {k: v for k, v in back.items() if k != "cost_states"} == {
        k: v for k, v in checkpoint.items() if k != "cost_states"
    }
    # what either path wrote, either decoder reads to the same value
    assert orjson.loads(stored) == back == json.loads(stored)


def test_a_ledger_written_with_lone_halves_is_read_mended(tmp_path: Path) -> None:
    """Ledgers written before the mending hold ``\\ud83d`` escapes orjson refuses to read:
    they are read with the JSON module and mended, instead of failing every later sync."""
    path = tmp_path / "ledger.sqlite3"
    with Ledger(path) as ledger:
        row = ledger.touch_session("claude-code", "s1", transcript_path="/t.jsonl", cwd="/repo")
        assert ledger.save_checkpoints(
            "claude-code", "s1", {"/t.jsonl": {"offset": 1}}, expected_version=row.version
        )
    legacy = json.dumps({"/t.jsonl": {"offset": 1, "first_prompt": "cut \ud83d"}})
    assert "\\ud83d" in legacy
    with sqlite3.connect(path) as db:
        db.execute("UPDATE sessions SET checkpoints = ?", (legacy,))
        db.execute("PRAGMA user_version = 5")  # written by a ledger before schema v6
    with Ledger(path) as ledger:
        row = ledger.session("claude-code", "s1")
    assert row is not None
    assert row.checkpoints["/t.jsonl"]["first_prompt"] == "cut \ufffd"
    _encodable(row.checkpoints)


def test_a_token_count_over_64_bits_skips_its_line_in_both_paths(
    json_path: str, tmp_path: Path
) -> None:
    """orjson reads an integer over 64 bits as a float, the JSON module as an integer: a
    count that large is damage either way, and both skip its line (nothing from it is
    billed) rather than one of them billing the line's other counts."""
    from keito_skill.transcripts import parse_file

    def usage(n: int, output: int) -> bytes:
        return orjson.dumps(
            {
                "type": "assistant",
                "sessionId": "s1",
                "timestamp": f"2026-11-20T10:0{n}:00Z",
                "requestId": f"r{n}",
                "message": {
                    "id": f"m{n}",
                    "model": "claude-sonnet-4-5",
                    "usage": {"input_tokens": 100, "output_tokens": 5},
                },
            }
        ).replace(b'"output_tokens":5', b'"output_tokens":%d' % output)

    path = tmp_path / "s1.jsonl"
    path.write_bytes(b"\n".join([usage(1, 5), usage(2, 2**64), usage(3, 7)]) + b"\n")
    state = parse_file(path, agent="claude-code")
    assert state.skipped_lines == 1
    assert state.model_totals()["claude-sonnet-4-5"][:4] == [200, 0, 0, 12]
