"""Backfill: record the sessions the hooks missed, straight from the agents' transcript files.

Hooks miss sessions: an agent killed before its SessionEnd, work done before the skill was
installed, an agent run with hooks disabled, a hook the agent does not trust yet. The transcripts
are still on disk, so backfill reads them and records what the ledger does not hold yet.

It shares everything with the hooks so nothing is ever recorded twice:

* the same ledger key: ``(agent, session_id_for(agent, path))``, the id hooks report; an
  existing row is also found by its ``transcript_path``, whatever id it was stored under;
* the same checkpoints: parsing resumes from the row's stored offset, so a second run reads
  only new bytes, and a file whose size equals its checkpoint offset is not even opened;
* the same optimistic write (``save_checkpoints(expected_version=...)``): if a hook wrote
  the session while we parsed, :func:`keito_skill.recorder.record` redoes it from the
  hook's newer checkpoint.

Parsing is the slow part (a heavy user has gigabytes of transcripts) and each session is
independent, so sessions are parsed in worker processes; workers return checkpoints as
plain dicts and only this process writes the ledger. A session quiet for longer than its
repo's idle threshold is finished and recorded ended (``end_reason="backfill"``) so its
usage is expensed; a recently active one is left open for its hook or ``watch`` to end.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keito_skill.billing import OVERRIDE, Decision, billed_seconds, decide
from keito_skill.errors import TranscriptError
from keito_skill.ledger import Ledger, SessionRow, read_sessions, skill_home
from keito_skill.recorder import record, restore
from keito_skill.summaries import StoredSummary, key_at, summaries
from keito_skill.transcripts import (
    DEFAULT_IDLE_SECONDS,
    discover,
    parse_session,
    session_id_for,
    side_files,
)

if TYPE_CHECKING:  # process pools are imported when one is started (~25 ms otherwise)
    from concurrent.futures import Executor, Future, ProcessPoolExecutor

ORIGIN = "backfill"
END_REASON = "backfill"
# Sessions we ended ourselves (not a real SessionEnd): new bytes mean the agent was alive.
OUR_END_REASONS = frozenset({"backfill", "idle"})
# Below this much to read, starting worker processes costs more than it saves.
_PARALLEL_MIN_BYTES = 4 * 1024 * 1024
# What a session costs a worker beyond its bytes (open, many short lines, summarise,
# return), in bytes' worth: on the benchmark's corpus ~1 ms a session against ~1.7 ns a byte.
_SESSION_WEIGHT = 512 * 1024
_BATCH_MAX_WEIGHT = 64 * 1024 * 1024
# The smallest batch, as a share of one worker's work: the last few are this small.
_TAIL_BATCHES = 32


# ---- mapping, as materialize sees it -------------------------------------------------

# A session's billing is the decision sync will take (:mod:`keito_skill.billing`), made
# early so the idle threshold and the dry-run table are right.
_POLICIES: dict[tuple[str | None, str | None, str | None], Decision] = {}


def policy_for(
    cwd: str | None, project_id: str | None = None, task_id: str | None = None
) -> Decision:
    """The billing :class:`~keito_skill.billing.Decision` of a session started in ``cwd``
    with the ``--project``/``--task`` override (cached per process and cwd)."""
    key = (cwd, project_id, task_id)
    found = _POLICIES.get(key)
    if found is None:
        found = _POLICIES[key] = decide(cwd, project_id, task_id)
    return found


# ---- parsing (runs in worker processes) ----------------------------------------------


def parse_job(job: dict[str, Any]) -> dict[str, Any]:
    """Parse one session from its checkpoints; a plain-dict in, plain-dict out worker task.

    Parses with the threshold the ledger row already uses (so its checkpoints resume), then,
    if the session's repo asks for another idle threshold, once more from the start with
    that one — exactly what materialize would do later, done here while the file is hot.
    """
    agent = job["agent"]
    main = Path(job["path"])
    sides = [Path(p) for p in job["sides"]]
    idle = int(job["idle_seconds"] or DEFAULT_IDLE_SECONDS)
    known = restore(job["checkpoints"])
    before = {path: state.offset for path, state in known.items()}
    try:
        states, paths = parse_session(
            main, agent=agent, sides=sides, states=known, idle_seconds=idle
        )
    except TranscriptError as exc:
        return {"error": str(exc)}
    read = sum(s.offset - before.get(str(p), 0) for s, p in zip(states, paths, strict=True))
    policy = policy_for(states[0].cwd, job.get("project_id"), job.get("task_id"))
    if policy.billable and policy.idle_seconds != idle:
        idle = policy.idle_seconds
        states, paths = parse_session(main, agent=agent, sides=sides, idle_seconds=idle)
        read += sum(s.offset for s in states)
    from keito_skill.summary import summarize

    summary = summarize(states, [str(p) for p in paths])  # priced here, in parallel
    keep = job.get("keep_checkpoints", True)  # a dry run stores nothing: spare the copying
    return {
        "checkpoints": {str(p): s.to_dict() for p, s in zip(paths, states, strict=True)}
        if keep
        else {},
        # As the ledger stores it: a string crosses the process boundary far cheaper than
        # a pickled model, and is stored as it is (keito_skill.summaries).
        "summary": summary.model_dump_json(),
        "idle_seconds": idle,
        "cwd": states[0].cwd,
        "bytes_read": max(0, read),
    }


# ---- what a run finds and does -------------------------------------------------------


@dataclass
class Candidate:
    """One session on disk, matched to its ledger row when it has one."""

    agent: str
    session_id: str
    path: Path
    paths: list[Path]
    sizes: list[int]
    mtime: float
    row: SessionRow | None

    def new_bytes(self) -> int:
        """Bytes past the stored checkpoints (everything when a file has none)."""
        row = self.row
        if row is None:
            return sum(self.sizes)
        return sum(
            row.unread_bytes(str(path), size)
            for path, size in zip(self.paths, self.sizes, strict=True)
        )

    def unchanged(self) -> bool:
        """True when every file's size equals its checkpoint offset: nothing to open."""
        if self.row is None:
            return False
        row = self.row
        return all(
            row.offset_of(str(path)) == size
            for path, size in zip(self.paths, self.sizes, strict=True)
        )


