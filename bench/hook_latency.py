"""Hook latency: ``keito-skill hook stop`` / ``session-start`` on a 1 MB and a 100 MB session.

The transcripts are Claude Code sessions from the generated corpus, concatenated (in time
order, under one session id) until they reach the size; the "turns" appended between
``stop`` calls are whole prompts (prompt, responses, tool results) from corpus sessions
kept aside, the same sequence for both sizes. Each size gets a fresh ledger, one
``session-start`` and one ``stop`` that reads the whole file (the first call, reported
but not in the median), then ``runs`` timed ``stop`` calls each after appending a turn,
then ``runs`` timed ``session-start`` calls. Wall time of the whole process, as the agent
sees it, through the ``keito-skill`` console script; the detached sync is switched off
(``KEITO_SKILL_NO_BACKGROUND_SYNC=1``) so its CPU does not land on the next call.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench._common import ROOT, Run, check, clean_env, console_script, run
from bench.corpus import Corpus, SessionTruth

TARGET_SESSION = "b3ec0000-0000-4000-8000-00000000be0c"
AGENT = "claude-code"
# Modules the hook must not import: each costs tens of milliseconds or more.
HEAVY = ("httpx", "httpcore", "rich", "pydantic", "click", "yaml", "anyio", "orjson")
HEAVY_OURS = ("keito_skill.pricing", "keito_skill.keito", "keito_skill.cli")


def _claude_main_files(corpus: Corpus) -> list[tuple[SessionTruth, Path]]:
    """Claude sessions' main transcripts (not subagents), oldest first."""
    mains = {p.stem: p for p in (corpus.claude_dir / "projects").glob("*/*.jsonl")}
    found = [(s, mains[s.session_id]) for s in corpus.sessions if s.session_id in mains]
    return sorted(found, key=lambda sp: sp[0].first_ts)


def _is_prompt(line: str) -> bool:
    if '"type":"user"' not in line:
        return False
    try:
        message = json.loads(line).get("message") or {}
    except ValueError:
        return False
    return isinstance(message.get("content"), str)


def _turns(files: list[tuple[SessionTruth, Path]], wanted: int) -> list[str]:
    """Whole prompts (a prompt line up to the next one) from the given sessions."""
    turns: list[str] = []
    for session, path in files:
        current: list[str] = []
        for line in path.read_text().splitlines(keepends=True):
            if _is_prompt(line) and current:
                turns.append("".join(current).replace(session.session_id, TARGET_SESSION))
                current = []
            current.append(line)
        if current:
            turns.append("".join(current).replace(session.session_id, TARGET_SESSION))
        if len(turns) >= wanted:
            break
    return turns[:wanted]


def build(corpus: Corpus, out_dir: Path, sizes: list[int], runs: int) -> dict[str, Any]:
    """Write one transcript per size and the shared turns; returns their paths."""
    files = _claude_main_files(corpus)
    # Turns come from the newest sessions, kept out of the big transcripts.
    reserve: list[tuple[SessionTruth, Path]] = []
    turns: list[str] = []
    while files and len(turns) < runs:
        reserve.insert(0, files.pop())
        turns = _turns(reserve, runs)
    if len(turns) < runs:
        raise RuntimeError("corpus too small for the hook turns")
    out_dir.mkdir(parents=True, exist_ok=True)
    made: dict[int, Path] = {}
    for size in sorted(sizes):
        path = out_dir / f"{size}" / f"{TARGET_SESSION}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with path.open("w") as handle:
            for session, source in files:
                if written >= size:
                    break
                text = source.read_text().replace(session.session_id, TARGET_SESSION)
                for line in text.splitlines(keepends=True):
                    handle.write(line)
                    written += len(line.encode())
                    if written >= size:
                        break
        if written < size:
            raise RuntimeError(f"corpus has only {written} bytes of Claude transcripts")
        made[size] = path
    return {"transcripts": made, "turns": turns}


def _hook(event: str, payload: dict[str, Any], env: dict[str, str]) -> Run:
    result = run(
        [*console_script(), "hook", event, "--agent", AGENT],
        env=env,
        stdin=json.dumps(payload),
    )
    check(result, f"hook {event}")
    if result.stdout:
        raise RuntimeError(f"hook {event} printed on stdout: {result.stdout[:200]!r}")
    return result


