"""The Keito-compatible HTTP API (v2 subset) served by ``keito-skill dev-server``.

It validates the way Keito's spec and real accounts do (required fields, ``YYYY-MM-DD``
dates, the ``source`` enums, 4 KB metadata, immutable ``source``, updatable
``project_id``, metadata merge on PATCH) and answers the way real accounts answer: no
single-entry GET (405), pages described by ``total_pages`` (no ``next_page``), creates
answered with the record itself, projects active-only by default with their tasks
embedded, ``X-RateLimit-*`` headers, and keys of three kinds (see :mod:`._access`).
Its job is to make our client's tests mean something: if this server were lenient, the
client could be wrong and still pass.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Coroutine, Mapping
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from keito_skill.devserver._access import Caller, RateWindow, key_row_to_caller
from keito_skill.devserver._faults import Fault, FaultBook, FaultMiddleware
from keito_skill.devserver._rules import Rules, RulesAdmin, extend_schema
from keito_skill.devserver._seed import apply_seed
from keito_skill.devserver._store import (
    DEMO_USER_ID,
    Store,
    dump_metadata,
    load_metadata,
    new_id,
    now_iso,
)

# Time entries also come from calendar sync and the desktop app; expenses do not.
SOURCES = ("web", "cli", "api", "agent", "calendar", "desktop")
EXPENSE_SOURCES = ("web", "cli", "api", "agent")
METADATA_LIMIT = 4096
MAX_PER_PAGE = 2000
DEFAULT_PER_PAGE = 100
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class ApiError(Exception):
    """An error answer in the API's ``{"error", "error_description"}`` shape."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def _bad(description: str) -> ApiError:
    return ApiError(400, "bad request", description)


def _not_found(what: str) -> ApiError:
    return ApiError(404, "not found", f"{what} not found")


# -- validation helpers ---------------------------------------------------------------


