"""Cost is per request: a session of many requests is never priced as one big request."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from keito_skill.pricing import price_vector
from keito_skill.summary import summarize
from keito_skill.transcripts import parse_file


def _claude(path: Path, requests: list[int], model: str = "claude-sonnet-4-5") -> Path:
    lines = [
        json.dumps(
            {
                "type": "assistant",
                "sessionId": "p1",
                "timestamp": f"2026-11-21T10:0{n}:00Z",
                "requestId": f"req{n}",
                "message": {"id": f"msg{n}", "model": model, "usage": {"input_tokens": tokens}},
            }
        )
        for n, tokens in enumerate(requests)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _rate(model: str) -> Decimal:
    one = price_vector(model, (1000, 0, 0, 0, 0, 0))
    assert one is not None
    return one / 1000


def test_many_small_requests_stay_on_the_base_tier(tmp_path: Path) -> None:
    summary = summarize([parse_file(_claude(tmp_path / "a.jsonl", [100_000] * 3))])
    assert summary.totals.input_tokens == 300_000
    assert Decimal(str(summary.cost_usd)) == _rate("claude-sonnet-4-5") * 300_000
    # Pricing the sum as one request would have put all of it on the long-context tier.
    from keito_skill.pricing import _calc

    one_request = _calc("claude-sonnet-4-5", (300_000, 0, 0, 0, 0, 0))
    assert one_request is not None and one_request > Decimal(str(summary.cost_usd))


def test_a_long_request_is_priced_on_its_own_tier(tmp_path: Path) -> None:
    from keito_skill.pricing import _calc

    summary = summarize([parse_file(_claude(tmp_path / "b.jsonl", [250_000, 50_000]))])
    long_price = _calc("claude-sonnet-4-5", (250_000, 0, 0, 0, 0, 0))
    assert long_price is not None
    expected = long_price + _rate("claude-sonnet-4-5") * 50_000
    assert summary.cost_usd == pytest.approx(float(expected), abs=1e-9)
    assert long_price > _rate("claude-sonnet-4-5") * 250_000  # the tier really is dearer


def test_long_part_survives_checkpoints(tmp_path: Path) -> None:
    path = _claude(tmp_path / "c.jsonl", [250_000, 50_000])
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0])
    state = parse_file(path)
    from keito_skill.transcripts import ParseState

    state = ParseState.from_dict(json.loads(json.dumps(state.to_dict())))
    path.write_text("".join(lines))
    resumed = summarize([parse_file(path, state=state)])
    assert resumed.cost_usd == summarize([parse_file(path)]).cost_usd


# Ids as routes write them (Bedrock, Vertex, gateways, dated aliases) and the model they
# name: priced as that model, shown as written.
ROUTED = [
    ("converse/jp.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5-20251001"),
    ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5-20250929"),
    ("global.anthropic.claude-opus-4-5-20251101-v1:0", "claude-opus-4-5-20251101"),
    ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5-20250929"),
    ("openrouter/anthropic/claude-sonnet-4.5", "claude-sonnet-4-5"),
    ("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5"),
    ("openai/gpt-5-codex", "gpt-5-codex"),
    ("gpt-5-1-codex-2025-11-13", "gpt-5.1-codex"),
]


@pytest.mark.parametrize(("written", "model"), ROUTED)
def test_routed_model_ids_are_priced_as_their_model(
    tmp_path: Path, written: str, model: str
) -> None:
    routed = summarize([parse_file(_claude(tmp_path / "r.jsonl", [1000], written))])
    plain = summarize([parse_file(_claude(tmp_path / "p.jsonl", [1000], model))])
    assert routed.cost_usd is not None and routed.cost_usd > 0
    assert routed.cost_usd == plain.cost_usd
    assert list(routed.models) == [written]  # the id stays as the agent wrote it
    assert routed.unpriced_models == []


def test_an_unknown_model_behind_a_route_stays_unpriced(tmp_path: Path) -> None:
    written = "us.anthropic.claude-nonesuch-9-20300101-v1:0"
    summary = summarize([parse_file(_claude(tmp_path / "u.jsonl", [1000], written))])
    assert summary.cost_usd is None
    assert summary.unpriced_models == [written]