def _stats(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    return {
        "median_ms": round(statistics.median(ms), 1),
        "p90_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.9))], 1),
        "min_ms": round(ms[0], 1),
        "max_ms": round(ms[-1], 1),
        "runs": len(ms),
    }


def _events(home: Path) -> list[str]:
    with sqlite3.connect(home / "ledger.sqlite3") as db:
        return [row[0] for row in db.execute("SELECT message FROM events WHERE level = 'error'")]


def _checkpoint_bytes(home: Path) -> int:
    with sqlite3.connect(home / "ledger.sqlite3") as db:
        row = db.execute(
            "SELECT length(checkpoints) FROM sessions WHERE session_id = ?", (TARGET_SESSION,)
        ).fetchone()
    return int(row[0]) if row else 0


def heavy_imports(payload: dict[str, Any], env: dict[str, str]) -> list[str]:
    """Which heavy modules one ``hook stop`` imports (none is the goal)."""
    code = (
        "import sys\n"
        "from keito_skill._entry import main\n"
        "sys.argv = ['keito-skill', 'hook', 'stop', '--agent', 'claude-code']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"heavy = {HEAVY!r}\nours = {HEAVY_OURS!r}\n"
        "found = sorted(m for m in sys.modules if m.split('.')[0] in heavy"
        " or any(m == o or m.startswith(o + '.') for o in ours))\n"
        "print(','.join(found), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(payload),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    last = done.stderr.strip().splitlines()[-1:] or [""]
    return [m for m in last[0].split(",") if m]


def measure(corpus: Corpus, work: Path, *, sizes: list[int], runs: int) -> dict[str, Any]:
    shutil.rmtree(work, ignore_errors=True)
    built = build(corpus, work / "transcripts", sizes, runs)
    repo = work / "repo"
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    results: dict[str, Any] = {"runs": runs, "sizes": {}}
    turns: list[str] = built["turns"]
    results["turn_bytes_mean"] = round(statistics.mean(len(t.encode()) for t in turns))
    for size, transcript in built["transcripts"].items():
        home = work / f"home-{size}"
        env = clean_env(
            KEITO_SKILL_HOME=str(home),
            KEITO_CONFIG_DIR=str(home / "keito-config"),
            KEITO_SKILL_NO_BACKGROUND_SYNC="1",
        )
        payload = {
            "session_id": TARGET_SESSION,
            "transcript_path": str(transcript),
            "cwd": str(repo),
            "hook_event_name": "Stop",
        }
        start_payload = {**payload, "hook_event_name": "SessionStart", "source": "startup"}
        base_bytes = transcript.stat().st_size
        _hook("session-start", start_payload, env)
        first = _hook("stop", payload, env)
        stops: list[float] = []
        for turn in turns:
            with transcript.open("a") as handle:
                handle.write(turn)
            stops.append(_hook("stop", payload, env).seconds)
        starts = [_hook("session-start", start_payload, env).seconds for _ in range(runs)]
        errors = _events(home)
        if errors:
            raise RuntimeError(f"hook logged errors: {errors[:3]}")
        results["sizes"][str(size)] = {
            "transcript_bytes": base_bytes,
            "bytes_after_turns": transcript.stat().st_size,
            "first_stop_s": round(first.seconds, 3),
            "stop": _stats(stops),
            "session_start": _stats(starts),
            "checkpoint_bytes": _checkpoint_bytes(home),
        }
        if size == max(sizes):
            results["heavy_imports"] = heavy_imports(payload, env)
    small, big = (str(s) for s in (min(sizes), max(sizes)))
    for event in ("stop", "session_start"):
        results[f"{event}_growth"] = round(
            results["sizes"][big][event]["median_ms"] / results["sizes"][small][event]["median_ms"],
            2,
        )
    return results


if __name__ == "__main__":  # pragma: no cover - manual use
    from bench._common import CACHE
    from bench._common import corpus as get_corpus

    made = get_corpus(230_000_000)
    print(
        json.dumps(
            measure(made, CACHE / "work-hooks", sizes=[1_000_000, 100_000_000], runs=20),
            indent=2,
        )
    )
