"""What Keito already carries for a session this ledger cannot vouch for.

A session's expenses are the usage no earlier expense carries, and "earlier" is what the
ledger knows. A ledger that did not send the session itself (moved aside, lost, recreated:
its time entry was found in Keito rather than created, or none was ever sent) does not
know it, and would bill the usage again or, numbering its segments anew, lose some. So
before such a session's expenses are sent, Keito's expenses for its ``session_id`` are
read and taken into the ledger as sent records (*adopted*). If that taught the ledger
anything, the expenses it had made without knowing are dropped and the segment closed
again: the new ones carry only the difference between the transcript and what Keito has.

The ledger can vouch for a session when it created (POSTed after a look-up found nothing)
every one of the session's time entries it holds a remote id for: Keito then had nothing
of that session before this ledger.
"""

from __future__ import annotations

import threading

from keito_skill.keito import Expense, KeitoClient
from keito_skill.ledger import Ledger, RecordRow
from keito_skill.summary import TOKEN_FIELDS


def vouched(created: bool, found: bool) -> bool:
    """Whether the ledger knows every expense Keito holds for a session: it created one of
    its time entries (``created``) and found none already there (``found``)."""
    return created and not found


class ExpenseLists:
    """Keito's agent expenses by day range, each range listed once per sync pass: a
    recreated ledger meets many sessions of the same days. (Within a pass a session's own
    expenses are sent only after it read the list, so the list is current for it.)"""

    def __init__(self, client: KeitoClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._lists: dict[tuple[str, str], list[Expense]] = {}

    def between(self, first: str, last: str) -> list[Expense]:
        with self._lock:  # one listing at a time: the others wait for it, then share it
            key = (first, last)
            if key not in self._lists:
                listed = self._client.list_expenses(from_date=first, to_date=last, source="agent")
                self._lists[key] = list(listed)
            return self._lists[key]


def keito_expenses(lists: ExpenseLists, session_id: str, records: list[RecordRow]) -> list[Expense]:
    """Keito's agent expenses for ``session_id`` on the days of ``records`` (the expenses
    about to be sent: they span every day with usage), in any project."""
    days = sorted(r.spent_date for r in records if r.kind == "expense")
    if not days:
        return []
    listed = lists.between(days[0], days[-1])
    return [e for e in listed if (e.metadata or {}).get("session_id") == session_id]


class Unreadable(Exception):
    """Keito holds an expense for the session whose usage its metadata does not say: what
    is left to bill cannot be known, so the session's expenses are held, not guessed."""


def _readable(item: Expense) -> bool:
    meta = item.metadata or {}
    return all(isinstance(meta.get(k), int) for k in TOKEN_FIELDS if k != "reasoning_output_tokens")


def adopt(
    ledger: Ledger, agent: str, session_id: str, expenses: list[Expense]
) -> tuple[bool, dict[int, str]]:
    """Take Keito's ``expenses`` for a session into the ledger as sent records.

    A record of ours with the same key and no remote id is that expense (a write that
    committed after we stopped waiting, or the same usage sent by another ledger): it is
    marked sent, and returned (record id → remote id). The flag is True when the ledger
    learned of usage it did not know: its unsent expenses (made without that knowledge)
    are then deleted and the session's segment is closed again by the next materialise,
    to the difference.
    """
    with ledger.transaction():
        rows = ledger.session_records(agent, session_id, "expense")
        known = {row.remote_id for row in rows if row.remote_id}
        unreadable = [e.id for e in expenses if e.id not in known and not _readable(e)]
        if unreadable:
            raise Unreadable(
                f"Keito holds expense {', '.join(unreadable)} for {agent} session {session_id}"
                " without the token counts it carries, so what is left to bill is unknown;"
                " its expenses are held (check them in Keito)"
            )
        by_key = {row.key: row for row in rows}
        learned = False
        matched: dict[int, str] = {}
        for item in expenses:
            if item.id in known:
                continue
            meta = dict(item.metadata or {})
            key = str(meta.get("segment") or f"keito:{item.id}")
            mine = by_key.get(key)
            if mine is not None and mine.remote_id is None:
                ledger.mark_adopted(mine.id, item.id)
                matched[mine.id] = item.id
                continue
            if mine is not None:  # the key is taken by another expense: Keito has both
                key = f"{key}#{item.id}"
            payload = {
                "spent_date": item.spent_date.isoformat(),
                "total_cost": item.total_cost,
                "metadata": meta,
                "adopted": True,  # read from Keito, never sent by this ledger
            }
            spent = item.spent_date.isoformat()
            ledger.add_adopted_expense(agent, session_id, key, spent, payload, item.id)
            learned = True
        if learned:
            ledger.drop_unsent_expenses(agent, session_id)
    return learned, matched
