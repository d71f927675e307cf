"""The commands users run every day, on a ledger that already holds the corpus (issue 19).

After one ``backfill --no-sync`` and one offline ``sync`` (which materialises every
session), each of ``report --json``, ``report --by model``, ``status --json``,
``sessions --json`` and a no-op ``sync`` is timed next to ccusage's full scan
(``ccusage session --json --offline``) over the same directories: ours, then ccusage,
alternating, ``runs`` pairs each; the ratio is the median of the pairs' ratios (the
machine's speed drifts from one minute to the next, so only ratios taken side by side
compare). ``scale``: the same on a smaller corpus, to show how the time grows with the
number of sessions.
"""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path
from typing import Any

from bench import ccusage
from bench._common import backfill, check, console_script, run, skill_env
from bench.corpus import Corpus

COMMANDS: dict[str, list[str]] = {
    "report_json": ["report", "--json"],
    "report_by_model": ["report", "--by", "model"],
    "status_json": ["status", "--json"],
    "sessions_json": ["sessions", "--json"],
    "sync_noop": ["sync", "--json"],
}


def _command(name: str, corpus: Corpus) -> list[str]:
    args = list(COMMANDS[name])
    if name.startswith("sessions"):
        args += ["--claude-dir", str(corpus.claude_dir), "--codex-dir", str(corpus.codex_dir)]
    return [*console_script(), *args]


def prepare(corpus: Corpus, home: Path) -> dict[str, Any]:
    """A ledger holding the corpus: one backfill, then one offline sync (materialise)."""
    shutil.rmtree(home, ignore_errors=True)
    first = backfill(corpus, home, "--no-sync")
    synced = run([*console_script(), "sync", "--json"], env=skill_env(home))
    check(synced, "sync")
    return {
        "backfill_seconds": round(first.seconds, 2),
        "first_sync_seconds": round(synced.seconds, 2),
        "sessions": json.loads(first.stdout)["summary"]["sessions_recorded"],
    }


def measure(
    corpus: Corpus, work: Path, *, runs: int = 5, exe: Path | None = None
) -> dict[str, Any]:
    """Each command's median wall time and its median ratio to ccusage's full scan."""
    home = work / "home"
    out: dict[str, Any] = {"corpus_bytes": corpus.bytes, **prepare(corpus, home)}
    if exe is None:
        exe, why = ccusage.ensure()
        if exe is None:
            out["ccusage"] = {"skipped": why}
    env = skill_env(home)
    theirs: list[float] = []
    for name in COMMANDS:
        ours, ratios = [], []
        for _ in range(runs):
            mine = run(_command(name, corpus), env=env)
            check(mine, name)
            ours.append(mine.seconds)
            if exe is not None:
                other = ccusage.run_session(
                    exe, corpus.claude_dir, corpus.codex_dir, work / "cc-home"
                )
                check(other, "ccusage session")
                theirs.append(other.seconds)
                ratios.append(mine.seconds / other.seconds)
        out[name] = {
            "median_seconds": round(statistics.median(ours), 3),
            "seconds": [round(x, 3) for x in ours],
            "ratio_median": round(statistics.median(ratios), 3) if ratios else None,
            "ratio_max": round(max(ratios), 3) if ratios else None,
        }
    if theirs:
        out["ccusage"] = {
            "version": ccusage.installed_version(),
            "median_seconds": round(statistics.median(theirs), 3),
        }
    return out


def growth(small: dict[str, Any], large: dict[str, Any]) -> dict[str, Any]:
    """How much longer each command takes on the larger ledger, against how many more
    sessions it holds (time growing no faster than sessions: ratio ≤ sessions ratio)."""
    sessions = large["sessions"] / max(small["sessions"], 1)
    return {
        "sessions_ratio": round(sessions, 2),
        **{
            name: round(large[name]["median_seconds"] / small[name]["median_seconds"], 2)
            for name in COMMANDS
            if name in small and name in large
        },
    }


if __name__ == "__main__":  # pragma: no cover - manual use
    import sys

    from bench._common import CACHE, size_bytes
    from bench._common import corpus as get_corpus

    made = get_corpus(size_bytes(sys.argv[1] if len(sys.argv) > 1 else "30M"))
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(json.dumps(measure(made, CACHE / "work-everyday", runs=repeats), indent=2))
