"""Keep entry metadata within Keito's 4 KB limit, with a margin.

The server rejects a body whose ``metadata`` serialises to more than 4 KB, and a
rejected write is a lost billing record. So instead of sending and failing, we shrink
our own metadata first: long free-text values (prompts, summaries, file lists) lose
their tails before any key is dropped, and the keys the idempotent upsert matches on
(``session_id``, ``segment``) are never touched.

How a server measures "4 KB" is not documented. The most common way, plain
``json.dumps`` (``ensure_ascii``: one non-ASCII character is 6 or 12 bytes; ``", "`` and
``": "`` separators), is also the largest of the usual encodings, so sizes are measured
that way and fitted to :data:`METADATA_BUDGET`, well under the limit.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from typing import Any

from keito_skill.keito._errors import MetadataTooLargeError

METADATA_LIMIT = 4096
# What we fit to: a margin under the limit for any server's own way of counting.
METADATA_BUDGET = 3800
_MIN_STRING = 32  # strings are never cut below this many characters
_ELLIPSIS = "..."


def metadata_size(meta: dict[str, Any]) -> int:
    """Size in bytes of ``meta`` as plain ``json.dumps`` writes it (ASCII-escaped, default
    separators): the largest of the usual ways a server measures it."""
    return len(json.dumps(meta))


def _string_leaves(node: Any, keep: frozenset[str], top: bool) -> list[tuple[Any, Any, int]]:
    """Every (container, key, length) of a string value, outside protected top-level keys."""
    found: list[tuple[Any, Any, int]] = []
    items: Iterable[tuple[Any, Any]]
    if isinstance(node, dict):
        items = ((k, v) for k, v in node.items() if not (top and k in keep))
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return found
    for key, value in items:
        if isinstance(value, str):
            found.append((node, key, len(value)))
        else:
            found.extend(_string_leaves(value, keep, top=False))
    return found


def fit_metadata(
    meta: dict[str, Any], *, limit: int = METADATA_BUDGET, keep: Iterable[str] = ()
) -> dict[str, Any]:
    """Return a copy of ``meta`` at most ``limit`` bytes long (see :func:`metadata_size`).

    First the longest string values are shortened (with a ``...`` marker, never below
    32 characters), then whole top-level keys not in ``keep`` are dropped, largest
    first. Keys in ``keep`` are never dropped or shortened; if they alone exceed the
    limit, :class:`MetadataTooLargeError` is raised rather than sending a record the
    server would reject.
    """
    keep_set = frozenset(keep)
    out = copy.deepcopy(meta)
    size = metadata_size(out)
    if size <= limit:
        return out

    # Phase 1: shorten the longest strings until it fits or nothing long is left.
    while size > limit:
        leaves = [leaf for leaf in _string_leaves(out, keep_set, top=True) if leaf[2] > _MIN_STRING]
        if not leaves:
            break
        container, key, length = max(leaves, key=lambda leaf: leaf[2])
        # Cutting n characters saves at least n bytes (an escaped one, up to 12), so this
        # converges quickly.
        new_len = max(_MIN_STRING, length - (size - limit))
        container[key] = container[key][: new_len - len(_ELLIPSIS)] + _ELLIPSIS
        size = metadata_size(out)

    # Phase 2: drop whole unprotected keys, the biggest first.
    while size > limit:
        droppable = [k for k in out if k not in keep_set]
        if not droppable:
            raise MetadataTooLargeError(
                f"metadata keys {sorted(keep_set & set(out))} alone exceed {limit} bytes",
                error="metadata_too_large",
            )
        biggest = max(droppable, key=lambda k: metadata_size({k: out[k]}))
        del out[biggest]
        size = metadata_size(out)
    return out
