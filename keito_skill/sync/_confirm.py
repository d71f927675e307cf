"""Never twice: a write that may have been sent waits, and duplicates are cleaned up.

A POST whose answer we never got (a timeout, a dropped connection) may still commit later:
a server can finish a write long after the client stopped waiting. A look-up made before
that commit finds nothing, and sending again then bills twice. So a record that may have
been sent (``sending``) is left alone until :func:`write_grace` seconds have passed since
its request left, longer than any write can take; only a look-up made after that decides
it is absent. Expenses cannot be deleted, so this is the only safeguard they have.

Time entries have a second one: every look-up that finds two or more of our entries for
one session-day keeps one (a final one if any: it cannot be deleted anyway; else the
first created) and deletes the others, leaving those Keito refuses to delete (approved or
locked: 403/409) and saying so in ``status``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from keito_skill.keito import (
    KeitoClient,
    KeitoConflictError,
    KeitoForbiddenError,
    KeitoNotFoundError,
    TimeEntry,
)
from keito_skill.keito._client import entry_key
from keito_skill.ledger import SENDING, RecordRow

GRACE_ENV = "KEITO_SKILL_WRITE_GRACE"
# Seconds. Longer than any write takes: our client gives up after 10 s, but proxies and
# serverless platforms let a request run for minutes.
DEFAULT_GRACE = 600.0
EVENT_SOURCE = "duplicates"

Note = Callable[[bool, str], None]
"""``(deleted, message)``: a duplicate deleted (True) or left in Keito (False), told to
``status`` through the ledger's event log."""


def write_grace() -> float:
    """The grace period in seconds (``KEITO_SKILL_WRITE_GRACE``, default 600)."""
    raw = os.environ.get(GRACE_ENV, "").strip()
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_GRACE
    except ValueError:
        return DEFAULT_GRACE


def left_at(record: RecordRow) -> float:
    """When the record's last create request left (older ledgers: its last change)."""
    return float(record.sent_at or record.updated_at)


def awaiting(record: RecordRow, now: float, grace: float) -> bool:
    """True while a maybe-sent record is inside its grace period."""
    return record.status == SENDING and record.remote_id is None and left_at(record) + grace > now


def hold_unconfirmed(
    records: list[RecordRow], now: float, grace: float
) -> tuple[list[RecordRow], int]:
    """The records that may go now, and how many wait: every record of a session that has
    one inside its grace period (its look-ups and expenses would rest on a guess)."""
    held = {(r.agent, r.session_id) for r in records if awaiting(r, now, grace)}
    ready = [r for r in records if (r.agent, r.session_id) not in held]
    return ready, len(records) - len(ready)


def session_entries(entries: Iterable[TimeEntry]) -> dict[str, list[TimeEntry]]:
    """Agent entries by :func:`entry_key`, all of them (duplicates included)."""
    out: dict[str, list[TimeEntry]] = {}
    for entry in entries:
        key = entry_key(entry.metadata)
        if key is not None:
            out.setdefault(key, []).append(entry)
    return out


def look_up(client: KeitoClient, record: RecordRow, body: dict[str, Any]) -> list[TimeEntry]:
    """Every entry in Keito for this record's entry key on its day (project, source, and
    the key's own user), ``body`` being what is sent."""
    day = str(body.get("spent_date") or record.spent_date)
    listed = client.list_time_entries(
        from_date=day,
        to_date=day,
        source=str(body.get("source") or "agent"),
        project_id=body.get("project_id"),
        user_id=client.user_id,
    )
    return session_entries(listed).get(entry_key(body.get("metadata")) or record.session_id, [])


def _final(entry: TimeEntry) -> bool:
    extra = entry.model_extra or {}
    return bool(
        entry.is_locked
        or entry.is_billed
        or extra.get("is_closed")
        or extra.get("approval_status") == "approved"
    )


def _order(entry: TimeEntry) -> tuple[bool, float, str]:
    created = entry.created_at.timestamp() if entry.created_at is not None else float("inf")
    return (not _final(entry), created, entry.id)


def keep_one(
    client: KeitoClient, record: RecordRow, found: list[TimeEntry], note: Note
) -> tuple[str | None, int]:
    """The id of the entry to keep for ``record`` (None: Keito has none), and how many
    duplicates were deleted. Each deletion, or duplicate left, is told to ``note``."""
    if not found:
        return None, 0
    keep, *others = sorted(found, key=_order)
    deleted = 0
    where = f"{record.agent} session {record.session_id} on {record.spent_date}"
    for entry in others:
        try:
            client.delete_time_entry(entry.id)
        except KeitoNotFoundError:
            continue  # gone already
        except (KeitoForbiddenError, KeitoConflictError) as exc:
            note(
                False,
                f"duplicate time entry {entry.id} of {where} left in Keito: it is final "
                f"({exc.status_code}); kept {keep.id}. Remove one of them in Keito.",
            )
            continue
        deleted += 1
        note(True, f"deleted duplicate time entry {entry.id} of {where}; kept {keep.id}")
    return keep.id, deleted
