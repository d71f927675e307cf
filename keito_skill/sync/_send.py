"""Sending records to Keito, each exactly once however often this runs.

Just before a POST leaves, the record is marked ``sending``. If we never hear back
(crash, dropped connection, timeout), the write may still commit later: the record waits
a grace period (:mod:`._confirm`), then is looked up in Keito by its ``session_id`` (and
segment) before anything is created again. A time entry with no remote id is
always looked up first (and duplicates found then are deleted); a session whose entries
this ledger did not create (a lost or recreated ledger) has its expenses in Keito read
first (:mod:`._reconcile`), so nothing is billed twice or lost. A 400 marks that record
failed with the server's reason and the rest go on; an outage stops the pass, leaving
everything pending for the next sync.

Sessions are sent by a small pool of threads (:data:`WORKERS`). One session's records
stay on one thread, in order (its time entries before its expenses), and every ledger
write is made by the calling thread: a worker hands it over and waits until it is
committed, so "marked ``sending`` before the POST leaves" still holds. A 429 (or a 503
with ``Retry-After``) seen by any worker holds back every worker's next request until
the server's delay has passed, and an outage stops all of them from starting new records.

Look-ups are shared: time entries still to be looked up are grouped by (date, project)
and each group is listed once up front, so a backfill of many sessions on one day costs
one list per day instead of one per session.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from keito_skill.keito import (
    KeitoAuthError,
    KeitoClient,
    KeitoConflictError,
    KeitoError,
    KeitoForbiddenError,
    KeitoNetworkError,
    KeitoNotFoundError,
    KeitoServerError,
    KeitoValidationError,
)
from keito_skill.keito._client import entry_key
from keito_skill.keito._http import MAX_RETRY_AFTER, parse_retry_after
from keito_skill.keito._models import TimeEntry
from keito_skill.ledger import FAILED, HELD, PENDING, SENDING, SENT, Keep, Ledger, RecordRow
from keito_skill.sync import _confirm, _reconcile
from keito_skill.sync._final import FinalNeeded, explain, make_final
from keito_skill.sync._payloads import account_of, wire
from keito_skill.sync._whoami import known_user

# Sessions sent at once. Small on purpose: Keito rate-limits per account, and the
# requests are tiny, so a few connections already keep the latency hidden.
WORKERS = 4
# How long everyone pauses after a 429 that carried no usable Retry-After.
DEFAULT_RATE_PAUSE = 1.0
# Server errors in a row (no success between) taken as an outage rather than one bad record.
OUTAGE_AFTER = 3
# Answers that say the whole service is down, not this record: the pass stops at once.
_UNAVAILABLE = frozenset({502, 503, 504})

T = TypeVar("T")

Progress = Callable[[int, int], None]
"""``(records settled, records in this pass)``, called as each record is sent or fails."""


@dataclass
class SendReport:
    created: int = 0
    updated: int = 0
    existing: int = 0
    failed: int = 0
    final: int = 0
    pending: int = 0
    unconfirmed: int = 0  # maybe sent, waiting for the grace period before a look-up
    duplicates: int = 0  # duplicate time entries found by look-ups and deleted
    errors: list[dict[str, Any]] = field(default_factory=list)
    aborted: str | None = None


class _Marker(Protocol):
    def mark_record(
        self,
        record_id: int,
        *,
        status: str | Keep = ...,
        remote_id: str | Keep | None = ...,
        sent_hash: str | Keep | None = ...,
        sent_at: float | Keep | None = ...,
        attempts: int | Keep = ...,
        last_error: str | Keep | None = ...,
    ) -> None: ...

    def log_event(self, level: str, source: str, message: str) -> None: ...


def _send_one(
    client: KeitoClient,
    ledger: _Marker,
    record: RecordRow,
    known: dict[str, list[TimeEntry]] | None = None,
    *,
    in_keito_already: bool = False,
    note: _confirm.Note | None = None,
) -> str:
    """Send one record. ``known`` maps entry keys to the entries already in Keito for the
    record's (date, project, source), from a shared look-up; a miss there means "create".
    ``in_keito_already``: Keito had this session before this ledger sent anything for it
    (a lost or replaced ledger), so an expense is looked up before it is created.
    ``note`` is told of duplicates a look-up found (see :mod:`._confirm`).

    A record is marked ``sending`` (with the time in ``sent_at``) just before its POST
    leaves, never before a look-up: only a POST can have been sent without our knowing."""
    action: str
    body = wire(record.payload)
    if record.kind == "time_entry":
        known_id = record.remote_id
        if known_id is None:
            key = entry_key(body.get("metadata")) or record.session_id
            found = known.get(key, []) if known is not None else None
            if found is None:
                found = _confirm.look_up(client, record, body)
            known_id, _ = _confirm.keep_one(client, record, found, note or _ignore)
            if known_id is None:
                ledger.mark_record(
                    record.id, status=SENDING, attempts=record.attempts + 1, sent_at=time.time()
                )
        try:
            entry, upserted = client.upsert_time_entry(body, known_id=known_id, lookup=False)
        except (KeitoConflictError, KeitoForbiddenError) as exc:
            raise FinalNeeded(exc, known_id) from exc
        remote_id, action = entry.id, upserted
    else:
        if record.remote_id:
            ledger.mark_record(
                record.id, status=SENT, sent_hash=record.payload_hash, last_error=None
            )
            return "existing"
        if record.status == SENDING or record.attempts > 0 or in_keito_already:
            meta = body.get("metadata") or {}
            there = client.find_expense(
                str(meta.get("session_id") or record.session_id),
                str(meta.get("segment")),
                record.spent_date,
            )
            if there is not None:
                ledger.mark_record(
                    record.id,
                    status=SENT,
                    remote_id=there.id,
                    sent_hash=record.payload_hash,
                    sent_at=time.time(),
                    last_error=None,
                )
                return "existing"
        ledger.mark_record(
            record.id, status=SENDING, attempts=record.attempts + 1, sent_at=time.time()
        )
        created, result = client.create_expense_once(body, lookup=False)
        remote_id, action = created.id, result
    ledger.mark_record(
        record.id,
        status=SENT,
        remote_id=remote_id,
        sent_hash=record.payload_hash,
        sent_at=time.time(),
        last_error=None,
    )
    return action


def _ignore(deleted: bool, message: str) -> None:
    return None


def _maybe_posted(exc: KeitoError) -> bool:
    """Whether the failed request was a POST that may have reached Keito."""
    if exc.method != "POST":
        return False  # a look-up, a PATCH or a local check: nothing was created
    if isinstance(exc, KeitoNetworkError):
        return exc.maybe_sent
    return exc.status_code not in (429, 503)  # those are refused before anything is done


def _unsent_status(record: RecordRow, exc: KeitoError) -> str:
    """``sending`` (look up first, after the grace period) only when a POST may have
    reached Keito, now or in an earlier attempt not yet resolved; else ``pending``."""
    if record.remote_id is None and (_maybe_posted(exc) or record.status == SENDING):
        return SENDING
    return PENDING


# -- shared state between workers ------------------------------------------------------


class _Pacer:
    """One "not before" time for every request of the pass (a server-asked pause)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)

    def wait(self) -> None:
        while True:
            with self._lock:
                left = self._until - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 1.0))


