"""Running parse state: what a transcript has said so far, small enough to checkpoint.

The state is plain Python (no pydantic) because the hook path loads and saves it on every
prompt and must stay fast. It serialises to a JSON-able dict (:meth:`ParseState.to_dict`),
which the ledger stores as the checkpoint next to the byte offset it belongs to; parsing
resumes from there, so re-reading a 100 MB transcript after one more turn costs only the
new bytes.
"""

from __future__ import annotations

from keito_skill.transcripts._timeline import Spans, add_span, local_day

TYPE_CHECKING = False  # mypy takes it for typing's; importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from typing import Any

CHECKPOINT_VERSION = 6

# Index of each counter in a token vector. Anthropic's meaning of "input": uncached only.
INPUT, CACHE_WRITE, CACHE_READ, OUTPUT, REASONING, CACHE_WRITE_1H = range(6)
TOKEN_FIELDS = (
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
)
VECTOR_LEN = 6

DEFAULT_IDLE_SECONDS = 300

# Requests whose prompt (uncached + cache write + cache read) exceeds this are priced on the
# long-context tier by providers that have one (Anthropic, Google). Prices are per request,
# so such requests are also kept apart (``DayBucket.long``) and priced on their own.
LONG_CONTEXT_TOKENS = 200_000


# No request, and no running total of one session, comes near this many tokens (it would
# cost millions of dollars); a count at or above it is a corrupt line, not usage to bill.
MAX_TOKENS = 10**12


# What folding a damaged line or record into a state raises (a value of the wrong type, a
# count out of range: see :func:`count`). Readers catch it per line and count the line in
# ``skipped_lines``: nothing from it is kept, and the rest of the file is read.
LINE_DAMAGE = (TypeError, ValueError, KeyError, AttributeError, OverflowError)


def count(value: Any) -> int:
    """A token count as written by an agent: a positive integer, anything else is 0.

    Raises ``OverflowError`` at :data:`MAX_TOKENS` and above (2^63 once billed $36.9
    trillion): the parser counts the line in ``skipped_lines`` and takes nothing from it.
    A float that large too: orjson reads an integer over 64 bits as one (the JSON module, a
    hook's, as an integer), and both paths must skip the same lines.
    """
    if value.__class__ is not int:
        if value.__class__ is float and value >= MAX_TOKENS:
            raise OverflowError(f"token count {value} is out of range")
        return 0
    if value <= 0:
        return 0
    if value >= MAX_TOKENS:
        raise OverflowError(f"token count {value} is out of range")
    return value


def prompt_tokens(vector: list[int]) -> int:
    return vector[INPUT] + vector[CACHE_WRITE] + vector[CACHE_READ]


def zero_vector() -> list[int]:
    return [0] * VECTOR_LEN


def add_into(target: list[int], delta: list[int]) -> None:
    for i in range(VECTOR_LEN):
        target[i] += delta[i]


class DayBucket:
    """Activity and usage of one session on one local calendar day."""

    __slots__ = ("active", "first", "last", "long", "models", "tool_calls", "turns")

    def __init__(self) -> None:
        self.first: float | None = None
        self.last: float | None = None
        self.active = 0.0
        # This day's share of the session's counters: a day's entry carries its own day.
        self.turns = 0
        self.tool_calls = 0
        self.models: dict[str, list[int]] = {}
        # The part of ``models`` used by single requests over LONG_CONTEXT_TOKENS.
        self.long: dict[str, list[int]] = {}

    def touch(self, ts: float) -> None:
        if self.first is None or ts < self.first:
            self.first = ts
        if self.last is None or ts > self.last:
            self.last = ts

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "first": self.first,
            "last": self.last,
            "active": self.active,
            "models": self.models,
        }
        if self.long:
            data["long"] = self.long
        if self.turns or self.tool_calls:
            data["turns"], data["tool_calls"] = self.turns, self.tool_calls
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DayBucket:
        bucket = cls()
        bucket.first = data.get("first")
        bucket.last = data.get("last")
        bucket.active = float(data.get("active", 0.0))
        bucket.models = {k: list(v) for k, v in data.get("models", {}).items()}
        bucket.long = {k: list(v) for k, v in data.get("long", {}).items()}
        bucket.turns = int(data.get("turns", 0))
        bucket.tool_calls = int(data.get("tool_calls", 0))
        return bucket


