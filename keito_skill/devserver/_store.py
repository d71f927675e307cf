"""SQLite storage for the local Keito server.

Rows are kept close to the API's JSON shape so the handlers stay thin. One connection
guarded by a lock is plenty: the server exists for tests and demos, and SQLite (not a
dict) is used so that ``--db FILE`` survives restarts like the real service would.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

DEMO_USER_ID = "usr_demo"
DEMO_CLIENT_ID = "cli_demo"
DEMO_PROJECT_ID = "prj_demo"
DEMO_TASK_ID = "tsk_demo"
# Opaque, like the CUIDs of real expense categories (there is no well-known category id:
# ``cat_llm_usage`` only ever appeared in documentation examples).
DEMO_CATEGORY_ID = "cmdemo7llm0usage0cat0k3t0"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, currency TEXT NOT NULL DEFAULT 'USD',
    is_active INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY, client_id TEXT REFERENCES clients(id), name TEXT NOT NULL,
    code TEXT, is_active INTEGER NOT NULL DEFAULT 1, is_billable INTEGER NOT NULL DEFAULT 1,
    hourly_rate REAL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, billable_by_default INTEGER NOT NULL DEFAULT 1,
    default_hourly_rate REAL, is_active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS project_tasks (
    project_id TEXT NOT NULL, task_id TEXT NOT NULL, PRIMARY KEY (project_id, task_id));
CREATE TABLE IF NOT EXISTS expense_categories (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, unit_name TEXT, unit_price REAL,
    is_active INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, first_name TEXT, last_name TEXT, email TEXT NOT NULL,
    timezone TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, project_ids TEXT);
CREATE TABLE IF NOT EXISTS time_entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, user_id TEXT NOT NULL,
    project_id TEXT NOT NULL, task_id TEXT NOT NULL, spent_date TEXT NOT NULL,
    hours REAL NOT NULL DEFAULT 0, notes TEXT, is_running INTEGER NOT NULL DEFAULT 0,
    timer_started_at TEXT, started_time TEXT, ended_time TEXT,
    billable INTEGER NOT NULL DEFAULT 1, is_locked INTEGER NOT NULL DEFAULT 0,
    is_billed INTEGER NOT NULL DEFAULT 0, source TEXT NOT NULL, metadata TEXT,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS expenses (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, user_id TEXT NOT NULL,
    project_id TEXT NOT NULL, expense_category_id TEXT NOT NULL, spent_date TEXT NOT NULL,
    total_cost REAL NOT NULL, units INTEGER, notes TEXT, billable INTEGER NOT NULL DEFAULT 1,
    is_locked INTEGER NOT NULL DEFAULT 0, is_billed INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL, metadata TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
"""


def now_iso() -> str:
    """UTC timestamp in the API's ``2026-03-04T10:00:00.123Z`` form."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_CUID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str = "") -> str:
    """An opaque, unguessable record id shaped like the real API's CUIDs: ``c`` and 24
    lower-case letters and digits. ``prefix`` is ignored: real ids carry no type."""
    del prefix
    return "c" + "".join(secrets.choice(_CUID_ALPHABET) for _ in range(24))


class Store:
    """The server's data, behind a lock so uvicorn's threads can share it."""

    def __init__(self, path: str) -> None:
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self.seed()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A transaction: commit on success, roll back on any error."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute(sql, args).fetchall()]

    def one(self, sql: str, args: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.query(sql, args)
        return rows[0] if rows else None

    def seed(self) -> None:
        """The demo client, project, task, user and expense category."""
        ts = now_iso()
        with self.tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO clients (id, name, created_at, updated_at)"
                " VALUES (?, 'Demo Client', ?, ?)",
                (DEMO_CLIENT_ID, ts, ts),
            )
            db.execute(
                "INSERT OR IGNORE INTO projects (id, client_id, name, code, hourly_rate,"
                " created_at, updated_at) VALUES (?, ?, 'Demo Project', 'DEMO', 150, ?, ?)",
                (DEMO_PROJECT_ID, DEMO_CLIENT_ID, ts, ts),
            )
            db.execute(
                "INSERT OR IGNORE INTO tasks (id, name, created_at, updated_at)"
                " VALUES (?, 'Software Development', ?, ?)",
                (DEMO_TASK_ID, ts, ts),
            )
            db.execute(
                "INSERT OR IGNORE INTO project_tasks VALUES (?, ?)", (DEMO_PROJECT_ID, DEMO_TASK_ID)
            )
            db.execute(
                "INSERT OR IGNORE INTO expense_categories (id, name, unit_name, unit_price,"
                " created_at, updated_at) VALUES (?, 'LLM usage', NULL, NULL, ?, ?)",
                (DEMO_CATEGORY_ID, ts, ts),
            )
            db.execute(
                "INSERT OR IGNORE INTO users (id, first_name, last_name, email, timezone,"
                " created_at, updated_at)"
                " VALUES (?, 'Demo', 'User', 'demo@keito.invalid', 'UTC', ?, ?)",
                (DEMO_USER_ID, ts, ts),
            )

    def reset(self) -> None:
        """Forget every entry, expense, seeded record and key; re-seed the demo data."""
        with self.tx() as db:
            for table in (
                "time_entries",
                "expenses",
                "api_keys",
                "project_tasks",
                "projects",
                "tasks",
                "clients",
                "expense_categories",
            ):
                db.execute(f"DELETE FROM {table}")
            db.execute("DELETE FROM sqlite_sequence")
        self.seed()

    def close(self) -> None:
        with self._lock:
            self._db.close()


def dump_metadata(meta: dict[str, Any] | None) -> str | None:
    return None if meta is None else json.dumps(meta, separators=(",", ":"), ensure_ascii=False)


def load_metadata(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    value = json.loads(text)
    return value if isinstance(value, dict) else None