@contextmanager
def _paced(client: KeitoClient, pacer: _Pacer) -> Iterator[None]:
    """Make every request of ``client`` wait for ``pacer``, and feed it 429s as they come.

    Through the client's public hooks (:meth:`KeitoClient.hooked`), which also see the
    transport's own retries, so those are paced too.
    """

    def after(status: int, headers: Mapping[str, str]) -> None:
        if status not in (429, 503):
            return
        hinted = parse_retry_after(headers.get("retry-after"))
        if hinted is None:
            if status == 429:
                pacer.hold(DEFAULT_RATE_PAUSE)
        elif hinted <= MAX_RETRY_AFTER:
            pacer.hold(hinted)

    with client.hooked(before_request=pacer.wait, on_response=after):
        yield


class _LedgerDesk:
    """Ledger writes asked for by workers, made one at a time by the thread that owns
    the ledger (SQLite connections stay on their thread); each worker waits for its own."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._owner = threading.get_ident()
        self._jobs: queue.Queue[tuple[Callable[[], None], threading.Event, list[BaseException]]]
        self._jobs = queue.Queue()

    def mark_record(self, record_id: int, **fields: Any) -> None:
        if threading.get_ident() == self._owner:
            self._ledger.mark_record(record_id, **fields)
            return
        done = threading.Event()
        errors: list[BaseException] = []
        self._jobs.put((lambda: self._ledger.mark_record(record_id, **fields), done, errors))
        done.wait()
        if errors:
            raise errors[0]

    def call(self, job: Callable[[Ledger], T]) -> T:
        """``job(ledger)`` run by the owning thread; its result handed back."""
        if threading.get_ident() == self._owner:
            return job(self._ledger)
        done = threading.Event()
        errors: list[BaseException] = []
        results: list[T] = []
        self._jobs.put((lambda: results.append(job(self._ledger)), done, errors))
        done.wait()
        if errors:
            raise errors[0]
        return results[0]

    def log_event(self, level: str, source: str, message: str) -> None:
        self.call(lambda owner: owner.log_event(level, source, message))

    def make_final(self, record_id: int, **fields: Any) -> None:
        self.call(lambda owner: owner.make_final(record_id, **fields))

    def serve(self, until: threading.Event) -> None:
        """Run workers' writes until ``until`` is set and nothing is left to write."""
        while True:
            try:
                job, done, errors = self._jobs.get(timeout=0.05)
            except queue.Empty:
                if until.is_set() and self._jobs.empty():
                    return
                continue
            try:
                job()
            except BaseException as exc:  # handed back to the worker that asked
                errors.append(exc)
            finally:
                done.set()