class ParseState:
    """Everything derived from a transcript's first ``offset`` bytes.

    ``extra`` holds agent-specific running data (message ids recently seen, the last
    cumulative usage, the agent's own cost reports); only the agent's parser reads it.
    """

    def __init__(self, agent: str, idle_seconds: int = DEFAULT_IDLE_SECONDS) -> None:
        self.agent = agent
        self.idle_seconds = idle_seconds
        self.offset = 0
        self.lines = 0
        self.skipped_lines = 0
        self.session_id: str | None = None
        self.agent_version: str | None = None
        self.cwd: str | None = None
        self.git_branch: str | None = None
        self.git_commit: str | None = None
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        self._turns = 0
        self._tool_calls = 0
        self.first_prompt: str | None = None
        self.last_assistant_message: str | None = None
        self.days: dict[str, DayBucket] = {}
        self.extra: dict[str, Any] = {}
        # The timeline (see :mod:`._timeline`) and the previous event in file order.
        self.prev_ts: float | None = None
        self.runs: Spans = []
        self.walls: Spans = []
        # Responses counted since the last settle, for the check against every other file:
        # ``[key, offset, day, model, vector, long]`` (see :mod:`._responses`).
        self.responses: list[list[Any]] = []
        # Where the reads that listed ``responses`` started (0: the file from its start;
        # None: nothing read since the last settle).
        self.read_from: int | None = None
        # Usage skipped as a copy of a response counted elsewhere: count and per model.
        self.duplicates: dict[str, Any] = {}
        self.reader: Any = None  # the LineSource being read (not checkpointed)
        # The current local day's [start, end) and bucket (set together by ``bucket``), so
        # most events skip date maths.
        self._day_key: str | None = None
        self._day_start = 0.0
        self._day_end = 0.0
        self._day_bucket: DayBucket | None = None

    # -- counters: the session's, each also added to the current event's day ----------

    @property
    def turns(self) -> int:
        return self._turns

    @turns.setter
    def turns(self, value: int) -> None:
        if self._day_bucket is not None and value > self._turns:
            self._day_bucket.turns += value - self._turns
        self._turns = value

    @property
    def tool_calls(self) -> int:
        return self._tool_calls

    @tool_calls.setter
    def tool_calls(self, value: int) -> None:
        if self._day_bucket is not None and value > self._tool_calls:
            self._day_bucket.tool_calls += value - self._tool_calls
        self._tool_calls = value

    # -- time -------------------------------------------------------------------------

    def _day_of(self, ts: float) -> str:
        if self._day_key is not None and self._day_start <= ts < self._day_end:
            return self._day_key
        key, self._day_start, self._day_end = local_day(ts)
        self._day_key = key
        return key

    def bucket(self, ts: float) -> DayBucket:
        key = self._day_of(ts)
        found = self.days.get(key)
        if found is None:
            found = self.days[key] = DayBucket()
        self._day_bucket = found
        return found

    def event(self, ts: float) -> DayBucket:
        """Record activity at ``ts``: extends the timeline (``runs`` and ``walls``).

        Time is kept as two small sets of intervals, so that any order of events, and any
        number of files of one session, give the same answer (see :mod:`._timeline`):
        ``runs`` are stretches of events no more than ``idle_seconds`` apart, ``walls`` the
        union of forward steps between consecutive events in file order (a clock that steps
        back adds nothing). The common case, an event later than every other, extends the
        last of each in place.
        """
        prev = self.prev_ts
        self.prev_ts = ts
        last = self.last_ts
        if last is not None and ts >= last and prev is not None:
            if ts > last:
                runs = self.runs
                if runs and ts - runs[-1][1] <= self.idle_seconds:
                    runs[-1][1] = ts
                else:
                    runs.append([ts, ts])
                self.last_ts = ts
            if prev < ts:
                walls = self.walls
                if walls and prev == walls[-1][1]:
                    walls[-1][1] = ts
                else:
                    add_span(walls, prev, ts, 0.0)
            day = self._day_bucket
            if day is not None and self._day_start <= ts < self._day_end:
                if day.last is None or ts > day.last:
                    day.last = ts
                return day
        else:
            add_span(self.runs, ts, ts, float(self.idle_seconds))
            if prev is not None and ts > prev:
                add_span(self.walls, prev, ts, 0.0)
            if last is None or ts > last:
                self.last_ts = ts
            if self.first_ts is None or ts < self.first_ts:
                self.first_ts = ts
        day = self.bucket(ts)
        day.touch(ts)
        return day

    def add_usage(
        self, ts: float | None, model: str, delta: list[int], *, request_prompt: int = 0
    ) -> None:
        """Add a token vector for ``model`` to the day of ``ts`` (the last event's if None).

        ``request_prompt`` is the prompt size of the one request this usage came from; over
        :data:`LONG_CONTEXT_TOKENS` the usage is also recorded as long-context.
        """
        when = ts if ts is not None else self.last_ts
        if when is None:
            when = 0.0
        day = self.bucket(when)
        add_into(day.models.setdefault(model, zero_vector()), delta)
        if request_prompt > LONG_CONTEXT_TOKENS:
            add_into(day.long.setdefault(model, zero_vector()), delta)

    def add_response(
        self,
        key: str | None,
        first: int | None,
        ts: float | None,
        model: str,
        delta: list[int],
        *,
        request_prompt: int = 0,
    ) -> None:
        """Usage of one identified response (``key``), first written at byte ``first`` of
        this file (None: at the current line): counted now, and listed so the session's
        other files and the ledger can tell a copy of it from a new one."""
        self.add_usage(ts, model, delta, request_prompt=request_prompt)
        if key is None:
            return
        if first is None:
            first = self.reader.offset if self.reader is not None else 0
        long = request_prompt > LONG_CONTEXT_TOKENS
        self.responses.append([key, first, self._day_key, model, list(delta), long])

    def drop_response(self, entry: list[Any]) -> None:
        """Take back the usage of a listed response found to be a copy (a duplicate)."""
        _key, _first, day_key, model, vector, long = entry
        day = self.days.get(day_key)
        if day is None:
            return
        for table in (day.models, day.long) if long else (day.models,):
            held = table.get(model)
            if held is None:
                continue
            for i in range(VECTOR_LEN):
                held[i] = max(0, held[i] - vector[i])
            if not any(held):
                del table[model]
        dup = self.duplicates
        dup["responses"] = int(dup.get("responses", 0)) + 1
        add_into(dup.setdefault("models", {}).setdefault(model, zero_vector()), vector)

    # -- aggregates -------------------------------------------------------------------

    def model_totals(self, *, long: bool = False) -> dict[str, list[int]]:
        """Usage per model over every day (only long-context requests' with ``long``)."""
        totals: dict[str, list[int]] = {}
        for day in self.days.values():
            for model, vector in (day.long if long else day.models).items():
                add_into(totals.setdefault(model, zero_vector()), vector)
        return totals

    # -- checkpoint -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": CHECKPOINT_VERSION,
            "agent": self.agent,
            "idle_seconds": self.idle_seconds,
            "offset": self.offset,
            "lines": self.lines,
            "skipped_lines": self.skipped_lines,
            "session_id": self.session_id,
            "agent_version": self.agent_version,
            "cwd": self.cwd,
            "git_branch": self.git_branch,
            "git_commit": self.git_commit,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "turns": self.turns,
            "tool_calls": self.tool_calls,
            "first_prompt": self.first_prompt,
            "last_assistant_message": self.last_assistant_message,
            "days": {k: v.to_dict() for k, v in self.days.items()},
            "extra": self.extra,
            "prev_ts": self.prev_ts,
            "runs": self.runs,
            "walls": self.walls,
            "responses": self.responses,
            "read_from": self.read_from,
            "duplicates": self.duplicates,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParseState:
        """Rebuild a state from :meth:`to_dict`; raises ``ValueError`` on an old format."""
        if data.get("v") != CHECKPOINT_VERSION:
            raise ValueError("checkpoint format changed")
        state = cls(str(data["agent"]), int(data["idle_seconds"]))
        for name in (
            "offset",
            "lines",
            "skipped_lines",
            "session_id",
            "agent_version",
            "cwd",
            "git_branch",
            "git_commit",
            "first_ts",
            "last_ts",
            "turns",
            "tool_calls",
            "first_prompt",
            "last_assistant_message",
        ):
            setattr(state, name, data.get(name))
        state.days = {k: DayBucket.from_dict(v) for k, v in data.get("days", {}).items()}
        state.extra = dict(data.get("extra") or {})
        state.prev_ts = data.get("prev_ts")
        state.runs = [list(span) for span in data.get("runs") or []]
        state.walls = [list(span) for span in data.get("walls") or []]
        state.responses = [list(entry) for entry in data.get("responses") or []]
        read_from = data.get("read_from")
        state.read_from = read_from if isinstance(read_from, int) else None
        state.duplicates = dict(data.get("duplicates") or {})
        return state
