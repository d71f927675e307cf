"""The agent-neutral ``SessionSummary``: what every later step (ledger, sync, reports) reads.

Built from one or more :class:`~keito_skill.transcripts.ParseState` (the main transcript,
then any side files such as subagents' transcripts). Time, tokens, tool calls and cost come
from all of them (time as the union of their timelines: see ``transcripts._timeline``);
prompts, messages and session facts from the main transcript.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from keito_skill.transcripts import ParseState, agent_cost
from keito_skill.transcripts._state import TOKEN_FIELDS, add_into, zero_vector
from keito_skill.transcripts._timeline import by_day, times, total

CostSource = Literal["agent", "computed"]

__all__ = [
    "TOKEN_FIELDS",
    "DaySlice",
    "DuplicateResponses",
    "ModelUsage",
    "SessionSummary",
    "TokenCounts",
    "summarize",
]


class TokenCounts(BaseModel):
    """Token counts with Anthropic's meaning of input (uncached only), for every agent."""

    model_config = ConfigDict(extra="ignore")

    input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_output_tokens: int = 0

    @property
    def total(self) -> int:
        """All tokens processed (reasoning is already inside output)."""
        return (
            self.input_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
            + self.output_tokens
        )


class ModelUsage(TokenCounts):
    cost_usd: float | None = None


class DaySlice(BaseModel):
    """One local calendar day of a session: the unit a time entry bills."""

    date: date
    started_at: datetime
    ended_at: datetime
    wall_seconds: float
    active_seconds: float
    models: dict[str, ModelUsage]
    totals: TokenCounts
    cost_usd: float | None
    turns: int = 0
    tool_calls: int = 0


class DuplicateResponses(BaseModel):
    """Usage not counted because another file, or an earlier place in the same one,
    already holds the same response (a replayed or copied history, a forked session's copy)."""

    responses: int = 0
    totals: TokenCounts = TokenCounts()
    models: dict[str, TokenCounts] = {}


class SessionSummary(BaseModel):
    session_id: str | None
    agent: str
    agent_version: str | None = None
    transcript_path: str | None = None
    side_paths: list[str] = []
    started_at: datetime | None
    ended_at: datetime | None
    wall_seconds: float
    active_seconds: float
    idle_threshold_seconds: int
    models: dict[str, ModelUsage]
    totals: TokenCounts
    cost_usd: float | None
    cost_source: CostSource | None
    unpriced_models: list[str] = []
    turns: int
    tool_calls: int
    cwd: str | None
    git_branch: str | None
    git_commit: str | None = None
    first_prompt: str | None = None
    last_assistant_message: str | None = None
    skipped_lines: int
    duplicate_responses: DuplicateResponses = DuplicateResponses()
    # Why some usage the agent made cannot be read (yet): billed less, and said so.
    usage_incomplete: str | None = None
    days: list[DaySlice]


def _when(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, tz=UTC).astimezone() if ts is not None else None


def _money(value: Decimal | float | None) -> float | None:
    return None if value is None else round(float(value), 8)


def model_costs(
    agent: str,
    states: list[ParseState],
    totals: dict[str, list[int]],
    long: dict[str, list[int]],
) -> tuple[dict[str, Decimal | None], CostSource | None]:
    """Cost per model: the agent's own figure when it reconciles, else genai-prices."""
    own = agent_cost(agent, states)
    if own is not None and set(own) >= {m for m, v in totals.items() if any(v)}:
        return {m: Decimal(str(own.get(m, 0.0))) for m in totals}, "agent"
    from keito_skill.pricing import price_vector

    costs = {
        m: price_vector(m, v, long.get(m)) if any(v) else Decimal(0) for m, v in totals.items()
    }
    return costs, ("computed" if totals else None)


def summarize(states: list[ParseState], paths: list[str] | None = None) -> SessionSummary:
    """Merge a session's parse states (main first) into its :class:`SessionSummary`."""
    # Built as plain values and validated once: a third cheaper than building each nested
    # model on its own (a backfill summarises thousands of sessions).
    return SessionSummary.model_validate(_fields(states, paths))


