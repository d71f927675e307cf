"""``billing.granularity: day``: one time entry per repository, project, task and day.

An account that rounds every entry up (to the next quarter hour, say) bills twenty short
sessions as five hours. In ``day`` mode a repo's sessions of one day share one entry: its
hours are the sum of each session's billed time (each session's ``min_duration_seconds``
and ``max_duration_seconds`` applied as in ``session`` mode), its metadata a compact
summary (counts and totals, never one key per session, so it stays far under 4 KB however
many sessions), and the sessions' own ids and figures stay in our ledger (the record's
private ``_sessions``). Expenses stay per session. The entry is a ledger record of agent
``repo`` keyed by the repo's config path; final entries and continuations work as for a
session's.

A session that already has its own entry for that day in Keito (sent before the repo
switched to ``day``) is left out of the day's entry: it is billed once, not twice.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from keito_skill.ledger import Ledger
from keito_skill.mapping import ConfigProblem, RepoConfig, load_config
from keito_skill.summary import TOKEN_FIELDS
from keito_skill.sync._payloads import SKILL, money

REPO_AGENT = "repo"
_MODELS_SHOWN = 8


def day_entry_id(config_path: str) -> str:
    """The ``metadata.session_id`` a repo's day entries carry (our look-up key)."""
    return "day-" + hashlib.sha256(config_path.encode()).hexdigest()[:20]


def day_body(
    config: RepoConfig, config_path: str, spent: str, members: list[tuple[str, str, dict[str, Any]]]
) -> tuple[dict[str, Any], list[list[Any]]]:
    """The entry for one repo-day from its sessions' day slices ``(agent, id, slice)``,
    and the per-session detail kept in the ledger."""
    tokens = dict.fromkeys(TOKEN_FIELDS, 0)
    agents: dict[str, int] = {}
    models: set[str] = set()
    seconds = active = 0.0
    turns = calls = 0
    cost: float | None = 0.0
    detail: list[list[Any]] = []
    skipped = 0
    for agent, session_id, day in members:
        billed, held = config.billed_seconds(
            float(day.get("active_seconds") or 0), float(day.get("wall_seconds") or 0)
        )
        if held is not None:
            skipped += 1
            continue
        seconds += billed
        active += float(day.get("active_seconds") or 0)
        agents[agent] = agents.get(agent, 0) + 1
        for key in TOKEN_FIELDS:
            tokens[key] += int((day.get("totals") or {}).get(key, 0))
        models.update(day.get("models") or {})
        turns += int(day.get("turns") or 0)
        calls += int(day.get("tool_calls") or 0)
        day_cost = day.get("cost_usd")
        cost = None if cost is None or day_cost is None else cost + float(day_cost)
        detail.append([agent, session_id, round(billed, 3)])
    shown = sorted(models)
    metadata: dict[str, Any] = {
        **config.metadata,
        "session_id": day_entry_id(config_path),
        "granularity": "day",
        "sessions": len(detail),
        "agents": agents,
        "models": shown[:_MODELS_SHOWN] + (["..."] if len(shown) > _MODELS_SHOWN else []),
        **tokens,
        "cost_usd": money(cost),
        "active_seconds": round(active, 3),
        "billed_seconds": round(seconds, 3),
        "turns": turns,
        "tool_calls": calls,
        "cwd": str(Path(config_path).parent.parent),
        "skill": SKILL,
    }
    if skipped:
        metadata["sessions_below_min_duration"] = skipped
    names = ", ".join(f"{n} {a}" for a, n in sorted(agents.items()))
    body: dict[str, Any] = {
        "project_id": config.project_id,
        "task_id": config.task_id,
        "spent_date": spent,
        "hours": round(seconds / 3600.0, 2),
        "notes": f"Agent work: {len(detail)} sessions ({names or 'none'})",
        "source": config.agent_tracking.source,
        "metadata": metadata,
    }
    if config.billing.billable is not None:
        body["billable"] = config.billing.billable
    if config.workspace_id:
        body["_account"] = config.workspace_id
    body["_sessions"] = detail
    return body, detail


def rebuild_days(ledger: Ledger, touched: set[tuple[str, str]]) -> None:
    """Rebuild the day entries of every (config path, date) whose sessions changed."""
    from keito_skill.sync._materialize import put_parts  # shared with session entries

    by_path: dict[str, set[str]] = {}
    for path, spent in touched:
        by_path.setdefault(path, set()).add(spent)
    for path, dates in by_path.items():
        try:
            config = load_config(Path(path)).config
        except (ConfigProblem, OSError):
            continue
        if config.billing.granularity != "day":
            continue
        rows = ledger.sessions_mapped_by(path)
        own = _own_entries(ledger, dates)
        entry_id = day_entry_id(path)
        records = ledger.session_records(REPO_AGENT, entry_id, "time_entry")
        with ledger.transaction():
            for spent in sorted(dates):
                members = [
                    (row.agent, row.session_id, day)
                    for row in rows
                    for day in (row.summary or {}).get("days", [])
                    if day.get("date") == spent and (row.agent, row.session_id, spent) not in own
                ]
                if not members:
                    continue
                body, _ = day_body(config, path, spent, members)
                held = None if body["hours"] > 0 else "under 0.01 h so far: not sent yet"
                if body["hours"] > 24:  # parallel sessions: more than one entry can hold
                    held = (
                        f"{body['hours']:.2f} h on one day is over the 24 h one entry can"
                        " hold: use billing.granularity: session for this repo"
                    )
                put_parts(ledger, REPO_AGENT, entry_id, spent, body, held, records, past=False)


def _own_entries(ledger: Ledger, dates: set[str]) -> set[tuple[str, str, str]]:
    """Sessions billed on their own entry on those dates (sent or final in Keito)."""
    rows = ledger.time_entries_in_keito(sorted(dates))
    return {(r.agent, r.session_id, r.spent_date) for r in rows if r.agent != REPO_AGENT}
