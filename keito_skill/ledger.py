"""The local ledger: one SQLite file that records first and sends later.

Hooks fire at awkward moments (an agent may allow a SessionEnd hook a second, the network
may be down, two agents may end at once, the machine may die mid-write), so recording and
sending are two steps. Hooks write here, durably and fast; ``sync`` reads from here and
sends to Keito, safely repeatable.

* ``sessions``: every session seen — where its transcript is, the last summary, whether
  it ended, and how it maps to a Keito project.
* ``records``: every record to send — a time entry per session-day (key: the date) or an
  expense per usage segment (key: ``<date>/<model>/<start>-<end>``, the cumulative tokens
  it carries; ``<segment>/<date>/<model>`` before) — with the payload wanted,
  what was last confirmed sent, the remote id and the sync state.
* ``session_checkpoints``: each session's parse checkpoints (since schema v6), apart from
  its ``sessions`` row: they are most of a ledger's bytes, and every listing of sessions
  (``report``, ``status``, ``sessions``, ``sync``) stepped through them in the same row.

WAL mode and a busy timeout let many agent processes write at once; read-modify-write of a
checkpoint is optimistic (a version number), so parsing never holds the write lock.
This module imports only the standard library (and orjson outside hooks): it is on the hook
path.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from keito_skill import _orjson
from keito_skill._diskerrors import classify, disk_state, fix_for
from keito_skill._safeio import private_dir, private_file, tighten
from keito_skill._safeio import skill_home as skill_home  # re-exported: its old home
from keito_skill._text import may_hold_half_pairs, whole_characters
from keito_skill.errors import LedgerError

TYPE_CHECKING = False  # mypy takes it for typing's; importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from typing import Any, Generic, TypeVar, overload

    T = TypeVar("T")
else:
    # ``_JSONColumn`` is generic for mypy only. At run time its ``Generic[T]`` base is this
    # stand-in (``T`` a placeholder) and its ``__get__`` overloads are left out: the hook
    # path does not import ``typing``. ``SessionRow`` gives its columns' types in
    # annotations (never evaluated), so no real type parameter is needed at run time.
    class Generic:
        def __class_getitem__(cls, params: object) -> type:
            return cls

    T = None

SCHEMA_VERSION = 7

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    agent TEXT NOT NULL,
    session_id TEXT NOT NULL,
    transcript_path TEXT,
    cwd TEXT,
    git_branch TEXT,
    git_rev TEXT,
    model TEXT,
    origin TEXT NOT NULL DEFAULT 'hook',
    first_seen REAL NOT NULL,
    updated_at REAL NOT NULL,
    idle_seconds INTEGER NOT NULL DEFAULT 300,
    ended INTEGER NOT NULL DEFAULT 0,
    ended_at REAL,
    end_reason TEXT,
    close_pending INTEGER NOT NULL DEFAULT 0,
    paused INTEGER NOT NULL DEFAULT 0,
    dirty INTEGER NOT NULL DEFAULT 1,
    version INTEGER NOT NULL DEFAULT 0,
    -- before v6: the checkpoints (now in session_checkpoints), '{}' since: kept so that an
    -- older keito-skill opening this file still writes where it expects to
    checkpoints TEXT NOT NULL DEFAULT '{}',
    offsets TEXT,
    summary TEXT,
    mapping_status TEXT NOT NULL DEFAULT 'new',
    mapping_detail TEXT,
    project_id TEXT,
    task_id TEXT,
    override_project_id TEXT,
    override_task_id TEXT,
    PRIMARY KEY (agent, session_id)
);
CREATE TABLE IF NOT EXISTS session_checkpoints (
    agent TEXT NOT NULL,
    session_id TEXT NOT NULL,
    checkpoints TEXT NOT NULL,
    PRIMARY KEY (agent, session_id)
);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    agent TEXT NOT NULL,
    session_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('time_entry', 'expense')),
    key TEXT NOT NULL,
    spent_date TEXT NOT NULL,
    payload TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    sent_hash TEXT,
    remote_id TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    sent_at REAL,
    UNIQUE (agent, session_id, kind, key)
);
CREATE INDEX IF NOT EXISTS records_status ON records (status);
CREATE TABLE IF NOT EXISTS response_files (
    id INTEGER PRIMARY KEY,
    agent TEXT NOT NULL,
    session_id TEXT NOT NULL,
    path TEXT NOT NULL,
    duplicates INTEGER NOT NULL DEFAULT 0,
    UNIQUE (agent, session_id, path)
);
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    file INTEGER NOT NULL,
    offset INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS responses_file ON responses (file);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    level TEXT NOT NULL,
    source TEXT NOT NULL,
    message TEXT NOT NULL
);
"""

# Record states. ``sending`` means a request may have reached Keito without us hearing the
# answer: the next attempt looks the record up before creating anything. ``final``: Keito
# refuses to change it (approved, locked); its payload is what Keito holds, and work
# recorded later goes out as a continuation record instead.
PENDING, SENDING, SENT, FAILED, HELD = "pending", "sending", "sent", "failed", "held"
FINAL = "final"