@dataclass
class _Pass:
    """What the workers share: the report, the stop flag, and the tallies."""

    report: SendReport
    total: int = 0  # records this pass sends
    progress: Progress | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    settled: int = 0  # records sent or failed (not left pending)
    troubled: int = 0  # server errors in a row, with no success between
    # per session: (this ledger created a time entry of it, one was found in Keito)
    origins: dict[tuple[str, str], tuple[bool, bool]] = field(default_factory=dict)
    expense_lists: _reconcile.ExpenseLists | None = None  # Keito's, read once per pass
    finals: list[RecordRow] = field(default_factory=list)  # made final in this pass

    def count(self, action: str) -> None:
        with self.lock:
            self.troubled = 0
            self.settled += 1
            settled = self.settled
            if action == "created":
                self.report.created += 1
            elif action == "updated":
                self.report.updated += 1
            else:
                self.report.existing += 1
        self._tell(settled)

    def fail_soft(self, record: RecordRow, reason: str) -> None:
        """A record left for the next sync, with its reason (it is not counted failed)."""
        with self.lock:
            self.report.errors.append(_error(record, reason))

    def fail(self, record: RecordRow, reason: str) -> None:
        with self.lock:
            self.settled += 1
            settled = self.settled
            self.report.failed += 1
            self.report.errors.append(_error(record, reason))
        self._tell(settled)

    def finalised(self, record: RecordRow) -> None:
        with self.lock:
            self.settled += 1
            settled = self.settled
            self.report.final += 1
            self.finals.append(record)
        self._tell(settled)

    def trouble(self, record: RecordRow, reason: str) -> bool:
        """A server error on one record: that record waits for the next sync, the pass
        goes on, unless it looks like an outage (several in a row): then True."""
        with self.lock:
            self.troubled += 1
            self.report.errors.append(_error(record, reason))
            return self.troubled >= OUTAGE_AFTER

    def duplicate(self) -> None:
        with self.lock:
            self.report.duplicates += 1

    def _tell(self, settled: int) -> None:
        if self.progress is not None:
            self.progress(settled, self.total)

    def abort(self, reason: str) -> None:
        with self.lock:
            if self.report.aborted is None:
                self.report.aborted = reason
        self.stop.set()


