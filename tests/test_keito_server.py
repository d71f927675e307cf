"""The dev server's wire behaviour, checked with a bare httpx client (no keito code).

The client tests are only as good as this server's strictness, so its validation,
error bodies, pagination envelope, auth and fault injection are pinned down here.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.keito_server import KeitoServer

DAY = "2026-03-04"


@pytest.fixture
def api(keito_server: KeitoServer) -> Iterator[httpx.Client]:
    with keito_server.api() as client:
        yield client


def entry(server: KeitoServer, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "project_id": server.project_id,
        "task_id": server.task_id,
        "spent_date": DAY,
        "hours": 1.0,
        "source": "agent",
    }
    body.update(kw)
    return body


def assert_error(response: httpx.Response, status: int, description: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert description in body["error_description"]


def test_seeded_reference_data(api: httpx.Client, keito_server: KeitoServer) -> None:
    projects = api.get("/api/v2/projects").json()
    assert [p["id"] for p in projects["projects"]] == [keito_server.project_id]
    assert projects["projects"][0]["client"] == {
        "id": keito_server.client_id,
        "name": "Demo Client",
    }
    tasks = api.get("/api/v2/tasks").json()
    assert [t["id"] for t in tasks["tasks"]] == [keito_server.task_id]
    expense = api.post(
        "/api/v2/expenses",
        json={
            "project_id": keito_server.project_id,
            "expense_category_id": keito_server.category_id,
            "spent_date": DAY,
            "units": 3,
        },
    )
    assert expense.status_code == 200
    assert expense.json()["expense_category"] == {
        "id": keito_server.category_id,
        "name": "LLM usage",
    }
    # Opaque, CUID-like; never the documentation example.
    assert re.fullmatch(r"c[0-9a-z]{24}", keito_server.category_id)


@pytest.mark.parametrize(
    ("headers", "status", "description"),
    [
        ({}, 401, "Authorization"),
        ({"Authorization": "Bearer kto_test_0123456789abcdef"}, 401, "Keito-Account-Id"),
        ({"Authorization": "Basic abc", "Keito-Account-Id": "acct_test"}, 401, "Bearer"),
        ({"Authorization": "Bearer wrong", "Keito-Account-Id": "acct_test"}, 401, "invalid"),
        ({"Authorization": "Bearer kto_test_0123456789abcdef", "Keito-Account-Id": "x"}, 403, "x"),
    ],
)
def test_auth_headers(
    keito_server: KeitoServer, headers: dict[str, str], status: int, description: str
) -> None:
    response = httpx.get(f"{keito_server.url}/api/v2/users/me", headers=headers)
    assert_error(response, status, description)
    assert response.headers["x-keito-api-version"] == "2"


@pytest.mark.parametrize(
    ("change", "description"),
    [
        ({"project_id": None}, "project_id is required"),
        ({"task_id": ""}, "task_id is required"),
        ({"spent_date": None}, "spent_date is required"),
        ({"spent_date": "2026-3-4"}, "YYYY-MM-DD"),
        ({"spent_date": "2026-02-30"}, "not a valid date"),
        ({"spent_date": 20260304}, "YYYY-MM-DD"),
        ({"source": "robot"}, "source must be one of web, cli, api, agent"),
        ({"hours": 25}, "hours must be between 0 and 24"),
        ({"hours": "1.5"}, "hours must be a number"),
        ({"metadata": ["not", "an", "object"]}, "metadata must be a JSON object"),
        ({"metadata": {"x": "y" * 4090}}, "metadata must be at most 4096 bytes"),
        ({"started_time": "9am"}, "HH:mm"),
    ],
)
def test_create_validation(
    api: httpx.Client, keito_server: KeitoServer, change: dict[str, Any], description: str
) -> None:
    assert_error(
        api.post("/api/v2/time_entries", json=entry(keito_server, **change)), 400, description
    )
    assert api.get("/api/v2/time_entries").json()["total_entries"] == 0


def test_metadata_limit_is_exactly_4kb(api: httpx.Client, keito_server: KeitoServer) -> None:
    overhead = len(json.dumps({"x": ""}))  # measured as plain json.dumps writes it
    fits = {"x": "y" * (4096 - overhead)}
    assert api.post("/api/v2/time_entries", json=entry(keito_server, metadata=fits)).is_success
    too_big = {"x": "y" * (4097 - overhead)}
    response = api.post("/api/v2/time_entries", json=entry(keito_server, metadata=too_big))
    assert_error(response, 400, "4096")


def test_unknown_references_and_bad_bodies(api: httpx.Client, keito_server: KeitoServer) -> None:
    assert_error(
        api.post("/api/v2/time_entries", json=entry(keito_server, project_id="prj_x")),
        404,
        "project not found",
    )
    assert_error(
        api.post("/api/v2/time_entries", json=entry(keito_server, task_id="tsk_x")),
        404,
        "task not found",
    )
    assert_error(api.post("/api/v2/time_entries", content=b"{nope"), 400, "not valid JSON")
    assert_error(api.post("/api/v2/time_entries", json=[1]), 400, "JSON object")
    assert_error(api.get("/api/v2/nothing"), 404, "Not Found")
    assert_error(api.put("/api/v2/time_entries"), 405, "Method Not Allowed")


def test_patch_rules(api: httpx.Client, keito_server: KeitoServer) -> None:
    created = api.post(
        "/api/v2/time_entries", json=entry(keito_server, metadata={"session_id": "s", "a": 1})
    ).json()
    url = f"/api/v2/time_entries/{created['id']}"
    assert_error(api.patch(url, json={"source": "web"}), 400, "source cannot be changed")
    # project_id is updatable (the spec's TimeEntryUpdate has it), but only to a real project
    assert_error(api.patch(url, json={"project_id": "prj_x"}), 404, "project not found")
    # Repeating the current values is not a change.
    same = api.patch(url, json={"source": "agent", "project_id": keito_server.project_id})
    assert same.status_code == 200

    merged = api.patch(url, json={"metadata": {"a": 2, "b": 3}, "notes": "n"}).json()
    assert merged["metadata"] == {"session_id": "s", "a": 2, "b": 3}
    assert merged["notes"] == "n"
    assert merged["updated_at"] >= created["updated_at"]
    # A key sent as null is cleared; the others stay.
    dropped = api.patch(url, json={"metadata": {"b": None}}).json()
    assert dropped["metadata"] == {"session_id": "s", "a": 2}
    cleared = api.patch(url, json={"metadata": None}).json()
    assert cleared["metadata"] is None
    assert_error(api.patch("/api/v2/time_entries/te_missing", json={}), 404, "not found")
    # Like Keito: no single-entry GET.
    assert_error(api.get(url), 405, "Method Not Allowed")
    assert api.delete(url).status_code == 204
    assert_error(api.patch(url, json={}), 404, "time entry not found")


def test_pagination_envelope(api: httpx.Client, keito_server: KeitoServer) -> None:
    ids = [
        api.post("/api/v2/time_entries", json=entry(keito_server, hours=i / 4)).json()["id"]
        for i in range(5)
    ]
    first = api.get("/api/v2/time_entries", params={"per_page": 2}).json()
    assert (first["page"], first["per_page"], first["total_pages"], first["total_entries"]) == (
        1,
        2,
        3,
        5,
    )
    # Keito's envelope: page, per_page, total_pages, total_entries, links; no next_page.
    assert set(first) == {
        "time_entries",
        "page",
        "per_page",
        "total_pages",
        "total_entries",
        "links",
    }
    assert first["links"]["next"] == "/api/v2/time_entries?per_page=2&page=2"
    assert first["links"]["last"] == "/api/v2/time_entries?per_page=2&page=3"
    last = api.get("/api/v2/time_entries", params={"per_page": 2, "page": 3}).json()
    assert (last["links"]["next"], last["links"]["previous"]) == (
        None,
        "/api/v2/time_entries?per_page=2&page=2",
    )
    seen = [
        e["id"]
        for page in (1, 2, 3)
        for e in api.get("/api/v2/time_entries", params={"per_page": 2, "page": page}).json()[
            "time_entries"
        ]
    ]
    assert sorted(seen) == sorted(ids)
    assert_error(api.get("/api/v2/time_entries", params={"per_page": 2001}), 400, "per_page")
    assert_error(api.get("/api/v2/time_entries", params={"page": 0}), 400, "page")
    assert_error(api.get("/api/v2/time_entries", params={"from": "yesterday"}), 400, "from")
    assert_error(api.get("/api/v2/time_entries", params={"source": "agent,x"}), 400, "source")


def test_fault_admin_validation(keito_server: KeitoServer) -> None:
    admin = keito_server.admin
    assert_error(admin.post("/_admin/faults", json={"status": 200}), 400, "status")
    assert_error(admin.post("/_admin/faults", json={"drop": "sideways"}), 400, "drop")
    assert_error(admin.post("/_admin/faults", json={"colour": "red"}), 400, "unknown")
    fault_id = keito_server.add_fault(status=503, count=2, path="/api/v2/projects")
    assert [(f["id"], f["count"]) for f in keito_server.faults()] == [(fault_id, 2)]
    keito_server.clear_faults()
    assert keito_server.faults() == []


def test_faults_apply_in_order_and_are_logged(api: httpx.Client, keito_server: KeitoServer) -> None:
    keito_server.add_fault(status=429, retry_after="7", count=1, method="GET")
    keito_server.add_fault(status=503, count=1, path="/api/v2/projects")
    limited = api.get("/api/v2/projects")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    assert api.get("/api/v2/tasks").status_code == 200  # the 503 only matches /projects
    assert api.get("/api/v2/projects").status_code == 503
    assert api.get("/api/v2/projects").status_code == 200
    log = keito_server.requests()
    assert [(r["path"], r["status"]) for r in log] == [
        ("/api/v2/projects", 429),
        ("/api/v2/tasks", 200),
        ("/api/v2/projects", 503),
        ("/api/v2/projects", 200),
    ]
    assert [r["seq"] for r in log] == [1, 2, 3, 4]


def test_drop_before_and_after(api: httpx.Client, keito_server: KeitoServer) -> None:
    keito_server.add_fault(drop="before", method="POST")
    with pytest.raises(httpx.TransportError):
        api.post("/api/v2/time_entries", json=entry(keito_server))
    assert api.get("/api/v2/time_entries").json()["total_entries"] == 0

    keito_server.add_fault(drop="after", method="POST")
    with pytest.raises(httpx.TransportError):
        api.post("/api/v2/time_entries", json=entry(keito_server))
    assert api.get("/api/v2/time_entries").json()["total_entries"] == 1
    statuses = [r["status"] for r in keito_server.requests() if r["method"] == "POST"]
    assert statuses == ["dropped", "dropped"]


def test_reset_clears_data_faults_and_log(api: httpx.Client, keito_server: KeitoServer) -> None:
    api.post("/api/v2/time_entries", json=entry(keito_server))
    keito_server.add_fault(status=500, count=None, method="DELETE")
    keito_server.reset()
    assert keito_server.requests() == [] and keito_server.faults() == []
    assert api.get("/api/v2/time_entries").json()["total_entries"] == 0
    assert api.get("/api/v2/projects").json()["total_entries"] == 1


def test_open_server_accepts_any_key_and_keeps_data(tmp_path: Path) -> None:
    """Without --api-key/--account-id any non-empty pair works; --db survives restarts."""
    with KeitoServer.start(tmp_path, api_key=None, account_id=None) as server:
        headers = {"Authorization": "Bearer anything", "Keito-Account-Id": "any-account"}
        me = httpx.get(f"{server.url}/api/v2/users/me", headers=headers)
        assert me.status_code == 200 and me.json()["company"]["id"] == "any-account"
        created = httpx.post(
            f"{server.url}/api/v2/time_entries", headers=headers, json=entry(server)
        ).json()
        assert re.fullmatch(r"c[0-9a-z]{24}", created["id"])  # CUID-like, as on Keito
        empty = {"Authorization": "Bearer", "Keito-Account-Id": "any-account"}
        assert httpx.get(f"{server.url}/api/v2/users/me", headers=empty).status_code == 401
    with KeitoServer.start(tmp_path, api_key=None, account_id=None) as again:
        listed = httpx.get(f"{again.url}/api/v2/time_entries", headers=headers).json()
        assert [e["id"] for e in listed["time_entries"]] == [created["id"]]


# -- a faithful double: what real accounts do ----------------------------------------------


def _as(server: KeitoServer, key: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}", "Keito-Account-Id": server.account_id}
    return httpx.Client(base_url=server.url, timeout=10.0, headers=headers)


def test_projects_are_active_only_by_default_and_embed_their_tasks(
    api: httpx.Client, keito_server: KeitoServer
) -> None:
    ids = keito_server.seed(
        tasks=[{"name": "Design"}, {"name": "Old task", "is_active": False}],
        projects=[{"name": "Archived", "is_active": False}],
    )
    design, old = ids["tasks"]
    keito_server.seed(
        projects=[
            {
                "id": keito_server.project_id,
                "name": "Demo Project",
                "code": "DEMO",
                "tasks": [design, old],
            }
        ]
    )
    listed = api.get("/api/v2/projects").json()["projects"]
    assert [p["id"] for p in listed] == [keito_server.project_id]
    embedded = {t["id"]: t["is_active"] for t in listed[0]["tasks"]}
    assert embedded == {keito_server.task_id: True, design: True, old: False}
    archived = api.get("/api/v2/projects", params={"is_active": "false"}).json()["projects"]
    assert [p["name"] for p in archived] == ["Archived"]
    keito_server.configure(embed_tasks=False)
    assert "tasks" not in api.get("/api/v2/projects").json()["projects"][0]


def test_calendar_and_desktop_sources_are_time_entry_sources_only(
    api: httpx.Client, keito_server: KeitoServer
) -> None:
    for source in ("calendar", "desktop"):
        made = api.post("/api/v2/time_entries", json=entry(keito_server, source=source))
        assert made.status_code == 200 and made.json()["source"] == source
    expense = {
        "project_id": keito_server.project_id,
        "expense_category_id": keito_server.category_id,
        "spent_date": DAY,
        "total_cost": 1.0,
        "source": "calendar",
    }
    assert_error(api.post("/api/v2/expenses", json=expense), 400, "source must be one of")


def test_rate_limit_headers_and_an_enforced_limit(
    api: httpx.Client, keito_server: KeitoServer
) -> None:
    first = api.get("/api/v2/users/me")
    limit = int(first.headers["x-ratelimit-limit"])
    remaining = int(first.headers["x-ratelimit-remaining"])
    assert remaining == limit - 1 and int(first.headers["x-ratelimit-reset"]) >= 1
    assert int(api.get("/api/v2/users/me").headers["x-ratelimit-remaining"]) == remaining - 1
    keito_server.configure(rate_limit=3)
    statuses = [api.get("/api/v2/users/me").status_code for _ in range(3)]
    assert statuses[-1] == 429  # the 4th and later requests of this minute
    limited = api.get("/api/v2/users/me")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_read_only_keys_read_entries_but_write_nothing_and_see_no_tasks(
    api: httpx.Client, keito_server: KeitoServer
) -> None:
    made = api.post("/api/v2/time_entries", json=entry(keito_server)).json()
    keito_server.seed(api_keys=[{"key": "kto_sync_personal", "kind": "read_only"}])
    with _as(keito_server, "kto_sync_personal") as ro:
        assert ro.get("/api/v2/users/me").status_code == 200
        assert ro.get("/api/v2/time_entries").json()["total_entries"] == 1
        assert ro.get("/api/v2/projects").status_code == 200
        assert_error(ro.get("/api/v2/tasks"), 403, "read-only")
        assert_error(ro.post("/api/v2/time_entries", json=entry(keito_server)), 403, "read-only")
        assert_error(
            ro.patch(f"/api/v2/time_entries/{made['id']}", json={"hours": 2}), 403, "read-only"
        )
        assert_error(ro.delete(f"/api/v2/time_entries/{made['id']}"), 403, "read-only")
    assert api.get("/api/v2/time_entries").json()["time_entries"][0]["hours"] == 1.0


def test_member_keys_see_only_their_projects_and_no_clients(
    api: httpx.Client, keito_server: KeitoServer
) -> None:
    other = keito_server.seed(projects=[{"name": "Not theirs"}])["projects"][0]
    keito_server.seed(
        api_keys=[{"key": "kto_member", "kind": "member", "projects": [keito_server.project_id]}]
    )
    assert api.get("/api/v2/clients").status_code == 200
    with _as(keito_server, "kto_member") as member:
        assert_error(member.get("/api/v2/clients"), 403, "member")
        listed = member.get("/api/v2/projects").json()["projects"]
        assert [p["id"] for p in listed] == [keito_server.project_id]
        assert member.post("/api/v2/time_entries", json=entry(keito_server)).status_code == 200
        refused = member.post("/api/v2/time_entries", json=entry(keito_server, project_id=other))
        assert_error(refused, 404, "project not found")


def test_expense_categories_are_opaque_and_listed_only_when_offered(
    api: httpx.Client, keito_server: KeitoServer
) -> None:
    assert_error(api.get("/api/v2/expense_categories"), 404, "not found")
    keito_server.configure(expense_categories_endpoint=True)
    listed = api.get("/api/v2/expense_categories").json()["expense_categories"]
    assert [c["id"] for c in listed] == [keito_server.category_id]
    assert "cat_llm_usage" not in json.dumps(listed)
    unknown = {
        "project_id": keito_server.project_id,
        "expense_category_id": "cat_llm_usage",
        "spent_date": DAY,
        "total_cost": 1.0,
    }
    assert_error(api.post("/api/v2/expenses", json=unknown), 404, "expense category not found")


# -- keito-skill dev-server -----------------------------------------------------------


def _dev_server(tmp_path: Path, *args: str, code: str | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "KEITO_SKILL_HOME": str(tmp_path / "skill-home"), "PYTHONUNBUFFERED": "1"}
    cmd = (
        [sys.executable, "-c", code, *args]
        if code
        else [sys.executable, "-m", "keito_skill", "dev-server", *args]
    )
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path
    )


def test_dev_server_keeps_its_data_under_keito_skill_home_and_says_where(tmp_path: Path) -> None:
    proc = _dev_server(tmp_path, "--port", "0")
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Keito dev server listening on "):
                break
        db = tmp_path / "skill-home" / "dev-server.sqlite3"
        assert any(f"data: {db}" in line for line in lines), lines
        assert db.is_file()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_dev_server_port_in_use_or_unusable_db_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        busy = _dev_server(tmp_path, "--port", port)
        out, err = busy.communicate(timeout=30)
    assert busy.returncode == 2, out + err
    assert err.strip().count("\n") == 0
    assert err.startswith(f"keito-skill: error: cannot listen on 127.0.0.1:{port}")
    assert "--port" in err
    (tmp_path / "a-directory").mkdir()
    bad_db = _dev_server(tmp_path, "--port", "0", "--db", str(tmp_path / "a-directory"))
    out, err = bad_db.communicate(timeout=30)
    assert bad_db.returncode == 2, out + err
    assert err.strip().count("\n") == 0
    assert err.startswith(f"keito-skill: error: cannot use {tmp_path / 'a-directory'}")


def test_dev_server_without_the_extra_says_how_to_install_it(tmp_path: Path) -> None:
    hide = (
        "import sys; sys.modules['starlette'] = None; sys.argv = ['keito-skill', 'dev-server'];"
        " from keito_skill._entry import main; main()"
    )
    proc = _dev_server(tmp_path, code=hide)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, out + err
    assert err.strip() == (
        "keito-skill: error: the dev server needs starlette and uvicorn:"
        " pip install 'keito-skill[dev-server]'"
    )
