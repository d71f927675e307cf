"""Session summaries as the ledger stores them: computed once per checkpoint, then read.

Summarising a session from its checkpoints (time spans, prices) costs about a quarter of a
millisecond; ``report`` on a few thousand sessions did it for every one, every time. So
the summary is stored in the ledger (``sessions.summary``) with the key it was computed
under (``sessions.summary_key``): the session's checkpoint version, which every
``save_checkpoints`` moves, and what else the figures depend on (this code's format, the
checkpoint format, the price table, the local time zone that splits days). A summary whose
key is not the session's current one is stale: it is never used, but computed again (and
stored) by the first reader. Hooks store none: they must not import pydantic or prices.

Two views of the same stored summary:

* :func:`summaries` (report, sessions): a light :class:`StoredSummary` per row, read from
  the stored JSON without validating it again (the JSON is what ``SessionSummary`` wrote);
* :func:`summary_for` (sync, backfill: what gets billed): the validated ``SessionSummary``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from datetime import date, datetime
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from keito_skill import __version__, _orjson
from keito_skill.ledger import Ledger, SessionRow
from keito_skill.recorder import restore
from keito_skill.transcripts._state import CHECKPOINT_VERSION, TOKEN_FIELDS

if TYPE_CHECKING:
    from keito_skill.summary import SessionSummary

__all__ = [
    "TOKEN_FIELDS",
    "Day",
    "StoredSummary",
    "Usage",
    "days_of",
    "is_fresh",
    "key_at",
    "key_of",
    "stamp",
    "summaries",
    "summary_for",
]

# Bump when ``summarize`` changes what it computes from the same checkpoints.
SUMMARY_FORMAT = 1
# How long a report waits for the ledger to store what it computed (another process
# writing): storing is only a saving, never worth a wait.
_REPORT_WAIT = 0.2


@lru_cache(maxsize=1)
def _prices_mark() -> str:
    """Changes when the installed price table does (its package directory is rewritten)."""
    from importlib.util import find_spec

    try:
        spec = find_spec("genai_prices")
    except (ImportError, ValueError):
        return "-"
    if spec is None or spec.origin is None:
        return "-"
    try:
        return str(os.stat(os.path.dirname(spec.origin)).st_mtime_ns)
    except OSError:
        return "-"


def stamp() -> str:
    """What a summary depends on besides the checkpoints (read per call: a test or a
    long-running process may change the time zone)."""
    zone = f"{time.timezone}/{time.altzone}/{'/'.join(time.tzname)}"
    return f"{SUMMARY_FORMAT}.{CHECKPOINT_VERSION}.{__version__}.{_prices_mark()}.{zone}"


def key_at(version: int) -> str:
    """The key a summary of the checkpoints at ``version`` is stored under."""
    return f"{version}:{stamp()}"


def key_of(row: SessionRow) -> str:
    """The key a summary of ``row``'s current checkpoints is stored under."""
    return key_at(row.version)


def _keyed_now(row: SessionRow, current: str) -> bool:
    """Whether the row's stored summary was computed from its current checkpoints by
    this code (``current``: :func:`stamp`, taken once for many rows)."""
    return row.summary_key == f"{row.version}:{current}"


def is_fresh(row: SessionRow, current: str | None = None) -> bool:
    """True when the stored summary was computed from the row's current checkpoints.
    ``current``: :func:`stamp`, when the caller asks for many rows at once."""
    return _keyed_now(row, stamp() if current is None else current) and isinstance(
        row.summary, dict
    )


def _decode(text: str | bytes) -> Any:
    """A stored JSON text decoded (orjson where this process may use it)."""
    fast = _orjson.load()
    return fast.loads(text) if fast is not None else json.loads(text)


