"""KeitoClient against the dev server subprocess over real HTTP: no mocked transport.

Faults (503 runs, 429 + Retry-After, latency, dropped connections) are injected in the
server, and the server's request log is the ground truth for "how many calls were made".
"""

from __future__ import annotations

import datetime as dt
import email.utils
import socket
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keito_skill.errors import KeitoSkillError
from keito_skill.keito import (
    KeitoApprovedError,
    KeitoAuthError,
    KeitoClient,
    KeitoConfigError,
    KeitoConflictError,
    KeitoForbiddenError,
    KeitoLockedError,
    KeitoNetworkError,
    KeitoNotFoundError,
    KeitoRateLimitedError,
    KeitoServerError,
    KeitoTimeoutError,
    KeitoValidationError,
    MetadataTooLargeError,
    TimeEntryCreate,
    TimeEntryUpdate,
    fit_metadata,
    metadata_size,
)
from keito_skill.keito._http import parse_retry_after
from tests.keito_server import KeitoServer

DAY = "2026-03-04"
ENTRIES = "/api/v2/time_entries"


def make_client(server: KeitoServer, **kw: Any) -> KeitoClient:
    opts: dict[str, Any] = {"timeout": 3.0, "max_retries": 3, "backoff_base": 0.01}
    opts.update(kw)
    return KeitoClient(server.url, server.api_key, server.account_id, **opts)


@pytest.fixture
def client(keito_server: KeitoServer) -> Iterator[KeitoClient]:
    with make_client(keito_server) as c:
        yield c


def entry_body(server: KeitoServer, session: str = "sess-1", **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "project_id": server.project_id,
        "task_id": server.task_id,
        "spent_date": DAY,
        "hours": 1.25,
        "notes": "refactor parser",
        "source": "agent",
        "metadata": {"session_id": session, "agent": "claude-code"},
    }
    body.update(kw)
    return body


