"""The generated corpus is deterministic, shaped like the real agents' files, and its truth
is what our parser reads from it (so backfill tests and benchmarks can trust it)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from bench.corpus import generate, load
from keito_skill.summary import summarize
from keito_skill.transcripts import discover, parse_session, session_id_for

pytestmark = pytest.mark.usefixtures("utc")


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.jsonl"))
    }


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    one = generate(tmp_path / "a", size_bytes=1_500_000, seed=3)
    two = generate(tmp_path / "b", size_bytes=1_500_000, seed=3)
    other = generate(tmp_path / "c", size_bytes=1_500_000, seed=4)
    assert _tree_digest(one.root) == _tree_digest(two.root)
    assert _tree_digest(one.root) != _tree_digest(other.root)
    assert one.bytes == sum(p.stat().st_size for p in one.root.rglob("*.jsonl"))
    assert 1_500_000 <= one.bytes < 3_000_000
    assert {s.agent for s in one.sessions} == {"claude-code", "codex"}
    reloaded = load(one.root)
    assert [(s.session_id, s.path) for s in reloaded.sessions] == [
        (s.session_id, s.path) for s in one.sessions
    ]
    assert reloaded.totals() == one.totals()


def test_truth_is_what_the_parser_reads(tmp_path: Path) -> None:
    corpus = generate(tmp_path, size_bytes=4_000_000, seed=5, mean_session_bytes=30_000)
    by_key = {(s.agent, s.session_id): s for s in corpus.sessions}
    seen = 0
    for agent, main, sides in discover(
        roots={"claude-code": [corpus.claude_dir], "codex": [corpus.codex_dir]}
    ):
        truth = by_key[(agent, session_id_for(agent, main))]
        assert sorted(str(p) for p in sides) == sorted(truth.side_paths)
        states, paths = parse_session(main, agent=agent, sides=sides)
        summary = summarize(states, [str(p) for p in paths])
        assert summary.session_id == truth.session_id
        assert summary.cwd == truth.cwd
        models = {m: u.model_dump(exclude={"cost_usd"}) for m, u in summary.models.items()}
        assert models == truth.tokens
        assert [d.date.isoformat() for d in summary.days] == truth.days
        for day in summary.days:
            per_model = {m: u.model_dump(exclude={"cost_usd"}) for m, u in day.models.items()}
            assert per_model == truth.day_tokens.get(day.date.isoformat(), {})
        assert summary.started_at is not None
        assert summary.started_at.timestamp() == pytest.approx(truth.first_ts, abs=0.001)
        if agent == "claude-code":
            assert summary.cost_source == "agent"
            assert summary.cost_usd == pytest.approx(truth.agent_cost_usd, abs=1e-6)
        assert main.stat().st_mtime == pytest.approx(truth.last_ts, abs=1)
        seen += 1
    assert seen == len(corpus.sessions)


def test_shapes_carry_the_real_agents_traps(tmp_path: Path) -> None:
    corpus = generate(tmp_path, size_bytes=3_000_000, seed=9, big_line_bytes=300_000)
    claude = [s for s in corpus.sessions if s.agent == "claude-code"]
    codex = [s for s in corpus.sessions if s.agent == "codex"]
    ids: Counter[str] = Counter()
    usages: dict[str, set[str]] = {}
    kinds: Counter[str] = Counter()
    longest = 0
    for session in claude:
        for line in Path(session.path).read_text().splitlines():
            longest = max(longest, len(line))
            obj = json.loads(line)
            kinds[obj["type"]] += 1
            if obj["type"] == "assistant":
                message = obj["message"]
                ids[message["id"]] += 1
                usages.setdefault(message["id"], set()).add(json.dumps(message["usage"]))
    assert max(ids.values()) >= 2  # one line per content block...
    assert all(len(u) == 1 for u in usages.values())  # ...each repeating the same usage
    assert kinds["cost-state"] > 0 and kinds["queue-operation"] > 0
    assert longest > 50_000  # big tool results

    repeated = 0
    records = 0
    for session in codex:
        lines = Path(session.path).read_text().splitlines()
        assert json.loads(lines[0])["type"] == "session_meta"
        totals = [
            json.dumps(obj["payload"]["info"]["total_token_usage"])
            for obj in map(json.loads, lines)
            if obj["type"] == "event_msg" and obj["payload"]["type"] == "token_count"
        ]
        repeated += len(totals) - len(set(totals))
        records += sum('"type":"token_usage_record"' in line for line in lines)
    assert repeated > 0 and records > 0