def _send_session(
    client: KeitoClient,
    ledger: _Marker,
    records: list[RecordRow],
    state: _Pass,
    known: Known,
) -> None:
    """Send one session's records in order; stop at an outage (here or elsewhere).

    A time entry this ledger never sent that Keito already has (found by its look-up)
    means another ledger sent the session before: a ledger moved aside, or recreated. Its
    expenses were then maybe sent too, and are looked up first (expenses, unlike time
    entries, are otherwise created without a look-up: one call fewer per new session).
    """
    in_keito_already = False
    created, found = state.origins.get((records[0].agent, records[0].session_id), (False, False))
    reconciled: dict[int, str] | None = None  # records found in Keito by the reconciliation

    def note(deleted: bool, message: str) -> None:
        ledger.log_event("warning" if deleted else "error", _confirm.EVENT_SOURCE, message)
        if deleted:
            state.duplicate()

    for record in records:
        if state.stop.is_set():
            return
        shared = known.get(_lookup_key(record)) if record.kind == "time_entry" else None
        if (
            record.kind == "expense"
            and record.remote_id is None
            and reconciled is None
            and not _reconcile.vouched(created, found)
        ):
            try:
                learned, reconciled = _reconciled(client, ledger, records, state)
            except KeitoError as exc:
                state.abort(str(exc))
                return
            except _reconcile.Unreadable as exc:
                _hold_expenses(ledger, records, str(exc), state)
                return
            if learned:
                return  # its expenses are made again, to the difference, in the next pass
        if reconciled and record.id in reconciled:
            state.count("existing")  # in Keito already: adopted as sent
            continue
        try:
            action = _send_one(
                client,
                ledger,
                record,
                shared,
                in_keito_already=in_keito_already and reconciled is None,
                note=note,
            )
            if record.kind == "time_entry" and record.remote_id is None and action != "created":
                in_keito_already = True
            if record.kind == "time_entry" and record.remote_id is None:
                created, found = created or action == "created", found or action != "created"
        except FinalNeeded as final:
            outcome = make_final(client, ledger, record, final)
            if outcome == "final":
                state.finalised(record)
                continue
            if outcome == "refused":  # what this record asks for, not the key
                reason = explain(final.error, record)
                ledger.mark_record(record.id, status=FAILED, last_error=reason)
                state.fail(record, reason)
                continue
            if outcome == "abort":  # a 403 about the key, not about the entry
                ledger.mark_record(record.id, status=PENDING, last_error=str(final.error))
                state.abort(str(final.error))
                return
            ledger.mark_record(record.id, status=PENDING, last_error=outcome)
            state.fail_soft(record, outcome)
            continue
        except (KeitoValidationError, KeitoNotFoundError) as exc:
            reason = explain(exc, record)
            ledger.mark_record(record.id, status=FAILED, last_error=reason)
            state.fail(record, reason)
            continue
        except KeitoServerError as exc:
            if exc.status_code in _UNAVAILABLE:
                ledger.mark_record(
                    record.id, status=_unsent_status(record, exc), last_error=str(exc)
                )
                state.abort(str(exc))
                return
            # This record's trouble, unless every record is in trouble (an outage).
            reason = str(exc)
            ledger.mark_record(record.id, status=_unsent_status(record, exc), last_error=reason)
            if state.trouble(record, reason):
                state.abort(reason)
                return
            continue
        except (KeitoAuthError, KeitoForbiddenError) as exc:
            ledger.mark_record(record.id, status=PENDING, last_error=str(exc))
            state.abort(str(exc))
            return
        except KeitoError as exc:
            # a PATCH is safe to repeat, and a failed look-up sent nothing
            ledger.mark_record(record.id, status=_unsent_status(record, exc), last_error=str(exc))
            state.abort(str(exc))
            return
        except Exception as exc:  # a bug of ours on this record: it must not stop the rest
            reason = f"could not be sent ({type(exc).__name__}: {exc}); please report this"
            status = SENDING if record.remote_id is None else PENDING
            ledger.mark_record(record.id, status=status, last_error=reason)
            state.fail_soft(record, reason)
            continue
        state.count(action)