def _date(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise _bad(f"{name} must be a date in YYYY-MM-DD format")
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise _bad(f"{name} is not a valid date") from None
    return value


def _string(body: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise _bad(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise _bad(f"{name} must be a string")
    return value


def _bool(body: Mapping[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise _bad(f"{name} must be a boolean")
    return value


def _number(body: Mapping[str, Any], name: str, lo: float, hi: float | None) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(f"{name} must be a number")
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo:g} and {hi:g}" if hi is not None else f"at least {lo:g}"
        raise _bad(f"{name} must be {bound}")
    return float(value)


def _hhmm(body: Mapping[str, Any], name: str) -> str | None:
    value = _string(body, name)
    if value is not None and not _TIME_RE.match(value):
        raise _bad(f"{name} must be a time in HH:mm format")
    return value


def _source(body: Mapping[str, Any], allowed: tuple[str, ...] = SOURCES) -> str | None:
    value = body.get("source")
    if value is None:
        return None
    if value not in allowed:
        raise _bad(f"source must be one of {', '.join(allowed)}")
    return str(value)


def _forbidden(description: str) -> ApiError:
    return ApiError(403, "forbidden", description)


READ_ONLY = "this API key is read-only: it cannot write time entries or expenses or read tasks"


def _metadata(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad("metadata must be a JSON object")
    # Measured the strictest usual way (plain json.dumps: escaped non-ASCII, ", " and ": "),
    # so a client that only fits a more compact encoding fails here, not in production.
    size = len(json.dumps(value))
    if size > METADATA_LIMIT:
        raise _bad(f"metadata must be at most {METADATA_LIMIT} bytes (got {size})")
    return value


def _required_date(body: Mapping[str, Any]) -> str:
    if body.get("spent_date") in (None, ""):
        raise _bad("spent_date is required")
    return _date(body["spent_date"], "spent_date")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        raise _bad("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _bad("request body must be a JSON object")
    return body


def _query_bool(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise _bad(f"{name} must be true or false")


def _query_int(value: str | None, name: str, default: int, lo: int, hi: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise _bad(f"{name} must be an integer") from None
    if not lo <= number <= hi:
        raise _bad(f"{name} must be between {lo} and {hi}")
    return number


def _query_datetime(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(f"{name} must be an ISO 8601 date-time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    stamp = when.astimezone(dt.UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _idname(id_: str | None, name: str | None) -> dict[str, Any] | None:
    return None if id_ is None else {"id": id_, "name": name}


# -- the API --------------------------------------------------------------------------


_ENTRY_SELECT = """
SELECT te.*, p.name AS project_name, p.client_id AS client_id, p.hourly_rate AS rate,
       c.name AS client_name, t.name AS task_name,
       u.first_name || ' ' || u.last_name AS user_name
FROM time_entries te
JOIN projects p ON p.id = te.project_id
LEFT JOIN clients c ON c.id = p.client_id
JOIN tasks t ON t.id = te.task_id
JOIN users u ON u.id = te.user_id
"""

_EXPENSE_SELECT = """
SELECT e.*, p.name AS project_name, p.client_id AS client_id, c.name AS client_name,
       ec.name AS category_name, u.first_name || ' ' || u.last_name AS user_name
FROM expenses e
JOIN projects p ON p.id = e.project_id
LEFT JOIN clients c ON c.id = p.client_id
JOIN expense_categories ec ON ec.id = e.expense_category_id
JOIN users u ON u.id = e.user_id
"""


def _entry_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "project_id": row["project_id"],
        "task_id": row["task_id"],
        "user": _idname(row["user_id"], row["user_name"]),
        "client": _idname(row["client_id"], row["client_name"]),
        "project": _idname(row["project_id"], row["project_name"]),
        "task": _idname(row["task_id"], row["task_name"]),
        "spent_date": row["spent_date"],
        "hours": row["hours"],
        "notes": row["notes"],
        "is_running": bool(row["is_running"]),
        "timer_started_at": row["timer_started_at"],
        "started_time": row["started_time"],
        "ended_time": row["ended_time"],
        "is_locked": bool(row["is_locked"]),
        "is_closed": False,
        "is_billed": bool(row["is_billed"]),
        "billable": bool(row["billable"]),
        "budgeted": False,
        "billable_rate": row["rate"] if row["billable"] else None,
        "cost_rate": None,
        "source": row["source"],
        "metadata": load_metadata(row["metadata"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _expense_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "project_id": row["project_id"],
        "expense_category_id": row["expense_category_id"],
        "user": _idname(row["user_id"], row["user_name"]),
        "client": _idname(row["client_id"], row["client_name"]),
        "project": _idname(row["project_id"], row["project_name"]),
        "expense_category": _idname(row["expense_category_id"], row["category_name"]),
        "spent_date": row["spent_date"],
        "total_cost": row["total_cost"],
        "units": row["units"],
        "notes": row["notes"],
        "billable": bool(row["billable"]),
        "receipt_file_name": None,
        "receipt_content_type": None,
        "receipt_url": None,
        "is_locked": bool(row["is_locked"]),
        "is_billed": bool(row["is_billed"]),
        "approval_status": "unsubmitted",
        "source": row["source"],
        "metadata": load_metadata(row["metadata"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _project_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "client": _idname(row["client_id"], row["client_name"]),
        "name": row["name"],
        "code": row["code"],
        "is_active": bool(row["is_active"]),
        "is_billable": bool(row["is_billable"]),
        "is_fixed_fee": False,
        "bill_by": "Project",
        "hourly_rate": row["hourly_rate"],
        "fee": None,
        "budget_by": "none",
        "budget": None,
        "budget_is_monthly": False,
        "notify_when_over_budget": False,
        "over_budget_notification_percentage": None,
        "show_budget_to_all": False,
        "cost_budget": None,
        "cost_budget_include_expenses": False,
        "starts_on": None,
        "ends_on": None,
        "notes": None,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _client_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "address": None,
        "currency": row["currency"],
        "is_active": bool(row["is_active"]),
        "payment_terms": "net_30",
        "payment_days": None,
        "tax": None,
        "tax2": None,
        "discount": None,
        "statement_key": row["id"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _category_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "unit_name": row["unit_name"],
        "unit_price": row["unit_price"],
        "is_active": bool(row["is_active"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _task_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "billable_by_default": bool(row["billable_by_default"]),
        "default_hourly_rate": row["default_hourly_rate"],
        "is_default": False,
        "is_active": bool(row["is_active"]),
        "parent_task_id": None,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


DEFAULT_SETTINGS: dict[str, Any] = {"embed_tasks": True, "expense_categories_endpoint": False}


class KeitoApi:
    """Route handlers bound to one store and one (optional) expected key/account."""

    def __init__(self, store: Store, api_key: str | None, account_id: str | None) -> None:
        self.store = store
        self.api_key = api_key
        self.account_id = account_id
        self.rules = Rules()
        self.settings = dict(DEFAULT_SETTINGS)

    # -- auth & paging ----------------------------------------------------------------

    def authenticate(self, request: Request) -> Caller:
        """The account and key kind of an authorised request; 401/403 otherwise."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401, "invalid_token", "missing or malformed Authorization: Bearer header"
            )
        account = request.headers.get("keito-account-id", "").strip()
        if not account:
            raise ApiError(401, "invalid_token", "missing Keito-Account-Id header")
        key = token.strip()
        registered = self.store.one("SELECT * FROM api_keys WHERE key = ?", [key])
        if registered is None and self.api_key is not None and key != self.api_key:
            raise ApiError(401, "invalid_token", "the API key is invalid or has been revoked")
        if (
            self.account_id is not None
            and account != self.account_id
            and account not in self.rules.accounts
        ):
            raise ApiError(403, "forbidden", f"this API key has no access to account {account}")
        return key_row_to_caller(account, key, registered)

    @staticmethod
    def writable(caller: Caller) -> None:
        if caller.read_only:
            raise _forbidden(READ_ONLY)

    def page(
        self,
        request: Request,
        key: str,
        sql: str,
        where: list[str],
        args: list[Any],
        order: str,
        render: Callable[[Mapping[str, Any]], dict[str, Any]],
    ) -> JSONResponse:
        """A paginated list answer with ``page``/``per_page``/``total_*``/``links``."""
        q = request.query_params
        page = _query_int(q.get("page"), "page", 1, 1, 10**9)
        per_page = _query_int(q.get("per_page"), "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        counted = self.store.one(f"SELECT COUNT(*) AS n FROM ({sql}{clause})", args)
        total = int(counted["n"]) if counted else 0
        rows = self.store.query(
            f"{sql}{clause} ORDER BY {order} LIMIT ? OFFSET ?",
            [*args, per_page, (page - 1) * per_page],
        )
        total_pages = max(1, math.ceil(total / per_page))

        def link(n: int) -> str:
            params = {**dict(q), "page": str(n), "per_page": str(per_page)}
            return f"{request.url.path}?{urlencode(params)}"

        return JSONResponse(
            {
                key: [render(r) for r in rows],
                "per_page": per_page,
                "total_pages": total_pages,
                "total_entries": total,
                "page": page,
                "links": {
                    "first": link(1),
                    "next": link(page + 1) if page < total_pages else None,
                    "previous": link(page - 1) if page > 1 else None,
                    "last": link(total_pages),
                },
            }
        )

    def _common_filters(self, request: Request, alias: str) -> tuple[list[str], list[Any]]:
        """Filters shared by time entries and expenses."""
        q = request.query_params
        where: list[str] = [f"{alias}.account_id IS ?"]
        args: list[Any] = [request.headers.get("keito-account-id", "").strip()]
        for name in ("user_id", "project_id"):
            if q.get(name):
                where.append(f"{alias}.{name} = ?")
                args.append(q[name])
        if q.get("client_id"):
            where.append("p.client_id = ?")
            args.append(q["client_id"])
        billed = _query_bool(q.get("is_billed"), "is_billed")
        if billed is not None:
            where.append(f"{alias}.is_billed = ?")
            args.append(int(billed))
        if q.get("from"):
            where.append(f"{alias}.spent_date >= ?")
            args.append(_date(q["from"], "from"))
        if q.get("to"):
            where.append(f"{alias}.spent_date <= ?")
            args.append(_date(q["to"], "to"))
        since = _query_datetime(q.get("updated_since"), "updated_since")
        if since:
            where.append(f"{alias}.updated_at >= ?")
            args.append(since)
        if q.get("source"):
            allowed = SOURCES if alias == "te" else EXPENSE_SOURCES
            wanted = [s.strip() for s in q["source"].split(",") if s.strip()]
            bad = [s for s in wanted if s not in allowed]
            if bad:
                raise _bad(f"source must be one of {', '.join(allowed)}")
            where.append(f"{alias}.source IN ({','.join('?' * len(wanted))})")
            args.extend(wanted)
        return where, args

    def _exists(self, table: str, id_: str, what: str) -> None:
        if self.store.one(f"SELECT 1 FROM {table} WHERE id = ?", [id_]) is None:
            raise _not_found(what)

    # -- users ------------------------------------------------------------------------

    async def me(self, request: Request) -> Response:
        caller = self.authenticate(request)
        user = self.store.one("SELECT * FROM users WHERE id = ?", [DEMO_USER_ID])
        assert user is not None
        return JSONResponse(
            {
                "id": user["id"],
                "first_name": user["first_name"],
                "last_name": user["last_name"],
                "email": user["email"],
                "telephone": None,
                "timezone": user["timezone"],
                "has_access_to_all_future_projects": True,
                "is_contractor": False,
                "is_active": True,
                "weekly_capacity": 144000,
                "default_hourly_rate": None,
                "cost_rate": None,
                "currency": "USD",
                "roles": ["administrator"] if caller.kind == "full" else ["member"],
                "user_type": "human",
                "avatar_url": None,
                "company": {"id": caller.account, "name": "Keito dev server"},
                "created_at": user["created_at"],
                "updated_at": user["updated_at"],
            }
        )

    # -- time entries -----------------------------------------------------------------

    def _entry(self, entry_id: str, account: str | None = None) -> dict[str, Any]:
        row = self.store.one(f"{_ENTRY_SELECT} WHERE te.id = ?", [entry_id])
        if row is None or (account is not None and row["account_id"] != account):
            raise _not_found("time entry")
        return row

    async def list_time_entries(self, request: Request) -> Response:
        self.authenticate(request)
        where, args = self._common_filters(request, "te")
        q = request.query_params
        if q.get("task_id"):
            where.append("te.task_id = ?")
            args.append(q["task_id"])
        running = _query_bool(q.get("is_running"), "is_running")
        if running is not None:
            where.append("te.is_running = ?")
            args.append(int(running))
        return self.page(
            request,
            "time_entries",
            _ENTRY_SELECT,
            where,
            args,
            "te.spent_date DESC, te.seq DESC",
            _entry_json,
        )

    async def create_time_entry(self, request: Request) -> Response:
        caller = self.authenticate(request)
        self.writable(caller)
        account = caller.account
        body = await _body(request)
        self._may_set_billable(body)
        project_id = _string(body, "project_id", required=True)
        task_id = _string(body, "task_id", required=True)
        spent_date = _required_date(body)
        hours = _number(body, "hours", 0, 24)
        notes = _string(body, "notes")
        billable = _bool(body, "billable")
        is_running = bool(_bool(body, "is_running"))
        replace_running = bool(_bool(body, "replace_running"))
        started, ended = _hhmm(body, "started_time"), _hhmm(body, "ended_time")
        source = _source(body) or "api"
        meta = _metadata(body.get("metadata"))
        user_id = _string(body, "user_id") or DEMO_USER_ID
        assert project_id is not None and task_id is not None
        self._project(caller, project_id)
        self._exists("tasks", task_id, "task")
        self._exists("users", user_id, "user")
        ts = now_iso()
        entry_id = new_id("te")
        with self.store.tx() as db:
            if is_running:
                running = db.execute(
                    "SELECT id FROM time_entries WHERE user_id = ? AND is_running = 1", [user_id]
                ).fetchone()
                if running is not None and not replace_running:
                    raise ApiError(409, "conflict", "another timer is already running")
                db.execute(
                    "UPDATE time_entries SET is_running = 0, updated_at = ? WHERE user_id = ?"
                    " AND is_running = 1",
                    [ts, user_id],
                )
            db.execute(
                "INSERT INTO time_entries (id, user_id, project_id, task_id, spent_date, hours,"
                " notes, is_running, timer_started_at, started_time, ended_time, billable,"
                " source, metadata, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    entry_id,
                    user_id,
                    project_id,
                    task_id,
                    spent_date,
                    0.0 if is_running else self.rules.rounded(hours or 0.0),
                    notes,
                    int(is_running),
                    ts if is_running else None,
                    started,
                    ended,
                    int(True if billable is None else billable),
                    source,
                    dump_metadata(meta),
                    ts,
                    ts,
                ],
            )
            db.execute("UPDATE time_entries SET account_id = ? WHERE id = ?", [account, entry_id])
        return JSONResponse(_entry_json(self._entry(entry_id)))

    def _may_set_billable(self, body: Mapping[str, Any]) -> None:
        if "billable" in body and not self.rules.can_edit_billability:
            raise ApiError(403, "forbidden", "this key may not set billable: it follows the task")

    async def update_time_entry(self, request: Request) -> Response:
        caller = self.authenticate(request)
        self.writable(caller)
        account = caller.account
        current = self._entry(request.path_params["id"], account)
        body = await _body(request)
        if "source" in body and body["source"] != current["source"]:
            raise _bad("source cannot be changed after creation")
        if current["is_locked"]:
            raise ApiError(403, "forbidden", "the time entry is locked")
        if current["approval_status"] == "approved":
            raise ApiError(409, "conflict", "the time entry is approved and cannot be changed")
        self._may_set_billable(body)
        changes: dict[str, Any] = {}
        if "project_id" in body:  # updatable, per the spec (a repo remapped to another)
            project_id = _string(body, "project_id", required=True)
            assert project_id is not None
            self._project(caller, project_id)
            changes["project_id"] = project_id
        if "task_id" in body:
            task_id = _string(body, "task_id", required=True)
            assert task_id is not None
            self._exists("tasks", task_id, "task")
            changes["task_id"] = task_id
        if "spent_date" in body:
            changes["spent_date"] = _date(body["spent_date"], "spent_date")
        if "hours" in body:
            hours = _number(body, "hours", 0, 24)
            if hours is None:
                raise _bad("hours must be a number")
            changes["hours"] = self.rules.rounded(hours)
        if "notes" in body:
            changes["notes"] = _string(body, "notes")
        if "billable" in body:
            billable = _bool(body, "billable")
            if billable is None:
                raise _bad("billable must be a boolean")
            changes["billable"] = int(billable)
        for name in ("started_time", "ended_time"):
            if name in body:
                changes[name] = _hhmm(body, name)
        if "metadata" in body:
            patch = body["metadata"]
            if patch is None:
                changes["metadata"] = None  # documented: null clears metadata
            else:
                if not isinstance(patch, dict):
                    raise _bad("metadata must be a JSON object")
                merged = load_metadata(current["metadata"]) or {}
                for key, value in patch.items():  # merge; a key sent as null is cleared
                    if value is None:
                        merged.pop(key, None)
                    else:
                        merged[key] = value
                changes["metadata"] = dump_metadata(_metadata(merged))
        if changes:
            changes["updated_at"] = now_iso()
            sets = ", ".join(f"{k} = ?" for k in changes)
            with self.store.tx() as db:
                db.execute(
                    f"UPDATE time_entries SET {sets} WHERE id = ?",
                    [*changes.values(), current["id"]],
                )
        return JSONResponse(_entry_json(self._entry(current["id"])))

    async def delete_time_entry(self, request: Request) -> Response:
        caller = self.authenticate(request)
        self.writable(caller)
        current = self._entry(request.path_params["id"], caller.account)
        if current["is_locked"]:
            raise ApiError(403, "forbidden", "the time entry is locked")
        if current["approval_status"] == "approved":
            raise ApiError(409, "conflict", "the time entry is approved and cannot be deleted")
        with self.store.tx() as db:
            db.execute("DELETE FROM time_entries WHERE id = ?", [current["id"]])
        return Response(status_code=204)

    # -- expenses ---------------------------------------------------------------------

    async def list_expenses(self, request: Request) -> Response:
        self.authenticate(request)
        where, args = self._common_filters(request, "e")
        return self.page(
            request,
            "expenses",
            _EXPENSE_SELECT,
            where,
            args,
            "e.spent_date DESC, e.seq DESC",
            _expense_json,
        )

    async def create_expense(self, request: Request) -> Response:
        caller = self.authenticate(request)
        self.writable(caller)
        account = caller.account
        body = await _body(request)
        project_id = _string(body, "project_id", required=True)
        category_id = _string(body, "expense_category_id", required=True)
        spent_date = _required_date(body)
        total_cost = _number(body, "total_cost", 0, None)
        units = body.get("units")
        if units is not None and (
            isinstance(units, bool) or not isinstance(units, int) or units < 1
        ):
            raise _bad("units must be a positive integer")
        if total_cost is None and units is None:
            raise _bad("total_cost or units is required")
        notes = _string(body, "notes")
        billable = _bool(body, "billable")
        source = _source(body, EXPENSE_SOURCES) or "api"
        meta = _metadata(body.get("metadata"))
        assert project_id is not None and category_id is not None
        self._project(caller, project_id)
        category = self.store.one("SELECT * FROM expense_categories WHERE id = ?", [category_id])
        if category is None:
            raise _not_found("expense category")
        if not category["is_active"]:
            raise _bad(f"expense_category_id {category_id} is archived")
        if total_cost is None:
            assert units is not None
            total_cost = float(units) * float(category["unit_price"] or 1.0)
        ts = now_iso()
        expense_id = new_id("exp")
        with self.store.tx() as db:
            db.execute(
                "INSERT INTO expenses (id, user_id, project_id, expense_category_id, spent_date,"
                " total_cost, units, notes, billable, source, metadata, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    expense_id,
                    DEMO_USER_ID,
                    project_id,
                    category_id,
                    spent_date,
                    total_cost,
                    units,
                    notes,
                    int(True if billable is None else billable),
                    source,
                    dump_metadata(meta),
                    ts,
                    ts,
                ],
            )
            db.execute("UPDATE expenses SET account_id = ? WHERE id = ?", [account, expense_id])
        row = self.store.one(f"{_EXPENSE_SELECT} WHERE e.id = ?", [expense_id])
        assert row is not None
        return JSONResponse(_expense_json(row))

    # -- projects & tasks -------------------------------------------------------------

    @staticmethod
    def _catalog_filters(
        request: Request, alias: str, *, active_default: bool | None = None
    ) -> tuple[list[str], list[Any]]:
        """Filters shared by projects and tasks: ``is_active`` and ``updated_since``.

        Projects are listed active-only unless ``is_active=false`` asks otherwise."""
        q = request.query_params
        where: list[str] = []
        args: list[Any] = []
        active = _query_bool(q.get("is_active"), "is_active")
        if active is None:
            active = active_default
        if active is not None:
            where.append(f"{alias}.is_active = ?")
            args.append(int(active))
        since = _query_datetime(q.get("updated_since"), "updated_since")
        if since:
            where.append(f"{alias}.updated_at >= ?")
            args.append(since)
        return where, args

    async def list_projects(self, request: Request) -> Response:
        caller = self.authenticate(request)
        where, args = self._catalog_filters(request, "p", active_default=True)
        if request.query_params.get("client_id"):
            where.append("p.client_id = ?")
            args.append(request.query_params["client_id"])
        if caller.projects is not None:  # a member sees only the projects assigned to them
            where.append(f"p.id IN ({','.join('?' * len(caller.projects)) or 'NULL'})")
            args.extend(sorted(caller.projects))
        sql = (
            "SELECT p.*, c.name AS client_name FROM projects p"
            " LEFT JOIN clients c ON c.id = p.client_id"
        )

        def render(row: Mapping[str, Any]) -> dict[str, Any]:
            out = _project_json(row)
            if self.settings["embed_tasks"]:
                out["tasks"] = [
                    _task_json(t)
                    for t in self.store.query(
                        "SELECT t.* FROM tasks t JOIN project_tasks pt ON pt.task_id = t.id"
                        " WHERE pt.project_id = ? ORDER BY t.name, t.id",
                        [row["id"]],
                    )
                ]
            return out

        return self.page(request, "projects", sql, where, args, "p.name, p.id", render)

    def _project(self, caller: Caller, project_id: str) -> None:
        """404 for a project that does not exist or that this key cannot see."""
        if not caller.sees(project_id):
            raise _not_found("project")
        self._exists("projects", project_id, "project")

    async def list_clients(self, request: Request) -> Response:
        caller = self.authenticate(request)
        if caller.member:
            raise _forbidden("member keys cannot list clients")
        where, args = self._catalog_filters(request, "c")
        return self.page(
            request,
            "clients",
            "SELECT c.* FROM clients c",
            where,
            args,
            "c.name, c.id",
            _client_json,
        )

    async def list_expense_categories(self, request: Request) -> Response:
        """Off by default: the spec has no such endpoint, and real accounts may not offer
        one; a test turns it on to cover accounts (and Harvest-style servers) that do."""
        self.authenticate(request)
        if not self.settings["expense_categories_endpoint"]:
            raise _not_found("endpoint")
        where, args = self._catalog_filters(request, "ec")
        return self.page(
            request,
            "expense_categories",
            "SELECT ec.* FROM expense_categories ec",
            where,
            args,
            "ec.name, ec.id",
            _category_json,
        )

    async def list_tasks(self, request: Request) -> Response:
        if self.authenticate(request).read_only:
            raise _forbidden(READ_ONLY)
        where, args = self._catalog_filters(request, "t")
        if request.query_params.get("project_id"):
            where.append("t.id IN (SELECT task_id FROM project_tasks WHERE project_id = ?)")
            args.append(request.query_params["project_id"])
        return self.page(
            request, "tasks", "SELECT t.* FROM tasks t", where, args, "t.name, t.id", _task_json
        )


class AdminApi:
    """``/_admin/*``: fault injection, the request log, seeding, settings, reset. No auth:
    loopback only."""

    def __init__(
        self,
        store: Store,
        book: FaultBook,
        api: KeitoApi,
        rate: RateWindow,
        rules: Rules | None = None,
    ) -> None:
        self.store = store
        self.book = book
        self.api = api
        self.rate = rate
        self.rules = rules

    async def seed(self, request: Request) -> Response:
        """Add projects, tasks, clients, categories and API keys (see :mod:`._seed`)."""
        body = await _body(request)
        try:
            made = apply_seed(self.store, body)
        except (TypeError, ValueError) as exc:
            raise _bad(str(exc)) from None
        return JSONResponse(made, status_code=201)

    async def settings(self, request: Request) -> Response:
        """``embed_tasks``, ``expense_categories_endpoint`` (booleans) and ``rate_limit``
        (requests per minute and key, then enforced with 429s; null: never enforced)."""
        body = await _body(request)
        for name in ("embed_tasks", "expense_categories_endpoint"):
            if name in body:
                if not isinstance(body[name], bool):
                    raise _bad(f"{name} must be a boolean")
                self.api.settings[name] = body[name]
        if "rate_limit" in body:
            limit = body["rate_limit"]
            if limit is not None and (not isinstance(limit, int) or limit < 1):
                raise _bad("rate_limit must be a positive integer or null")
            self.rate.enforce = limit is not None
            if limit is not None:
                self.rate.limit = limit
        return JSONResponse({**self.api.settings, "rate_limit": self.rate.limit})

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def add_faults(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            raise _bad("request body is not valid JSON") from None
        items = body if isinstance(body, list) else [body]
        try:
            faults = [Fault.from_json(item) for item in items]
        except (TypeError, ValueError) as exc:
            raise _bad(str(exc)) from None
        added = [self.book.add(f) for f in faults]
        return JSONResponse({"faults": [f.id for f in added]}, status_code=201)

    async def list_faults(self, request: Request) -> Response:
        return JSONResponse({"faults": self.book.faults()})

    async def clear_faults(self, request: Request) -> Response:
        self.book.clear_faults()
        return Response(status_code=204)

    async def requests(self, request: Request) -> Response:
        since = _query_int(request.query_params.get("since"), "since", 0, 0, 10**12)
        return JSONResponse({"requests": [r for r in self.book.requests if r["seq"] > since]})

    async def clear_requests(self, request: Request) -> Response:
        self.book.clear_log()
        return Response(status_code=204)

    async def reset(self, request: Request) -> Response:
        """Back to a freshly seeded server: no entries, expenses, faults or log."""
        self.book.clear_faults()
        self.book.clear_log()
        self.store.reset()
        if self.rules is not None:
            self.rules.reset(self.store)
        self.api.settings = dict(DEFAULT_SETTINGS)
        self.rate.reset()
        return Response(status_code=204)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse({"error": exc.error, "error_description": exc.description}, exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = {404: "not found", 405: "method not allowed"}.get(exc.status_code, "error")
    return JSONResponse(
        {"error": error, "error_description": str(exc.detail)},
        exc.status_code,
        headers=exc.headers,
    )


class _RateLimit:
    """``X-RateLimit-Limit/-Remaining/-Reset`` on every API answer, per key and minute;
    a 429 with ``Retry-After`` once an enforced limit is spent."""

    def __init__(self, app: ASGIApp, window: RateWindow) -> None:
        self.app = app
        self.window = window

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        key = headers.get(b"authorization", b"").decode("latin-1")
        limit, remaining, reset, over = self.window.hit(key)
        extra = [
            (b"x-ratelimit-limit", str(limit).encode()),
            (b"x-ratelimit-remaining", str(remaining).encode()),
            (b"x-ratelimit-reset", str(reset).encode()),
        ]
        if over:
            body = json.dumps({"error": "rate_limited", "error_description": "too many requests"})
            head = [(b"content-type", b"application/json"), (b"retry-after", str(reset).encode())]
            await send({"type": "http.response.start", "status": 429, "headers": head + extra})
            await send({"type": "http.response.body", "body": body.encode()})
            return

        async def add_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, add_headers)


class _VersionHeader:
    """Adds ``X-Keito-API-Version: 2`` to every answer, as the real API does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add_header(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-keito-api-version", b"2")]
            await send(message)

        await self.app(scope, receive, add_header)


def create_app(
    db_path: str = ":memory:", api_key: str | None = None, account_id: str | None = None
) -> Starlette:
    """The dev server's ASGI app over a SQLite file (seeded on first use).

    With ``api_key``/``account_id`` set, only that key (401 otherwise) and that account
    (403 otherwise) are accepted; without them any non-empty pair is.
    """
    store = Store(db_path)
    with store.tx() as db:
        extend_schema(db)
    book = FaultBook()
    api = KeitoApi(store, api_key, account_id)
    rate = RateWindow()
    admin = AdminApi(store, book, api, rate, api.rules)
    rules = RulesAdmin(store, api.rules)
    v2 = "/api/v2"
    routes = [
        Route(f"{v2}/users/me", api.me, methods=["GET"]),
        Route(f"{v2}/time_entries", api.list_time_entries, methods=["GET"]),
        Route(f"{v2}/time_entries", api.create_time_entry, methods=["POST"]),
        Route(f"{v2}/time_entries/{{id}}", api.update_time_entry, methods=["PATCH"]),
        Route(f"{v2}/time_entries/{{id}}", api.delete_time_entry, methods=["DELETE"]),
        Route(f"{v2}/expenses", api.list_expenses, methods=["GET"]),
        Route(f"{v2}/expenses", api.create_expense, methods=["POST"]),
        Route(f"{v2}/projects", api.list_projects, methods=["GET"]),
        Route(f"{v2}/tasks", api.list_tasks, methods=["GET"]),
        Route(f"{v2}/clients", api.list_clients, methods=["GET"]),
        Route(f"{v2}/expense_categories", api.list_expense_categories, methods=["GET"]),
        Route("/_admin/seed", admin.seed, methods=["POST"]),
        Route("/_admin/settings", admin.settings, methods=["POST"]),
        Route("/_admin/health", admin.health, methods=["GET"]),
        Route("/_admin/faults", admin.add_faults, methods=["POST"]),
        Route("/_admin/faults", admin.list_faults, methods=["GET"]),
        Route("/_admin/faults", admin.clear_faults, methods=["DELETE"]),
        Route("/_admin/requests", admin.requests, methods=["GET"]),
        Route("/_admin/requests", admin.clear_requests, methods=["DELETE"]),
        Route("/_admin/reset", admin.reset, methods=["POST"]),
        Route("/_admin/rules", rules.settings, methods=["POST"]),
        Route("/_admin/projects", rules.add_project, methods=["POST"]),
        Route("/_admin/time_entries/{id}/lock", rules.lock, methods=["POST"]),
        Route("/_admin/time_entries/{id}/approve", rules.approve, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )
    app.state.store = store
    app.state.faults = book
    # Faults sit outside the routing so they apply before (and instead of) handlers.
    app.add_middleware(_RateLimit, window=rate)
    app.add_middleware(FaultMiddleware, book=book)
    app.add_middleware(_VersionHeader)
    return app
