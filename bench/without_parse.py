"""``backfill --dry-run --json`` with its transcript parsing made free: what the rest costs.

Native parsing is the obvious answer to "ccusage is faster", so this measures how far it
could go at best. The same command runs twice, each in a fresh process and timed in-process
(the interpreter's own start-up is left out of both):

* ``parsed``: as shipped, the workers parse every transcript;
* ``served``: every session was parsed before the clock started, and the workers are handed
  those states instead of reading a byte (``parse_session`` is swapped for a dictionary
  look-up; the worker processes are forked, so they inherit it).

Everything else runs as shipped: the directory walk, the worker pool, summaries and prices,
the results' trip back, the JSON. Both runs must print the same report, timings aside, or
the measurement is refused. ``served`` is then the time a parser costing nothing would
leave: if it is already above ccusage's whole run, no parser alone, native or not, reaches
parity.

Run as ``python -m bench.without_parse MODE CLAUDE_DIR CODEX_DIR HOME``; prints one JSON
object. :func:`measure` runs both modes and compares them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from bench._common import ROOT, clean_env

MODES = ("parsed", "served")
_TIMING_KEYS = ("seconds", "mb_per_second")


def _serve_parsed(claude_dir: Path, codex_dir: Path) -> int:
    """Parse every session now and make ``backfill`` take the states from memory."""
    from keito_skill import backfill
    from keito_skill.transcripts import discover, parse_session

    served: dict[str, Any] = {}
    for agent, main, sides in discover(roots={"claude-code": [claude_dir], "codex": [codex_dir]}):
        served[str(main)] = parse_session(main, agent=agent, sides=sides)

    def lookup(main: Path, **_: Any) -> Any:
        return served[str(main)]  # a KeyError (a path we did not parse) fails the run

    backfill.parse_session = lookup  # type: ignore[assignment]
    return len(served)


def _digest(report: dict[str, Any]) -> str:
    """The report without its own timings: equal digests mean equal results."""
    summary = {k: v for k, v in report["summary"].items() if k not in _TIMING_KEYS}
    kept = {**report, "summary": summary}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()


def run_mode(mode: str, claude_dir: Path, codex_dir: Path, home: Path) -> dict[str, Any]:
    """One timed ``backfill --dry-run --json`` in this process (see the module's doc)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    os.environ["KEITO_SKILL_HOME"] = str(home)
    import keito_skill.backfill  # noqa: F401  - loaded before the clock in both modes
    from keito_skill.cli import cli

    sessions = _serve_parsed(claude_dir, codex_dir) if mode == "served" else None
    args = ["backfill", "--dry-run", "--json"]
    args += ["--claude-dir", str(claude_dir), "--codex-dir", str(codex_dir)]
    out = io.StringIO()
    started = time.perf_counter()
    with redirect_stdout(out):
        cli.main(args, prog_name="keito-skill", standalone_mode=False)
    seconds = time.perf_counter() - started
    report = json.loads(out.getvalue())
    return {
        "mode": mode,
        "seconds": round(seconds, 3),
        "sessions": len(report["sessions"]),
        "served_sessions": sessions,
        "digest": _digest(report),
    }


def measure(claude_dir: Path, codex_dir: Path, work: Path) -> dict[str, Any]:
    """Both modes, each in a fresh interpreter; refuses results that differ."""
    runs: dict[str, dict[str, Any]] = {}
    for mode in MODES:
        home = work / f"without-parse-{mode}"
        home.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "bench.without_parse", mode]
        cmd += [str(claude_dir), str(codex_dir), str(home)]
        done = subprocess.run(
            cmd, cwd=ROOT, env=clean_env(), capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"without_parse {mode} failed: {done.stderr[-2000:]}")
        runs[mode] = json.loads(done.stdout)
    parsed, served = runs["parsed"], runs["served"]
    if parsed["digest"] != served["digest"] or served["served_sessions"] != parsed["sessions"]:
        raise RuntimeError(f"served states gave another report than parsing: {runs}")
    return {
        "sessions": parsed["sessions"],
        "parsed_seconds": parsed["seconds"],
        "served_seconds": served["seconds"],
        "parse_share": round(1 - served["seconds"] / parsed["seconds"], 2),
    }


if __name__ == "__main__":
    mode, claude, codex, where = sys.argv[1:5]
    print(json.dumps(run_mode(mode, Path(claude), Path(codex), Path(where))))