def _hold_expenses(ledger: _Marker, records: list[RecordRow], reason: str, state: _Pass) -> None:
    """Park a session's unsent expenses with ``reason`` (shown by ``status``)."""
    ledger.log_event("error", "sync", reason)
    for record in records:
        if record.kind == "expense" and record.remote_id is None:
            ledger.mark_record(record.id, status=HELD, last_error=reason)
            state.fail_soft(record, reason)


def _reconciled(
    client: KeitoClient, ledger: _Marker, records: list[RecordRow], state: _Pass
) -> tuple[bool, dict[int, str]]:
    """Adopt what Keito's expenses for this session carry (see :mod:`._reconcile`)."""
    first = records[0]
    with state.lock:
        if state.expense_lists is None:
            state.expense_lists = _reconcile.ExpenseLists(client)
        lists = state.expense_lists
    expenses = _reconcile.keito_expenses(lists, first.session_id, records)

    def job(owner: Ledger) -> tuple[bool, dict[int, str]]:
        return _reconcile.adopt(owner, first.agent, first.session_id, expenses)

    if isinstance(ledger, _LedgerDesk):
        return ledger.call(job)
    assert isinstance(ledger, Ledger)
    return job(ledger)


def _lookup_key(record: RecordRow) -> tuple[str, str | None, str]:
    project = record.payload.get("project_id")
    day = str(record.payload.get("spent_date") or record.spent_date)
    source = str(record.payload.get("source") or "agent")
    return day, str(project) if project is not None else None, source


Known = dict[tuple[str, str | None, str], dict[str, list[TimeEntry]]]


def _shared_lookups(client: KeitoClient, records: list[RecordRow]) -> Known:
    """For each (date, project, source) with two or more time entries to look up, list
    the key's own entries once: entry key (session, part) → its entries (more than one:
    duplicates to clean up). A failed list is skipped (each record then looks itself up,
    and meets the outage the usual way)."""
    wanted: dict[tuple[str, str | None, str], int] = {}
    for record in records:
        if record.kind == "time_entry" and record.remote_id is None:
            key = _lookup_key(record)
            wanted[key] = wanted.get(key, 0) + 1
    known: Known = {}
    for (day, project, source), count in sorted(
        wanted.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2])
    ):
        if count < 2:
            continue
        try:
            index = _confirm.session_entries(
                client.list_time_entries(
                    from_date=day,
                    to_date=day,
                    source=source,
                    project_id=project,
                    user_id=client.user_id,
                )
            )
        except KeitoError:
            return known
        known[(day, project, source)] = index
    return known


def _by_session(records: list[RecordRow]) -> list[list[RecordRow]]:
    """Records grouped per session, each group in the ledger's order (entries first)."""
    groups: dict[tuple[str, str], list[RecordRow]] = {}
    for record in records:
        groups.setdefault((record.agent, record.session_id), []).append(record)
    return list(groups.values())


