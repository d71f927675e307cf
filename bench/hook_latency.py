"""Hook latency: ``keito-skill hook stop`` / ``session-start`` on a 1 MB and a 100 MB session.

The transcripts are Claude Code sessions from the generated corpus, concatenated (in time
order, under one session id) until they reach the size; the "turns" appended between
``stop`` calls are whole prompts (prompt, responses, tool results) from corpus sessions
kept aside, the same sequence for both sizes. Each size gets a fresh ledger, one
``session-start`` and one ``stop`` that reads the whole file (the first call, reported
but not in the median), then ``runs`` timed ``stop`` calls each after appending a turn,
then ``runs`` timed ``session-start`` calls; the sizes take turns call by call, so the
machine's drift lands on both alike. Wall time of the whole process, as the agent
sees it, through the ``keito-skill`` console script; the detached sync is switched off
(``KEITO_SKILL_NO_BACKGROUND_SYNC=1``) so its CPU does not land on the next call.

Besides the time, each call's work: the bytes the hook process read (Linux's
``/proc/<pid>/io`` ``rchar``: every ``read``, files, pipes and the ledger alike, taken when
the process has exited but before it is reaped). Imports, the payload and the ledger cost
the same for both sizes, so a hook that honours its checkpoint reads about as much on the
100 MB session as on the 1 MB one; one that re-read the transcript would read 99 MB more.
That difference, unlike a ratio of wall times on a shared machine, cannot flake, and it is
what ``tests/test_bench_small.py`` asserts on.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bench._common import ROOT, Run, check, clean_env, console_script
from bench.corpus import Corpus, SessionTruth

TARGET_SESSION = "b3ec0000-0000-4000-8000-00000000be0c"
AGENT = "claude-code"
# Modules the hook must not import: each costs tens of milliseconds or more.
HEAVY = (
    "httpx", "httpcore", "rich", "pydantic", "click", "yaml", "anyio", "orjson", "dataclasses",
    "typing",
)  # fmt: skip
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


def _read_bytes(pid: int) -> int | None:
    """``rchar`` of an exited, not yet reaped process (None where /proc has no io file)."""
    try:
        text = Path(f"/proc/{pid}/io").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return None


@dataclass
class HookRun(Run):
    """A hook call: its wall time, and how many bytes the process read."""

    read_bytes: int | None = None


def _collect(stream: IO[bytes], into: list[bytes]) -> None:
    into.append(stream.read())


def _hook(event: str, payload: dict[str, Any], env: dict[str, str]) -> HookRun:
    """One hook call as the agent makes it; its time, and its bytes read (see above)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*console_script(), "hook", event, "--agent", AGENT],
        env=env,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    errors: list[bytes] = []
    drain = threading.Thread(target=_collect, args=(proc.stderr, errors))
    drain.start()
    proc.stdin.write(json.dumps(payload).encode())
    proc.stdin.close()
    out = proc.stdout.read()
    drain.join()
    # Wait for the exit without reaping, so /proc/<pid>/io still holds the final count.
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    seconds = time.perf_counter() - started
    read = _read_bytes(proc.pid)
    code = proc.wait()
    result = HookRun(
        seconds, code, out.decode(errors="replace"), b"".join(errors).decode(), read_bytes=read
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


def _checkpoints(home: Path) -> dict[str, Any]:
    """The target session's checkpoints, through the ledger (read-only: the hooks own it)."""
    from keito_skill.ledger import Ledger

    ledger = Ledger(home / "ledger.sqlite3", read_only=True)
    try:
        row = ledger.session(AGENT, TARGET_SESSION)
        return dict(row.checkpoints) if row is not None else {}
    finally:
        ledger.close()


def _offset(home: Path, transcript: Path) -> int:
    """How far the ledger's checkpoint has read ``transcript``."""
    return int(_checkpoints(home).get(str(transcript), {}).get("offset", 0))


def _checkpoint_bytes(home: Path) -> int:
    return len(json.dumps(_checkpoints(home), separators=(",", ":")))


def heavy_imports(payload: dict[str, Any], env: dict[str, str]) -> list[str]:
    """Which heavy modules one ``hook stop`` imports (none is the goal).

    The hook leaves with ``os._exit`` once done, so the probe puts its own report in
    front of that exit. It fails loudly unless the hook read the transcript (its parser
    imported): a probe that never saw the hook's imports would report none."""
    code = (
        "import os, sys\n"
        f"heavy = {HEAVY!r}\nours = {HEAVY_OURS!r}\n"
        "def report(code, exit=os._exit):\n"
        "    found = sorted(m for m in sys.modules if m.split('.')[0] in heavy"
        " or any(m == o or m.startswith(o + '.') for o in ours))\n"
        "    done = 'keito_skill.agents.claude_code.transcript' in sys.modules\n"
        "    print(('HEAVY:' if done else 'NOT RECORDED:') + ','.join(found), file=sys.stderr)\n"
        "    sys.stderr.flush()\n"
        "    exit(code)\n"
        "os._exit = report\n"
        "from keito_skill._entry import main\n"
        "sys.argv = ['keito-skill', 'hook', 'stop', '--agent', 'claude-code']\n"
        "main()\n"
        "report(3)  # the hook returned instead of exiting: not the path agents take\n"
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
    lines = [line for line in done.stderr.splitlines() if line.startswith("HEAVY:")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the import probe failed ({done.returncode}): {done.stderr[-500:]}")
    return [m for m in lines[-1].removeprefix("HEAVY:").split(",") if m]


def measure(corpus: Corpus, work: Path, *, sizes: list[int], runs: int) -> dict[str, Any]:
    """Each size's hook calls, timed turn by turn in alternation (see :func:`_alternate`)."""
    shutil.rmtree(work, ignore_errors=True)
    built = build(corpus, work / "transcripts", sizes, runs)
    repo = work / "repo"
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    results: dict[str, Any] = {"runs": runs, "sizes": {}}
    turns: list[str] = built["turns"]
    results["turn_bytes_mean"] = round(statistics.mean(len(t.encode()) for t in turns))
    sessions = {
        size: _prepare(work / f"home-{size}", transcript, repo)
        for size, transcript in built["transcripts"].items()
    }
    stops = _alternate(sessions, "stop", turns)
    starts = _alternate(sessions, "session-start", [""] * runs)
    for size, session in sessions.items():
        errors = _events(session.home)
        if errors:
            raise RuntimeError(f"hook logged errors: {errors[:3]}")
        transcript = session.transcript
        results["sizes"][str(size)] = {
            "transcript": str(transcript),
            "transcript_bytes": session.base_bytes,
            "bytes_after_turns": transcript.stat().st_size,
            "first_stop_s": round(session.catch_up[0].seconds, 3),
            "stop": _stats([c.seconds for c in stops[size]]),
            "session_start": _stats([c.seconds for c in starts[size]]),
            "first_stop_calls": len(session.catch_up),
            "first_stop_read_bytes": _sum_bytes([c.read_bytes for c in session.catch_up]),
            "stop_read_bytes": _median_bytes([c.read_bytes for c in stops[size]]),
            "session_start_read_bytes": _median_bytes([c.read_bytes for c in starts[size]]),
            "checkpoint_bytes": _checkpoint_bytes(session.home),
        }
        if size == max(sizes):
            results["heavy_imports"] = heavy_imports(session.payload, session.env)
    small, big = (str(s) for s in (min(sizes), max(sizes)))
    for event in ("stop", "session_start"):
        results[f"{event}_growth"] = round(
            results["sizes"][big][event]["median_ms"] / results["sizes"][small][event]["median_ms"],
            2,
        )
        # Work, not time: how many more bytes a call read on the big session (None where
        # the system does not count them).
        reads = [results["sizes"][size][f"{event}_read_bytes"] for size in (big, small)]
        results[f"{event}_read_growth_bytes"] = None if None in reads else reads[0] - reads[1]
    results["transcript_growth_bytes"] = (
        results["sizes"][big]["transcript_bytes"] - results["sizes"][small]["transcript_bytes"]
    )
    return results


@dataclass
class _Session:
    """One size's session: its own ledger, transcript and payloads, caught up."""

    home: Path
    transcript: Path
    env: dict[str, str]
    payload: dict[str, Any]
    start_payload: dict[str, Any]
    base_bytes: int
    catch_up: list[HookRun]


def _prepare(home: Path, transcript: Path, repo: Path) -> _Session:
    """A fresh ledger, one ``session-start`` and the ``stop`` calls that read the whole
    transcript (the first call, reported but not in the medians)."""
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
    # On a busy machine the first read may stop at the hook's deadline; later calls read
    # on. Catch up first, so every measured call starts from the file's end.
    catch_up = [_hook("stop", payload, env)]
    while _offset(home, transcript) < base_bytes and len(catch_up) < 100:
        catch_up.append(_hook("stop", payload, env))
    if _offset(home, transcript) < base_bytes:
        raise RuntimeError("the hooks never caught up with the transcript")
    return _Session(home, transcript, env, payload, start_payload, base_bytes, catch_up)


def _alternate(
    sessions: dict[int, _Session], event: str, turns: list[str]
) -> dict[int, list[HookRun]]:
    """One ``event`` call per turn on each session, the sizes taking turns (in reversed
    order every other turn): this VM's speed drifts by tens of percent within minutes, and
    timing one size's calls after the other's put that drift into the growth ratio. For
    ``stop`` the turn (a whole prompt) is appended first; ``session-start`` appends none."""
    calls: dict[int, list[HookRun]] = {size: [] for size in sessions}
    order = list(sessions)
    for index, turn in enumerate(turns):
        for size in order if index % 2 == 0 else order[::-1]:
            session = sessions[size]
            if turn:
                with session.transcript.open("a") as handle:
                    handle.write(turn)
            payload = session.payload if event == "stop" else session.start_payload
            calls[size].append(_hook(event, payload, session.env))
    return calls


def _sum_bytes(samples: list[int | None]) -> int | None:
    return None if None in samples else sum(s for s in samples if s is not None)


def _median_bytes(samples: list[int | None]) -> int | None:
    known = [s for s in samples if s is not None]
    return int(statistics.median(known)) if known and len(known) == len(samples) else None


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