class Keep:
    """The type of :data:`KEEP`: a field :meth:`Ledger.mark_record` leaves as it is."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP = Keep()

# Checkpoints are the bulk of a ledger read; orjson decodes them ~3x faster (not in a hook:
# see keito_skill._orjson).
_orjson_module = _orjson.load()
_fast_loads: Callable[[str | bytes], Any] | None = (
    _orjson_module.loads if _orjson_module is not None else None
)
_fast_dumps: Callable[[Any], bytes] | None = (
    _orjson_module.dumps if _orjson_module is not None else None
)


def _loads(raw: str | bytes) -> Any:
    """Read what :func:`_dumps` wrote, whichever module wrote it."""
    if _fast_loads is not None:
        try:
            return _fast_loads(raw)
        except ValueError:  # what only the JSON module writes (a lone surrogate escape)
            pass
    value = json.loads(raw)
    # cut emoji stored before they were mended at the door
    return whole_characters(value) if may_hold_half_pairs(raw) else value


def _dumps(value: Any) -> str:
    """JSON that :func:`_loads` reads back to an equal value, in any process.

    orjson writes NaN and infinities as null; the JSON module is made to do the same, so a
    hook (JSON module only) and a backfill (orjson) store the same checkpoint.
    """
    if _fast_dumps is not None:
        try:
            return _fast_dumps(value).decode()
        except TypeError:  # an integer over 64 bits, a lone surrogate: the JSON module
            pass
    try:
        # Values built by to_dict or read from JSON hold no cycles: not checking for them
        # saves a fifth of encoding a long session's checkpoints in every hook.
        return json.dumps(value, separators=(",", ":"), allow_nan=False, check_circular=False)
    except ValueError:
        return json.dumps(_finite(value), separators=(",", ":"))


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as None, as orjson writes them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


# Columns added after version 1: (table, column, type). ``CREATE TABLE IF NOT EXISTS``
# leaves an existing table alone, so an older ledger gains them here, keeping its rows.
_ADDED_COLUMNS = (
    ("sessions", "override_project_id", "TEXT"),
    ("sessions", "override_task_id", "TEXT"),
    ("sessions", "offsets", "TEXT"),  # v3; NULL until the checkpoints are next saved
    # v5: what the stored ``summary`` was computed from (see keito_skill.summaries); NULL:
    # not known, so it is computed again before anything reads it.
    ("sessions", "summary_key", "TEXT"),
    # v7: the stored summary's ``started_at`` and ``ended_at``, kept by a trigger (see
    # ``_SPAN_TRIGGERS``): a listing sorts and filters thousands of sessions by them, and
    # reading them out of the JSON cost SQLite a parse of every summary. NULL: not known
    # (the summary is then decoded to find out).
    ("sessions", "summary_started", "TEXT"),
    ("sessions", "summary_ended", "TEXT"),
)


def _add_missing_columns(db: sqlite3.Connection) -> None:
    for table, column, kind in _ADDED_COLUMNS:
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def _move_checkpoints(db: sqlite3.Connection) -> None:
    """v6: the checkpoints leave the ``sessions`` rows for ``session_checkpoints``. Any
    left in a row were written there after the last move (by an older keito-skill that
    opened this file since), so they replace what the side table holds."""
    db.execute(
        "INSERT INTO session_checkpoints (agent, session_id, checkpoints)"
        " SELECT agent, session_id, checkpoints FROM sessions WHERE checkpoints != '{}'"
        " ON CONFLICT (agent, session_id) DO UPDATE SET checkpoints = excluded.checkpoints"
    )
    db.execute("UPDATE sessions SET checkpoints = '{}' WHERE checkpoints != '{}'")


def payload_hash(payload: dict[str, Any]) -> str:
    import hashlib  # only sync hashes payloads; hooks never do

    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def claim_responses(
    db: sqlite3.Connection,
    agent: str,
    session_id: str,
    path: str,
    read_from: int | None,
    entries: list[list[Any]],
) -> list[int]:
    """Claim each listed response ``[key, offset, ...]`` for the file ``path`` of a session
    (inside a write); return the indexes of those another file, or an earlier place in
    this one, already owns. A file read from its start (``read_from == 0``) first gives up
    what it owned. One indexed insert per response; a look-up each only when some key was
    already there."""
    db.execute(
        "INSERT INTO response_files (agent, session_id, path) VALUES (?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (agent, session_id, path),
    )
    file_id = db.execute(
        "SELECT id FROM response_files WHERE agent = ? AND session_id = ? AND path = ?",
        (agent, session_id, path),
    ).fetchone()[0]
    if read_from == 0:
        db.execute("DELETE FROM responses WHERE file = ?", (file_id,))
    if not entries:
        return []
    before = db.total_changes
    db.executemany(
        "INSERT INTO responses (key, file, offset) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        [(entry[0], file_id, entry[1]) for entry in entries],
    )
    keys = {entry[0] for entry in entries}
    if db.total_changes - before == len(keys) == len({(e[0], e[1]) for e in entries}):
        return []  # every key was new (one listed twice at one place: a response continued)
    duplicates = []
    for index, entry in enumerate(entries):
        owner = db.execute("SELECT file, offset FROM responses WHERE key = ?", (entry[0],))
        found = owner.fetchone()
        if found is not None and (found[0], found[1]) != (file_id, entry[1]):
            duplicates.append(index)
    if duplicates:
        db.execute(
            "UPDATE response_files SET duplicates = duplicates + ? WHERE id = ?",
            (len(duplicates), file_id),
        )
    return duplicates


def release_responses(
    db: sqlite3.Connection, agent: str, session_id: str, *, keep: list[str]
) -> None:
    """Give up the responses a session's files own, but for the files in ``keep``: a file
    no longer among its checkpoints (gone, or now read under another path) bills nothing
    for the session, so it must not keep another file's copies from billing."""
    marks = ", ".join("?" for _ in keep)
    db.execute(
        "DELETE FROM responses WHERE file IN (SELECT id FROM response_files"
        f" WHERE agent = ? AND session_id = ? AND path NOT IN ({marks}))",
        (agent, session_id, *keep),
    )


class _Row:
    """A ledger row as attributes. Plain (not a dataclass): the hook path imports this
    module, and ``dataclasses`` alone costs it several milliseconds."""

    def __init__(self, **columns: Any) -> None:
        self.__dict__.update(columns)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class _JSONColumn(Generic[T]):
    """A JSON column of a row, decoded when first read.

    A backfill loads every session but reads the checkpoints (the bulk of the ledger)
    only of the few with new bytes; decoding all of them took most of a second run.
    """

    def __init__(self, empty: Callable[[], T]) -> None:
        self._empty = empty
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    if TYPE_CHECKING:

        @overload
        def __get__(self, row: None, owner: type) -> _JSONColumn[T]: ...

        @overload
        def __get__(self, row: object, owner: type) -> T: ...

    def __get__(self, row: object, owner: type) -> T | _JSONColumn[T]:
        if row is None:
            return self
        raw = self.raw(row)
        row.__dict__.pop(f"_raw_{self._name}", None)
        try:
            value: T = _loads(raw) if raw else self._empty()
        except ValueError:  # damaged: as if never stored (checkpoints: read again)
            value = self._empty()
        if value is not None and not isinstance(value, dict):  # every JSON column is one
            value = self._empty()
        row.__dict__[self._name] = value  # the instance attribute answers from now on
        return value

    def raw(self, row: object) -> Any:
        """The column as stored, not decoded (read now if the listing left it out); the
        row keeps it until it is decoded."""
        data = row.__dict__
        key, fetch = f"_raw_{self._name}", f"_fetch_{self._name}"
        if data.get(key) is None and fetch in data:
            data[key] = data.pop(fetch)()  # listed without this column: read it now
        return data.get(key)


def _none() -> dict[str, Any] | None:
    return None


_JSON_COLUMNS = ("checkpoints", "summary", "offsets")
_FLAGS = ("ended", "close_pending", "paused", "dirty")