class Usage:
    """Tokens (and cost, per model) of a stored summary: ``TokenCounts`` / ``ModelUsage``."""

    __slots__ = ("data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __getattr__(self, name: str) -> Any:
        if name in _USAGE_FIELDS:  # a token count, or the cost (None: not priced)
            return self.data.get(name, 0 if name != "cost_usd" else None)
        raise AttributeError(name)

    @property
    def total(self) -> int:
        """All tokens processed (reasoning is already inside output)."""
        get = self.data.get
        return int(
            get("input_tokens", 0)
            + get("cache_creation_input_tokens", 0)
            + get("cache_read_input_tokens", 0)
            + get("output_tokens", 0)
        )

    def model_dump(self) -> dict[str, Any]:
        """The figures as ``SessionSummary`` dumps them."""
        return dict(self.data)

    def __eq__(self, other: object) -> bool:
        """Equal to the ``TokenCounts`` (or stored usage) with the same figures."""
        dump = getattr(other, "model_dump", None)
        if not callable(dump):
            return NotImplemented
        return bool(self.model_dump() == dump())

    __hash__ = None  # type: ignore[assignment]  # mutable figures, like the model's


_USAGE_FIELDS = frozenset((*TOKEN_FIELDS, "cost_usd"))


def _moment(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:  # an edited ledger: shown without that time, not a traceback
        return None


class _Stored:
    """What a stored summary and each of its days read alike: the span and the totals."""

    __slots__ = ()
    data: dict[str, Any]

    @property
    def totals(self) -> Usage:
        return Usage(self.data.get("totals") or {})

    @property
    def started_at(self) -> datetime | None:
        return _moment(self.data.get("started_at"))

    @property
    def ended_at(self) -> datetime | None:
        return _moment(self.data.get("ended_at"))


class Day(_Stored):
    """One local calendar day of a stored summary (``DaySlice``)."""

    __slots__ = ("active_seconds", "cost_usd", "data", "date", "wall_seconds")

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.date = date.fromisoformat(data["date"])
        self.active_seconds: float = data.get("active_seconds") or 0.0
        self.wall_seconds: float = data.get("wall_seconds") or 0.0
        self.cost_usd: float | None = data.get("cost_usd")

    @property
    def models(self) -> dict[str, Usage]:
        return {m: Usage(u) for m, u in (self.data.get("models") or {}).items()}

    @property
    def turns(self) -> int:
        return int(self.data.get("turns") or 0)

    @property
    def tool_calls(self) -> int:
        return int(self.data.get("tool_calls") or 0)


class StoredSummary(_Stored):
    """A session's summary as stored (the JSON ``SessionSummary`` dumps), with the
    attributes reports read; ``data`` is the JSON itself (what ``sessions --json`` prints).

    One made by :meth:`unread` keeps the stored text (``text``) and decodes it only when a
    figure is read: a listing sorts and filters by the span and prints the text as it is.
    """

    text: str | bytes | None = None  # the stored JSON text (or its UTF-8), for an unread one

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @classmethod
    def unread(cls, text: str | bytes, span: tuple[str | None, str | None]) -> StoredSummary:
        """The stored ``text`` (a JSON object, as SQLite checked), whose ``started_at`` and
        ``ended_at`` are ``span``."""
        made = cls.__new__(cls)
        made.__dict__.update(text=text, _span=span)
        return made

    @property
    def started_at(self) -> datetime | None:
        span = self.__dict__.get("_span")
        return _moment(span[0]) if span is not None else super().started_at

    @property
    def ended_at(self) -> datetime | None:
        span = self.__dict__.get("_span")
        return _moment(span[1]) if span is not None else super().ended_at

    def __getattr__(self, name: str) -> Any:
        if name == "data" and self.text is not None:  # an unread one's, decoded once asked
            loaded = _decode(self.text)
            self.data = loaded if isinstance(loaded, dict) else {}
            return self.data
        if name in _PLAIN_FIELDS:  # read as stored
            return self.data.get(name)
        raise AttributeError(name)

    @property
    def active_seconds(self) -> float:
        return float(self.data.get("active_seconds") or 0.0)

    @property
    def wall_seconds(self) -> float:
        return float(self.data.get("wall_seconds") or 0.0)

    @cached_property
    def days(self) -> list[Day]:
        return [Day(d) for d in self.data.get("days") or []]

    @classmethod
    def from_json(cls, text: str | bytes) -> StoredSummary:
        """From the JSON ``SessionSummary.model_dump_json`` wrote."""
        return cls(_decode(text))

    @classmethod
    def of(cls, summary: SessionSummary) -> StoredSummary:
        """The stored form of a freshly computed summary."""
        return cls(summary.model_dump(mode="json"))


# Fields of ``SessionSummary`` a stored one answers as they are.
_PLAIN_FIELDS = frozenset(
    (
        "session_id",
        "agent",
        "agent_version",
        "transcript_path",
        "side_paths",
        "idle_threshold_seconds",
        "cost_usd",
        "cost_source",
        "unpriced_models",
        "turns",
        "tool_calls",
        "cwd",
        "git_branch",
        "git_commit",
        "first_prompt",
        "last_assistant_message",
        "skipped_lines",
    )
)


def compute(row: SessionRow) -> SessionSummary | None:
    """The session's summary from its stored checkpoints (no file is read)."""
    from keito_skill.summary import summarize

    states = restore(row.checkpoints)
    if not states:
        return None
    return summarize(list(states.values()), list(states))


def _remember(row: SessionRow, text: str) -> tuple[str, str, int, str, str]:
    """What to store for ``row``; the row itself holds it from now on (a later reader in
    this process finds it fresh)."""
    key = key_of(row)
    row.__dict__["summary"] = json.loads(text)
    row.summary_key = key
    row.summary_span = None  # read from the summary replaced: not this one's
    row.summary_days = None
    return (row.agent, row.session_id, row.version, key, text)


def summaries(
    ledger: Ledger | None, rows: Sequence[SessionRow], *, wait: float | None = _REPORT_WAIT
) -> list[StoredSummary | None]:
    """A fresh summary for each row (None: nothing recorded yet): the stored one when its
    key is current, else computed now and stored (in one write, given a ``ledger``; a
    ledger that cannot be written stores nothing and loses nothing)."""
    out: list[StoredSummary | None] = []
    fresh: list[tuple[str, str, int, str, str]] = []
    current = stamp()  # once, not per row
    for row in rows:
        if row.summary_span is not None and _keyed_now(row, current):
            text = row.summary_text()  # listed with its span: left as stored
            if text is not None:
                out.append(StoredSummary.unread(text, row.summary_span))
                continue
        if is_fresh(row, current):
            assert row.summary is not None  # is_fresh checked it
            out.append(StoredSummary(row.summary))
            continue
        summary = compute(row)
        if summary is None:
            out.append(None)
            continue
        fresh.append(_remember(row, summary.model_dump_json()))
        out.append(StoredSummary(row.summary or {}))
    if ledger is not None:
        ledger.store_summaries(fresh, wait=wait)
    return out


def days_of(
    ledger: Ledger | None, rows: Sequence[SessionRow], *, wait: float | None = _REPORT_WAIT
) -> list[list[Day] | None]:
    """Each row's :class:`Day` list (None: nothing recorded yet), as :func:`summaries`
    gives them; rows listed with ``summary_days`` whose stored summary is current are
    answered from those days alone (``report`` decoded 9 MB of summaries for 2 MB of days).
    A stored summary whose days do not read (an edited ledger) is computed again."""
    out: list[list[Day] | None] = [None] * len(rows)
    rest: list[int] = []  # stale, or listed without days: answered by summaries()
    current = stamp()
    for index, row in enumerate(rows):
        if row.summary_days is not None and _keyed_now(row, current):
            try:
                days = _days(_decode(row.summary_days))
            except ValueError:
                days = None
            if days is not None:
                out[index] = days
                continue
        rest.append(index)
    computed = summaries(ledger, [rows[i] for i in rest], wait=wait)
    for index, summary in zip(rest, computed, strict=True):
        if summary is None:
            continue
        days = _days(summary.data.get("days"))
        if days is None:  # stored, current, and damaged: from the checkpoints instead
            fresh = _computed(ledger, rows[index], wait)
            days = StoredSummary.of(fresh).days if fresh is not None else None
        out[index] = days
    return out


def _days(stored: Any) -> list[Day] | None:
    """The days a stored summary holds, or None when they do not read as days."""
    if not isinstance(stored, list):
        return None
    try:
        return [Day(day) for day in stored]
    except (ValueError, TypeError, KeyError):
        return None


def _computed(ledger: Ledger | None, row: SessionRow, wait: float | None) -> SessionSummary | None:
    """The row's summary computed from its checkpoints, and stored (given a ``ledger``)."""
    summary = compute(row)
    if summary is not None and ledger is not None:
        ledger.store_summaries([_remember(row, summary.model_dump_json())], wait=wait)
    return summary


def summary_for(
    ledger: Ledger | None, row: SessionRow, *, wait: float | None = None
) -> SessionSummary | None:
    """The session's fresh ``SessionSummary`` (what is billed): the stored one when its
    key is current, else computed now and stored."""
    from pydantic import ValidationError

    from keito_skill.summary import SessionSummary

    if is_fresh(row):
        try:
            return SessionSummary.model_validate(row.summary)
        except ValidationError:  # edited or damaged: computed again below
            pass
    return _computed(ledger, row, wait)
