"""Picking a Keito project, task or expense category by id or name (``init``, ``backfill``).

Names are matched case-insensitively against what the API returns, because people type
"acme website", not ``prj_8f2...``. An ambiguous or unknown name is an error that lists the
candidates, never a guess: a wrong guess bills the wrong client. Only active projects and
tasks can be picked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from keito_skill.errors import KeitoSkillError
from keito_skill.keito import ExpenseCategory, KeitoClient, Project, Task

Item = TypeVar("Item", Project, Task, ExpenseCategory)
_LIST_LIMIT = 15


class InitError(KeitoSkillError):
    """The mapping cannot be made as asked (unknown or ambiguous name, nothing to pick)."""


def label(item: Project | Task | ExpenseCategory) -> str:
    extra = ""
    if isinstance(item, Project):
        parts = [p for p in (item.code, item.client.name if item.client else None) if p]
        extra = f" — {', '.join(parts)}" if parts else ""
    return f"{item.name} ({item.id}){extra}"


def _listing(items: Sequence[Project | Task | ExpenseCategory]) -> str:
    shown = ", ".join(label(i) for i in items[:_LIST_LIMIT])
    more = len(items) - _LIST_LIMIT
    return shown + (f", and {more} more" if more > 0 else "")


def pick(kind: str, items: Sequence[Item], query: str) -> Item:
    """The one item ``query`` names: an exact id, else a case-insensitive name (or project
    code). Raises :class:`InitError` listing the candidates when none or several match."""
    wanted = query.strip()
    by_id = [i for i in items if i.id == wanted]
    if by_id:
        return by_id[0]
    folded = wanted.casefold()
    matches = [i for i in items if i.name.strip().casefold() == folded]
    if not matches and kind == "project":
        matches = [
            i
            for i in items
            if isinstance(i, Project) and i.code and i.code.strip().casefold() == folded
        ]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise InitError(
            f"{kind} {query!r} is ambiguous: {_listing(matches)}; pass the id with --{kind}"
        )
    if not items:
        raise InitError(f"no {kind}s are visible to this Keito API key")
    raise InitError(f"no {kind} named {query!r}; available: {_listing(items)}")


def active_projects(client: KeitoClient) -> list[Project]:
    return [p for p in client.list_projects() if p.is_active]


def active_tasks(client: KeitoClient, project: Project) -> list[Task]:
    """The project's active tasks: embedded in the project when the account gives them
    (real accounts do), else from ``/tasks?project_id=``."""
    return [t for t in client.project_tasks(project) if t.is_active]