class SessionRow(_Row):
    agent: str
    session_id: str
    transcript_path: str | None
    cwd: str | None
    git_branch: str | None
    git_rev: str | None
    model: str | None
    origin: str
    first_seen: float
    updated_at: float
    idle_seconds: int
    ended: bool
    ended_at: float | None
    end_reason: str | None
    close_pending: bool
    paused: bool
    dirty: bool
    version: int
    checkpoints: _JSONColumn[dict[str, Any]] = _JSONColumn(dict)
    summary: _JSONColumn[dict[str, Any] | None] = _JSONColumn(_none)
    # Each file's checkpoint offset, stored apart since schema v3 (None: not stored yet).
    offsets: _JSONColumn[dict[str, Any] | None] = _JSONColumn(_none)
    mapping_status: str
    mapping_detail: str | None
    project_id: str | None
    task_id: str | None
    # Set by ``backfill --project/--task``: used only while the session has no mapping.
    override_project_id: str | None = None
    override_task_id: str | None = None
    # The checkpoint version (and code) ``summary`` was computed from: keito_skill.summaries.
    summary_key: str | None = None
    # ``(started_at, ended_at)`` of the stored summary, when listed with them (see
    # ``Ledger.sessions_for_listing``); None: not listed so, or not known.
    summary_span: tuple[str | None, str | None] | None = None
    # The stored summary's ``days`` as JSON text, when listed with them; else None.
    summary_days: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> SessionRow:
        return cls.from_dict(dict(row))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionRow:
        """A row from its columns (JSON ones still encoded; ``checkpoints`` may be absent,
        with a ``_fetch_checkpoints`` callable to read it)."""
        for column in _JSON_COLUMNS:
            if column in data:
                data[f"_raw_{column}"] = data.pop(column)
        for flag in _FLAGS:
            data[flag] = bool(data[flag])
        return cls(**data)

    def summary_text(self) -> str | bytes | None:
        """The stored summary as the JSON text the ledger holds (UTF-8 bytes when listed
        so; None: none stored), left undecoded when nothing read it yet: a listing prints
        thousands of them as they are."""
        if "summary" not in self.__dict__:  # not decoded yet
            raw = type(self).summary.raw(self)
            if raw is None or isinstance(raw, str | bytes):
                return raw
        value = self.summary
        return json.dumps(value, separators=(",", ":")) if value is not None else None

    def offset_of(self, path: str) -> int | None:
        """How far the checkpoint of ``path`` has read, without decoding the checkpoints
        when the ledger stored the offsets apart (every save since schema v3)."""
        stored = self.offsets
        if isinstance(stored, dict):
            offset = stored.get(path)
        else:
            checkpoint = self.checkpoints.get(path)
            offset = checkpoint.get("offset") if isinstance(checkpoint, dict) else None
        return offset if isinstance(offset, int) else None

    def unread_bytes(self, path: str, size: int) -> int:
        """Bytes of ``path`` (now ``size`` long) past its checkpoint: all of them when it
        has none or the file shrank (it will be read from the start)."""
        offset = self.offset_of(path)
        return size - offset if offset is not None and offset <= size else size


class RecordRow(_Row):
    id: int
    agent: str
    session_id: str
    kind: str
    key: str
    spent_date: str
    payload: dict[str, Any]
    payload_hash: str
    sent_hash: str | None
    remote_id: str | None
    status: str
    attempts: int
    last_error: str | None
    created_at: float
    updated_at: float
    sent_at: float | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RecordRow:
        data = dict(row)
        data["payload"] = _loads(data["payload"])
        return cls(**data)


def ledger_error(path: Path, exc: BaseException) -> LedgerError:
    """A :class:`LedgerError` that says "disk full" or "read-only" when that is the cause,
    and advises moving the file aside only when the file itself is at fault."""
    state = classify(path, exc)
    if state is None:
        return LedgerError(path, str(exc))
    return LedgerError(path, f"{state} ({exc})", fix_for(state, path))


def _connect_read_only(path: Path, timeout: float) -> sqlite3.Connection:
    """A read-only connection, also where SQLite cannot create the WAL index beside it."""
    if not path.exists():
        raise sqlite3.OperationalError("unable to open database file: it does not exist")
    uri = path.resolve().as_uri()
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=timeout, isolation_level=None)
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.Error:
        # Nothing can write it now, so reading it as an immutable file is exact.
        return sqlite3.connect(
            f"{uri}?immutable=1", uri=True, timeout=timeout, isolation_level=None
        )


def _has_table(db: sqlite3.Connection, name: str, kind: str = "table") -> bool:
    found = db.execute("SELECT 1 FROM sqlite_master WHERE type = ? AND name = ?", (kind, name))
    return found.fetchone() is not None


# Whether the stored summary is a JSON object: SQLite reads fields only from one
# (``json_extract`` on damaged text would fail the whole statement).
def _is_object(summary: str = "summary") -> str:
    return f"json_valid({summary}) AND json_type({summary}) = 'object'"


def _summary_value(field: str, summary: str = "summary") -> str:
    """SQL for the stored summary's ``field`` (JSON text for an array), or NULL;
    ``summary``: the column as named where it is used (``NEW.summary`` in a trigger)."""
    return f"CASE WHEN {_is_object(summary)} THEN json_extract({summary}, '$.{field}') END"


# A stored summary's days (see ``Ledger.sessions``).
_DAYS_COLUMN = f", {_summary_value('days')} AS summary_days"
# Its span, kept in columns of its own (v7) and listed only when asked for.
_SPAN_COLUMNS = ("summary_started", "summary_ended")
# What a listing of transcripts (``sessions``) reads of each row: see sessions_for_listing.
_LISTING_COLUMNS = (
    "agent",
    "session_id",
    "transcript_path",
    "idle_seconds",
    "version",
    "updated_at",
    "offsets",
    # as stored, in UTF-8: printed as it is, never decoded into text and encoded back
    "CAST(summary AS BLOB) AS summary",
    "summary_key",
)
_SPAN_TRIGGER = "sessions_summary_span"


def _span_of(summary: str) -> str:
    """SQL setting the span columns from ``summary`` (a column, as :func:`_summary_value`)."""
    return ", ".join(
        f"{column} = {_summary_value(field, summary)}"
        for column, field in zip(_SPAN_COLUMNS, ("started_at", "ended_at"), strict=True)
    )


# Whoever writes a summary (this version, or an older one that knows nothing of spans), the
# span follows it in the same statement: SQLite runs the trigger inside it. Each trigger's
# name (after ``_SPAN_TRIGGER``) and the write it follows:
_SPAN_TRIGGER_EVENTS = (("", "UPDATE OF summary"), ("_new", "INSERT"))
_SPAN_TRIGGERS = tuple(
    f"CREATE TRIGGER IF NOT EXISTS {_SPAN_TRIGGER}{suffix} AFTER {event} ON sessions BEGIN"
    f" UPDATE sessions SET {_span_of('NEW.summary')}"
    " WHERE agent = NEW.agent AND session_id = NEW.session_id; END"
    for suffix, event in _SPAN_TRIGGER_EVENTS
)


def _json_functions(db: sqlite3.Connection) -> bool:
    try:
        db.execute("SELECT json_valid('{}')")
    except sqlite3.OperationalError:  # an SQLite built without them
        return False
    return True