def expense_body(
    server: KeitoServer, session: str = "sess-1", segment: str = "0"
) -> dict[str, Any]:
    return {
        "project_id": server.project_id,
        "expense_category_id": server.category_id,
        "spent_date": DAY,
        "total_cost": 0.42,
        "notes": "LLM usage",
        "metadata": {"session_id": session, "segment": segment, "model": "claude-sonnet"},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- resources ------------------------------------------------------------------------


def test_me_projects_and_tasks(client: KeitoClient, keito_server: KeitoServer) -> None:
    me = client.me()
    assert me.email == "demo@keito.invalid"
    assert me.company is not None and me.company.id == keito_server.account_id
    projects = client.list_projects()
    assert [p.id for p in projects] == [keito_server.project_id]
    assert projects[0].client is not None and projects[0].client.id == keito_server.client_id
    tasks = client.list_tasks(project_id=keito_server.project_id)
    assert [t.id for t in tasks] == [keito_server.task_id]
    assert client.list_tasks(project_id="prj_other") == []


def test_time_entry_crud_and_metadata_merge(client: KeitoClient, keito_server: KeitoServer) -> None:
    created = client.create_time_entry(TimeEntryCreate(**entry_body(keito_server)))
    assert created.hours == 1.25
    assert created.source == "agent"
    assert created.project is not None and created.project.name == "Demo Project"
    assert str(created.spent_date) == DAY

    updated = client.update_time_entry(
        created.id, {"hours": 2.5, "metadata": {"tokens": 1200, "agent": "codex"}}
    )
    assert updated.hours == 2.5
    # PATCH merges metadata: session_id survives, agent is overwritten, tokens is added.
    assert updated.metadata == {"session_id": "sess-1", "agent": "codex", "tokens": 1200}
    assert [e.hours for e in client.list_time_entries()] == [2.5]

    client.delete_time_entry(created.id)
    assert list(client.list_time_entries()) == []
    with pytest.raises(KeitoNotFoundError) as info:
        client.update_time_entry(created.id, {"hours": 1.0})
    assert info.value.status_code == 404
    assert info.value.error_description == "time entry not found"
    # Keito has no single-entry GET (405), so the client offers none and never sends one.
    assert not hasattr(client, "get_time_entry")
    assert all(
        not (r["method"] == "GET" and r["path"].startswith(f"{ENTRIES}/"))
        for r in keito_server.requests()
    )


def test_list_walks_every_page(client: KeitoClient, keito_server: KeitoServer) -> None:
    ids = {
        client.create_time_entry(entry_body(keito_server, f"s{i}", hours=0.5 + i)).id
        for i in range(7)
    }
    keito_server.clear_requests()

    seen = [e.id for e in client.list_time_entries(per_page=3)]

    assert len(seen) == 7 and set(seen) == ids  # every entry exactly once
    pages = [r["query"] for r in keito_server.requests() if r["path"] == ENTRIES]
    assert len(pages) == 3  # 3 + 3 + 1
    assert all("per_page=3" in q for q in pages)
    assert [q.split("page=")[-1] for q in pages] == ["1", "2", "3"]


def test_list_filters_map_to_api_params(client: KeitoClient, keito_server: KeitoServer) -> None:
    client.create_time_entry(entry_body(keito_server, "a"))
    client.create_time_entry(entry_body(keito_server, "b", spent_date="2026-03-05"))
    client.create_time_entry(entry_body(keito_server, "c", source="cli"))
    agent_on_day = list(client.list_time_entries(from_date=DAY, to_date=DAY, source="agent"))
    assert [e.metadata["session_id"] for e in agent_on_day if e.metadata] == ["a"]
    both = list(client.list_time_entries(source=["agent", "cli"], to_date=DAY))
    assert sorted(e.metadata["session_id"] for e in both if e.metadata) == ["a", "c"]


def test_expenses_create_and_list(client: KeitoClient, keito_server: KeitoServer) -> None:
    created = client.create_expense(expense_body(keito_server))
    assert created.total_cost == 0.42
    assert created.expense_category is not None
    assert created.expense_category.id == keito_server.category_id
    listed = list(client.list_expenses(from_date=DAY, to_date=DAY))
    assert [e.id for e in listed] == [created.id]


# -- typed errors ---------------------------------------------------------------------


def test_auth_error_never_shows_the_key(keito_server: KeitoServer) -> None:
    secret = "kto_wrong_secret_value"
    with KeitoClient(keito_server.url, secret, keito_server.account_id, max_retries=0) as bad:
        assert secret not in repr(bad)
        with pytest.raises(KeitoAuthError) as info:
            bad.me()
    err = info.value
    assert isinstance(err, KeitoSkillError) and err.exit_code == 2
    assert err.status_code == 401
    assert "revoked" in (err.error_description or "")
    assert secret not in str(err) and secret not in repr(err)


def test_forbidden_for_another_account(keito_server: KeitoServer) -> None:
    c = KeitoClient(keito_server.url, keito_server.api_key, "acct_someone_else")
    with c, pytest.raises(KeitoForbiddenError) as info:
        list(c.list_time_entries())
    assert info.value.status_code == 403


def test_conflict_when_a_timer_is_already_running(
    client: KeitoClient, keito_server: KeitoServer
) -> None:
    client.create_time_entry(entry_body(keito_server, "t1", is_running=True, hours=None))
    with pytest.raises(KeitoConflictError) as info:
        client.create_time_entry(entry_body(keito_server, "t2", is_running=True, hours=None))
    assert info.value.status_code == 409


def test_server_validation_error_carries_error_description(
    client: KeitoClient, keito_server: KeitoServer
) -> None:
    entry = client.create_time_entry(
        entry_body(keito_server, metadata={"session_id": "s", "a": "x" * 3000})
    )
    # Each PATCH fits 4 KB, but the merged result would not: only the server can tell.
    with pytest.raises(KeitoValidationError) as info:
        client.update_time_entry(entry.id, {"metadata": {"b": "y" * 3000}})
    assert info.value.status_code == 400
    assert "metadata must be at most 4096 bytes" in (info.value.error_description or "")


def test_local_validation_sends_nothing(client: KeitoClient, keito_server: KeitoServer) -> None:
    keito_server.clear_requests()
    with pytest.raises(KeitoValidationError, match="spent_date"):
        client.create_time_entry(entry_body(keito_server, spent_date="04/03/2026"))
    with pytest.raises(KeitoValidationError, match="source"):
        client.create_time_entry(entry_body(keito_server, source="robot"))
    with pytest.raises(KeitoValidationError, match="4096"):
        client.create_time_entry(entry_body(keito_server, metadata={"x": "y" * 5000}))
    with pytest.raises(KeitoValidationError, match="project_id"):
        client.update_time_entry("te_x", {"project_id": ""})
    with pytest.raises(KeitoValidationError, match="source"):
        client.update_time_entry("te_x", {"source": "web"})
    with pytest.raises(KeitoValidationError, match="total_cost or units"):
        client.create_expense({**expense_body(keito_server), "total_cost": None})
    assert keito_server.requests() == []
    assert "project_id" in TimeEntryUpdate.model_fields  # updatable, per the spec
    assert "source" not in TimeEntryUpdate.model_fields


def test_rate_limited_after_retry_budget(keito_server: KeitoServer) -> None:
    keito_server.add_fault(status=429, retry_after="0", count=None, method="GET")
    c = make_client(keito_server, max_retries=2)
    with c, pytest.raises(KeitoRateLimitedError) as info:
        c.me()
    assert info.value.retry_after == 0.0
    assert keito_server.count("GET") == 3  # first try + 2 retries


def test_server_error_after_retry_budget(keito_server: KeitoServer) -> None:
    keito_server.add_fault(status=500, count=None)
    with make_client(keito_server, max_retries=2) as c, pytest.raises(KeitoServerError) as info:
        c.list_projects()
    assert info.value.status_code == 500
    assert info.value.error == "injected_fault"
    assert keito_server.count("GET") == 3


def test_network_error_when_nothing_listens() -> None:
    c = KeitoClient(f"http://127.0.0.1:{free_port()}", "k", "a", max_retries=2, backoff_base=0.01)
    with c, pytest.raises(KeitoNetworkError) as info:
        c.create_time_entry({"project_id": "p", "task_id": "t", "spent_date": DAY, "hours": 1})
    # Refused means never sent: the POST was safely retried and is marked as such.
    assert info.value.maybe_sent is False
    assert info.value.status_code is None


# -- retries --------------------------------------------------------------------------


def test_get_retries_through_503s(client: KeitoClient, keito_server: KeitoServer) -> None:
    keito_server.add_fault(status=503, count=2, method="GET")
    assert client.me().id == "usr_demo"
    assert [r["status"] for r in keito_server.requests()] == [503, 503, 200]


def test_post_is_retried_on_503_and_creates_once(
    client: KeitoClient, keito_server: KeitoServer
) -> None:
    keito_server.add_fault(status=503, count=2, method="POST")
    client.create_time_entry(entry_body(keito_server))
    assert keito_server.count("POST", ENTRIES) == 3
    assert len(list(client.list_time_entries())) == 1


def test_post_is_not_retried_on_500(client: KeitoClient, keito_server: KeitoServer) -> None:
    keito_server.add_fault(status=500, count=1, method="POST")
    with pytest.raises(KeitoServerError):
        client.create_time_entry(entry_body(keito_server))
    assert keito_server.count("POST", ENTRIES) == 1


def test_hooks_see_every_attempt_and_answer_then_go_away(
    client: KeitoClient, keito_server: KeitoServer
) -> None:
    """Issue 18: sync paces its workers through this public hook, not the httpx internals."""
    keito_server.add_fault(status=429, retry_after="0", count=2, method="GET")
    seen: list[object] = []

    def on_response(status: int, headers: Mapping[str, str]) -> None:
        seen.append((status, headers.get("Retry-After")))

    with client.hooked(before_request=lambda: seen.append("send"), on_response=on_response):
        assert client.me().id == "usr_demo"
    # Every attempt, the transport's own retries included, as the server logged them.
    assert [r["status"] for r in keito_server.requests()] == [429, 429, 200]
    assert seen == ["send", (429, "0"), "send", (429, "0"), "send", (200, None)]
    client.me()  # outside the block: nothing is called any more
    assert len(seen) == 6


def test_a_blocking_before_request_holds_the_request_back(
    client: KeitoClient, keito_server: KeitoServer
) -> None:
    """What the pacer relies on: nothing reaches the server until the hook returns."""
    logged: list[int] = []
    with client.hooked(before_request=lambda: logged.append(len(keito_server.requests()))):
        client.me()
        client.list_projects()
    assert logged == [0, 1]  # the server had seen only the earlier calls each time


def test_retry_after_is_honoured(client: KeitoClient, keito_server: KeitoServer) -> None:
    keito_server.add_fault(status=429, retry_after="1", count=1)
    started = time.monotonic()
    client.create_time_entry(entry_body(keito_server))  # 429 is safe to retry, even a POST
    elapsed = time.monotonic() - started
    assert elapsed >= 0.95, "the client did not wait for Retry-After"
    assert elapsed < 3.0
    assert [r["status"] for r in keito_server.requests()] == [429, 200]


def test_dropped_get_is_retried(client: KeitoClient, keito_server: KeitoServer) -> None:
    keito_server.add_fault(drop="before", count=1, method="GET")
    assert client.list_projects()[0].id == keito_server.project_id
    assert [r["status"] for r in keito_server.requests()] == ["dropped", 200]


def test_get_timeout(keito_server: KeitoServer) -> None:
    keito_server.add_fault(latency=1.0, count=None, method="GET")
    started = time.monotonic()
    c = make_client(keito_server, timeout=0.3, max_retries=1)
    with c, pytest.raises(KeitoTimeoutError) as info:
        c.me()
    assert time.monotonic() - started < 1.5  # two 0.3 s attempts, not the 1 s latency
    assert isinstance(info.value, KeitoNetworkError)
    assert keito_server.count("GET") == 2


def test_post_timeout_is_not_retried_and_may_have_been_processed(
    keito_server: KeitoServer,
) -> None:
    keito_server.add_fault(latency=0.8, count=1, method="POST")
    with make_client(keito_server, timeout=0.3) as c:
        with pytest.raises(KeitoTimeoutError) as info:
            c.create_time_entry(entry_body(keito_server))
        assert info.value.maybe_sent is True
        assert keito_server.count("POST", ENTRIES) == 1
        # The server still finishes the write the client gave up on.
        deadline = time.monotonic() + 5
        while not list(c.list_time_entries()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(list(c.list_time_entries())) == 1
        assert keito_server.count("POST", ENTRIES) == 1


def test_dropped_post_raises_maybe_sent_and_upsert_recovers(
    client: KeitoClient, keito_server: KeitoServer
) -> None:
    keito_server.add_fault(drop="after", count=1, method="POST")
    with pytest.raises(KeitoNetworkError) as info:
        client.create_time_entry(entry_body(keito_server))
    assert info.value.maybe_sent is True
    assert keito_server.count("POST", ENTRIES) == 1  # not retried blindly
    # The write was committed before the connection died: the upsert finds it.
    entry, action = client.upsert_time_entry(entry_body(keito_server, hours=3.0))
    assert action == "updated"
    assert entry.hours == 3.0
    assert len(list(client.list_time_entries())) == 1


# -- idempotent upserts ---------------------------------------------------------------


def test_upsert_twice_makes_one_entry(client: KeitoClient, keito_server: KeitoServer) -> None:
    first, action1 = client.upsert_time_entry(entry_body(keito_server, hours=1.0))
    second, action2 = client.upsert_time_entry(
        entry_body(keito_server, hours=1.5, metadata={"session_id": "sess-1", "turns": 9})
    )
    assert (action1, action2) == ("created", "updated")
    assert second.id == first.id
    entries = list(client.list_time_entries())
    assert len(entries) == 1
    assert entries[0].hours == 1.5
    assert entries[0].metadata == {"session_id": "sess-1", "agent": "claude-code", "turns": 9}
    assert keito_server.count("POST", ENTRIES) == 1
    assert keito_server.count("PATCH") == 1


def test_upsert_keys_on_session_and_day(client: KeitoClient, keito_server: KeitoServer) -> None:
    client.upsert_time_entry(entry_body(keito_server, "s1"))
    client.upsert_time_entry(entry_body(keito_server, "s2"))
    client.upsert_time_entry(entry_body(keito_server, "s1", spent_date="2026-03-05"))
    client.upsert_time_entry(entry_body(keito_server, "s1"))
    assert len(list(client.list_time_entries())) == 3


def test_upsert_defaults_source_to_agent(client: KeitoClient, keito_server: KeitoServer) -> None:
    body = entry_body(keito_server)
    del body["source"]
    entry, _ = client.upsert_time_entry(body)
    assert entry.source == "agent"
    assert client.find_time_entry("sess-1", DAY) is not None


def test_upsert_with_known_id_skips_the_lookup(
    client: KeitoClient, keito_server: KeitoServer
) -> None:
    entry, _ = client.upsert_time_entry(entry_body(keito_server))
    keito_server.clear_requests()
    again, action = client.upsert_time_entry(entry_body(keito_server, hours=4.0), known_id=entry.id)
    assert (again.id, again.hours, action) == (entry.id, 4.0, "updated")
    assert [(r["method"], r["status"]) for r in keito_server.requests()] == [("PATCH", 200)]


def test_upsert_with_stale_known_id_falls_back(
    client: KeitoClient, keito_server: KeitoServer
) -> None:
    entry, _ = client.upsert_time_entry(entry_body(keito_server))
    client.delete_time_entry(entry.id)
    keito_server.clear_requests()
    fresh, action = client.upsert_time_entry(entry_body(keito_server), known_id=entry.id)
    assert action == "created" and fresh.id != entry.id
    assert [r["method"] for r in keito_server.requests()] == ["PATCH", "GET", "POST"]


def test_upsert_shrinks_oversized_metadata(client: KeitoClient, keito_server: KeitoServer) -> None:
    meta = {"session_id": "big", "summary": "é" * 6000, "files": ["f" * 300] * 20}
    entry, _ = client.upsert_time_entry(entry_body(keito_server, "big", metadata=meta))
    assert entry.metadata is not None
    assert entry.metadata["session_id"] == "big"
    assert metadata_size(entry.metadata) <= 4096


def test_upsert_requires_session_id(client: KeitoClient, keito_server: KeitoServer) -> None:
    with pytest.raises(KeitoValidationError, match="session_id"):
        client.upsert_time_entry(entry_body(keito_server, metadata={"agent": "x"}))


def test_expense_created_once(client: KeitoClient, keito_server: KeitoServer) -> None:
    first, a1 = client.create_expense_once(expense_body(keito_server, segment="0"))
    second, a2 = client.create_expense_once(expense_body(keito_server, segment="0"))
    other, a3 = client.create_expense_once(expense_body(keito_server, segment="1"))
    assert (a1, a2, a3) == ("created", "existing", "created")
    assert second.id == first.id and other.id != first.id
    assert len(list(client.list_expenses())) == 2
    assert first.source == "agent"
    assert client.find_expense("sess-1", "1", DAY) is not None
    assert client.find_expense("sess-1", "2") is None


# -- fit_metadata ---------------------------------------------------------------------

_json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=3000), st.floats(allow_nan=False)
)
_json = st.recursive(
    _json_leaf,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(
    meta=st.dictionaries(st.text(min_size=1, max_size=12), _json, max_size=12),
    session=st.text(min_size=1, max_size=64),
    limit=st.integers(min_value=300, max_value=4096),
)
def test_fit_metadata_always_fits_and_keeps_keys(
    meta: dict[str, Any], session: str, limit: int
) -> None:
    meta = {**meta, "session_id": session}
    if metadata_size({"session_id": session}) > limit:  # e.g. 64 escaped 4-byte characters
        with pytest.raises(MetadataTooLargeError):  # never sent cut or over the limit
            fit_metadata(meta, limit=limit, keep=["session_id"])
        return
    fitted = fit_metadata(meta, limit=limit, keep=["session_id"])
    assert metadata_size(fitted) <= limit
    assert fitted["session_id"] == session
    assert set(fitted) <= set(meta)
    if metadata_size(meta) <= limit:
        assert fitted == meta


def test_fit_metadata_shortens_before_dropping() -> None:
    meta = {"session_id": "s" * 40, "summary": "word " * 2000, "model": "claude", "turns": 12}
    fitted = fit_metadata(meta, keep=["session_id"])
    assert set(fitted) == set(meta)  # shortening the long text was enough
    assert fitted["summary"].endswith("...")
    assert 3700 < metadata_size(fitted) <= 3800  # the budget: a margin under 4 KB
    assert meta["summary"] == "word " * 2000  # the input is not modified


def test_fit_metadata_drops_largest_unkept_keys() -> None:
    meta = {"session_id": "x", "segment": "3"} | {f"k{i}": list(range(i * 40)) for i in range(8)}
    fitted = fit_metadata(meta, limit=1000, keep=["session_id", "segment"])
    assert fitted["session_id"] == "x" and fitted["segment"] == "3"
    assert metadata_size(fitted) <= 1000
    dropped = set(meta) - set(fitted)
    assert dropped and all(
        int(k[1:]) > int(kept[1:]) for k in dropped for kept in fitted if kept[0] == "k"
    )


def test_fit_metadata_refuses_to_drop_kept_keys() -> None:
    with pytest.raises(MetadataTooLargeError):
        fit_metadata({"session_id": "s" * 5000, "x": 1}, keep=["session_id"])


@pytest.mark.parametrize("hint", ["0", "-5"])
def test_a_zero_or_negative_retry_after_still_backs_off(
    keito_server: KeitoServer, hint: str
) -> None:
    """``Retry-After: 0`` (or nonsense like ``-5``) must not turn four retries into a
    hot loop: the normal backoff (0.5 s base by default) applies instead."""
    keito_server.add_fault(status=429, retry_after=hint, count=None, method="GET")
    waits: list[float] = []
    c = KeitoClient(keito_server.url, keito_server.api_key, keito_server.account_id)
    c._http._sleep = waits.append  # record the waits instead of sleeping them
    with c, pytest.raises(KeitoRateLimitedError):
        c.me()
    assert len(waits) == 4
    assert min(waits) >= 0.25 and waits == sorted(waits)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("app.keito.ai", "needs http:// or https://"),
        ("localhost:8765", "needs http:// or https://"),
        ("http://[::1", "is not a valid URL"),
        ("https://" + "a" * 5000 + ".test", "characters long"),
    ],
)
def test_a_broken_base_url_is_a_configuration_error_before_any_request(url: str, why: str) -> None:
    with pytest.raises(KeitoConfigError) as info:
        KeitoClient(url, "k", "a")
    assert why in str(info.value)
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


