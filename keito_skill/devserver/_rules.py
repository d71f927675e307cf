"""Account rules the real Keito applies and the sync must survive, for the dev server.

Kept apart from the route handlers: approved and locked entries (final: 409 / 403 on a
change), an account's time rounding (applied to the stored hours, as Keito does), keys
that may not set ``billable`` (member-scoped keys on accounts where billability follows
the task), and several accounts served at once (each request's ``Keito-Account-Id``
sees only its own entries and expenses). All of it is driven over ``/_admin/*``.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import threading
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from keito_skill.devserver._store import Store, now_iso

_ROUNDING = re.compile(r"^(up|nearest)_(\d{1,3})$")

# Columns this module adds to the store's tables (an older --db file gains them too).
_COLUMNS = (
    ("time_entries", "account_id", "TEXT"),
    ("time_entries", "approval_status", "TEXT NOT NULL DEFAULT 'unsubmitted'"),
    ("expenses", "account_id", "TEXT"),
)


def extend_schema(db: sqlite3.Connection) -> None:
    for table, column, kind in _COLUMNS:
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


class Rules:
    """The account settings in force (one set for the whole server) and extra accounts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rounding: str | None = None
        self.can_edit_billability = True
        self.accounts: set[str] = set()
        self.added: list[tuple[str, str | None]] = []  # (project, task) added over admin

    def reset(self, store: Store) -> None:
        """Back to the seeded account: default rules, no extra accounts or projects."""
        with self._lock:
            self.rounding = None
            self.can_edit_billability = True
            self.accounts = set()
            added, self.added = self.added, []
        with store.tx() as db:
            for project, task in added:
                db.execute("DELETE FROM project_tasks WHERE project_id = ?", [project])
                db.execute("DELETE FROM projects WHERE id = ?", [project])
                if task:
                    db.execute("DELETE FROM tasks WHERE id = ?", [task])

    def rounded(self, hours: float) -> float:
        """Hours as the account stores them: rounded to the account's step, then to 2 dp."""
        match = _ROUNDING.match(self.rounding or "")
        if match and hours > 0:
            step = int(match.group(2)) / 60.0
            steps = hours / step
            steps = math.ceil(steps - 1e-9) if match.group(1) == "up" else round(steps)
            hours = min(24.0, steps * step)
        return round(hours, 2)

    def settings(self) -> dict[str, Any]:
        return {
            "rounding": self.rounding,
            "can_edit_time_billability": self.can_edit_billability,
            "accounts": sorted(self.accounts),
        }


class RulesAdmin:
    """``/_admin`` routes that set the rules and put entries in a final state."""

    def __init__(self, store: Store, rules: Rules) -> None:
        self.store = store
        self.rules = rules

    async def settings(self, request: Request) -> Response:
        raw = await request.body()
        body = json.loads(raw) if raw else {}
        if not isinstance(body, dict):
            return _bad("settings must be a JSON object")
        if "rounding" in body:
            value = body["rounding"]
            if value is not None and not _ROUNDING.match(str(value)):
                return _bad("rounding must be null, up_N or nearest_N (minutes)")
            self.rules.rounding = value
        if "can_edit_time_billability" in body:
            self.rules.can_edit_billability = bool(body["can_edit_time_billability"])
        for account in body.get("accounts") or []:
            self.rules.accounts.add(str(account))
        return JSONResponse(self.rules.settings())

    async def lock(self, request: Request) -> Response:
        return self._set(request, "is_locked = 1")

    async def approve(self, request: Request) -> Response:
        return self._set(request, "approval_status = 'approved'")

    def _set(self, request: Request, assignment: str) -> Response:
        with self.store.tx() as db:
            cursor = db.execute(
                f"UPDATE time_entries SET {assignment}, updated_at = ? WHERE id = ?",
                [now_iso(), request.path_params["id"]],
            )
        if cursor.rowcount != 1:
            return JSONResponse({"error": "not found", "error_description": "no such entry"}, 404)
        return Response(status_code=204)

    async def add_project(self, request: Request) -> Response:
        """A project (and its task) besides the seeded one: ``{"id", "name", "task_id"}``."""
        body = json.loads(await request.body())
        ts = now_iso()
        with self.store.tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO projects (id, name, created_at, updated_at)"
                " VALUES (?, ?, ?, ?)",
                [body["id"], body.get("name") or body["id"], ts, ts],
            )
            task = body.get("task_id")
            if task:
                db.execute(
                    "INSERT OR IGNORE INTO tasks (id, name, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?)",
                    [task, task, ts, ts],
                )
                db.execute("INSERT OR IGNORE INTO project_tasks VALUES (?, ?)", [body["id"], task])
        self.rules.added.append((body["id"], task))
        return Response(status_code=201)


def _bad(description: str) -> Response:
    return JSONResponse({"error": "bad request", "error_description": description}, 400)