def _keep_spans(db: sqlite3.Connection) -> None:
    """v7: the triggers that keep each summary's span, and the spans of the summaries
    stored before them (once: while the triggers exist, every write keeps its span). An
    SQLite without JSON functions keeps none (a trigger it cannot run would fail every
    write of a summary): the spans are then NULL, unknown, and readers decode summaries."""
    if not _json_functions(db):
        _drop_span_triggers(db)
        db.execute("UPDATE sessions SET summary_started = NULL, summary_ended = NULL")
        return
    fill = not _has_table(db, _SPAN_TRIGGER, kind="trigger")
    for statement in _SPAN_TRIGGERS:
        db.execute(statement)
    if fill:
        db.execute(f"UPDATE sessions SET {_span_of('summary')}")


def _drop_span_triggers(db: sqlite3.Connection) -> None:
    for suffix, _ in _SPAN_TRIGGER_EVENTS:
        db.execute(f"DROP TRIGGER IF EXISTS {_SPAN_TRIGGER}{suffix}")


def _session_columns(db: sqlite3.Connection) -> list[str]:
    """The ``sessions`` columns but the checkpoints (kept apart since schema v6) and the
    summary's span (read only by a listing that asks for it)."""
    apart = ("checkpoints", *_SPAN_COLUMNS)
    return [r[1] for r in db.execute("PRAGMA table_info(sessions)") if r[1] not in apart]


def read_sessions(path: Path) -> list[SessionRow]:
    """The sessions of the ledger at ``path``, read without writing anything (none when
    there is no ledger yet): a dry run must leave the ledger exactly as it found it, and
    opening :class:`Ledger` would create the file and its schema.

    A ledger that is there but cannot be read raises :class:`LedgerError`, as the real run
    would: read as empty, a dry run showed every session as new, as if nothing had been
    recorded or sent."""
    if not path.exists():
        return []
    try:
        db = _connect_read_only(path, 5.0)  # as Ledger.for_reading: a read-only directory too
    except sqlite3.Error as exc:
        raise ledger_error(path, exc) from None
    try:
        db.row_factory = sqlite3.Row
        if not _has_table(db, "sessions"):  # created, never written (an empty file)
            return []
        if _has_table(db, "session_checkpoints"):
            names = _session_columns(db)
            query = (
                f"SELECT {', '.join('s.' + n for n in names)}, CASE WHEN s.checkpoints != '{{}}'"
                " THEN s.checkpoints ELSE c.checkpoints END AS checkpoints FROM sessions s"
                " LEFT JOIN session_checkpoints c USING (agent, session_id)"
            )
        else:  # schema 5 or older, not upgraded (nothing here writes)
            query = "SELECT * FROM sessions"
        return [SessionRow.from_row(r) for r in db.execute(query)]
    except sqlite3.Error as exc:
        raise ledger_error(path, exc) from None
    finally:
        db.close()


def _newest_first(row: SessionRow) -> float:
    return -row.updated_at