def send_pending(
    ledger: Ledger,
    client: KeitoClient,
    report: SendReport,
    *,
    workers: int = WORKERS,
    progress: Progress | None = None,
) -> None:
    """Send every pending record; stops early (recording why) when Keito is unreachable.

    ``progress(settled, total)`` is called, from any worker thread, as each record is sent
    or fails.
    """
    records = ledger.pending_records()
    records, waiting = _confirm.hold_unconfirmed(records, time.time(), _confirm.write_grace())
    report.pending += waiting
    report.unconfirmed += waiting
    if not records:
        return
    state = _Pass(report, total=len(records), progress=progress)
    state.origins = ledger.time_entry_origins()
    for account, group in _by_account(records, client.account_id).items():
        if state.stop.is_set():
            break
        other = client.for_account(account) if account != client.account_id else None
        try:
            if other is not None and not _account_usable(other, ledger, group, state):
                continue  # that repo's account is wrong: the other accounts still go out
            _send_account(other or client, ledger, group, state, workers, home=ledger.path.parent)
        finally:
            if other is not None:
                other.close()
    for record in state.finals:  # its session goes round again: a continuation, if any
        ledger.mark_dirty(record.agent, record.session_id)
        for agent, session_id, _ in record.payload.get("_sessions") or []:  # a day entry's
            ledger.mark_dirty(agent, session_id)
    report.pending += len(records) - state.settled


def _account_usable(
    client: KeitoClient, ledger: Ledger, records: list[RecordRow], state: _Pass
) -> bool:
    """Whether the key may use a repo's own account (its ``workspace_id``); if not, its
    records wait with the reason and the fix, and nothing else is held back."""
    try:
        known_user(client, ledger.path.parent)
    except (KeitoAuthError, KeitoForbiddenError) as exc:
        reason = (
            f"{exc} — the Keito key has no access to account {client.account_id!r}, named by"
            " workspace_id in the repo's .keito/config.yml: fix workspace_id or the key"
        )
        for record in records:
            ledger.mark_record(record.id, last_error=reason)
            state.fail_soft(record, reason)
        return False
    except KeitoError:
        return True  # an outage: met (and reported) by the send itself
    return True


def _by_account(records: list[RecordRow], default: str) -> dict[str, list[RecordRow]]:
    """Records per Keito account (a repo config's ``workspace_id``, else the default)."""
    groups: dict[str, list[RecordRow]] = {}
    for record in records:
        groups.setdefault(account_of(record.payload) or default, []).append(record)
    return groups


def _send_account(
    client: KeitoClient,
    ledger: Ledger,
    records: list[RecordRow],
    state: _Pass,
    workers: int,
    *,
    home: Path,
) -> None:
    """Send one account's records (one client: its header, its rate limit)."""
    pacer = _Pacer()
    sessions = _by_session(records)
    with _paced(client, pacer):
        if any(r.remote_id is None for r in records):  # look-ups ahead: narrow them
            try:
                known_user(client, home)
            except KeitoError as exc:  # an outage or a bad key: nothing can go out
                state.abort(str(exc))
                return
        known = _shared_lookups(client, records)
        threads = max(1, min(workers, len(sessions)))
        if threads == 1:
            for group in sessions:
                _send_session(client, ledger, group, state, known)
        else:
            _send_in_pool(client, ledger, sessions, state, known, threads)


def _send_in_pool(
    client: KeitoClient,
    ledger: Ledger,
    sessions: list[list[RecordRow]],
    state: _Pass,
    known: Known,
    threads: int,
) -> None:
    desk = _LedgerDesk(ledger)
    finished = threading.Event()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="keito-send") as pool:

        def run(group: list[RecordRow]) -> None:
            try:
                _send_session(client, desk, group, state, known)
            except BaseException:
                state.stop.set()  # a bug, not an outage: stop the others, re-raised below
                raise

        futures = [pool.submit(run, group) for group in sessions]
        remaining = len(futures)
        lock = threading.Lock()

        def one_done(_future: object) -> None:
            nonlocal remaining
            with lock:
                remaining -= 1
                if remaining == 0:
                    finished.set()

        for future in futures:
            future.add_done_callback(one_done)
        desk.serve(finished)
    for future in futures:
        future.result()  # a bug in a worker surfaces here, not silently


def _error(record: RecordRow, reason: str) -> dict[str, Any]:
    return {
        "session_id": record.session_id,
        "kind": record.kind,
        "key": record.key,
        "reason": reason,
    }