@dataclass
class SessionResult:
    """One session a run recorded (or, in a dry run, would record)."""

    agent: str
    session_id: str
    transcript_path: str
    status: str
    policy: Decision
    recorded: str  # new | updated | ended | override
    ended: bool
    summary: StoredSummary | None
    bytes_read: int = 0
    error: str | None = None

    def day_rows(self) -> list[dict[str, Any]]:
        """One dict per session-day: what its time entry would carry."""
        if self.summary is None:
            return []
        config = self.policy.config
        rows = []
        for day in self.summary.days:
            seconds, held = billed_seconds(config, day.active_seconds, day.wall_seconds)
            rows.append(
                {
                    "date": day.date.isoformat(),
                    "hours": round(seconds / 3600.0, 4),
                    "held": held,
                    "tokens": day.totals.total,
                    "cost_usd": day.cost_usd,
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        summary = self.summary
        days = self.day_rows()
        totals = (
            summary.totals.model_dump()
            if summary is not None
            else dict.fromkeys(
                (
                    "input_tokens",
                    "cache_creation_input_tokens",
                    "cache_read_input_tokens",
                    "output_tokens",
                    "reasoning_output_tokens",
                ),
                0,
            )
        )
        return {
            "session_id": self.session_id,
            "agent": self.agent,
            "repo": self.policy.repo,
            "project_id": self.policy.project_id,
            "task_id": self.policy.task_id,
            "spent_dates": [d["date"] for d in days],
            "hours": round(sum(d["hours"] for d in days), 4),
            "totals": totals,
            "cost_usd": summary.cost_usd if summary is not None else None,
            "status": self.status,
            "recorded": self.recorded,
            "ended": self.ended,
            "transcript_path": self.transcript_path,
            "detail": self.error or self.policy.detail,
        }


@dataclass
class BackfillOptions:
    agent: str | None = None
    since: date | None = None
    until: date | None = None
    project_id: str | None = None
    task_id: str | None = None
    dry_run: bool = False
    roots: dict[str, list[Path]] | None = None  # agent -> where to look instead of defaults
    quiet_seconds: int | None = None  # finish threshold override (default: the repo's)
    workers: int | None = None
    now: float | None = None
    # Bill sessions recorded while their repository was disabled (now enabled): opt-in only.
    include_disabled: bool = False


@dataclass
class BackfillReport:
    dry_run: bool
    sessions: list[SessionResult] = field(default_factory=list)
    found: int = 0
    unchanged: int = 0
    skipped: int = 0  # outside --since/--until, or unreadable
    files: int = 0
    bytes_total: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    workers: int = 1
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        by_status: dict[str, int] = {}
        for result in self.sessions:
            by_status[result.status] = by_status.get(result.status, 0) + 1
        mb = self.bytes_read / 1_000_000
        return {
            "dry_run": self.dry_run,
            "sessions_found": self.found,
            "sessions_recorded": len(self.sessions),
            "sessions_unchanged": self.unchanged,
            "sessions_skipped": self.skipped,
            "sessions_ended": sum(1 for r in self.sessions if r.recorded == "ended" or r.ended),
            "by_status": by_status,
            "files": self.files,
            "bytes_total": self.bytes_total,
            "bytes_read": self.bytes_read,
            "seconds": round(self.seconds, 3),
            "mb_per_second": round(mb / self.seconds, 1) if self.seconds > 0 else None,
            "workers": self.workers,
            "errors": self.errors,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "sessions": [r.to_dict() for r in self.sessions],
            "summary": self.summary(),
        }


class Progress:
    """Progress callbacks: a no-op by default; the command plugs a rich bar in."""

    def start(self, files: int, total_bytes: int) -> None:
        """Called once with how much will be read."""

    def advance(self, files: int, read_bytes: int) -> None:
        """Called as sessions finish parsing."""


# ---- the run -------------------------------------------------------------------------


def _real(path: str | Path) -> str:
    try:
        return os.path.realpath(path)
    except OSError:
        return str(path)


def _renamed(sides: list[Path], main: Path, path: Path) -> list[Path] | None:
    """The side files found for ``main``, named from ``path`` (the same file reached by
    another name: a relative or symlinked directory), as the ledger keys their checkpoints.
    None when they cannot be renamed so (then they are looked up again from ``path``:
    scanning the directory once per session made a listing quadratic)."""
    if main.name != path.name or _real(main.parent) != _real(path.parent):
        return None
    try:
        return [path.parent / side.relative_to(main.parent) for side in sides]
    except ValueError:  # found elsewhere than below main's directory
        return None


def find_candidates(
    options: BackfillOptions,
    rows: Iterable[SessionRow],
    report: BackfillReport,
    found_bytes: Callable[[int], None] | None = None,
) -> list[Candidate]:
    """Every transcript session on disk, matched to the ledger row that already holds it.

    ``found_bytes`` is told each candidate's new bytes as it is found.
    """
    by_key: dict[tuple[str, str], SessionRow] = {}
    by_path: dict[str, SessionRow] = {}
    for known in rows:
        by_key[(known.agent, known.session_id)] = known
        if known.transcript_path:
            by_path[known.transcript_path] = known
    by_real: dict[str, SessionRow] | None = None

    def resolved(candidate: Path) -> SessionRow | None:
        # Resolving symlinks costs a syscall per path component: only done on a miss.
        nonlocal by_real
        if by_real is None:
            by_real = {_real(p): r for p, r in by_path.items()}
        return by_real.get(_real(candidate))

    found: list[Candidate] = []
    seen: set[tuple[int, int]] = set()  # (device, inode) of each main file taken
    for agent, main, sides in discover(options.agent, roots=options.roots):
        report.found += 1
        try:
            main_stat = main.stat()
        except OSError:
            report.skipped += 1
            continue
        if (main_stat.st_dev, main_stat.st_ino) in seen:
            report.found -= 1  # the same file again: a directory given twice, or via a link
            continue
        seen.add((main_stat.st_dev, main_stat.st_ino))
        if options.since and date.fromtimestamp(main_stat.st_mtime) < options.since:
            report.skipped += 1  # not written since then: it has no activity in range
            continue
        row = by_path.get(str(main))
        path = main
        hook_id: str | None = None  # read from the file at most once: it may open it
        if row is None:
            hook_id = session_id_for(agent, main)
            row = by_key.get((agent, hook_id)) or (resolved(main) if by_path else None)
            if (
                row is not None
                and row.transcript_path
                and _real(row.transcript_path) == _real(main)
            ):
                path = Path(row.transcript_path)  # the form the checkpoints are keyed by
                renamed = _renamed(sides, main, path)
                sides = side_files(agent, path) if renamed is None else renamed
        session_id = row.session_id if row is not None else hook_id or session_id_for(agent, main)
        paths, sizes, mtime = [], [], 0.0
        for item in [path, *sides]:
            try:
                stat = main_stat if item is main else item.stat()
            except OSError:
                continue
            paths.append(item)
            sizes.append(stat.st_size)
            mtime = max(mtime, stat.st_mtime)
        if not paths or paths[0] is not path:  # the main file is gone (identity: cheap)
            report.skipped += 1
            continue
        candidate = Candidate(agent, session_id, path, paths, sizes, mtime, row)
        found.append(candidate)
        if found_bytes is not None:
            found_bytes(candidate.new_bytes())
    return found


def _in_range(summary: StoredSummary, options: BackfillOptions) -> bool:
    if options.since is None and options.until is None:
        return True
    for day in summary.days:
        if options.since and day.date < options.since:
            continue
        if options.until and day.date > options.until:
            continue
        return True
    return False


def _warm_up() -> None:
    """Load what summarising needs (pydantic models, the price table): ~0.25 s per process."""
    from keito_skill import pricing, summary  # noqa: F401

    pricing.load()


def _new_pool(workers: int) -> ProcessPoolExecutor:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork is cheap and safe here (no threads yet); elsewhere use the platform's default.
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


class _WarmPool:
    """Worker processes started as soon as the directory walk has found enough to parse.

    They load their imports (pydantic, the price table: ~0.25 s each) while this process
    goes on walking, instead of after it. A run with little to read (a second backfill, no
    transcripts at all) never starts them.
    """

    def __init__(self, options: BackfillOptions) -> None:
        self.workers = options.workers or os.cpu_count() or 1
        self.pool: ProcessPoolExecutor | None = None
        self._found = 0

    def found(self, new_bytes: int) -> None:
        self._found += new_bytes
        if self.pool is None and self.workers > 1 and self._found >= _PARALLEL_MIN_BYTES:
            self.pool = _new_pool(self.workers)
            for _ in range(self.workers):
                self.pool.submit(_warm_up)

    def discard(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


def _executor(
    workers: int, jobs: int, total_bytes: int, early: ProcessPoolExecutor | None = None
) -> Executor | None:
    if workers <= 1 or jobs <= 1 or total_bytes < _PARALLEL_MIN_BYTES:
        if early is not None:
            early.shutdown(wait=False, cancel_futures=True)
        return None
    return early or _new_pool(min(workers, jobs))


def _job(candidate: Candidate, options: BackfillOptions) -> dict[str, Any]:
    row = candidate.row
    return {
        "agent": candidate.agent,
        "path": str(candidate.path),
        "sides": [str(p) for p in candidate.paths[1:]],
        "checkpoints": row.checkpoints if row is not None else {},
        "idle_seconds": row.idle_seconds if row is not None else None,
        "project_id": options.project_id,
        "task_id": options.task_id,
        "keep_checkpoints": not options.dry_run,
    }


def parse_batch(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`parse_job` for several sessions: one worker round trip for all of them."""
    results = []
    for job in jobs:
        try:
            results.append(parse_job(job))
        except Exception as exc:  # one bad session must not lose the others' results
            results.append({"error": f"parser failed: {exc!r}"})
    return results


def batches(sizes: list[int], workers: int) -> list[list[int]]:
    """Indexes of ``sizes`` (largest first) grouped into batches, in order.

    Handing sessions to workers one at a time costs a round trip through the pool's feeder
    thread each, and that thread waits for the GIL while this process records results:
    with thousands of small sessions the workers sat idle. Batches also must not leave one
    worker busy with a large batch while the others have finished. So each batch takes a
    fixed share of the work still left (a quarter of a worker's share), down to a floor:
    the first batches are large, the last small, and the workers finish close together.
    None is larger than :data:`_BATCH_MAX_WEIGHT` (plus one session), so the progress bar
    never stalls long on one and a worker that dies takes few sessions with it. A session's
    weight is its bytes plus a fixed cost for opening and summarising it.
    """
    weights = [size + _SESSION_WEIGHT for size in sizes]
    left = sum(weights)
    floor = max(left // (workers * _TAIL_BATCHES), 1)
    out: list[list[int]] = []
    current: list[int] = []
    weight = target = 0
    for index, one in enumerate(weights):
        if not current:
            target = min(max(left // (workers * 4), floor), _BATCH_MAX_WEIGHT)
        current.append(index)
        weight += one
        if weight >= target:
            out.append(current)
            left -= weight
            current, weight = [], 0
    if current:
        out.append(current)
    return out


def parse_stream(
    candidates: list[Candidate],
    options: BackfillOptions,
    progress: Progress,
    report: BackfillReport,
    pool: ProcessPoolExecutor | None = None,
) -> Iterator[tuple[Candidate, dict[str, Any]]]:
    """Parse every candidate with new bytes, in parallel when it pays, yielding each result
    as soon as it is ready so the caller's ledger writes overlap the parsing. ``pool``:
    workers already started, used if parallel parsing pays, shut down otherwise."""
    sized = sorted(((c.new_bytes(), c) for c in candidates), key=lambda p: p[0], reverse=True)
    todo = [candidate for _, candidate in sized]  # largest first
    sizes = [size for size, _ in sized]
    total = sum(sizes)
    report.files = sum(len(c.paths) for c in todo)
    report.bytes_total = total
    workers = options.workers or os.cpu_count() or 1
    executor = _executor(workers, len(todo), total, pool)
    report.workers = min(workers, len(todo)) if executor is not None else 1
    files_done = done_bytes = 0
    if executor is None:
        progress.start(report.files, total)
        for index, candidate in enumerate(todo):
            parsed = parse_job(_job(candidate, options))
            files_done += len(candidate.paths)
            done_bytes += sizes[index]
            progress.advance(files_done, done_bytes)
            yield candidate, parsed
        return
    with executor:
        from concurrent.futures import as_completed

        futures: dict[Future[list[dict[str, Any]]], list[int]] = {}
        for batch in batches(sizes, report.workers):
            jobs = [_job(todo[i], options) for i in batch]
            futures[executor.submit(parse_batch, jobs)] = batch
        progress.start(report.files, total)  # after the fork: no progress thread in workers
        for future in as_completed(futures):
            batch = futures.pop(future)  # its results are not kept past their use
            try:
                results = future.result()
            except Exception as exc:  # a worker died: report it, keep the rest
                results = [{"error": f"parser failed: {exc!r}"}] * len(batch)
            for index, parsed in zip(batch, results, strict=True):
                files_done += len(todo[index].paths)
                done_bytes += sizes[index]
                progress.advance(files_done, done_bytes)
                yield todo[index], parsed


def run_backfill(
    options: BackfillOptions,
    ledger: Ledger | None = None,
    progress: Progress | None = None,
) -> BackfillReport:
    """Find, parse and record (or, with ``dry_run``, only show) every session missed.

    ``ledger`` is required unless ``options.dry_run``; a dry run reads the ledger file
    read-only (for checkpoints and what is already recorded) and writes nothing anywhere.
    """
    started = time.monotonic()
    _POLICIES.clear()  # repo configs may have changed since the last run in this process
    progress = progress or Progress()
    report = BackfillReport(dry_run=options.dry_run)
    now = options.now if options.now is not None else time.time()
    if options.dry_run:
        rows = read_sessions(ledger.path if ledger is not None else skill_home() / "ledger.sqlite3")
    else:
        if ledger is None:
            raise ValueError("a ledger is needed to record (or pass dry_run)")
        from keito_skill._misses import drain

        drain(ledger)  # hook calls a full or read-only disk refused: their ends first
        rows = ledger.sessions()
    warm = _WarmPool(options)
    try:
        candidates = find_candidates(options, rows, report, warm.found)
    except BaseException:
        warm.discard()
        raise
    changed: list[Candidate] = []
    settled: list[Candidate] = []
    for candidate in candidates:
        (settled if candidate.unchanged() else changed).append(candidate)

    for candidate, parsed in parse_stream(changed, options, progress, report, warm.pool):
        if "error" in parsed:
            report.errors.append(f"{candidate.path}: {parsed['error']}")
            report.skipped += 1
            continue
        report.bytes_read += int(parsed["bytes_read"])
        result = _settle_parsed(candidate, parsed, options, now, ledger)
        if result is None:
            report.skipped += 1
        else:
            report.sessions.append(result)

    for candidate in settled:
        result = _settle_unchanged(candidate, options, now, ledger)
        if result is None:
            report.unchanged += 1
        else:
            report.sessions.append(result)
    if options.include_disabled and ledger is not None and not options.dry_run:
        _include_disabled(candidates, options, ledger)
    report.sessions.sort(key=_sort_key)
    report.seconds = time.monotonic() - started
    return report


def _include_disabled(
    candidates: list[Candidate], options: BackfillOptions, ledger: Ledger
) -> None:
    """``--include-disabled``: sessions recorded while their repository was disabled (in the
    range asked) are looked at again like any other, so an enabled repository bills them."""
    for candidate in candidates:
        row = ledger.session(candidate.agent, candidate.session_id)
        if row is None or row.mapping_status != "disabled":
            continue
        summary = _summary(row.checkpoints)
        if summary is None or not _in_range(summary, options):
            continue
        ledger.reconsider_mapping(row.agent, row.session_id)


def _sort_key(result: SessionResult) -> tuple[str, str, str]:
    first = result.summary.started_at if result.summary is not None else None
    started = first.isoformat() if first is not None else ""
    return (started or "", result.agent, result.session_id)


def _quiet(candidate: Candidate, policy: Decision, options: BackfillOptions, now: float) -> bool:
    """Finished: its files have not changed for longer than the session's idle threshold."""
    threshold = options.quiet_seconds or policy.idle_seconds or DEFAULT_IDLE_SECONDS
    return now - candidate.mtime > threshold


def _summary(checkpoints: dict[str, Any]) -> StoredSummary | None:
    from keito_skill.summary import summarize

    states = restore(checkpoints)
    if not states:
        return None
    return StoredSummary.of(summarize(list(states.values()), list(states)))


def _settle_parsed(
    candidate: Candidate,
    parsed: dict[str, Any],
    options: BackfillOptions,
    now: float,
    ledger: Ledger | None,
) -> SessionResult | None:
    checkpoints: dict[str, Any] = parsed["checkpoints"]
    summary = StoredSummary.from_json(parsed["summary"])
    if not _in_range(summary, options):
        return None
    cwd = parsed["cwd"] or (candidate.row.cwd if candidate.row else None)
    policy = policy_for(cwd, options.project_id, options.task_id)
    row = candidate.row
    finishing = _quiet(candidate, policy, options, now) and not (row is not None and row.ended)
    # A session we ended ourselves that grew again was alive after all: reopen it, unless it
    # is quiet again now (then the new usage is a new segment of the ended session).
    reopen = bool(
        row is not None
        and row.ended
        and row.end_reason in OUR_END_REASONS
        and not _quiet(candidate, policy, options, now)
    )
    result = SessionResult(
        agent=candidate.agent,
        session_id=candidate.session_id,
        transcript_path=str(candidate.path),
        status=_status(policy, row),
        policy=policy,
        recorded="new" if row is None else "updated",
        ended=finishing or bool(row is not None and row.ended and not reopen),
        summary=summary,
        bytes_read=int(parsed["bytes_read"]),
    )
    if ledger is None or options.dry_run:
        return result
    fresh = ledger.touch_session(
        candidate.agent,
        candidate.session_id,
        transcript_path=None if row is not None and row.transcript_path else str(candidate.path),
        cwd=cwd if row is None or not row.cwd else None,
        origin=ORIGIN,
        reopen=reopen,
    )
    _store_override(ledger, fresh, policy)
    if fresh.idle_seconds != parsed["idle_seconds"]:
        ledger.set_idle_seconds(candidate.agent, candidate.session_id, parsed["idle_seconds"])
    expected = row.version if row is not None else 0
    end = END_REASON if finishing else None
    saved = ledger.save_checkpoints(
        candidate.agent, candidate.session_id, checkpoints, expected_version=expected, end=end
    )
    if saved and ledger.duplicates_found:
        # Some responses were copies of ones another file owns: shown as stored.
        result.summary = _summary(checkpoints) or result.summary
    elif saved:  # what the worker computed is the summary of what was stored
        ledger.store_summaries(
            [
                (
                    candidate.agent,
                    candidate.session_id,
                    expected + 1,
                    key_at(expected + 1),
                    parsed["summary"],
                )
            ]
        )
    if not saved:
        # A hook wrote this session while we parsed: redo it from the hook's checkpoint.
        try:
            record(
                ledger,
                candidate.agent,
                candidate.session_id,
                None,
                end_reason=end,
                origin=ORIGIN,
            )
        except TranscriptError as exc:
            result.error = str(exc)
        fresh_row = ledger.session(candidate.agent, candidate.session_id)
        if fresh_row is not None:
            result.summary = _summary(fresh_row.checkpoints) or result.summary
    return result


def _settle_unchanged(
    candidate: Candidate, options: BackfillOptions, now: float, ledger: Ledger | None
) -> SessionResult | None:
    """A session with no new bytes: end it if it went quiet, give it an override if asked."""
    row = candidate.row
    assert row is not None
    if row.ended and options.project_id is None and options.task_id is None:
        return None  # nothing to finish, no override asked: the common case, kept cheap
    policy = policy_for(row.cwd, options.project_id, options.task_id)
    finishing = not row.ended and not row.paused and _quiet(candidate, policy, options, now)
    wants_override = policy.status == OVERRIDE and (
        (row.override_project_id, row.override_task_id) != (options.project_id, options.task_id)
    )
    if not finishing and not wants_override:
        return None
    summary = summaries(None if options.dry_run else ledger, [row], wait=None)[0]
    if summary is None or not _in_range(summary, options):
        return None
    result = SessionResult(
        agent=row.agent,
        session_id=row.session_id,
        transcript_path=str(candidate.path),
        status=_status(policy, row),
        policy=policy,
        recorded="ended" if finishing else "override",
        ended=finishing or row.ended,
        summary=summary,
    )
    if ledger is None or options.dry_run:
        return result
    if wants_override:
        _store_override(ledger, row, policy)
    if finishing:
        try:
            record(ledger, row.agent, row.session_id, None, end_reason=END_REASON, origin=ORIGIN)
        except TranscriptError as exc:
            result.error = str(exc)
    return result


def _status(policy: Decision, row: SessionRow | None) -> str:
    """The JSON ``status``: a mapping problem when there is one, else new/updated."""
    if not policy.billable:
        return policy.status
    if row is not None and row.mapping_status == "disabled":
        return "disabled"  # recorded while disabled: billed only with --include-disabled
    return "new" if row is None else "updated"


def _store_override(ledger: Ledger, row: SessionRow, policy: Decision) -> None:
    if policy.status != OVERRIDE:
        return
    if (row.override_project_id, row.override_task_id) == (policy.project_id, policy.task_id):
        return
    ledger.set_override(row.agent, row.session_id, policy.project_id, policy.task_id)