class Ledger:
    """A connection to the ledger database; cheap to open, safe across processes."""

    def __init__(
        self, path: Path | None = None, *, timeout: float = 30.0, read_only: bool = False
    ) -> None:
        self.path = path or skill_home() / "ledger.sqlite3"
        self.duplicates_found = 0  # responses the last save_checkpoints found to be copies
        self._listed: str | None = None  # the sessions columns a listing reads
        # where the checkpoints are: ``sessions`` only in an older ledger opened read-only
        self._checkpoints_from = "session_checkpoints"
        self._timeout = timeout
        try:
            if read_only:
                self._db = _connect_read_only(self.path, timeout)
            else:
                private_dir(self.path.parent)  # prompts and messages: 0700, files 0600
                private_file(self.path)
                self._db = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise ledger_error(self.path, exc) from None
        try:
            self._open(timeout, read_only)
        except sqlite3.DatabaseError as exc:  # a damaged file, a full disk, a lock held on
            self._db.close()
            raise ledger_error(self.path, exc) from None
        if not read_only:
            for suffix in ("-wal", "-shm"):
                tighten(self.path.with_name(self.path.name + suffix))

    @classmethod
    def for_reading(cls, path: Path | None = None) -> Ledger:
        """The ledger for a command that only reads (``status``, ``report``): opened as
        usual, or read-only when its disk cannot be written (full, read-only)."""
        try:
            return cls(path)
        except LedgerError as exc:
            target = path or skill_home() / "ledger.sqlite3"
            if disk_state(target) is None or not target.exists():
                raise
            try:
                return cls(path, read_only=True)
            except LedgerError:
                raise exc from None

    def _open(self, timeout: float, read_only: bool = False) -> None:
        self._db.row_factory = sqlite3.Row
        self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        if read_only:
            if not _has_table(self._db, "session_checkpoints"):  # older, not upgraded
                self._checkpoints_from = "sessions"
            return
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        if self._db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            with self._write() as db:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                _add_missing_columns(db)
                _move_checkpoints(db)
                _keep_spans(db)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        names = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        missing = sorted({"sessions", "records", "events"} - names)
        if missing:  # damaged or edited by hand: recreating it would forget what was sent
            raise sqlite3.DatabaseError(f"the ledger has no {', '.join(missing)} table")
        if _json_functions(self._db) != (_SPAN_TRIGGER in names):
            # Opened by an SQLite with JSON functions after one without them (spans kept
            # again), or the other way round (the triggers would fail every write of a
            # summary here: dropped, spans unknown).
            with self._write() as db:
                _keep_spans(db)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front so concurrent writers queue, not fail.
        Inside :meth:`transaction` it is part of that one."""
        if self._db.in_transaction:
            yield self._db
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Make the writes (and reads) of this ledger inside one transaction: all or nothing,
        and no other process writes in between (a version read here stays true to the end)."""
        with self._write():
            yield

    # -- sessions ---------------------------------------------------------------------

    def session(self, agent: str, session_id: str) -> SessionRow | None:
        """One session, its checkpoints read with it (one statement: as of one moment)."""
        if self._checkpoints_from == "sessions":  # an older ledger opened read-only
            query = "SELECT * FROM sessions s"
        else:
            if self._listed is None:
                self._listed = ", ".join(_session_columns(self._db))
            columns = ", ".join(f"s.{name}" for name in self._listed.split(", "))
            query = (
                f"SELECT {columns}, COALESCE(c.checkpoints, '{{}}') AS checkpoints"
                " FROM sessions s LEFT JOIN session_checkpoints c USING (agent, session_id)"
            )
        row = self._db.execute(
            query + " WHERE s.agent = ? AND s.session_id = ?", (agent, session_id)
        ).fetchone()
        return SessionRow.from_row(row) if row else None

    def sessions(self, *, summary_days: bool = False) -> list[SessionRow]:
        """Every session, newest first.

        ``summary_days``: each row gets ``summary_days``, the JSON text of its stored
        summary's ``days`` (None: none stored, or not a JSON object), and the summary itself
        is read only if asked for: ``report`` needs the days alone, a fifth of the bytes.
        """
        return self._listing("1", days=summary_days)

    def sessions_for_listing(self) -> list[SessionRow]:
        """Every session, newest first, for ``sessions``: what matches a transcript on disk
        to its row (:data:`_LISTING_COLUMNS`) and its stored summary with ``summary_span``,
        the ``started_at`` and ``ended_at`` it holds (kept in columns of their own; None:
        not known), so thousands of summaries are sorted, filtered and printed as stored.

        These rows hold only those columns (the checkpoints are read when first used);
        asking one for another column raises AttributeError. Whole rows took a fifth of
        the listing's time (0.30 -> 0.245 s on 3,374 sessions).
        """
        return self._listing("1", columns=_LISTING_COLUMNS, spans=True)

    def sessions_to_materialize(self) -> list[SessionRow]:
        """Sessions sync looks at: changed, asked to close, or not mapped yet (a mapping may
        have been fixed since)."""
        return self._listing(
            "dirty = 1 OR close_pending = 1 OR mapping_status IN ('new', 'unmapped', 'broken')"
        )

    def has_dirty_sessions(self) -> bool:
        """Whether a session changed since sync last materialised it."""
        return (
            self._db.execute("SELECT 1 FROM sessions WHERE dirty = 1 LIMIT 1").fetchone()
            is not None
        )

    def sessions_not_sent(self) -> list[SessionRow]:
        """Sessions that cannot be billed until their mapping is fixed (unmapped, broken)."""
        return self._listing("mapping_status IN ('unmapped', 'broken')")

    def count_sessions_not_sent(self) -> int:
        """How many :meth:`sessions_not_sent` lists, without listing them."""
        found = self._db.execute(
            "SELECT COUNT(*) FROM sessions WHERE mapping_status IN ('unmapped', 'broken')"
        ).fetchone()
        return int(found[0])

    def open_sessions(self) -> list[SessionRow]:
        """Sessions not ended yet, newest first."""
        return self._listing("ended = 0")

    def sessions_by_id(self, session_id: str) -> list[SessionRow]:
        """The sessions (of any agent) with this id."""
        return self._listing("session_id = ?", (session_id,))

    def sessions_by_id_prefix(self, prefix: str) -> list[SessionRow]:
        """The sessions whose id starts with ``prefix`` (taken literally, ``%`` and ``_``
        included), newest first."""
        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return self._listing("session_id LIKE ? ESCAPE '\\'", (like + "%",))

    def session_by_transcript(self, agent: str, transcript_path: str) -> SessionRow | None:
        """The newest session of ``agent`` recorded from this transcript, if any."""
        rows = self._listing("agent = ? AND transcript_path = ?", (agent, transcript_path))
        return rows[0] if rows else None

    def sessions_with_incomplete_usage(self) -> list[tuple[str, str, str | None, str]]:
        """``(agent, session_id, cwd, why)`` of each billed (mapped) session whose stored
        summary says part of its usage could not be read yet (``usage_incomplete``: billed
        less than it used until the rest arrives), read by SQLite without decoding every
        summary. As of each summary's last computation (a sync stores them); none when this
        SQLite has no JSON functions."""
        try:
            found = self._db.execute(
                "SELECT agent, session_id, cwd, json_extract(summary, '$.usage_incomplete')"
                " FROM sessions WHERE mapping_status IN ('mapped', 'override')"
                f" AND {_is_object()}"
                " AND json_type(summary, '$.usage_incomplete') = 'text'"
            ).fetchall()
        except sqlite3.OperationalError:
            return []
        return sorted((str(a), str(s), c, str(w)) for a, s, c, w in found)

    def sessions_mapped_by(self, config_path: str) -> list[SessionRow]:
        """The sessions billed through the repo config at ``config_path``."""
        return self._listing("mapping_status = 'mapped' AND mapping_detail = ?", (config_path,))

    def session_version(self, agent: str, session_id: str) -> int | None:
        """The session's checkpoint version (None: no such session); read inside a
        :meth:`transaction` to know nobody wrote it since."""
        found = self._db.execute(
            "SELECT version FROM sessions WHERE agent = ? AND session_id = ?", (agent, session_id)
        ).fetchone()
        return int(found[0]) if found else None

    def _listing(
        self,
        where: str,
        params: tuple[Any, ...] = (),
        *,
        columns: tuple[str, ...] | None = None,
        spans: bool = False,
        days: bool = False,
    ) -> list[SessionRow]:
        """Sessions matching ``where`` (one of this class's own conditions), newest first:
        whole rows, or only ``columns`` (with ``spans``, the summary's span too).

        The checkpoints (most of a ledger's bytes) are left out of the listing and read per
        row when first used: a backfill lists every session but needs the checkpoints only
        of those with new bytes (the stored ``offsets`` tell which).
        """
        if self._listed is None:
            self._listed = ", ".join(_session_columns(self._db))
        cursor = self._db.cursor()
        cursor.row_factory = None  # plain tuples: much cheaper than sqlite3.Row here
        # Sorted here, not by SQLite: its sort copies every row, summaries and all.
        plain = self._listed if columns is None else ", ".join(columns)
        listed = plain
        if days:  # the days instead of the whole summary (read per row if asked for)
            listed = ", ".join(n for n in listed.split(", ") if n != "summary") + _DAYS_COLUMN
        selected = listed + ("".join(f", {c}" for c in _SPAN_COLUMNS) if spans else "")
        try:
            cursor.execute(f"SELECT {selected} FROM sessions WHERE {where}", params)
        except sqlite3.OperationalError:
            if not (spans or days):
                raise
            # an SQLite built without JSON functions, or an older ledger read as it is: rows
            # without spans or days (their summaries are decoded instead)
            cursor.execute(f"SELECT {plain} FROM sessions WHERE {where}", params)
        names = [d[0] for d in cursor.description]
        summary_apart = "summary" not in names
        span = (
            (names.index("summary_started"), names.index("summary_ended"))
            if spans and ("summary_ended" in names)
            else None
        )
        # SessionRow.from_dict, unrolled: thousands of rows per listing
        keys = [f"_raw_{n}" if n in _JSON_COLUMNS else n for n in names]
        flags = [(i, keys[i]) for i, n in enumerate(names) if n in _FLAGS]
        agent, session_id = names.index("agent"), names.index("session_id")
        fetch, make = self._checkpoints_text, object.__new__
        rows = []
        for values in cursor:
            data = dict(zip(keys, values, strict=True))
            for index, flag in flags:
                data[flag] = bool(values[index])
            data["_fetch_checkpoints"] = partial(fetch, values[agent], values[session_id])
            if summary_apart:
                data["_fetch_summary"] = partial(
                    self._summary_text, values[agent], values[session_id]
                )
            if span is not None:
                started, ended = data.pop("summary_started"), data.pop("summary_ended")
                data["summary_span"] = (started, ended) if ended is not None else None
            row = make(SessionRow)
            row.__dict__ = data
            rows.append(row)
        rows.sort(key=_newest_first)
        return rows

    def _summary_text(self, agent: str, session_id: str) -> str | None:
        found = self._db.execute(
            "SELECT summary FROM sessions WHERE agent = ? AND session_id = ?", (agent, session_id)
        ).fetchone()
        return str(found[0]) if found and found[0] is not None else None

    def _checkpoints_text(self, agent: str, session_id: str) -> str | None:
        found = self._db.execute(
            f"SELECT checkpoints FROM {self._checkpoints_from} WHERE agent = ? AND session_id = ?",
            (agent, session_id),
        ).fetchone()
        return str(found[0]) if found else None

    def touch_session(
        self,
        agent: str,
        session_id: str,
        *,
        transcript_path: str | None = None,
        cwd: str | None = None,
        git_branch: str | None = None,
        git_rev: str | None = None,
        model: str | None = None,
        origin: str = "hook",
        reopen: bool = False,
    ) -> SessionRow:
        """Create the session if new; fill in what is known; ``reopen`` after a resume."""
        now = time.time()
        with self._write() as db:
            db.execute(
                "INSERT INTO sessions (agent, session_id, origin, first_seen, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (agent, session_id, origin, now, now),
            )
            db.execute(
                "UPDATE sessions SET"
                " transcript_path = COALESCE(?, transcript_path), cwd = COALESCE(?, cwd),"
                " git_branch = COALESCE(?, git_branch), git_rev = COALESCE(?, git_rev),"
                " model = COALESCE(?, model), updated_at = ?, dirty = 1,"
                " ended = CASE WHEN ? THEN 0 ELSE ended END"
                " WHERE agent = ? AND session_id = ?",
                (transcript_path, cwd, git_branch, git_rev, model, now, reopen, agent, session_id),
            )
        found = self.session(agent, session_id)
        assert found is not None
        return found

    def save_checkpoints(
        self,
        agent: str,
        session_id: str,
        checkpoints: dict[str, Any],
        *,
        expected_version: int,
        end: str | None = None,
        idle_seconds: int | None = None,
    ) -> bool:
        """Store new checkpoints if nobody else did since ``expected_version`` was read.

        ``end`` (the reason) marks the session ended and asks for its usage segment to be
        closed; ``idle_seconds`` records the threshold the checkpoints were parsed with,
        when it changed. Returns False when another process won the race; the caller
        re-reads.
        """
        now = time.time()
        self.duplicates_found = 0
        with self._write() as db:
            if not checkpoints or any(
                isinstance(c, dict) and "responses" in c for c in checkpoints.values()
            ):
                # Each response billed once: settled against every file's, in this
                # transaction, only if the checkpoints are still the ones we read.
                current = db.execute(
                    "SELECT version FROM sessions WHERE agent = ? AND session_id = ?",
                    (agent, session_id),
                ).fetchone()
                if current is None or current[0] != expected_version:
                    return False
                release_responses(db, agent, session_id, keep=list(checkpoints))
                from keito_skill.transcripts._responses import settle

                self.duplicates_found = settle(
                    checkpoints, partial(claim_responses, db, agent, session_id)
                )
            cursor = db.execute(
                "UPDATE sessions SET offsets = ?, version = version + 1,"
                " dirty = 1,"
                " updated_at = ?, idle_seconds = COALESCE(?, idle_seconds),"
                " ended = CASE WHEN ? THEN 1 ELSE ended END,"
                " ended_at = CASE WHEN ? THEN ? ELSE ended_at END,"
                " end_reason = COALESCE(?, end_reason),"
                " close_pending = CASE WHEN ? THEN 1 ELSE close_pending END"
                " WHERE agent = ? AND session_id = ? AND version = ?",
                (
                    _dumps({path: c.get("offset") for path, c in checkpoints.items()}),
                    now,
                    idle_seconds,
                    end is not None,
                    end is not None,
                    now,
                    end,
                    end is not None,
                    agent,
                    session_id,
                    expected_version,
                ),
            )
            if cursor.rowcount != 1:
                return False
            db.execute(
                "INSERT INTO session_checkpoints (agent, session_id, checkpoints)"
                " VALUES (?, ?, ?) ON CONFLICT (agent, session_id)"
                " DO UPDATE SET checkpoints = excluded.checkpoints",
                (agent, session_id, _dumps(checkpoints)),
            )
            return True

    def _update_session(self, agent: str, session_id: str, sql: str, *params: Any) -> None:
        """Run one of this class's ``UPDATE sessions SET ...`` on one session."""
        with self._write() as db:
            db.execute(sql + " WHERE agent = ? AND session_id = ?", (*params, agent, session_id))

    def mark_dirty(self, agent: str, session_id: str) -> None:
        """Ask the next sync to materialise the session again."""
        self._update_session(agent, session_id, "UPDATE sessions SET dirty = 1")

    def set_cwd(self, agent: str, session_id: str, cwd: str) -> None:
        """The session's working directory (learnt from its transcript): it maps by it."""
        self._update_session(agent, session_id, "UPDATE sessions SET cwd = ?, dirty = 1", cwd)

    def set_idle_seconds(self, agent: str, session_id: str, idle_seconds: int) -> None:
        """The idle threshold the session's checkpoints were parsed with."""
        sql = "UPDATE sessions SET idle_seconds = ?"
        self._update_session(agent, session_id, sql, idle_seconds)

    def set_paused(self, agent: str, session_id: str, paused: bool) -> None:
        """Pause or resume billing the session."""
        sql = "UPDATE sessions SET paused = ?, dirty = 1"
        self._update_session(agent, session_id, sql, int(paused))

    def set_override(
        self, agent: str, session_id: str, project_id: str | None, task_id: str | None
    ) -> None:
        """The project and task ``backfill --project/--task`` gave the session."""
        sql = "UPDATE sessions SET override_project_id = ?, override_task_id = ?, dirty = 1"
        self._update_session(agent, session_id, sql, project_id, task_id)

    def ask_to_close(self, agent: str, session_id: str) -> None:
        """Ask the next sync to close the session's usage segment (bill it up to now)."""
        sql = "UPDATE sessions SET close_pending = 1, dirty = 1"
        self._update_session(agent, session_id, sql)

    def mark_disabled(self, agent: str, session_id: str, detail: str) -> None:
        """Mark the session ``disabled`` for good (never billed), with why."""
        sql = "UPDATE sessions SET mapping_status = 'disabled', mapping_detail = ?"
        self._update_session(agent, session_id, sql, detail)

    def reconsider_mapping(self, agent: str, session_id: str) -> None:
        """Forget the session's mapping status (``new``): the next sync decides it again."""
        sql = "UPDATE sessions SET mapping_status = 'new', dirty = 1"
        self._update_session(agent, session_id, sql)

    def save_mapped(
        self,
        agent: str,
        session_id: str,
        *,
        status: str,
        detail: str,
        summary: str,
        project_id: str | None,
        task_id: str | None,
    ) -> None:
        """The session's records are up to date: store its mapping and summary (JSON)."""
        sql = (
            "UPDATE sessions SET dirty = 0, close_pending = 0, summary = ?, mapping_status = ?,"
            " mapping_detail = ?, project_id = ?, task_id = ?"
        )
        self._update_session(agent, session_id, sql, summary, status, detail, project_id, task_id)

    def save_unbilled(
        self,
        agent: str,
        session_id: str,
        *,
        status: str,
        detail: str,
        summary: str | None,
        version: int,
    ) -> None:
        """Why the session is not billed, and its summary (JSON); it stays dirty if it
        changed since ``version`` was read."""
        sql = (
            "UPDATE sessions SET mapping_status = ?, mapping_detail = ?, summary = ?,"
            " dirty = CASE WHEN version = ? THEN 0 ELSE dirty END"
        )
        self._update_session(agent, session_id, sql, status, detail, summary, version)

    def set_aside(
        self, agent: str, session_id: str, *, status: str, detail: str, version: int
    ) -> None:
        """A session that could not be processed: its status and why (summary kept); it
        stays dirty if it changed since ``version`` was read."""
        sql = (
            "UPDATE sessions SET mapping_status = ?, mapping_detail = ?,"
            " dirty = CASE WHEN version = ? THEN 0 ELSE dirty END"
        )
        self._update_session(agent, session_id, sql, status, detail, version)

    def store_summaries(
        self, summaries: list[tuple[str, str, int, str, str]], *, wait: float | None = None
    ) -> int:
        """Store computed summaries ``(agent, session_id, version, key, summary JSON)``, each
        only if the session's checkpoints are still at ``version`` (a hook that wrote since
        made it stale already). ``wait``: give up after this many seconds when another
        process holds the ledger (a report's cache fill must not queue behind a sync); a
        read-only ledger stores nothing. Returns how many were stored."""
        if not summaries:
            return 0
        if wait is not None:
            self._db.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
        try:
            with self._write() as db:
                cursor = db.executemany(
                    "UPDATE sessions SET summary = ?, summary_key = ?"
                    " WHERE agent = ? AND session_id = ? AND version = ?",
                    [
                        (text, key, agent, sid, version)
                        for agent, sid, version, key, text in summaries
                    ],
                )
                # the rows this statement changed (not what the span triggers changed)
                return max(cursor.rowcount, 0)
        except sqlite3.OperationalError:  # locked past ``wait``, read-only, disk full
            return 0
        finally:
            if wait is not None:
                self._db.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")

    def response_owners(self, keys: list[str]) -> dict[str, tuple[str, int]]:
        """Which file (path) and offset already bills each response key, for those the
        ledger holds: a listing of transcripts it has not recorded yet counts each response
        once, as the ledger does."""
        owners: dict[str, tuple[str, int]] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            for key, path, offset in self._db.execute(
                "SELECT r.key, f.path, r.offset FROM responses r"
                f" JOIN response_files f ON f.id = r.file WHERE r.key IN ({marks})",
                chunk,
            ):
                owners[str(key)] = (str(path), int(offset))
        return owners

    # -- records ----------------------------------------------------------------------

    _RECORDS = "SELECT * FROM records WHERE {} ORDER BY agent, session_id, kind DESC, key"

    def _records(self, where: str, params: tuple[Any, ...] = ()) -> list[RecordRow]:
        """Records matching ``where`` (one of this class's own conditions), per session,
        its time entries first."""
        rows = self._db.execute(self._RECORDS.format(where), params).fetchall()
        return [RecordRow.from_row(r) for r in rows]

    def records(self, *, kind: str | None = None, status: str | None = None) -> list[RecordRow]:
        """Every record, or those of one ``kind`` (``time_entry``, ``expense``) and/or in
        one ``status``."""
        return self._records(
            "(?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR status = ?2)", (kind, status)
        )

    def session_records(
        self, agent: str, session_id: str, kind: str | None = None
    ) -> list[RecordRow]:
        """One session's records (of one ``kind``, if given)."""
        return self._records(
            "agent = ? AND session_id = ? AND (?3 IS NULL OR kind = ?3)",
            (agent, session_id, kind),
        )

    def pending_records(self) -> list[RecordRow]:
        """The records to send: pending, or sending (maybe sent: looked up first)."""
        return self._records("status IN (?, ?)", (PENDING, SENDING))

    def records_with_errors(self) -> list[RecordRow]:
        """Records not in Keito (neither sent nor final) that have a reason to show."""
        return self._records("last_error IS NOT NULL AND status NOT IN (?, ?)", (SENT, FINAL))

    def time_entries_in_keito(
        self, dates: list[str], *, agent: str | None = None
    ) -> list[RecordRow]:
        """The time entries on ``dates`` that Keito holds (sent, or final there); only
        ``agent``'s when given."""
        marks = ",".join("?" * len(dates))
        return self._records(
            f"kind = 'time_entry' AND spent_date IN ({marks})"
            " AND (remote_id IS NOT NULL OR status = ?) AND (? IS NULL OR agent = ?)",
            (*dates, FINAL, agent, agent),
        )

    def put_record(
        self,
        agent: str,
        session_id: str,
        kind: str,
        key: str,
        spent_date: str,
        payload: dict[str, Any],
        *,
        held: str | None = None,
    ) -> None:
        """Insert or refresh the wanted payload of a record.

        A record whose payload equals what was last sent stays ``sent``; a changed one goes
        back to ``pending`` (keeping its remote id, so the update is a PATCH). ``held``
        parks a record with a reason (e.g. below the minimum duration) without losing it.
        """
        now = time.time()
        digest = payload_hash(payload)
        blob = json.dumps(payload, separators=(",", ":"), default=str)
        with self._write() as db:
            row = db.execute(
                "SELECT id, status, sent_hash, payload_hash, last_error FROM records"
                " WHERE agent = ? AND session_id = ? AND kind = ? AND key = ?",
                (agent, session_id, kind, key),
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO records (agent, session_id, kind, key, spent_date, payload,"
                    " payload_hash, status, last_error, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        agent,
                        session_id,
                        kind,
                        key,
                        spent_date,
                        blob,
                        digest,
                        HELD if held else PENDING,
                        held,
                        now,
                        now,
                    ),
                )
                return
            if row["status"] == FINAL:
                return  # what Keito holds, for good
            if (
                row["payload_hash"] == digest
                and (held is None) == (row["status"] != HELD)
                and (held is None or row["status"] != HELD or row["last_error"] == held)
            ):
                return
            if held:
                status, error = (row["status"], None) if row["sent_hash"] else (HELD, held)
            elif row["sent_hash"] == digest:
                status, error = SENT, None
            elif row["status"] == SENDING:
                status, error = SENDING, None  # keep the look-up-first marker
            else:
                status, error = PENDING, None
            db.execute(
                "UPDATE records SET payload = ?, payload_hash = ?, status = ?, last_error = ?,"
                " updated_at = ? WHERE id = ?",
                (blob, digest, status, error, now, row["id"]),
            )

    def mark_record(
        self,
        record_id: int,
        *,
        status: str | Keep = KEEP,
        remote_id: str | Keep | None = KEEP,
        sent_hash: str | Keep | None = KEEP,
        sent_at: float | Keep | None = KEEP,
        attempts: int | Keep = KEEP,
        last_error: str | Keep | None = KEEP,
    ) -> None:
        """Set what a send attempt learnt about a record; what is not given is kept."""
        values = (status, remote_id, sent_hash, sent_at, attempts, last_error)
        flags: list[Any] = []
        for value in values:
            flags += [not isinstance(value, Keep), None if isinstance(value, Keep) else value]
        with self._write() as db:
            db.execute(
                "UPDATE records SET status = CASE WHEN ? THEN ? ELSE status END,"
                " remote_id = CASE WHEN ? THEN ? ELSE remote_id END,"
                " sent_hash = CASE WHEN ? THEN ? ELSE sent_hash END,"
                " sent_at = CASE WHEN ? THEN ? ELSE sent_at END,"
                " attempts = CASE WHEN ? THEN ? ELSE attempts END,"
                " last_error = CASE WHEN ? THEN ? ELSE last_error END,"
                " updated_at = ? WHERE id = ?",
                (*flags, time.time(), record_id),
            )

    def make_final(
        self, record_id: int, *, remote_id: str, payload: dict[str, Any], reason: str
    ) -> None:
        """Keito refuses to change the record's entry (approved, locked): ``payload`` is
        what Keito holds, for good."""
        digest = payload_hash(payload)
        blob = json.dumps(payload, separators=(",", ":"), default=str)
        with self._write() as db:
            db.execute(
                "UPDATE records SET status = ?, remote_id = ?, payload = ?, payload_hash = ?,"
                " sent_hash = ?, last_error = ?, updated_at = ? WHERE id = ?",
                (FINAL, remote_id, blob, digest, digest, reason, time.time(), record_id),
            )

    def retry_failed(self) -> None:
        """Records Keito refused go back to pending, and their sessions are materialised
        again first (a fixed mapping fixes them)."""
        with self._write() as db:
            db.execute(
                "UPDATE sessions SET dirty = 1 WHERE EXISTS (SELECT 1 FROM records r"
                " WHERE r.agent = sessions.agent AND r.session_id = sessions.session_id"
                " AND r.status = ?)",
                (FAILED,),
            )
            db.execute("UPDATE records SET status = ? WHERE status = ?", (PENDING, FAILED))

    def mark_adopted(self, record_id: int, remote_id: str) -> None:
        """An unsent record of ours that Keito turned out to hold (as ``remote_id``): sent."""
        now = time.time()
        with self._write() as db:
            db.execute(
                "UPDATE records SET status = ?, remote_id = ?, sent_hash = payload_hash,"
                " sent_at = ?, last_error = NULL, updated_at = ? WHERE id = ?",
                (SENT, remote_id, now, now, record_id),
            )

    def add_adopted_expense(
        self,
        agent: str,
        session_id: str,
        key: str,
        spent_date: str,
        payload: dict[str, Any],
        remote_id: str,
    ) -> None:
        """An expense Keito holds for the session that this ledger never sent: kept as a
        sent record, so what it carries is not billed again."""
        now = time.time()
        digest = payload_hash(payload)
        blob = json.dumps(payload, separators=(",", ":"), default=str)
        columns = (agent, session_id, key, spent_date, blob, digest, digest, remote_id, SENT)
        with self._write() as db:
            db.execute(
                "INSERT INTO records (agent, session_id, kind, key, spent_date, payload,"
                " payload_hash, sent_hash, remote_id, status, created_at, updated_at, sent_at)"
                " VALUES (?, ?, 'expense', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*columns, now, now, now),
            )

    def drop_unsent_expenses(self, agent: str, session_id: str) -> None:
        """Delete the session's expenses not in Keito yet (made without knowing what Keito
        holds), and ask for its segment to be closed again."""
        with self._write() as db:
            db.execute(
                "DELETE FROM records WHERE agent = ? AND session_id = ? AND kind = 'expense'"
                " AND remote_id IS NULL",
                (agent, session_id),
            )
            db.execute(
                "UPDATE sessions SET dirty = 1, close_pending = 1 WHERE agent = ? AND"
                " session_id = ?",
                (agent, session_id),
            )

    def time_entry_origins(self) -> dict[tuple[str, str], tuple[bool, bool]]:
        """Per session with a sent time entry: (this ledger created one of them, one was
        found in Keito instead). A created entry was POSTed by this ledger (``attempts``
        counts POSTs); a found one was only looked up and updated."""
        rows = self._db.execute(
            "SELECT agent, session_id, MAX(attempts > 0), MIN(attempts > 0) FROM records"
            " WHERE kind = 'time_entry' AND remote_id IS NOT NULL GROUP BY agent, session_id"
        ).fetchall()
        return {(r[0], r[1]): (bool(r[2]), not r[3]) for r in rows}

    def mapped_config_paths(self) -> list[str]:
        """The repo config files that mapped sessions follow (their ``mapping_detail``)."""
        rows = self._db.execute(
            "SELECT DISTINCT mapping_detail FROM sessions WHERE mapping_status = 'mapped'"
        )
        return [str(row[0]) for row in rows if row[0] and str(row[0]).endswith(".yml")]

    def mark_config_sessions_dirty(self, config_path: str) -> int:
        """Mark dirty every session mapped by ``config_path``; returns how many."""
        with self._write() as db:
            return db.execute(
                "UPDATE sessions SET dirty = 1 WHERE mapping_detail = ?", (config_path,)
            ).rowcount

    def counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT status, COUNT(*) FROM records GROUP BY status").fetchall()
        return {status: count for status, count in rows}

    # -- events (what went wrong, for ``status``) -------------------------------------

    def log_event(self, level: str, source: str, message: str, *, keep: int = 500) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO events (at, level, source, message) VALUES (?, ?, ?, ?)",
                (time.time(), level, source, message[:2000]),
            )
            db.execute("DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?", (keep,))

    def recent_events(
        self,
        limit: int = 10,
        level: str | None = None,
        *,
        source: str | None = None,
        message: str | None = None,
    ) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT at, level, source, message FROM events WHERE (?1 IS NULL OR level = ?1)"
            " AND (?2 IS NULL OR source = ?2) AND (?3 IS NULL OR message = ?3)"
            " ORDER BY id DESC LIMIT ?4",
            (level or None, source or None, message or None, limit),
        ).fetchall()
        return [dict(r) for r in rows]

    def check(self) -> str:
        """SQLite's own integrity check: ``ok`` when the file is healthy."""
        return str(self._db.execute("PRAGMA quick_check").fetchone()[0])
