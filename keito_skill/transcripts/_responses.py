"""Each model response billed once, however many files or places hold it.

A parser lists every response it counts (``ParseState.responses``: ``[key, offset, day,
model, vector, long]``; the key is whatever identifies a response in the agent's format (a
message and request id, or a usage event's running total within its lineage), the offset
is where this file first wrote it).
The list is settled twice:

* :func:`dedupe_read`, in memory, over one read of a session's files: a key listed again
  (a replayed history, a subagent file holding a copy) keeps only its first listing;
* :func:`settle`, against the ledger's ``responses`` table (one row per key: the file that
  owns it and where), when checkpoints are stored: a key another file (of any session) or
  an earlier place in this file already owns is taken back as a duplicate.

A file read from its start gives up what it owned first, so re-reading it (a changed
checkpoint format, another idle threshold) never finds its own responses to be copies.
Duplicates are kept apart in ``ParseState.duplicates`` and shown as
``duplicate_responses``.
"""

from __future__ import annotations

from keito_skill.transcripts._state import ParseState

TYPE_CHECKING = False  # mypy takes it for typing's; importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    # (path, read_from, entries) -> indexes of the entries that are duplicates
    Claim = Callable[[str, int | None, list[list[Any]]], list[int]]


def dedupe_read(
    states: list[ParseState], paths: list[str], first: dict[str, tuple[str, int]] | None = None
) -> None:
    """Drop the responses listed again within this read of a session's files (and, given
    ``first``, the owners found so far, of what other sessions listed before)."""
    first = {} if first is None else first
    for path, state in zip(paths, states, strict=True):
        if not state.responses:
            continue
        kept = []
        for entry in state.responses:
            owner = first.setdefault(entry[0], (path, entry[1]))
            if owner == (path, entry[1]):
                kept.append(entry)
            else:
                state.drop_response(entry)
        state.responses = kept


def settle(checkpoints: dict[str, Any], claim: Claim) -> int:
    """Settle every checkpoint's listed responses with ``claim`` (the ledger's); take back
    the duplicates from the checkpoint in place. Returns how many were duplicates."""
    found = 0
    for path, data in list(checkpoints.items()):
        if not isinstance(data, dict) or "responses" not in data:
            continue
        entries = data.get("responses") or []
        read_from = data.get("read_from")
        if not entries and read_from != 0:
            data["responses"], data["read_from"] = [], None
            continue
        duplicates = claim(path, read_from, entries)
        if duplicates:
            state = ParseState.from_dict(data)
            for index in duplicates:
                state.drop_response(entries[index])
            data = checkpoints[path] = state.to_dict()
            found += len(duplicates)
        data["responses"], data["read_from"] = [], None
    return found
