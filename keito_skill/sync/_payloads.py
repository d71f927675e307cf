"""What gets sent: Keito time-entry and expense bodies built from a session summary.

A time entry bills one session-day; an expense carries one model's usage in one usage
segment on one day. Both carry the same correlation keys (``session_id``, ``agent_id``,
``agent_type``) in their metadata so Keito can tie an expense to its time entry.
"""

from __future__ import annotations

import math
import socket
from datetime import datetime
from typing import Any

from keito_skill import __version__
from keito_skill.agents import label as agent_label
from keito_skill.mapping import RepoConfig
from keito_skill.redact import redact
from keito_skill.summary import TOKEN_FIELDS, DaySlice, SessionSummary, TokenCounts

SKILL = f"keito-skill/{__version__}"
_NOTES_CHARS = 1000
# Keito stores hours with two decimals (its CLI sends them so); what we send is what it keeps.
HOURS_DECIMALS = 2
# Money: cents of cents, not float noise such as 0.024027999999999994.
COST_DECIMALS = 4
# Payload keys starting with this are ours (routing, the ledger's own detail): never sent.
PRIVATE = "_"


def wire(payload: dict[str, Any]) -> dict[str, Any]:
    """The body to send: the payload without our private keys."""
    return {k: v for k, v in payload.items() if not k.startswith(PRIVATE)}


def account_of(payload: dict[str, Any]) -> str | None:
    """The Keito account a record goes to (its repo's ``workspace_id``); None: the default."""
    account = payload.get("_account")
    return account if isinstance(account, str) and account else None


def money(value: float | None) -> float | None:
    return None if value is None else round(value, COST_DECIMALS)


def _times(day: DaySlice, seconds: float) -> dict[str, str]:
    """``started_time``/``ended_time`` only when they agree with the hours billed (within a
    minute, on one local day): a server may compute hours from them."""
    start, end = day.started_at.astimezone(), day.ended_at.astimezone()
    span = (end - start).total_seconds()
    if start.date() != end.date() or abs(span - seconds) > 60:
        return {}
    return {"started_time": _hhmm(day.started_at), "ended_time": _hhmm(day.ended_at)}


def _routing(body: dict[str, Any], config: RepoConfig) -> dict[str, Any]:
    """What the repo config adds to every body: ``billable`` only when set, the account."""
    if config.billing.billable is not None:
        body["billable"] = config.billing.billable
    if config.workspace_id:
        body["_account"] = config.workspace_id
    return body


def refresh_expense(payload: dict[str, Any], config: RepoConfig) -> dict[str, Any]:
    """An expense not yet in Keito, rebuilt from the repo's current config (its usage is
    fixed when its segment closes; where it goes and how it is billed is the config's)."""
    body = {k: v for k, v in payload.items() if k not in ("billable", "_account")}
    body["project_id"] = config.project_id
    body["expense_category_id"] = config.expense_category_id
    body["source"] = config.agent_tracking.source
    body["metadata"] = {**dict(payload.get("metadata") or {}), **config.metadata}
    return _routing(body, config)


def agent_id(agent: str) -> str:
    """Which agent installation did the work: the agent type on this machine."""
    return f"{agent}@{socket.gethostname()}"


