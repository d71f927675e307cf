"""The quick path for long tool-output lines changes nothing but speed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import keito_skill.transcripts as transcripts
from bench.corpus import generate
from keito_skill.transcripts import discover, parse_session


def _checkpoints(root: Path) -> dict[str, list[str]]:
    out = {}
    for agent, main, sides in discover(
        None, roots={"claude-code": [root / "claude"], "codex": [root / "codex"]}
    ):
        states, _ = parse_session(main, agent=agent, sides=sides)
        out[str(main)] = [json.dumps(s.to_dict(), sort_keys=True) for s in states]
    return out


def test_quick_and_full_decoding_agree_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = generate(tmp_path, size_bytes=6_000_000, seed=11, big_line_bytes=60_000)
    long_lines = sum(
        1 for p in tmp_path.rglob("*.jsonl") for line in p.open("rb") if len(line) >= 8192
    )
    assert long_lines > 20  # the corpus really exercises the quick path
    quick = _checkpoints(tmp_path)
    monkeypatch.setattr(transcripts, "QUICK_MIN_BYTES", 10**15)
    full = _checkpoints(tmp_path)
    assert quick == full
    assert len(quick) == len(corpus.sessions)


def test_quick_path_declines_what_it_cannot_read_whole(tmp_path: Path) -> None:
    """A long user *prompt* (no tool result) must still count as a prompt."""
    head = {"type": "user", "sessionId": "s", "cwd": "/r", "timestamp": "2026-11-21T10:00:00Z"}
    lines = [
        json.dumps({**head, "message": {"role": "user", "content": "short"}}),
        json.dumps({**head, "message": {"role": "user", "content": "long " * 5000}}),
    ]
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join(lines) + "\n")
    states, _ = parse_session(path, agent="claude-code")
    assert states[0].turns == 2
