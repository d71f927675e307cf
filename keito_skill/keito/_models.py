"""Pydantic models of the Keito v2 resources this project touches.

Response models accept (and keep) fields they do not know: the API grows fields over
time and a new one must never break a sync. Request models are strict: a typo in a
field name should fail here, not be silently dropped by the server.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Source = Literal["web", "cli", "api", "agent", "calendar", "desktop"]
SOURCES: tuple[str, ...] = ("web", "cli", "api", "agent", "calendar", "desktop")
# Expenses come from fewer places than time entries (no calendar sync, no desktop timer).
ExpenseSource = Literal["web", "cli", "api", "agent"]
EXPENSE_SOURCES: tuple[str, ...] = ("web", "cli", "api", "agent")

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _check_date(value: Any) -> str:
    """Accept a ``date`` or a strict ``YYYY-MM-DD`` string; always send the string form."""
    if isinstance(value, dt.datetime):
        raise ValueError("spent_date must be a date, not a datetime")
    if isinstance(value, dt.date):
        return value.isoformat()
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise ValueError("date must be YYYY-MM-DD")
    dt.date.fromisoformat(value)  # rejects 2026-02-30
    return value


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_json(self) -> dict[str, Any]:
        """The JSON body to send: unset/``None`` fields are left out, not sent as null."""
        return self.model_dump(mode="json", exclude_none=True)


class IdName(_Response):
    """The ``{id, name}`` reference the API embeds for users, projects, tasks, categories."""

    id: str
    name: str | None = None


class TimeEntry(_Response):
    """A time entry as returned by ``/api/v2/time_entries``; ``hours`` is decimal hours."""

    id: str
    spent_date: dt.date
    hours: float = 0.0
    user_id: str | None = None
    project_id: str | None = None
    task_id: str | None = None
    user: IdName | None = None
    project: IdName | None = None
    task: IdName | None = None
    notes: str | None = None
    is_running: bool = False
    billable: bool = False
    is_locked: bool = False
    is_billed: bool = False
    started_time: str | None = None
    ended_time: str | None = None
    # Plain str, not the request Literal: a newer server may report sources we never send.
    source: str | None = None
    metadata: dict[str, Any] | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


class Expense(_Response):
    """An expense as returned by ``/api/v2/expenses``."""

    id: str
    spent_date: dt.date
    total_cost: float = 0.0
    user_id: str | None = None
    project_id: str | None = None
    expense_category_id: str | None = None
    user: IdName | None = None
    project: IdName | None = None
    expense_category: IdName | None = None
    units: int | None = None
    notes: str | None = None
    billable: bool = False
    is_locked: bool = False
    is_billed: bool = False
    source: str | None = None
    metadata: dict[str, Any] | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


class Task(_Response):
    """A task (activity type) time entries are booked under."""

    id: str
    name: str
    is_active: bool = True
    billable_by_default: bool = False


def _task_item(item: Any) -> Any:
    """A project's embedded task, as a task or as a Harvest-style assignment
    (``{"task": {id, name}, "is_active": ...}``): both read as a :class:`Task`."""
    if isinstance(item, dict) and isinstance(item.get("task"), dict) and "name" not in item:
        merged = {**item["task"]}
        if "is_active" in item:  # the assignment's state wins over the task's
            merged["is_active"] = bool(item["is_active"]) and merged.get("is_active", True)
        return merged
    return item


class Project(_Response):
    """A project the key can book time against.

    ``tasks`` is what real accounts embed in ``GET /projects``; ``None`` when the server
    did not embed them (then ``/tasks`` is the place to look).
    """

    id: str
    name: str
    code: str | None = None
    client: IdName | None = None
    is_active: bool = True
    is_billable: bool = False
    tasks: list[Task] | None = None

    @field_validator("tasks", mode="before")
    @classmethod
    def _tasks(cls, value: Any) -> Any:
        return [_task_item(i) for i in value] if isinstance(value, list) else value


class Client(_Response):
    """A client of the account (``/clients``; member keys may not list them)."""

    id: str
    name: str
    is_active: bool = True


class ExpenseCategory(_Response):
    """An expense category, where the account offers a listing (the spec has none)."""

    id: str
    name: str
    is_active: bool = True
    unit_name: str | None = None
    unit_price: float | None = None


class User(_Response):
    """The user the API key belongs to (``/api/v2/users/me``)."""

    id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    timezone: str | None = None
    is_active: bool = True
    roles: list[str] = Field(default_factory=list)
    user_type: str | None = None
    company: IdName | None = None


class TimeEntryCreate(_Request):
    """Body of ``POST /api/v2/time_entries``."""

    project_id: str = Field(min_length=1)
    task_id: str = Field(min_length=1)
    spent_date: str
    hours: float | None = Field(default=None, ge=0, le=24)
    user_id: str | None = None
    notes: str | None = None
    billable: bool | None = None
    is_running: bool | None = None
    started_time: str | None = None
    ended_time: str | None = None
    source: Source | None = None
    metadata: dict[str, Any] | None = None

    _date = field_validator("spent_date", mode="before")(_check_date)

    @field_validator("started_time", "ended_time")
    @classmethod
    def _hhmm(cls, value: str | None) -> str | None:
        if value is not None and not _TIME_RE.match(value):
            raise ValueError("time must be HH:mm")
        return value


class TimeEntryUpdate(_Request):
    """Body of ``PATCH /api/v2/time_entries/{id}``.

    ``source`` is deliberately absent: it cannot change after creation, and
    ``extra="forbid"`` makes trying a local error instead of a 400. ``project_id`` can
    change (a repository remapped to another project moves its open entries).
    ``metadata`` is *merged* into the stored object by the server; a key set to ``None``
    is sent as ``null``, which clears it.
    """

    project_id: str | None = Field(default=None, min_length=1)
    task_id: str | None = None
    spent_date: str | None = None
    hours: float | None = Field(default=None, ge=0, le=24)
    notes: str | None = None
    billable: bool | None = None
    started_time: str | None = None
    ended_time: str | None = None
    metadata: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """As :meth:`_Request.to_json`, but metadata keys set to ``None`` stay (as null)."""
        body = super().to_json()
        if self.metadata is not None:
            body["metadata"] = dict(self.metadata)
        return body

    @field_validator("spent_date", mode="before")
    @classmethod
    def _date(cls, value: Any) -> str | None:
        return None if value is None else _check_date(value)


class ExpenseCreate(_Request):
    """Body of ``POST /api/v2/expenses``; the API needs ``total_cost`` or ``units``."""

    project_id: str = Field(min_length=1)
    expense_category_id: str = Field(min_length=1)
    spent_date: str
    total_cost: float | None = Field(default=None, ge=0)
    units: int | None = Field(default=None, ge=1)
    notes: str | None = None
    billable: bool | None = None
    source: ExpenseSource | None = None
    metadata: dict[str, Any] | None = None

    _date = field_validator("spent_date", mode="before")(_check_date)

    @model_validator(mode="after")
    def _cost_or_units(self) -> ExpenseCreate:
        if self.total_cost is None and self.units is None:
            raise ValueError("either total_cost or units is required")
        return self
