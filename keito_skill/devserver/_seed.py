"""``POST /_admin/seed``: the reference data and keys a test needs, beyond the demo ones.

A real account has archived projects, tasks shared by several projects, categories with
opaque ids and keys of several kinds; ``doctor`` and ``init`` must be tested against
all of them. The body (every list optional)::

    {"clients": [{"id", "name"}],
     "tasks": [{"id", "name", "is_active", "billable_by_default"}],
     "projects": [{"id", "name", "code", "client_id", "is_active", "tasks": [task ids]}],
     "expense_categories": [{"id", "name", "is_active", "unit_price"}],
     "api_keys": [{"key", "kind": "full|member|read_only", "projects": [ids]}]}

Ids left out are made up (CUID-like) and returned, in order, per list.
"""

from __future__ import annotations

import json
from typing import Any

from keito_skill.devserver._access import KINDS
from keito_skill.devserver._store import DEMO_CLIENT_ID, Store, new_id, now_iso


def _items(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    items = body.get(name, [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValueError(f"{name} must be a list of objects")
    return items


def _flag(item: dict[str, Any], name: str, default: bool = True) -> int:
    value = item.get(name, default)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be a boolean")
    return int(value)


def apply_seed(store: Store, body: Any) -> dict[str, list[str]]:
    """Insert (or replace) what ``body`` lists; ``ValueError`` names a bad field."""
    if not isinstance(body, dict):
        raise ValueError("seed body must be a JSON object")
    unknown = set(body) - {"clients", "tasks", "projects", "expense_categories", "api_keys"}
    if unknown:
        raise ValueError(f"unknown seed lists: {sorted(unknown)}")
    ts = now_iso()
    made: dict[str, list[str]] = {}
    with store.tx() as db:
        for item in _items(body, "clients"):
            cid = str(item.get("id") or new_id())
            db.execute(
                "INSERT OR REPLACE INTO clients (id, name, created_at, updated_at)"
                " VALUES (?, ?, ?, ?)",
                (cid, str(item.get("name") or "Client"), ts, ts),
            )
            made.setdefault("clients", []).append(cid)
        for item in _items(body, "tasks"):
            tid = str(item.get("id") or new_id())
            db.execute(
                "INSERT OR REPLACE INTO tasks (id, name, billable_by_default, is_active,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    tid,
                    str(item.get("name") or "Task"),
                    _flag(item, "billable_by_default"),
                    _flag(item, "is_active"),
                    ts,
                    ts,
                ),
            )
            made.setdefault("tasks", []).append(tid)
        for item in _items(body, "projects"):
            pid = str(item.get("id") or new_id())
            db.execute(
                "INSERT OR REPLACE INTO projects (id, client_id, name, code, is_active,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    pid,
                    str(item.get("client_id") or DEMO_CLIENT_ID),
                    str(item.get("name") or "Project"),
                    item.get("code"),
                    _flag(item, "is_active"),
                    ts,
                    ts,
                ),
            )
            for task_id in item.get("tasks", []):
                db.execute("INSERT OR IGNORE INTO project_tasks VALUES (?, ?)", (pid, str(task_id)))
            made.setdefault("projects", []).append(pid)
        for item in _items(body, "expense_categories"):
            cat = str(item.get("id") or new_id())
            db.execute(
                "INSERT OR REPLACE INTO expense_categories (id, name, unit_price, is_active,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    cat,
                    str(item.get("name") or "Category"),
                    item.get("unit_price"),
                    _flag(item, "is_active"),
                    ts,
                    ts,
                ),
            )
            made.setdefault("expense_categories", []).append(cat)
        for item in _items(body, "api_keys"):
            key, kind = item.get("key"), item.get("kind", "full")
            if not isinstance(key, str) or not key or kind not in KINDS:
                raise ValueError(f"api_keys need a key and a kind in {KINDS}")
            projects = item.get("projects")
            db.execute(
                "INSERT OR REPLACE INTO api_keys (key, kind, project_ids) VALUES (?, ?, ?)",
                (key, kind, None if projects is None else json.dumps([str(p) for p in projects])),
            )
            made.setdefault("api_keys", []).append(key)
    return made
