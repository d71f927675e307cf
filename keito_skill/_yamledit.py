"""Changing a YAML file a person wrote without losing their comments, order or layout.

``.keito/config.yml`` is the user's file: they comment it, order it, indent it their way.
PyYAML (which reads it fast everywhere else) drops all of that on a round trip, so edits
go through ruamel.yaml's round-trip mode, which keeps comments, key order, quoting, flow
or block style and (guessed from the file) indentation. It is imported only here, when a
file is edited (``init``, ``disable``, ``enable``), never on a read path.

This module only edits; the caller checks that the edited text reads back as intended
before it writes anything, and falls back to a plain rewrite when it does not.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any


def _layout(mapping: Any, found: dict[str, int]) -> None:
    """The file's indentation, read from where ruamel found things: a block mapping's keys
    relative to its parent key (``mapping``), and a block sequence's dashes (``offset``)
    and items (``sequence``) relative to theirs. The first of each found wins."""
    for key in mapping:
        value: Any = mapping[key]
        where: Any = getattr(value, "lc", None)
        try:
            if where is None or value.fa.flow_style():
                continue
            key_col = mapping.lc.key(key)[1]
            if isinstance(value, dict):
                found.setdefault("mapping", where.col - key_col)
                _layout(value, found)
            elif isinstance(value, list) and value:
                found.setdefault("offset", where.col - key_col)
                found.setdefault("sequence", where.item(0)[1] - key_col)
        except (AttributeError, IndexError, KeyError, TypeError):
            continue


def round_trip(text: str, change: Callable[[dict[str, Any]], None]) -> str | None:
    """``text`` after ``change`` mutated its top-level mapping; None when it cannot be
    done keeping the layout (not a mapping at the top, or something ruamel cannot read,
    e.g. a duplicate key, which PyYAML accepts and ruamel refuses).

    The mapping handed to ``change`` is a ``dict`` subclass that remembers comments and
    order: assigning a new key appends it, assigning an existing one keeps its place and
    its comment, and plain ``dict`` values assigned are written in block style, indented
    as the file's own blocks are.
    """
    from ruamel.yaml import YAML

    try:
        editor = YAML()  # round-trip mode
        editor.preserve_quotes = True
        editor.width = 4096  # never fold a long value the user kept on one line
        document = editor.load(text)
        if not isinstance(document, dict):
            return None
        found: dict[str, int] = {}
        _layout(document, found)
        step = found.get("mapping", 2) if found.get("mapping", 0) > 0 else 2
        offset = max(0, found.get("offset", 0))
        sequence = max(found.get("sequence", step), offset + 2)
        editor.indent(mapping=step, sequence=sequence, offset=offset)
        change(document)
        out = io.StringIO()
        editor.dump(document, out)
    except Exception:  # any refusal means "not this way": the caller rewrites instead
        return None
    return out.getvalue()