def _hhmm(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M")


def _tokens(counts: TokenCounts) -> dict[str, int]:
    return {key: int(getattr(counts, key)) for key in TOKEN_FIELDS}


def notes_for(summary: SessionSummary, config: RepoConfig, day: DaySlice | None = None) -> str:
    """The entry's notes, per ``notes.mode`` (``redact_notes`` wins); ``day``'s counts."""
    label = agent_label(summary.agent)
    mode = "redacted" if config.agent_tracking.redact_notes else config.notes.mode
    text: str | None = None
    if mode == "last_message":
        text = summary.last_assistant_message
    elif mode == "first_prompt":
        text = summary.first_prompt
    elif mode == "summary":
        models = ", ".join(summary.models) or "no model"
        turns, calls = (day.turns, day.tool_calls) if day else (summary.turns, summary.tool_calls)
        text = f"{turns} prompts, {calls} tool calls ({models})"
    if not text:
        return f"{label} session {(summary.session_id or '')[:8]}"
    text = " ".join(redact(text).split())  # clients read notes: no secret leaves
    if len(text) > _NOTES_CHARS:
        text = text[: _NOTES_CHARS - 1] + "…"
    return f"{label}: {text}"


def time_entry(
    summary: SessionSummary,
    day: DaySlice,
    config: RepoConfig,
    *,
    git_rev: str | None,
    cwd: str | None,
) -> tuple[dict[str, Any], str | None]:
    """The time-entry body for one day of a session, and a hold reason if any.

    Everything in it is that day's own (figures, counts, cost), so a session that goes on
    into another day leaves the earlier day's entry as it is.
    """
    seconds, held = config.billed_seconds(day.active_seconds, day.wall_seconds)
    primary = max(day.models.items(), key=lambda kv: kv[1].total, default=(None, None))[0]
    metadata: dict[str, Any] = {
        **config.metadata,
        "session_id": summary.session_id,
        "agent_id": agent_id(summary.agent),
        "agent_type": summary.agent,
        "agent_version": summary.agent_version,
        "model": primary,
        "models": sorted(day.models),
        **_tokens(day.totals),
        "cost_usd": money(day.cost_usd),
        "cost_source": summary.cost_source,
        "duration_seconds": round(day.wall_seconds, 3),
        "active_seconds": round(day.active_seconds, 3),
        "billed_seconds": round(seconds, 3),
        "billing_duration": config.billing.duration,
        "turns": day.turns,
        "tool_calls": day.tool_calls,
        "git_branch": summary.git_branch,
        "git_rev": git_rev or summary.git_commit,
        "cwd": cwd or summary.cwd,
        "skill": SKILL,
    }
    if config.agent_tracking.draft:
        metadata["draft"] = True
    hours = round(seconds / 3600.0, HOURS_DECIMALS)
    body = {
        "project_id": config.project_id,
        "task_id": config.task_id,
        "spent_date": day.date.isoformat(),
        "hours": hours,
        **_times(day, seconds),
        "notes": notes_for(summary, config, day),
        "source": config.agent_tracking.source,
        "metadata": metadata,
    }
    if held is None and hours <= 0:
        held = short_reason(seconds)  # it may still grow; its expenses go out regardless
    return _routing(body, config), held


def short_reason(seconds: float) -> str:
    """Why a session-day is not sent: it would be a zero-hour entry (it may still grow)."""
    return f"under 0.01 h so far ({seconds:.0f} s): not sent as a zero-hour entry"


def expense(
    summary: SessionSummary,
    config: RepoConfig,
    *,
    segment: int,
    spent_date: str,
    model: str,
    tokens: dict[str, int],
    cost_usd: float | None,
) -> dict[str, Any]:
    """The expense body for one model's new usage in one segment on one day."""
    total = sum(tokens[k] for k in TOKEN_FIELDS if k != "reasoning_output_tokens")
    parts = [
        f"{tokens['input_tokens']:,} input",
        f"{tokens['cache_creation_input_tokens']:,} cache write",
        f"{tokens['cache_read_input_tokens']:,} cache read",
        f"{tokens['output_tokens']:,} output",
    ]
    if tokens["reasoning_output_tokens"]:
        parts.append(f"of which {tokens['reasoning_output_tokens']:,} reasoning")
    key = f"{segment}/{spent_date}/{model}"
    body: dict[str, Any] = {
        "project_id": config.project_id,
        "expense_category_id": config.expense_category_id,
        "spent_date": spent_date,
        "units": max(1, math.ceil(total / 1000)),
        "notes": f"LLM usage, {model}: {', '.join(parts)} tokens",
        "source": config.agent_tracking.source,
        "metadata": {
            **config.metadata,
            "session_id": summary.session_id,
            "agent_id": agent_id(summary.agent),
            "agent_type": summary.agent,
            "model": model,
            "segment": key,
            "segment_number": segment,
            **tokens,
            "total_tokens": total,
            "cost_usd": money(cost_usd),
            "cost_source": summary.cost_source if cost_usd is not None else None,
            "skill": SKILL,
        },
    }
    if cost_usd is not None:
        body["total_cost"] = money(cost_usd)
    else:
        body["metadata"]["cost_unknown"] = True
    return _routing(body, config)
