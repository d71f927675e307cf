"""Wire compatibility: the official ``keito`` SDK (PyPI 0.2.0) drives our dev server.

Nobody here wrote that SDK, so if its frozen pydantic models accept every answer and
its error mapping reads our error bodies, the server speaks Keito's wire format, and
the client tests run against it mean something.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

keito = pytest.importorskip("keito", reason="the official keito SDK is a dev dependency")

from keito import AgentMetadata, Keito  # noqa: E402
from keito.core.api_error import (  # noqa: E402
    KeitoAuthError,
    KeitoNotFoundError,
    KeitoValidationError,
)
from keito.types import Expense, Source, TimeEntry, User  # noqa: E402

from tests.keito_server import KeitoServer  # noqa: E402

DAY = "2026-03-04"


@pytest.fixture
def sdk(keito_server: KeitoServer) -> Iterator[Keito]:
    with Keito(
        api_key=keito_server.api_key,
        account_id=keito_server.account_id,
        base_url=keito_server.url,
        timeout=5.0,
        max_retries=0,
    ) as client:
        yield client


def test_users_me(sdk: Keito, keito_server: KeitoServer) -> None:
    me = sdk.users.me()
    assert isinstance(me, User)
    assert me.email == "demo@keito.invalid"
    assert me.company is not None and me.company.id == keito_server.account_id
    assert isinstance(me.created_at, dt.datetime)


def test_time_entry_lifecycle(sdk: Keito, keito_server: KeitoServer) -> None:
    meta = AgentMetadata.build(agent_id="claude-code", model_name="claude-sonnet", tokens_in=10)
    created = sdk.time_entries.create(
        project_id=keito_server.project_id,
        task_id=keito_server.task_id,
        spent_date=DAY,
        hours=1.5,
        notes="sdk compat",
        source=Source.AGENT,
        metadata={**meta, "session_id": "sdk-1"},
    )
    assert isinstance(created, TimeEntry)
    assert created.source is Source.AGENT
    assert created.spent_date == dt.date(2026, 3, 4)
    assert created.user.id == created.user_id
    assert created.project.id == keito_server.project_id
    assert created.task.name == "Software Development"
    assert created.metadata is not None and created.metadata["session_id"] == "sdk-1"

    listed = list(
        sdk.time_entries.list(
            from_date=DAY, to_date=DAY, source=Source.AGENT, project_id=keito_server.project_id
        )
    )
    assert [e.id for e in listed] == [created.id]
    assert list(sdk.time_entries.list(source=Source.WEB)) == []
    assert list(sdk.time_entries.list(from_date="2026-03-05")) == []

    updated = sdk.time_entries.update(created.id, hours=2.0, metadata={"reviewed": True})
    assert updated.hours == 2.0
    assert updated.metadata is not None
    assert updated.metadata["reviewed"] is True and updated.metadata["session_id"] == "sdk-1"
    assert updated.updated_at >= created.updated_at

    sdk.time_entries.delete(created.id)
    assert list(sdk.time_entries.list()) == []
    with pytest.raises(KeitoNotFoundError):
        sdk.time_entries.delete(created.id)


def test_sdk_pagination_walks_all_pages(sdk: Keito, keito_server: KeitoServer) -> None:
    for i in range(5):
        sdk.time_entries.create(
            project_id=keito_server.project_id,
            task_id=keito_server.task_id,
            spent_date=DAY,
            hours=0.25 * (i + 1),
            source=Source.AGENT,
        )
    pages = sdk.time_entries.list(per_page=2)
    ids = [e.id for e in pages]
    assert len(ids) == 5 and len(set(ids)) == 5
    assert pages.total_entries == 5 and pages.total_pages == 3


def test_expense_create_and_list(sdk: Keito, keito_server: KeitoServer) -> None:
    created = sdk.expenses.create(
        project_id=keito_server.project_id,
        expense_category_id=keito_server.category_id,
        spent_date=DAY,
        total_cost=1.23,
        notes="LLM usage",
        source=Source.AGENT,
        metadata={"session_id": "sdk-1", "segment": "0"},
    )
    assert isinstance(created, Expense)
    assert created.expense_category.id == keito_server.category_id
    assert created.total_cost == 1.23
    listed = list(sdk.expenses.list(from_date=DAY, to_date=DAY, source=Source.AGENT))
    assert [e.id for e in listed] == [created.id]


def test_projects_and_tasks(sdk: Keito, keito_server: KeitoServer) -> None:
    assert [p.id for p in sdk.projects.list()] == [keito_server.project_id]
    assert [t.id for t in sdk.tasks.list(is_active=True)] == [keito_server.task_id]


def test_sdk_reads_our_error_bodies(sdk: Keito, keito_server: KeitoServer) -> None:
    with pytest.raises(KeitoValidationError) as info:
        sdk.time_entries.create(
            project_id=keito_server.project_id,
            task_id=keito_server.task_id,
            spent_date="2026-13-01",
        )
    assert info.value.body is not None
    assert info.value.body["error_description"] == "spent_date is not a valid date"
    with (
        Keito(api_key="nope", account_id=keito_server.account_id, base_url=keito_server.url) as bad,
        pytest.raises(KeitoAuthError),
    ):
        bad.users.me()