def _fields(states: list[ParseState], paths: list[str] | None) -> dict[str, Any]:
    """The :class:`SessionSummary` of ``states`` as plain values (its models as dicts)."""
    main = states[0]
    agent = main.agent
    totals: dict[str, list[int]] = {}
    long_totals: dict[str, list[int]] = {}
    per_day: dict[str, dict[str, list[int]]] = {}
    long_per_day: dict[str, dict[str, list[int]]] = {}
    first_last: dict[str, tuple[float, float]] = {}
    for state in states:
        for key, day_bucket in state.days.items():
            if day_bucket.first is not None and day_bucket.last is not None:
                held = first_last.get(key)
                first_last[key] = (
                    (day_bucket.first, day_bucket.last)
                    if held is None
                    else (min(held[0], day_bucket.first), max(held[1], day_bucket.last))
                )
            day_models = per_day.setdefault(key, {})
            for model, vector in day_bucket.models.items():
                if not any(vector):
                    continue  # a row with nothing in it bills nothing: not shown
                add_into(day_models.setdefault(model, zero_vector()), vector)
                add_into(totals.setdefault(model, zero_vector()), vector)
            day_long = long_per_day.setdefault(key, {})
            for model, vector in day_bucket.long.items():
                add_into(day_long.setdefault(model, zero_vector()), vector)
                add_into(long_totals.setdefault(model, zero_vector()), vector)

    costs, source = model_costs(agent, states, totals, long_totals)
    unpriced = sorted(m for m, c in costs.items() if c is None)
    session_cost = (
        None if unpriced else sum((c for c in costs.values() if c is not None), Decimal(0))
    )
    active_spans, wall_spans = times(
        [s.runs for s in states], [s.walls for s in states], float(main.idle_seconds)
    )
    active_by_day, wall_by_day = by_day(active_spans), by_day(wall_spans)
    firsts = [s.first_ts for s in states if s.first_ts is not None]
    lasts = [s.last_ts for s in states if s.last_ts is not None]
    session_first = min(firsts) if firsts else None
    session_last = max(lasts) if lasts else None

    days: list[dict[str, Any]] = []
    for key in sorted(set(first_last) | {k for k, v in per_day.items() if v}):
        day_models = per_day.get(key, {})
        usage: dict[str, dict[str, Any]] = {}
        day_vector = zero_vector()
        day_cost: Decimal | None = Decimal(0)
        for model, vector in day_models.items():
            share = _share(
                model,
                (vector, long_per_day.get(key, {}).get(model)),
                (totals[model], long_totals.get(model)),
                costs.get(model),
            )
            usage[model] = _usage(vector, _money(share))
            add_into(day_vector, vector)
            day_cost = None if share is None or day_cost is None else day_cost + share
        first, last = first_last.get(key, (session_first, session_last))
        start_dt, end_dt = _when(first), _when(last)
        if start_dt is None or end_dt is None:
            continue
        days.append(
            {
                "date": date.fromisoformat(key),
                "started_at": start_dt,
                "ended_at": end_dt,
                "wall_seconds": round(wall_by_day.get(key, 0.0), 3),
                "active_seconds": round(active_by_day.get(key, 0.0), 3),
                "models": usage,
                "totals": _counts(day_vector),
                "cost_usd": _money(day_cost),
                "turns": main.days[key].turns if key in main.days else 0,
                "tool_calls": sum(s.days[key].tool_calls for s in states if key in s.days),
            }
        )
    _unplaced_counts_to_first_day(days, main.turns, sum(s.tool_calls for s in states))

    total_vector = zero_vector()
    for vector in totals.values():
        add_into(total_vector, vector)
    return {
        "session_id": main.session_id,
        "agent": agent,
        "agent_version": main.agent_version,
        "transcript_path": paths[0] if paths else None,
        "side_paths": list(paths[1:]) if paths else [],
        "started_at": _when(session_first),
        "ended_at": _when(session_last),
        "wall_seconds": round(total(wall_spans), 3),
        "active_seconds": round(total(active_spans), 3),
        "idle_threshold_seconds": main.idle_seconds,
        "models": {m: _usage(v, _money(costs.get(m))) for m, v in sorted(totals.items())},
        "totals": _counts(total_vector),
        "cost_usd": _money(session_cost),
        "cost_source": source,
        "unpriced_models": unpriced,
        "turns": main.turns,
        "tool_calls": sum(s.tool_calls for s in states),
        "cwd": main.cwd,
        "git_branch": main.git_branch,
        "git_commit": main.git_commit,
        "first_prompt": main.first_prompt,
        "last_assistant_message": main.last_assistant_message,
        "skipped_lines": sum(s.skipped_lines for s in states),
        "duplicate_responses": _duplicates(states),
        "usage_incomplete": main.extra.get("usage_incomplete"),
        "days": days,
    }


def _counts(vector: list[int]) -> dict[str, Any]:
    """:class:`TokenCounts` of a parser's token vector."""
    return dict(zip(TOKEN_FIELDS, vector, strict=False))


def _usage(vector: list[int], cost: float | None) -> dict[str, Any]:
    """:class:`ModelUsage` of a parser's token vector and its cost."""
    fields = _counts(vector)
    fields["cost_usd"] = cost
    return fields


def _unplaced_counts_to_first_day(days: list[dict[str, Any]], turns: int, tool_calls: int) -> None:
    """Counts read before days kept their own (older checkpoints) go to the first day, so
    the days still add up to the session."""
    if days:
        days[0]["turns"] += max(0, turns - sum(d["turns"] for d in days))
        days[0]["tool_calls"] += max(0, tool_calls - sum(d["tool_calls"] for d in days))


def _duplicates(states: list[ParseState]) -> dict[str, Any]:
    count = 0
    models: dict[str, list[int]] = {}
    for state in states:
        count += int(state.duplicates.get("responses", 0))
        for model, vector in (state.duplicates.get("models") or {}).items():
            add_into(models.setdefault(model, zero_vector()), vector)
    whole = zero_vector()
    for vector in models.values():
        add_into(whole, vector)
    return {
        "responses": count,
        "totals": _counts(whole),
        "models": {m: _counts(v) for m, v in sorted(models.items())},
    }


def _share(
    model: str,
    part: tuple[list[int], list[int] | None],
    whole: tuple[list[int], list[int] | None],
    whole_cost: Decimal | None,
) -> Decimal | None:
    """The part of a model's cost that ``part`` of its tokens accounts for.

    Each is ``(usage, its long-context part)``. Priced by genai-prices where it knows the
    model, scaled so the parts add up to the model's cost (which may be the agent's own
    figure); by token share otherwise.
    """
    if whole_cost is None:
        return None
    if part[0] == whole[0]:
        return whole_cost
    from keito_skill.pricing import price_vector

    part_price, whole_price = price_vector(model, *part), price_vector(model, *whole)
    if part_price is not None and whole_price:
        return whole_cost * part_price / whole_price
    whole_tokens = sum(whole[0][:4])
    return whole_cost * sum(part[0][:4]) / whole_tokens if whole_tokens else Decimal(0)
