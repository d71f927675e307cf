"""Transcript throughput: ``keito-skill backfill`` vs ``ccusage session`` on one corpus.

* cold: ``backfill --dry-run --json`` (fresh ledger: reads every byte) next to
  ``ccusage session --json --offline``, same directories, same warm page cache;
* second run: a real ``backfill --no-sync --json`` twice on one ledger; the second reads
  only what the checkpoints say is new (here: nothing);
* tokens: per session, ours and ccusage's against the corpus truth (exact integers).
"""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path
from typing import Any

from bench import ccusage, floor, without_parse
from bench._common import CACHE, Run, backfill, check, corpus_files, warm
from bench.corpus import TOKEN_KEYS, Corpus


def _summary(result: Run) -> dict[str, Any]:
    return dict(json.loads(result.stdout)["summary"])


def ours_per_session(result: Run) -> dict[tuple[str, str], dict[str, int]]:
    sessions = json.loads(result.stdout)["sessions"]
    return {(s["agent"], s["session_id"]): dict(s["totals"]) for s in sessions}


def truth_per_session(corpus: Corpus) -> dict[tuple[str, str], dict[str, int]]:
    return {(s.agent, s.session_id): s.totals() for s in corpus.sessions}


def compare_tokens(
    corpus: Corpus,
    ours: dict[tuple[str, str], dict[str, int]],
    theirs: dict[tuple[str, str], dict[str, Any]] | None,
) -> dict[str, Any]:
    """Exact per-session comparison with the truth; every difference listed."""
    truth = truth_per_session(corpus)
    out: dict[str, Any] = {"sessions": len(truth), "ours": _against(truth, ours, TOKEN_KEYS)}
    if theirs is not None:
        # ccusage's reasoning figure lives in metadata; compare it under our name.
        renamed = {
            k: {**v, "reasoning_output_tokens": v.get("reasoning", 0)} for k, v in theirs.items()
        }
        out["ccusage"] = _against(truth, renamed, TOKEN_KEYS)
        out["ccusage"]["rows"] = sum(v.get("rows", 0) for v in theirs.values())
        by_agent: dict[str, int] = {}
        for agent, _ in theirs:
            by_agent[agent] = by_agent.get(agent, 0) + 1
        out["ccusage"]["sessions_by_agent"] = by_agent
    return out


def _against(
    truth: dict[tuple[str, str], dict[str, int]],
    got: dict[tuple[str, str], dict[str, Any]],
    keys: tuple[str, ...],
) -> dict[str, Any]:
    missing = sorted(f"{a}:{s}" for a, s in truth if (a, s) not in got)
    extra = sorted(f"{a}:{s}" for a, s in got if (a, s) not in truth)
    differing: list[dict[str, Any]] = []
    for key, want in truth.items():
        have = got.get(key)
        if have is None:
            continue
        delta = {k: int(have.get(k, 0)) - want[k] for k in keys if int(have.get(k, 0)) != want[k]}
        if delta:
            differing.append({"session": f"{key[0]}:{key[1]}", "delta": delta})
    totals = {k: sum(int(v.get(k, 0)) for v in got.values()) for k in keys}
    return {
        "matching": len(truth) - len(missing) - len(differing),
        "missing": missing[:20],
        "missing_count": len(missing),
        "extra": extra[:20],
        "differing": differing[:20],
        "differing_count": len(differing),
        "totals": totals,
    }


def measure(
    corpus: Corpus,
    work: Path,
    *,
    with_ccusage: bool = True,
    npm_timeout: float = 300,
    repeats: int = 0,
) -> dict[str, Any]:
    """Run both tools once each (plus our second run) and compare what they report.

    ``repeats`` more cold pairs (ours, then ccusage, alternating) give the median ratio and
    its spread: on a shared 2-vCPU machine one run's ratio moves by ±30%.
    """
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    files = corpus_files(corpus.root)
    warmed = warm(files)
    result: dict[str, Any] = {
        "corpus": {
            "bytes": warmed,
            "files": len(files),
            "sessions": len(corpus.sessions),
            "claude_sessions": sum(s.agent == "claude-code" for s in corpus.sessions),
            "codex_sessions": sum(s.agent == "codex" for s in corpus.sessions),
        }
    }

    theirs = None
    exe: Path | None = None
    if with_ccusage:
        exe, why = ccusage.ensure(timeout=npm_timeout)
        if exe is None:
            result["ccusage"] = {"skipped": why}
        else:
            cold = ccusage.run_session(exe, corpus.claude_dir, corpus.codex_dir, work / "cc-home")
            check(cold, "ccusage session")
            theirs = ccusage.per_session(json.loads(cold.stdout))
            again = ccusage.run_session(exe, corpus.claude_dir, corpus.codex_dir, work / "cc-home")
            result["ccusage"] = {
                "version": ccusage.installed_version(),
                "seconds": round(cold.seconds, 3),
                "seconds_second_run": round(again.seconds, 3),
                "totals": json.loads(cold.stdout).get("totals"),
            }
    else:
        result["ccusage"] = {"skipped": "not requested"}

    dry = backfill(corpus, work / "dry-home", "--dry-run")
    result["ours_dry_run"] = {"seconds": round(dry.seconds, 3), "summary": _summary(dry)}
    first = backfill(corpus, work / "home", "--no-sync")
    second = backfill(corpus, work / "home", "--no-sync")
    result["ours_record"] = {
        "first_seconds": round(first.seconds, 3),
        "second_seconds": round(second.seconds, 3),
        "first_summary": _summary(first),
        "second_summary": _summary(second),
    }
    result["ratios"] = {
        "ours_cold_over_ccusage": (
            round(dry.seconds / result["ccusage"]["seconds"], 2)
            if "seconds" in result["ccusage"]
            else None
        ),
        "first_over_second": round(first.seconds / second.seconds, 1),
        "ccusage_over_our_second": (
            round(result["ccusage"]["seconds"] / second.seconds, 2)
            if "seconds" in result["ccusage"]
            else None
        ),
    }
    result["tokens"] = compare_tokens(corpus, ours_per_session(dry), theirs)
    result["python_floor"] = floor.measure(files)
    result["without_parse"] = without_parse.measure(corpus.claude_dir, corpus.codex_dir, work)
    if repeats and exe is not None and "seconds" in result["ccusage"]:
        result["repeated"] = _repeated_cold(corpus, work, exe, repeats)
    return result


def _repeated_cold(corpus: Corpus, work: Path, exe: Path, repeats: int) -> dict[str, Any]:
    ratios, ours, theirs = [], [], []
    for index in range(repeats):
        mine = backfill(corpus, work / f"dry-home-{index}", "--dry-run")
        other = ccusage.run_session(exe, corpus.claude_dir, corpus.codex_dir, work / "cc-home")
        check(other, "ccusage session")
        ours.append(mine.seconds)
        theirs.append(other.seconds)
        ratios.append(mine.seconds / other.seconds)
    return {
        "runs": repeats,
        "ours_seconds": [round(x, 3) for x in ours],
        "ccusage_seconds": [round(x, 3) for x in theirs],
        "ratio_median": round(statistics.median(ratios), 2),
        "ratio_min": round(min(ratios), 2),
        "ratio_max": round(max(ratios), 2),
    }


if __name__ == "__main__":  # pragma: no cover - manual use
    import sys

    from bench._common import corpus as get_corpus
    from bench._common import size_bytes

    made = get_corpus(size_bytes(sys.argv[1] if len(sys.argv) > 1 else "30M"))
    print(json.dumps(measure(made, CACHE / "work-throughput"), indent=2))
