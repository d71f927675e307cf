"""The Keito v2 client the sync layer uses: resources, pagination, idempotent upserts.

Keito has no idempotency keys, so "exactly one record per session" is built here: every
record we write carries ``metadata.session_id`` (and ``metadata.segment`` for expenses),
and before creating we look for a record that already carries them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from types import TracebackType
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from keito_skill import __version__
from keito_skill.keito._credentials import Credentials
from keito_skill.keito._errors import (
    KeitoError,
    KeitoNotFoundError,
    KeitoServerError,
    KeitoValidationError,
)
from keito_skill.keito._http import BeforeRequest, Hooks, OnResponse, Transport
from keito_skill.keito._metadata import METADATA_LIMIT, fit_metadata, metadata_size
from keito_skill.keito._models import (
    Client,
    Expense,
    ExpenseCategory,
    ExpenseCreate,
    Project,
    Task,
    TimeEntry,
    TimeEntryCreate,
    TimeEntryUpdate,
    User,
)

_M = TypeVar("_M", bound=BaseModel)
_R = TypeVar("_R", bound=BaseModel)

DEFAULT_PER_PAGE = 100
# Keys the upserts match on; fit_metadata must never drop or shorten them.
TIME_ENTRY_KEYS = ("session_id",)
EXPENSE_KEYS = ("session_id", "segment")
_FILTER_ALIASES = {"from_date": "from", "to_date": "to", "from_": "from"}


def entry_key(meta: Mapping[str, Any] | None) -> str | None:
    """Which of our time entries ``meta`` belongs to: its ``session_id``, and its
    ``part`` when above 1 (a continuation entry, made after an earlier part of the same
    session-day became final in Keito)."""
    meta = meta or {}
    session_id = meta.get("session_id")
    if not isinstance(session_id, str) or not session_id:
        return None
    part = meta.get("part")
    return f"{session_id}#{part}" if isinstance(part, int) and part > 1 else session_id


def _without_nulls(meta: dict[str, Any]) -> dict[str, Any]:
    """Metadata for a create: a ``null`` (clear this key) means nothing on a new record."""
    return {k: v for k, v in meta.items() if v is not None}


def _param(value: Any) -> str:
    """Render a query value the way the API parses it (dates ISO, bools lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(_param(v) for v in value)
    return str(value)


def _query(filters: Mapping[str, Any]) -> dict[str, str]:
    return {_FILTER_ALIASES.get(k, k): _param(v) for k, v in filters.items() if v is not None}


def _coerce(model: type[_M], body: _M | Mapping[str, Any]) -> _M:
    """Validate a request body locally, turning pydantic errors into a typed error."""
    if isinstance(body, model):
        return body
    try:
        return model.model_validate(dict(body))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or model.__name__
        raise KeitoValidationError(
            f"invalid {model.__name__}: {where}: {first['msg']}",
            error="invalid_request",
            error_description=str(exc),
        ) from None


def _check_metadata(meta: Mapping[str, Any] | None) -> None:
    if meta is not None and metadata_size(dict(meta)) > METADATA_LIMIT:
        raise KeitoValidationError(
            f"metadata is {metadata_size(dict(meta))} bytes, over the {METADATA_LIMIT}-byte limit "
            "(use fit_metadata)",
            error="metadata_too_large",
        )


class KeitoClient:
    """A synchronous client for one Keito account.

    ``timeout`` bounds every call; ``max_retries`` and ``backoff_base`` (seconds, doubled
    each attempt, with jitter) govern retries as described in :mod:`._http`.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        account_id: str,
        *,
        timeout: float = 10.0,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        user_agent: str = f"keito-skill/{__version__}",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.account_id = account_id
        # The key's own user (``/users/me``): listings are narrowed to it when known.
        self.user_id: str | None = None
        self._settings: dict[str, Any] = {
            "api_key": api_key,
            "timeout": timeout,
            "max_retries": max_retries,
            "backoff_base": backoff_base,
            "user_agent": user_agent,
        }
        self._http = Transport(
            self.base_url,
            api_key,
            account_id,
            timeout=timeout,
            max_retries=max_retries,
            backoff_base=backoff_base,
            user_agent=user_agent,
        )

    @classmethod
    def from_credentials(cls, creds: Credentials, **kwargs: Any) -> KeitoClient:
        """A client for the account in ``creds`` (see :func:`load_credentials`)."""
        return cls(creds.api_url, creds.api_key, creds.account_id, **kwargs)

    def for_account(self, account_id: str) -> KeitoClient:
        """A client for another account with the same URL, key and settings (a repo
        whose config names its own ``workspace_id``). The caller closes it."""
        settings = dict(self._settings)
        api_key = settings.pop("api_key")
        return KeitoClient(self.base_url, api_key, account_id, **settings)

    def identity(self) -> str:
        """URL, account and key as one string, for keying local caches (hash it: it holds
        the key)."""
        return f"{self.base_url}\n{self.account_id}\n{self._settings['api_key']}"

    def __repr__(self) -> str:
        return f"KeitoClient(base_url={self.base_url!r}, account_id={self.account_id!r})"

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    @contextmanager
    def hooked(
        self,
        *,
        before_request: BeforeRequest | None = None,
        on_response: OnResponse | None = None,
    ) -> Iterator[None]:
        """Within the block, call ``before_request()`` before every HTTP attempt and
        ``on_response(status, headers)`` with every answer, the transport's own retries
        included (sync paces its workers with them: a 429 holds everyone back).

        Hooks from several blocks (nested, or on other threads) all run; each block removes
        its own on the way out, also when the block raises.
        """
        hooks = Hooks(before_request=before_request, on_response=on_response)
        self._http.add_hooks(hooks)
        try:
            yield
        finally:
            self._http.remove_hooks(hooks)

    def __enter__(self) -> KeitoClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        response = self._http.request(method, path, **kw)
        try:
            return response.json()
        except ValueError:
            raise KeitoServerError(
                "Keito answered with a body that is not JSON",
                status_code=response.status_code,
                method=method,
                path=path,
            ) from None

    def _parse(self, model: type[_R], data: Any, path: str) -> _R:
        # Keito answers a create with the record itself; a Harvest-style server may wrap
        # it (``{"time_entry": {...}}``). Read either, never depend on the wrapper.
        if isinstance(data, dict) and "id" not in data and len(data) == 1:
            (inner,) = data.values()
            if isinstance(inner, dict):
                data = inner
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise KeitoServerError(
                f"unexpected {model.__name__} shape from Keito: {exc.errors()[0]['msg']}",
                path=path,
            ) from None

    def _pages(
        self, path: str, key: str, model: type[_R], filters: Mapping[str, Any]
    ) -> Iterator[_R]:
        """Yield every item of a paginated list, one request per page, lazily."""
        params = _query(filters)
        params.setdefault("per_page", str(DEFAULT_PER_PAGE))
        page = int(params.pop("page", "1"))
        while True:
            data = self._json("GET", path, params={**params, "page": str(page)})
            items = data.get(key) if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise KeitoServerError(f"list response without '{key}'", path=path)
            for item in items:
                yield self._parse(model, item, path)
            if not items or not self._more(data, page):
                return
            page += 1

    @staticmethod
    def _more(data: Mapping[str, Any], page: int) -> bool:
        """Whether a page follows ``page``: Keito says so with ``total_pages`` (and
        ``links.next``); a ``next_page`` (Harvest's field, not Keito's) is read too."""
        total_pages = data.get("total_pages")
        if isinstance(total_pages, int) and not isinstance(total_pages, bool):
            return page < total_pages
        next_page = data.get("next_page")
        if isinstance(next_page, int) and not isinstance(next_page, bool):
            return next_page > page
        links = data.get("links")
        return isinstance(links, dict) and bool(links.get("next"))

    # -- time entries -------------------------------------------------------------

    def list_time_entries(self, **filters: Any) -> Iterator[TimeEntry]:
        """Every time entry matching the filters, walking all pages.

        Filters are the API's query parameters (``project_id``, ``user_id``,
        ``source``, ``is_running``, ``updated_since``, ``per_page``...); ``from_date``
        and ``to_date`` (or ``from_``) map to ``from``/``to``.
        """
        return self._pages("/api/v2/time_entries", "time_entries", TimeEntry, filters)

    def create_time_entry(self, body: TimeEntryCreate | Mapping[str, Any]) -> TimeEntry:
        """Create a time entry (a POST: never blindly retried; see ``maybe_sent``)."""
        create = _coerce(TimeEntryCreate, body)
        _check_metadata(create.metadata)
        path = "/api/v2/time_entries"
        return self._parse(TimeEntry, self._json("POST", path, json=create.to_json()), path)

    def update_time_entry(
        self, entry_id: str, patch: TimeEntryUpdate | Mapping[str, Any]
    ) -> TimeEntry:
        """PATCH a time entry; the server merges ``metadata`` keys into the stored ones."""
        update = _coerce(TimeEntryUpdate, patch)
        _check_metadata(update.metadata)
        path = f"/api/v2/time_entries/{entry_id}"
        return self._parse(TimeEntry, self._json("PATCH", path, json=update.to_json()), path)

    def delete_time_entry(self, entry_id: str) -> None:
        """Delete a time entry."""
        self._http.request("DELETE", f"/api/v2/time_entries/{entry_id}")

    def find_time_entry(
        self,
        session_id: str,
        spent_date: dt.date | str,
        project_id: str | None = None,
        *,
        source: str = "agent",
    ) -> TimeEntry | None:
        """Our entry for ``session_id`` (an :func:`entry_key`) on ``spent_date``, or ``None``.

        One filtered list call per page (``from=to=spent_date``, ``source``, and the key's
        own ``user_id`` when known); the match on metadata is done here because the API
        cannot filter on it.
        """
        day = _param(spent_date)
        for entry in self.list_time_entries(
            from_date=day,
            to_date=day,
            source=source,
            project_id=project_id,
            user_id=self.user_id,
        ):
            if entry_key(entry.metadata) == session_id:
                return entry
        return None

    def upsert_time_entry(
        self,
        body: TimeEntryCreate | Mapping[str, Any],
        *,
        known_id: str | None = None,
        lookup: bool = True,
    ) -> tuple[TimeEntry, Literal["created", "updated"]]:
        """Create or update the one entry for ``metadata.session_id`` on its spent date.

        With ``known_id`` (an id we created earlier) the entry is PATCHed directly with
        no lookup; if it was deleted meanwhile (404) we fall back to find-or-create.
        ``lookup=False`` skips the search and creates (the caller knows there is none).
        ``source`` defaults to ``agent`` and metadata is shrunk to fit 4 KB, keeping
        ``session_id``. The PATCH carries ``project_id`` (a remap moves the entry), never
        ``source``; metadata keys set to ``None`` clear the stored ones on a PATCH and are
        left out of a create.
        """
        raw = body.model_dump(exclude_none=True) if isinstance(body, BaseModel) else dict(body)
        raw.setdefault("source", "agent")
        wanted = fit_metadata(dict(raw.get("metadata") or {}), keep=TIME_ENTRY_KEYS)
        raw["metadata"] = _without_nulls(wanted)
        create = _coerce(TimeEntryCreate, raw)
        meta = create.metadata or {}
        session_id = entry_key(meta)
        if session_id is None:
            raise KeitoValidationError(
                "upsert_time_entry needs metadata.session_id", error="invalid_request"
            )
        patch = TimeEntryUpdate(
            project_id=create.project_id,
            task_id=create.task_id,
            spent_date=create.spent_date,
            hours=create.hours,
            notes=create.notes,
            billable=create.billable,
            started_time=create.started_time,
            ended_time=create.ended_time,
            metadata=wanted,
        )
        if known_id:
            try:
                return self.update_time_entry(known_id, patch), "updated"
            except KeitoNotFoundError:
                pass
        if lookup or known_id:
            existing = self.find_time_entry(
                session_id, create.spent_date, create.project_id, source=create.source or "agent"
            )
            if existing is not None:
                return self.update_time_entry(existing.id, patch), "updated"
        return self.create_time_entry(create), "created"

    # -- expenses -----------------------------------------------------------------

    def list_expenses(self, **filters: Any) -> Iterator[Expense]:
        """Every expense matching the filters, walking all pages (same filters as time)."""
        return self._pages("/api/v2/expenses", "expenses", Expense, filters)

    def create_expense(self, body: ExpenseCreate | Mapping[str, Any]) -> Expense:
        """Create an expense (a POST: never blindly retried; see ``maybe_sent``)."""
        create = _coerce(ExpenseCreate, body)
        _check_metadata(create.metadata)
        path = "/api/v2/expenses"
        return self._parse(Expense, self._json("POST", path, json=create.to_json()), path)

    def find_expense(
        self, session_id: str, segment: str | int, spent_date: dt.date | str | None = None
    ) -> Expense | None:
        """Our agent expense for (``session_id``, ``segment``), or ``None``."""
        day = _param(spent_date) if spent_date is not None else None
        for expense in self.list_expenses(
            from_date=day, to_date=day, source="agent", user_id=self.user_id
        ):
            meta = expense.metadata or {}
            if (
                meta.get("session_id") == session_id
                and "segment" in meta
                and str(meta["segment"]) == str(segment)
            ):
                return expense
        return None

    def create_expense_once(
        self, body: ExpenseCreate | Mapping[str, Any], *, lookup: bool = True
    ) -> tuple[Expense, Literal["created", "existing"]]:
        """Create the expense for (``metadata.session_id``, ``metadata.segment``) once.

        The API cannot update expenses, so an existing one is returned untouched.
        ``source`` defaults to ``agent``; metadata is fitted to 4 KB keeping both keys.
        """
        raw = body.model_dump(exclude_none=True) if isinstance(body, BaseModel) else dict(body)
        raw.setdefault("source", "agent")
        raw["metadata"] = _without_nulls(
            fit_metadata(dict(raw.get("metadata") or {}), keep=EXPENSE_KEYS)
        )
        create = _coerce(ExpenseCreate, raw)
        meta = create.metadata or {}
        session_id, segment = meta.get("session_id"), meta.get("segment")
        if not isinstance(session_id, str) or not session_id or segment is None:
            raise KeitoValidationError(
                "create_expense_once needs metadata.session_id and metadata.segment",
                error="invalid_request",
            )
        if lookup:
            existing = self.find_expense(session_id, str(segment), create.spent_date)
            if existing is not None:
                return existing, "existing"
        return self.create_expense(create), "created"

    # -- reference data -----------------------------------------------------------

    def list_projects(self, **filters: Any) -> list[Project]:
        """Projects visible to the key (all pages)."""
        return list(self._pages("/api/v2/projects", "projects", Project, filters))

    def list_tasks(self, project_id: str | None = None, **filters: Any) -> list[Task]:
        """Tasks (all pages); ``project_id`` narrows to tasks assigned to that project."""
        return list(
            self._pages("/api/v2/tasks", "tasks", Task, {"project_id": project_id, **filters})
        )

    def project_tasks(self, project: Project) -> list[Task]:
        """The tasks of ``project`` the way real accounts give them: embedded in the
        project when ``GET /projects`` carried them, else from ``/tasks?project_id=``."""
        if project.tasks is not None:
            return list(project.tasks)
        return self.list_tasks(project_id=project.id)

    def list_clients(self, **filters: Any) -> list[Client]:
        """Clients (all pages); a member-scoped key gets :class:`KeitoForbiddenError`."""
        return list(self._pages("/api/v2/clients", "clients", Client, filters))

    def list_expense_categories(self, **filters: Any) -> list[ExpenseCategory] | None:
        """Expense categories, or ``None`` when the account offers no listing (the spec
        has no such endpoint: 404 or 405 mean "find the id in the web app")."""
        try:
            return list(
                self._pages(
                    "/api/v2/expense_categories", "expense_categories", ExpenseCategory, filters
                )
            )
        except KeitoNotFoundError:
            return None
        except KeitoError as exc:
            if exc.status_code == 405:
                return None
            raise

    def me(self) -> User:
        """The user the API key belongs to; the cheapest call to verify credentials."""
        path = "/api/v2/users/me"
        return self._parse(User, self._json("GET", path), path)
