"""``report``'s figures: hours, tokens and cost of recorded sessions, grouped as asked.

Read from the ledger only (no network): each session's stored summary's days
(:func:`keito_skill.summaries.days_of`), the hours its time entries bill, and its repo's
billing rules (:mod:`keito_skill.billing`) for what an account's rounding makes of them.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from keito_skill.billing import RepoConfigs
from keito_skill.ledger import Ledger
from keito_skill.summaries import TOKEN_FIELDS, days_of


def report_rows(
    ledger: Ledger,
    *,
    by: str,
    since: date | None,
    until: date | None,
    agent: str | None = None,
    project: str | None = None,
) -> list[dict[str, Any]]:
    """One row per group: sessions, hours billed (or active), tokens and cost.

    ``agent`` keeps one agent's sessions; ``project`` one Keito project's, named by its id
    or by the name ``init`` wrote into the repo's config (case-insensitive).
    """
    configs = RepoConfigs()  # repo configs, read once per repo
    billed: dict[tuple[str, str, str], float] = {}
    shares: dict[tuple[str, str, str], float] = {}  # day-granularity entries: rounding share
    for record in ledger.records(kind="time_entry"):
        hours = float(record.payload.get("hours") or 0.0)
        if record.agent == "repo":  # one entry for many sessions (granularity: day)
            factor = _rounded(record.payload, hours, configs) / hours if hours > 0 else 1.0
            for agent_id, session_id, _ in record.payload.get("_sessions") or []:
                shares[(agent_id, session_id, record.spent_date)] = factor
            continue
        entry = (record.agent, record.session_id, record.spent_date)
        billed[entry] = billed.get(entry, 0.0) + hours
    groups: dict[str, dict[str, Any]] = {}
    names: dict[str, str] = {}  # project id -> name, from the repos' own configs
    tried: set[tuple[str | None, str]] = set()

    def name_of(cwd: str | None, project_id: str) -> str | None:
        if project_id and project_id not in names and (cwd, project_id) not in tried:
            tried.add((cwd, project_id))  # one config read per repo, not per session
            name = _project_name(configs.get(cwd), project_id)
            if name:
                names[project_id] = name
        return names.get(project_id)

    wanted = project.casefold() if project else None
    listed = ledger.sessions(summary_days=True)
    for row, days in zip(listed, days_of(ledger, listed), strict=True):
        if agent and row.agent != agent:
            continue
        if wanted is not None:
            found = row.project_id or ""
            name = name_of(row.cwd, found) or ""
            if wanted not in (found.casefold(), name.casefold()):
                continue
        elif by == "project":
            name_of(row.cwd, row.project_id or "")  # for the table: once per session
        if days is None:
            continue
        rules = configs.billing(row.cwd)  # the session's, for each of its days
        rounding = rules.rounding if rules is not None and rules.rounding_step() else None
        for day in days:
            if (since and day.date < since) or (until and day.date > until):
                continue
            spent = day.date.isoformat()
            entry = (row.agent, row.session_id, spent)
            hours = billed.get(entry, day.active_seconds / 3600.0)
            if entry in shares:
                rounded = hours * shares[entry]
            else:
                rounded = rules.rounded_hours(hours) if rules else hours
            models = day.models
            day_total = sum(u.total for u in models.values()) or 1
            parts: list[tuple[str, float, dict[str, Any]]] = []
            if by == "model":
                for model, model_usage in models.items():
                    parts.append(
                        (model, hours * model_usage.total / day_total, model_usage.model_dump())
                    )
                if not models:
                    parts.append(("(no model)", hours, {}))
            else:
                key = {
                    "day": spent,
                    "agent": row.agent,
                    "project": row.project_id or f"({row.mapping_status})",
                }[by]
                usage_sum: dict[str, Any] = {k: getattr(day.totals, k) for k in TOKEN_FIELDS}
                usage_sum["cost_usd"] = day.cost_usd
                parts.append((key, hours, usage_sum))
            for key, share, usage in parts:
                group = groups.setdefault(
                    key,
                    {
                        by: key,
                        "sessions": set(),
                        "hours": 0.0,
                        "rounded_hours": 0.0,
                        **dict.fromkeys(TOKEN_FIELDS, 0),
                        "cost_usd": 0.0,
                        "cost_complete": True,
                    },
                )
                group["sessions"].add((row.agent, row.session_id))
                group["hours"] += share
                group["rounded_hours"] += rounded * (share / hours if hours else 1.0)
                if rounding is not None:
                    group["rounding"] = rounding
                for token in TOKEN_FIELDS:
                    group[token] += int(usage.get(token, 0))
                if usage.get("cost_usd") is None and any(usage.get(t) for t in TOKEN_FIELDS):
                    group["cost_complete"] = False
                else:
                    group["cost_usd"] += float(usage.get("cost_usd") or 0.0)
    rows = []
    for key in sorted(groups):
        group = groups[key]
        if by == "project":
            group["project_name"] = names.get(key)
        group["sessions"] = len(group["sessions"])
        group["hours"] = round(group["hours"], 4)
        group["rounded_hours"] = round(group["rounded_hours"], 2)
        group["cost_usd"] = round(group["cost_usd"], 6)
        rows.append(group)
    return rows


def _rounded(payload: dict[str, Any], hours: float, configs: RepoConfigs) -> float:
    rules = configs.billing(str((payload.get("metadata") or {}).get("cwd") or ""))
    return float(rules.rounded_hours(hours)) if rules else hours


def _project_name(found: object, project_id: str) -> str | None:
    """The name ``init`` wrote beside ``project_id`` in the session's repo config, if any
    (the ledger keeps ids only; a repo moved or deleted since leaves just the id)."""
    from keito_skill.mapping import RepoMapping

    if not isinstance(found, RepoMapping) or found.config.project_id != project_id:
        return None
    return found.config.project_name


def known_projects(
    ledger: Ledger, since: date | None, until: date | None, agent: str | None
) -> list[str]:
    """The projects that do have sessions in the range, as ``name (id)``: for a ``--project``
    that matched none, most likely a typo or another spelling."""
    rows = report_rows(ledger, by="project", since=since, until=until, agent=agent)
    return [
        f"{r['project_name']} ({r['project']})" if r.get("project_name") else r["project"]
        for r in rows
        if not r["project"].startswith("(")  # "(unmapped)": no project to name
    ]
