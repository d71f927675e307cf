"""Metadata must fit however the server measures it (issue 17, item 6).

Metadata was fitted to exactly 4,096 bytes of compact UTF-8 JSON; a server that measures
with plain ``json.dumps`` (``ensure_ascii``, ``", "``/``": "`` separators) saw 4,143, 4,356
and 8,311 bytes for the shapes below and rejected the record. We now fit to 3,800 bytes of
``json.dumps(meta)`` with its defaults, and the dev server measures that strict way too.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from keito_skill.keito import KeitoClient, fit_metadata
from keito_skill.keito._metadata import METADATA_BUDGET
from tests.keito_server import KeitoServer
from tests.sessions_kit import keito_client


def _strict(meta: dict[str, Any]) -> int:
    return len(json.dumps(meta).encode())


def _base() -> dict[str, Any]:
    return {"session_id": "5f1c8a9e-0000-4000-8000-000000000001", "agent_type": "claude-code"}


SHAPES = {
    "long cwd": {
        **_base(),
        "cwd": "/home/dev/" + "deep/" * 700,
        "git_branch": "feature/" + "x" * 200,
        "models": ["claude-opus-5-5", "claude-haiku-4-5"],
        **{key: 123456 for key in ("input_tokens", "output_tokens", "cache_read_input_tokens")},
    },
    "300 keys": {**_base(), **{f"k{i:03}": i for i in range(300)}},
    "non-ASCII": {**_base(), "notes": "é" * 1500, "branch": "机器学习" * 200, "emoji": "🎉" * 300},
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_fitted_metadata_leaves_a_margin_under_plain_json_dumps(shape: str) -> None:
    meta = SHAPES[shape]
    fitted = fit_metadata(meta, keep=["session_id"])
    assert METADATA_BUDGET == 3800
    assert _strict(fitted) <= 3800
    assert fitted["session_id"] == meta["session_id"]


def test_the_dev_server_measures_metadata_with_plain_json_dumps(
    keito_server: KeitoServer,
) -> None:
    """4,000 bytes compact and UTF-8, over 4,096 once escaped: the strict server says no."""
    meta = {"session_id": "s", "notes": "é" * 1990}
    compact = len(json.dumps(meta, separators=(",", ":"), ensure_ascii=False).encode())
    assert compact <= 4096 < _strict(meta)
    body = {
        "project_id": keito_server.project_id,
        "task_id": keito_server.task_id,
        "spent_date": "2026-11-21",
        "hours": 1.0,
        "source": "agent",
        "metadata": meta,
    }
    with keito_server.api() as api:
        refused = api.post("/api/v2/time_entries", json=body)
        assert refused.status_code == 400, refused.text
        assert "4096" in refused.json()["error_description"]
        fine = api.post("/api/v2/time_entries", json={**body, "metadata": {"notes": "é" * 600}})
        assert fine.status_code == 200, fine.text


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_shape_is_accepted_by_the_strict_server(
    shape: str, keito_server: KeitoServer
) -> None:
    body = {
        "project_id": keito_server.project_id,
        "task_id": keito_server.task_id,
        "spent_date": "2026-11-21",
        "hours": 1.0,
        "metadata": SHAPES[shape],
    }
    client: KeitoClient
    with keito_client(keito_server) as client:
        entry, action = client.upsert_time_entry(body)
        assert action == "created"
        expense = {
            "project_id": keito_server.project_id,
            "expense_category_id": keito_server.category_id,
            "spent_date": "2026-11-21",
            "units": 1,
            "metadata": {**SHAPES[shape], "segment": "2026-11-21/m/0-10"},
        }
        created, result = client.create_expense_once(expense)
        assert result == "created"
    assert entry.metadata is not None and _strict(entry.metadata) <= 3800
    assert created.metadata is not None and _strict(created.metadata) <= 3800