def test_pages_follow_total_pages_without_next_page(
    client: KeitoClient, keito_server: KeitoServer
) -> None:
    for i in range(5):
        client.create_time_entry(entry_body(keito_server, f"p{i}"))
    with keito_server.api() as raw:
        first = raw.get(ENTRIES, params={"per_page": 2}).json()
    assert "next_page" not in first and first["total_pages"] == 3
    keito_server.clear_requests()
    assert len(list(client.list_time_entries(per_page=2))) == 5
    pages = [parse_qs(r["query"]).get("page") for r in keito_server.requests()]
    assert pages == [["1"], ["2"], ["3"]]


def test_locked_and_approved_entries_raise_their_own_errors(
    client: KeitoClient, keito_server: KeitoServer
) -> None:
    locked = client.create_time_entry(entry_body(keito_server, "locked"))
    approved = client.create_time_entry(entry_body(keito_server, "approved"))
    keito_server.add_fault(method="PATCH", path=f"{ENTRIES}/{locked.id}", status=403)
    keito_server.add_fault(method="PATCH", path=f"{ENTRIES}/{approved.id}", status=409)
    with pytest.raises(KeitoLockedError) as is_locked:
        client.update_time_entry(locked.id, {"hours": 2.0})
    with pytest.raises(KeitoApprovedError) as is_approved:
        client.update_time_entry(approved.id, {"hours": 2.0})
    # Still the general classes, so existing handlers keep catching them.
    assert isinstance(is_locked.value, KeitoForbiddenError)
    assert isinstance(is_approved.value, KeitoConflictError)
    # A read-only key's 403 on the same PATCH is about the key, not the record.
    keito_server.seed(api_keys=[{"key": "kto_ro", "kind": "read_only"}])
    read_only = KeitoClient(keito_server.url, "kto_ro", keito_server.account_id)
    with read_only, pytest.raises(KeitoForbiddenError) as refused:
        read_only.update_time_entry(locked.id, {"hours": 2.0})
    assert not isinstance(refused.value, KeitoLockedError)
    # A 403/409 that is not about one record keeps the general class.
    keito_server.add_fault(method="POST", path=ENTRIES, status=409)
    with pytest.raises(KeitoConflictError) as other:
        client.create_time_entry(entry_body(keito_server, "x"))
    assert not isinstance(other.value, KeitoApprovedError)


def test_retry_after_accepts_http_dates() -> None:
    soon = email.utils.format_datetime(
        dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30), usegmt=True
    )
    assert 25 <= (parse_retry_after(soon) or 0) <= 30
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("soon") is None
