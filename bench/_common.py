"""Shared plumbing for the benchmarks: paths, cached corpora, timed subprocesses, RSS.

Everything here is standard library: the benchmark must run wherever keito-skill does.
"""

from __future__ import annotations

import compileall
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from bench import corpus as corpus_mod

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
KEITO_SKILL = [sys.executable, "-m", "keito_skill"]
SEED = 7


@lru_cache(maxsize=1)
def _byte_compiled() -> None:
    """Compile the package's modules, as ``pip install`` does: an editable checkout run
    with ``PYTHONDONTWRITEBYTECODE`` set (CI images often set it) would otherwise
    recompile every changed module on every timed start."""
    import keito_skill

    compileall.compile_dir(str(Path(keito_skill.__file__).parent), quiet=1)


def console_script() -> list[str]:
    """How agents run us: the ``keito-skill`` console script next to this Python."""
    _byte_compiled()
    script = Path(sys.executable).with_name("keito-skill")
    return [str(script)] if script.exists() else KEITO_SKILL


def corpus(size_bytes: int, seed: int = SEED, **kw: Any) -> corpus_mod.Corpus:
    """The generated corpus of that size, made once and reused (generation is
    deterministic, so a cached copy is the same bytes)."""
    extra = "".join(f"-{k}{v}" for k, v in sorted(kw.items()))
    root = CACHE / f"corpus-{size_bytes}-s{seed}{extra}"
    if (root / corpus_mod.TRUTH_FILE).exists():
        return corpus_mod.load(root)
    shutil.rmtree(root, ignore_errors=True)  # an interrupted generation: start over
    # Absolute paths in the truth file: the benchmarks run from any directory.
    return corpus_mod.generate(root.resolve(), size_bytes=size_bytes, seed=seed, **kw)


def warm(paths: list[Path]) -> int:
    """Read files once so every timed tool starts from the same (warm) page cache."""
    total = 0
    for path in paths:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 22):
                total += len(chunk)
    return total


def corpus_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.jsonl") if p.is_file())


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus anything that would point a tool at real user data."""
    drop = ("KEITO_", "CLAUDE_", "CODEX_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env


@dataclass
class Run:
    seconds: float
    returncode: int
    stdout: str
    stderr: str
    peak_tree_rss_mb: float | None = None  # sum over the process and its children, sampled
    max_rss_mb: float | None = None  # largest single process (getrusage RUSAGE_CHILDREN)


def _tree_rss_kb(pid: int) -> int:
    """RSS of ``pid`` and all its descendants, from /proc (Linux); 0 if gone."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
            fields = stat[stat.rindex(")") + 2 :].split()
            ppid, pages = int(fields[1]), int(fields[21])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = pages * (os.sysconf("SC_PAGE_SIZE") // 1024)
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack.extend(children.get(current, []))
    return total


def run(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin: str | None = None,
    sample_rss: bool = False,
    timeout: float = 3600,
) -> Run:
    """Run a command, timing its wall clock; optionally sample the process tree's RSS.

    Output is read as bytes and decoded after the clock stops: decoding it (9 MB for
    ``sessions --json``) is this harness's work, not the command's."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=cwd or ROOT,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    peak = 0
    stop = threading.Event()
    sampler = None
    if sample_rss and sys.platform.startswith("linux"):

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, _tree_rss_kb(proc.pid))
                stop.wait(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
    raw_out, raw_err = proc.communicate(
        stdin.encode() if stdin is not None else None, timeout=timeout
    )
    seconds = time.perf_counter() - started
    out, err = (raw.decode(errors="replace") for raw in (raw_out, raw_err))
    stop.set()
    if sampler is not None:
        sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = Run(seconds, proc.returncode, out, err)
    if sample_rss:
        result.peak_tree_rss_mb = round(peak / 1024, 1) if peak else None
        # ru_maxrss of waited-for children only ever grows: it is this run's peak only if
        # this run set a new maximum (the bench measures the big run first for that).
        result.max_rss_mb = round(after / 1024, 1) if after > before else None
    return result


def check(result: Run, what: str) -> None:
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}):\n{result.stderr[-3000:]}")


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    from keito_skill import __version__

    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpus": _cpus(),
        "cpu": cpu,
        "memory_gb": mem_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "keito_skill": __version__,
        "git": _git_rev(),
        # Other work on the machine skews wall times: the 1-minute load when we started.
        "load_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def _cpus() -> int | None:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


def _git_rev() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def size_bytes(text: str) -> int:
    units = {"k": 10**3, "m": 10**6, "g": 10**9}
    text = text.strip().lower().rstrip("b")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def skill_env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment for a keito-skill with its own home and no background sync."""
    return clean_env(
        KEITO_SKILL_HOME=str(home),
        KEITO_CONFIG_DIR=str(home / "keito-config"),
        KEITO_SKILL_NO_BACKGROUND_SYNC="1",
        **extra,
    )


def backfill(
    corpus: corpus_mod.Corpus,
    home: Path,
    *flags: str,
    sample_rss: bool = False,
    env: dict[str, str] | None = None,
) -> Run:
    """``keito-skill backfill FLAGS --json`` over ``corpus`` with its own skill home
    (``env``: the whole environment instead, e.g. with Keito credentials)."""
    env = env if env is not None else skill_env(home)
    cmd = [
        *console_script(),
        "backfill",
        *flags,
        "--json",
        "--claude-dir",
        str(corpus.claude_dir),
        "--codex-dir",
        str(corpus.codex_dir),
    ]
    result = run(cmd, env=env, sample_rss=sample_rss)
    check(result, f"backfill {' '.join(flags)}")
    return result
