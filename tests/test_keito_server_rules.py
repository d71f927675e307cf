"""The dev server's account rules: final entries, rounding, billability, several accounts."""

from __future__ import annotations

from typing import Any

import httpx

from tests.keito_server import KeitoServer

DAY = "2026-03-04"


def _entry(server: KeitoServer, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "project_id": server.project_id,
        "task_id": server.task_id,
        "spent_date": DAY,
        "hours": 1.0,
        "source": "agent",
    }
    body.update(kw)
    return body


def test_locked_entries_answer_403_and_approved_ones_409(keito_server: KeitoServer) -> None:
    with keito_server.api() as api:
        locked = api.post("/api/v2/time_entries", json=_entry(keito_server)).json()
        approved = api.post("/api/v2/time_entries", json=_entry(keito_server)).json()
        keito_server.lock(locked["id"])
        keito_server.approve(approved["id"])
        assert (
            api.patch(f"/api/v2/time_entries/{locked['id']}", json={"hours": 2}).status_code == 403
        )
        answer = api.patch(f"/api/v2/time_entries/{approved['id']}", json={"hours": 2})
        assert answer.status_code == 409 and "approved" in answer.json()["error_description"]
        assert api.delete(f"/api/v2/time_entries/{approved['id']}").status_code == 409
        listed = api.get("/api/v2/time_entries").json()["time_entries"]
        assert {e["id"]: e["hours"] for e in listed} == {locked["id"]: 1.0, approved["id"]: 1.0}


def test_project_id_can_be_changed_by_patch(keito_server: KeitoServer) -> None:
    keito_server.add_project("prj_other", "tsk_other")
    with keito_server.api() as api:
        created = api.post("/api/v2/time_entries", json=_entry(keito_server)).json()
        moved = api.patch(
            f"/api/v2/time_entries/{created['id']}",
            json={"project_id": "prj_other", "task_id": "tsk_other"},
        )
        assert moved.status_code == 200, moved.text
        assert (moved.json()["project_id"], moved.json()["task_id"]) == ("prj_other", "tsk_other")
        gone = api.patch(f"/api/v2/time_entries/{created['id']}", json={"project_id": "prj_nope"})
        assert gone.status_code == 404


def test_account_rounding_and_billability(keito_server: KeitoServer) -> None:
    keito_server.settings(rounding="up_15", can_edit_time_billability=False)
    with keito_server.api() as api:
        short = api.post("/api/v2/time_entries", json=_entry(keito_server, hours=0.08)).json()
        assert short["hours"] == 0.25
        refused = api.post("/api/v2/time_entries", json=_entry(keito_server, billable=True))
        assert refused.status_code == 403 and "billable" in refused.json()["error_description"]
    keito_server.reset()
    with keito_server.api() as api:
        plain = api.post("/api/v2/time_entries", json=_entry(keito_server, hours=0.08)).json()
        assert plain["hours"] == 0.08


def test_each_account_sees_only_its_own_records(keito_server: KeitoServer) -> None:
    other = "acct_other"
    headers = {"Authorization": f"Bearer {keito_server.api_key}", "Keito-Account-Id": other}
    with httpx.Client(base_url=keito_server.url, headers=headers) as second:
        assert second.get("/api/v2/time_entries").status_code == 403  # not served yet
        keito_server.settings(accounts=[other])
        created = second.post("/api/v2/time_entries", json=_entry(keito_server)).json()
        assert [e["id"] for e in second.get("/api/v2/time_entries").json()["time_entries"]] == [
            created["id"]
        ]
    with keito_server.api() as first:
        assert first.get("/api/v2/time_entries").json()["time_entries"] == []
        assert first.patch(f"/api/v2/time_entries/{created['id']}", json={}).status_code == 404
