"""Entries Keito will no longer change (approved, locked, billed), and errors that need
their fix said.

A PATCH refused with 409 (approved) or 403 on a locked entry is not an outage and not a
bad record: the entry is final. The record is then marked ``final`` and its payload set
to what Keito holds (found with one listing of that day: there is no single-entry GET),
so the next materialise bills whatever was recorded after it as a continuation entry.
A 403 on an entry that is not locked is about the key, and stops the pass as before.
"""

from __future__ import annotations

from typing import Any, Literal

from keito_skill.keito import (
    KeitoClient,
    KeitoConflictError,
    KeitoError,
    TimeEntry,
)
from keito_skill.keito._client import entry_key
from keito_skill.ledger import RecordRow


class FinalNeeded(Exception):
    """A change of a time entry was refused with 403 or 409."""

    def __init__(self, error: KeitoError, entry_id: str | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.entry_id = entry_id


def _held_entry(client: KeitoClient, record: RecordRow, entry_id: str | None) -> TimeEntry | None:
    body = record.payload
    key = entry_key(body.get("metadata"))
    for entry in client.list_time_entries(
        from_date=record.spent_date,
        to_date=record.spent_date,
        source=str(body.get("source") or "agent"),
        user_id=client.user_id,
    ):
        if entry.id == entry_id or (entry_id is None and entry_key(entry.metadata) == key):
            return entry
    return None


def _is_final(entry: TimeEntry, error: KeitoError) -> bool:
    closed = bool((entry.model_extra or {}).get("is_closed"))
    return isinstance(error, KeitoConflictError) or entry.is_locked or entry.is_billed or closed


def make_final(
    client: KeitoClient, ledger: Any, record: RecordRow, final: FinalNeeded
) -> Literal["final", "abort"] | str:
    """``final`` (marked), ``abort`` (a 403 about the key), ``refused`` (a 403 about what
    this record asks for: see :func:`explain`), or why it waits for next time."""
    error = final.error
    if _billable_refused(error, record):
        return "refused"
    try:
        entry = _held_entry(client, record, final.entry_id or record.remote_id)
    except KeitoError as exc:
        return f"{error}; could not read the entry to mark it final ({exc})"
    if entry is None or not _is_final(entry, error):
        if isinstance(error, KeitoConflictError):
            return f"{error} (the entry was not found to mark it final; tried again next sync)"
        return "abort"
    why = "approved" if isinstance(error, KeitoConflictError) else "locked"
    held = {**record.payload, "hours": entry.hours, "metadata": dict(entry.metadata or {})}
    ledger.make_final(
        record.id,
        remote_id=entry.id,
        payload=held,
        reason=f"{why} in Keito: final; work recorded after it goes out as a continuation",
    )
    return "final"


def _billable_refused(error: KeitoError, record: RecordRow) -> bool:
    """A 403 because the key may not set ``billable`` (billability follows the task on
    that account): the record's config is at fault, not the key."""
    return (
        not isinstance(error, KeitoConflictError)
        and "billable" in record.payload
        and "billab" in str(error).lower()
    )


def explain(error: KeitoError, record: RecordRow) -> str:
    """The reason stored for a rejected record, with the fix when we know it."""
    text = str(error)
    if _billable_refused(error, record):
        return (
            f"{text} — this Keito key may not set billable (it follows the task): remove"
            " billing.billable from the repo's .keito/config.yml; the entry is then sent"
        )
    category = record.payload.get("expense_category_id")
    if record.kind == "expense" and "categor" in text.lower():
        return (
            f"{text} — Keito does not accept expense category {category!r}: set"
            " expense_category_id in the repo's .keito/config.yml to a category id from"
            " Keito's web app, then run 'keito-skill sync --retry-failed'"
        )
    return text
