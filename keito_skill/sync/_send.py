"""Sending records to Keito, each exactly once however often this runs.

Before a request that creates something, the record is marked ``sending``. If we never
hear back (crash, dropped connection), the next attempt looks the record up in Keito by its
``session_id`` (and segment) before creating anything. A time entry with no remote id is
always looked up first, which also protects against a lost ledger. A 400 marks that record
failed with the server's reason and the rest go on; an outage stops the pass, leaving
everything pending for the next sync.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from keito_skill.keito import (
    KeitoAuthError,
    KeitoClient,
    KeitoError,
    KeitoForbiddenError,
    KeitoNetworkError,
    KeitoNotFoundError,
    KeitoValidationError,
)
from keito_skill.ledger import FAILED, PENDING, SENDING, SENT, Ledger, RecordRow


@dataclass
class SendReport:
    created: int = 0
    updated: int = 0
    existing: int = 0
    failed: int = 0
    pending: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    aborted: str | None = None


class _Abort(Exception):
    pass


def _send_one(client: KeitoClient, ledger: Ledger, record: RecordRow) -> str:
    action: str
    if record.kind == "time_entry":
        uncertain = record.remote_id is None
        if uncertain:
            ledger.mark_record(record.id, status=SENDING, attempts=record.attempts + 1)
        entry, upserted = client.upsert_time_entry(
            record.payload, known_id=record.remote_id, lookup=uncertain
        )
        remote_id, action = entry.id, upserted
    else:
        if record.remote_id:
            ledger.mark_record(record.id, status=SENT, sent_hash=record.payload_hash)
            return "existing"
        lookup = record.status == SENDING or record.attempts > 0
        ledger.mark_record(record.id, status=SENDING, attempts=record.attempts + 1)
        created, result = client.create_expense_once(record.payload, lookup=lookup)
        remote_id, action = created.id, result
    ledger.mark_record(
        record.id,
        status=SENT,
        remote_id=remote_id,
        sent_hash=record.payload_hash,
        sent_at=time.time(),
        last_error=None,
    )
    return action


def send_pending(ledger: Ledger, client: KeitoClient, report: SendReport) -> None:
    """Send every pending record; stops early (recording why) when Keito is unreachable."""
    records = ledger.records("status IN (?, ?)", (PENDING, SENDING))
    for index, record in enumerate(records):
        try:
            action = _send_one(client, ledger, record)
        except (KeitoValidationError, KeitoNotFoundError) as exc:
            reason = str(exc)
            ledger.mark_record(record.id, status=FAILED, last_error=reason)
            report.failed += 1
            report.errors.append(_error(record, reason))
            continue
        except (KeitoAuthError, KeitoForbiddenError) as exc:
            ledger.mark_record(record.id, status=PENDING, last_error=str(exc))
            report.aborted = str(exc)
            report.pending += len(records) - index
            return
        except KeitoError as exc:
            maybe_sent = isinstance(exc, KeitoNetworkError) and exc.maybe_sent
            status = SENDING if maybe_sent or record.remote_id is None else PENDING
            if record.kind == "time_entry" and record.remote_id is not None:
                status = PENDING  # a PATCH is safe to repeat
            ledger.mark_record(record.id, status=status, last_error=str(exc))
            report.aborted = str(exc)
            report.pending += len(records) - index
            return
        if action == "created":
            report.created += 1
        elif action == "updated":
            report.updated += 1
        else:
            report.existing += 1


def _error(record: RecordRow, reason: str) -> dict[str, Any]:
    return {
        "session_id": record.session_id,
        "kind": record.kind,
        "key": record.key,
        "reason": reason,
    }
