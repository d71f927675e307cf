"""The small benchmark as a regression test: ratios only, never absolute times.

Fails only on gross regressions (a checkpoint no longer honoured, a hook whose cost grows
with the transcript, a heavy import on the hook path, ccusage suddenly far ahead, tokens
that stop matching). Deselect with ``-m "not bench"``; ~1 minute on 2 cores. When npm or
the registry is unavailable the ccusage comparison is skipped with the reason; our own
second-run and hook-growth checks still run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import ccusage, hook_latency, throughput, without_parse
from bench._common import CACHE, corpus, corpus_files

pytestmark = pytest.mark.bench

CORPUS_BYTES = 30_000_000
HOOK_DONOR_BYTES = 230_000_000
HOOK_RUNS = 10
# Gross-regression bounds (today on 2 cores: ~4.5x, ~6.6x, ~1.03x; see bench/README.md).
MAX_OURS_OVER_CCUSAGE = 15.0
MIN_FIRST_OVER_SECOND = 3.0
MAX_HOOK_GROWTH = 2.0


@pytest.fixture(scope="module")
def npm_ccusage() -> tuple[Path | None, str | None]:
    return ccusage.ensure(timeout=120)


@pytest.fixture(scope="module")
def measured(
    tmp_path_factory: pytest.TempPathFactory, npm_ccusage: tuple[Path | None, str | None]
) -> dict[str, Any]:
    made = corpus(CORPUS_BYTES)
    work = tmp_path_factory.mktemp("bench-throughput")
    return throughput.measure(made, work, with_ccusage=npm_ccusage[0] is not None)


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    donor = corpus(HOOK_DONOR_BYTES)
    work = tmp_path_factory.mktemp("bench-hooks")
    return hook_latency.measure(donor, work, sizes=[1_000_000, 100_000_000], runs=HOOK_RUNS)


def test_second_run_reads_nothing_and_is_much_faster(measured: dict[str, Any]) -> None:
    record = measured["ours_record"]
    assert record["first_summary"]["bytes_read"] == measured["corpus"]["bytes"]
    assert record["second_summary"]["bytes_read"] == 0
    assert record["second_summary"]["sessions_unchanged"] == measured["corpus"]["sessions"]
    assert measured["ratios"]["first_over_second"] >= MIN_FIRST_OVER_SECOND, measured["ratios"]


def test_python_floor_reads_every_line(measured: dict[str, Any]) -> None:
    """The floor is only a floor if it saw the whole corpus, and decoded some usage."""
    files = corpus_files(corpus(CORPUS_BYTES).root)
    floor = measured["python_floor"]
    assert floor["lines"] == sum(path.read_bytes().count(b"\n") for path in files)
    assert 0 < floor["usage_lines"] < floor["lines"]


def test_backfill_without_parsing_gives_the_same_report(measured: dict[str, Any]) -> None:
    """The parse-free run (``bench/without_parse.py``) is refused unless its report equals
    the parsed one; here it must also have covered every session."""
    free = measured["without_parse"]
    assert free["sessions"] == measured["corpus"]["sessions"]
    assert free["served_seconds"] > 0 and free["parsed_seconds"] > 0


def test_without_parse_digest_sees_results_not_timings() -> None:
    report = {
        "sessions": [{"session_id": "s1", "totals": {"input_tokens": 5}}],
        "summary": {"seconds": 1.5, "mb_per_second": 10.0, "bytes_read": 100},
    }
    slower = {**report, "summary": {**report["summary"], "seconds": 9.0, "mb_per_second": 1.0}}
    other = {**report, "sessions": [{"session_id": "s1", "totals": {"input_tokens": 6}}]}
    assert without_parse._digest(slower) == without_parse._digest(report)
    assert without_parse._digest(other) != without_parse._digest(report)


def test_our_tokens_equal_the_corpus_truth(measured: dict[str, Any]) -> None:
    ours = measured["tokens"]["ours"]
    assert ours["missing_count"] == 0 and ours["extra"] == []
    assert ours["differing_count"] == 0, ours["differing"]


def test_side_by_side_with_ccusage(
    measured: dict[str, Any], npm_ccusage: tuple[Path | None, str | None]
) -> None:
    if npm_ccusage[0] is None:
        pytest.skip(f"ccusage@{ccusage.PINNED} unavailable: {npm_ccusage[1]}")
    theirs = measured["tokens"]["ccusage"]
    # Same directories, same sessions, same tokens per session (see bench/ccusage.py for
    # how its fields map to ours).
    assert theirs["missing_count"] == 0 and theirs["extra"] == []
    assert theirs["differing_count"] == 0, theirs["differing"]
    assert measured["ratios"]["ours_cold_over_ccusage"] <= MAX_OURS_OVER_CCUSAGE, measured["ratios"]


def test_hook_latency_does_not_grow_with_the_transcript(hooks: dict[str, Any]) -> None:
    assert hooks["stop_growth"] <= MAX_HOOK_GROWTH, hooks
    assert hooks["session_start_growth"] <= MAX_HOOK_GROWTH, hooks


def test_hook_imports_nothing_heavy(hooks: dict[str, Any]) -> None:
    assert hooks["heavy_imports"] == []


def test_cache_is_ignored_by_git() -> None:
    ignored = (Path(__file__).resolve().parent.parent / ".gitignore").read_text().splitlines()
    assert "bench/.cache/" in ignored and CACHE.name == ".cache"
