"""Watch: follow the agents' transcript directories and record what the hooks miss, live.

A long-running companion to the hooks (run it as a user service). It catches what hooks
cannot:

* an agent killed before its SessionEnd (Ctrl+C twice, a closed laptop, ``kill -9``): its
  session stays open in the ledger, its transcript goes quiet, and once the quiet lasts
  longer than the repo's ``billing.idle_minutes`` the session is ended here with
  ``end_reason="idle"``, so its usage is expensed;
* agents running without hooks (disabled, or a hook the agent does not trust yet): every change
  to a transcript is recorded incrementally, exactly as a hook would
  (:func:`keito_skill.recorder.record`: same ledger key, same checkpoints, new bytes only);
* a sync shortly after changes (debounced), so the records reach Keito without a hook.

A session this process ended as idle that grows again was alive after all: it is reopened
rather than billed as a string of tiny segments. History from before the first run is
:mod:`keito_skill.backfill`'s job; after a restart, files changed while the watcher was
down (since its last heartbeat) are caught up.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from keito_skill import agents
from keito_skill._diskerrors import classify
from keito_skill._files import atomic_write_text
from keito_skill._misses import drain as drain_missed
from keito_skill._words import counted
from keito_skill.backfill import OUR_END_REASONS
from keito_skill.errors import LedgerError, TranscriptError
from keito_skill.ledger import Ledger, SessionRow, skill_home
from keito_skill.recorder import record
from keito_skill.transcripts import DEFAULT_IDLE_SECONDS, session_id_for, side_files
from keito_skill.transcripts import discover as discover_sessions

ORIGIN = "watch"
END_REASON = "idle"
_HEARTBEAT_SECONDS = 30.0
# watchdog's events for a file opened, or closed without a write: our own reading makes
# them, so following them would read again, forever (a FIFO never records, and spun a CPU).
_READ_ONLY_EVENTS = frozenset({"opened", "closed_no_write"})
_CONFIG_TTL = 60.0

Log = Callable[[str], None]
SyncFn = Callable[[], dict[str, Any] | None]


def watch_paths(roots: Mapping[str, list[Path]] | None = None) -> list[tuple[str, Path]]:
    """The directories to follow, as ``(agent, dir)``; they need not exist yet.

    ``roots`` maps an agent to the directories to follow instead of its defaults.
    """
    out: list[tuple[str, Path]] = []
    for adapter in agents.adapters():
        given = (roots or {}).get(adapter.name)
        for root in given if given is not None else adapter.roots():
            out.extend((adapter.name, d) for d in adapter.watch_dirs(root.expanduser().absolute()))
    return out


def locate(path: Path, roots: list[tuple[str, Path]]) -> tuple[str, Path] | None:
    """Which session a changed file belongs to: ``(agent, main transcript)``, or None.

    The first watched directory holding ``path`` decides; its agent's adapter maps a side
    file (a subagent's) to its session's main transcript.
    """
    if path.suffix != ".jsonl":
        return None
    for agent, root in roots:
        try:
            path.relative_to(root)
        except ValueError:
            continue
        main = agents.adapter(agent).locate(path, root)
        return None if main is None else (agent, main)
    return None


def _files(main: Path, agent: str) -> list[Path]:
    return [main, *side_files(agent, main)]


def _mtime(paths: list[Path]) -> float | None:
    latest: float | None = None
    for path in paths:
        try:
            stamp = path.stat().st_mtime
        except OSError:
            continue
        latest = stamp if latest is None else max(latest, stamp)
    return latest


def _new_bytes(row: SessionRow | None, paths: list[Path]) -> int:
    total = 0
    for path in paths:
        try:
            size = path.stat().st_size
        except OSError:
            continue
        total += row.unread_bytes(str(path), size) if row is not None else size
    return total


class Watcher:
    """The watch loop. ``notify`` may be called from any thread; the rest runs in one.

    ``quiet_seconds`` overrides every session's idle threshold (``--idle-minutes``, or the
    hidden ``--idle-seconds`` tests use); otherwise each session's repo decides.
    ``clock`` is the wall clock (``time.time``) every "now" here is read from (quiet
    sessions, the sync debounce, the heartbeat), as backfill's ``options.now``: a test
    moves it forward instead of sleeping.
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        roots: Mapping[str, list[Path]] | None = None,
        quiet_seconds: float | None = None,
        sync: SyncFn | None = None,
        sync_delay: float = 10.0,
        log: Log | None = None,
        state_path: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ledger = ledger
        self.clock = clock
        self.agent_roots = roots
        self.roots = watch_paths(roots)
        self.quiet_seconds = quiet_seconds
        self.sync = sync
        self.sync_delay = sync_delay
        self.log = log or (lambda message: None)
        self.state_path = state_path or skill_home() / "watch.json"
        self.stop = threading.Event()
        self.wake = threading.Event()
        self._lock = threading.Lock()
        self._pending: set[tuple[str, Path]] = set()
        self._sync_due: float | None = None
        self._first_change: float | None = None
        self._idle_cache: dict[str | None, tuple[float, int]] = {}
        self._session_ids: dict[Path, str] = {}
        self._watched: set[Path] = set()
        self._observer: Any = None
        self._beat = 0.0
        self._trouble: str | None = None  # the ledger write problem last reported
        self.recorded = 0  # sessions recorded / ended since start: the --once summary
        self.ended = 0

    # -- events from watchdog's thread -------------------------------------------------

    def notify(self, raw: str | bytes) -> None:
        """A file changed (any thread): queue its session and wake the loop."""
        text = os.fsdecode(raw)
        found = locate(Path(text), self.roots)
        if found is None:
            return
        with self._lock:
            self._pending.add(found)
        self.wake.set()

    def request_stop(self) -> None:
        """Ask the loop to finish what it is writing and return (signal-handler safe)."""
        self.stop.set()
        self.wake.set()

    # -- the loop ----------------------------------------------------------------------

    @property
    def tick(self) -> float:
        """How often to look for idle sessions: often enough to end one within a minute."""
        shortest = 60.0 if self.quiet_seconds is None else self.quiet_seconds
        return max(0.2, min(5.0, shortest / 4))

    def run(self, *, once: bool = False) -> None:
        """Follow the directories until :meth:`request_stop` (or one pass with ``once``)."""
        if not once:
            self._start_observer()
        try:
            missed = self.catch_up()
            self.log(
                "watching "
                + ", ".join(str(p) for _, p in self.roots)
                + (
                    f" (idle after {self.quiet_seconds:g}s)"
                    if self.quiet_seconds is not None
                    else ""
                )
            )
            if missed is None:
                self.log(
                    "first start: sessions written before now are not read here; "
                    "'keito-skill backfill' records them"
                )
            elif missed:
                self.log(f"catching up {counted(missed, 'session')} written while no watcher ran")
            while not self.stop.is_set():
                self.step()
                if once:
                    if self._sync_due is not None:
                        self._sync_now()
                    self.log(f"one pass done: recorded {self.recorded}, ended {self.ended}")
                    break
                self.wake.wait(self.tick)
                self.wake.clear()
        finally:
            if self._observer is not None:
                self._observer.stop()
                self._observer.join(timeout=5)
            self._heartbeat(force=True)

    def step(self) -> None:
        """One round: new directories, changed transcripts, idle sessions, a due sync."""
        self._schedule_new_roots()
        self._safely(self._drain_missed, writes=False)  # often nothing to write
        with self._lock:
            pending = sorted(self._pending)
            self._pending.clear()
        for agent, main in pending:
            if self.stop.is_set():
                with self._lock:
                    self._pending.update(pending)  # not lost: recorded on the next start
                return
            if not self._safely(self.record_changed, agent, main):
                with self._lock:
                    self._pending.add((agent, main))  # not lost: tried again next round
        self.finalize_idle()
        if self._sync_due is not None and self.clock() >= self._sync_due and not self.stop.is_set():
            self._sync_now()
        self._heartbeat()

    def catch_up(self) -> int | None:
        """Queue transcripts written since the last heartbeat (the watcher was down).

        Returns how many were queued, or None on a first start (no heartbeat yet): what was
        written before any watcher ran is backfill's to record, not this loop's.
        """
        last = self._last_seen()
        if last is None:
            return None
        queued = 0
        for agent, main, sides in discover_sessions(None, roots=self.agent_roots):
            stamp = _mtime([main, *sides])
            if stamp is not None and stamp >= last - 5.0:
                self._pending.add((agent, main))
                queued += 1
        return queued

    # -- recording ---------------------------------------------------------------------

    def _row_for(self, agent: str, main: Path) -> SessionRow | None:
        found = self.ledger.session_by_transcript(agent, str(main))
        if found is not None:
            return found
        sid = self._session_ids.get(main)
        if sid is None:
            sid = self._session_ids[main] = session_id_for(agent, main)
        return self.ledger.session(agent, sid)

    def record_changed(self, agent: str, main: Path) -> None:
        """Record the new bytes of one session's transcript, as its hook would."""
        if not main.exists():
            return
        row = self._row_for(agent, main)
        sid = row.session_id if row is not None else session_id_for(agent, main)
        path = Path(row.transcript_path) if row is not None and row.transcript_path else main
        grown = _new_bytes(row, _files(path, agent))
        if row is not None and grown == 0 and row.cwd:
            return  # touched, not written: nothing new
        reopen = bool(row is not None and row.ended and row.end_reason in OUR_END_REASONS)
        fresh = record(
            self.ledger,
            agent,
            sid,
            None if row is not None and row.transcript_path else str(main),
            origin=ORIGIN,
            reopen=reopen and grown > 0,
        )
        if fresh.cwd is None:
            cwd = _cwd_of(fresh)
            if cwd:
                self.ledger.set_cwd(agent, sid, cwd)
        self.recorded += 1
        self.log(
            f"recorded {agent} {sid} (+{grown} bytes)" + (", reopened" if reopen and grown else "")
        )
        self._want_sync()

    def _drain_missed(self) -> None:
        """Replay the hook calls a full or read-only disk refused (see :mod:`._misses`)."""
        replayed = drain_missed(self.ledger)
        if replayed:
            self.log(f"recorded {counted(replayed, 'hook call')} the ledger could not take then")
            self._want_sync()

    def finalize_idle(self) -> None:
        """End every open session whose transcript and hooks have been quiet long enough."""
        now = self.clock()
        for row in self.ledger.open_sessions():
            if self.stop.is_set():
                return
            files = _files(Path(row.transcript_path), row.agent) if row.transcript_path else []
            stamp = max(_mtime(files) or 0.0, row.updated_at)
            if now - stamp < self._threshold(row.cwd):
                continue
            self._safely(self._end, row)

    def _end(self, row: SessionRow) -> None:
        try:
            record(
                self.ledger, row.agent, row.session_id, None, end_reason=END_REASON, origin=ORIGIN
            )
        except TranscriptError as exc:  # the transcript is gone; the session is ended anyway
            self.log(f"ended {row.agent} {row.session_id} without its transcript: {exc}")
        else:
            self.log(f"ended {row.agent} {row.session_id} (idle)")
        self.ended += 1
        self._want_sync()

    def _threshold(self, cwd: str | None) -> float:
        if self.quiet_seconds is not None:
            return self.quiet_seconds
        now = time.monotonic()
        cached = self._idle_cache.get(cwd)
        if cached is not None and cached[0] > now:
            return cached[1]
        seconds = DEFAULT_IDLE_SECONDS
        if cwd:
            from keito_skill.billing import decide

            seconds = decide(cwd).idle_seconds
        self._idle_cache[cwd] = (now + _CONFIG_TTL, seconds)
        return seconds

    # -- sync --------------------------------------------------------------------------

    def _want_sync(self) -> None:
        """Debounce: sync ``sync_delay`` after the last change, at most a minute late."""
        if self.sync is None:
            return
        now = self.clock()
        if self._first_change is None:
            self._first_change = now
        self._sync_due = min(now + self.sync_delay, self._first_change + max(60.0, self.sync_delay))

    def _sync_now(self) -> None:
        self._sync_due = self._first_change = None
        if self.sync is None:
            return
        try:
            result = self.sync()
        except Exception as exc:  # a failed sync must not stop the watcher
            self.log(f"sync failed: {exc!r}")
            self._want_sync()
            return
        if result is not None and not result.get("ran", True):
            self._want_sync()  # another sync held the lock: try again after it
            return
        if result is not None:
            sent = result.get("sent") or {}
            self.log(
                "synced: "
                + (
                    f"offline ({result['offline']})"
                    if result.get("offline")
                    else f"created {sent.get('created', 0)}, updated {sent.get('updated', 0)}, "
                    f"failed {sent.get('failed', 0)}"
                )
            )

    # -- plumbing ----------------------------------------------------------------------

    def _safely(self, fn: Callable[..., None], *args: Any, writes: bool = True) -> bool:
        """Run one step; False when the ledger refused the write (full or read-only disk):
        the caller keeps the work for a later round instead of losing it. ``writes``:
        the step always writes, so its success means the ledger takes writes again."""
        try:
            fn(*args)
        except (sqlite3.Error, LedgerError) as exc:
            reason = exc.reason if isinstance(exc, LedgerError) else str(exc)
            state = classify(self.ledger.path, exc) if isinstance(exc, sqlite3.Error) else None
            message = f"the ledger cannot be written ({state or reason}); retrying"
            if message != self._trouble:
                self.log(message)
                self._trouble = message
            return False
        except (TranscriptError, OSError, ValueError) as exc:
            self.log(f"skipped {args[-1] if args else ''}: {exc}")
        if self._trouble is not None and writes:
            self.log("the ledger can be written again")
            self._trouble = None
        return True

    def _start_observer(self) -> None:
        from watchdog.observers import Observer

        self._observer = Observer()
        self._schedule_new_roots()
        try:
            self._observer.start()
        except OSError as exc:  # inotify limits: fall back to polling
            from watchdog.observers.polling import PollingObserver

            self.log(f"native file watching unavailable ({exc}); polling")
            self._observer = PollingObserver(timeout=2)
            self._watched.clear()
            self._schedule_new_roots()
            self._observer.start()

    def _schedule_new_roots(self) -> None:
        if self._observer is None:
            return
        from watchdog.events import FileSystemEvent, FileSystemEventHandler

        watcher = self

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in _READ_ONLY_EVENTS:
                    return  # someone read the file (we do, to record it): nothing new
                if event.is_directory:
                    if event.event_type == "created":
                        for path in Path(os.fsdecode(event.src_path)).rglob("*.jsonl"):
                            watcher.notify(str(path))
                    return
                watcher.notify(event.src_path)
                dest = getattr(event, "dest_path", None)
                if dest:
                    watcher.notify(dest)

        for _, root in self.roots:
            if root in self._watched or not root.is_dir():
                continue
            self._observer.schedule(_Handler(), str(root), recursive=True)
            self._watched.add(root)
            if self._beat:  # appeared while running: what is already in it is new
                for path in root.rglob("*.jsonl"):
                    self.notify(str(path))

    def _last_seen(self) -> float | None:
        try:
            data = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return None
        value = data.get("last_seen") if isinstance(data, dict) else None
        return float(value) if isinstance(value, int | float) else None

    def _heartbeat(self, *, force: bool = False) -> None:
        """Remember when we last looked, so a restart catches up on what it missed."""
        now = self.clock()
        if not force and now - self._beat < _HEARTBEAT_SECONDS:
            return
        self._beat = now
        try:  # 0600 like everything under KEITO_SKILL_HOME
            state = json.dumps({"last_seen": now, "pid": os.getpid()})
            atomic_write_text(self.state_path, state, mode=0o600)
        except OSError:
            pass


def _cwd_of(row: SessionRow) -> str | None:
    """The session's working directory as its transcript states it (main file first)."""
    for checkpoint in row.checkpoints.values():
        cwd = checkpoint.get("cwd") if isinstance(checkpoint, dict) else None
        if isinstance(cwd, str) and cwd:
            return cwd
    return None
