"""Editing hook trust in Codex's ``config.toml`` with tomlkit, which keeps the user's
comments, ordering, quoting and blank lines: only the entries we change are touched.

Codex records trust as one table per hook (``[hooks.state."<key>"]`` with
``trusted_hash = "<hash>"``), which is the only form edited here: trust written as inline
tables (``state = { ... }``) is refused, as a rewrite would reformat the user's line.
Callers verify the result (it must parse to the original document plus or minus exactly
our entries) before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import tomlkit
from tomlkit.items import InlineTable, Table

__all__ = ["InlineTrustError", "with_trust", "without_trust"]


class InlineTrustError(ValueError):
    """Trust is kept in an inline table, which we do not rewrite."""


def _table(parent: Any, name: str, *, create: bool) -> Any:
    """``parent[name]`` as a table; created (as an implicit ``[a.b]`` parent) when missing."""
    found = parent.get(name)
    if isinstance(found, InlineTable):
        raise InlineTrustError(name)
    if found is None and create:
        found = tomlkit.table(is_super_table=True)
        parent.append(name, found)
    return found


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def with_trust(text: str, trust: Mapping[str, str]) -> str:
    """``text`` with ``trusted_hash`` set for each key: in place in an existing table (its
    comment kept), else as a new ``[hooks.state."<key>"]`` table after the others."""
    newline = _newline(text)
    if text and not text.endswith("\n"):
        text += newline  # a new table starts on its own line, after a blank one
    doc = tomlkit.parse(text)
    state = _table(_table(doc, "hooks", create=True), "state", create=True)
    for key, digest in trust.items():
        entry = state.get(key)
        if isinstance(entry, InlineTable):
            raise InlineTrustError(key)
        if entry is None:
            entry = tomlkit.table()
            entry.append("trusted_hash", digest)
            state.append(key, entry)
        else:
            entry["trusted_hash"] = digest
    edited = tomlkit.dumps(doc)
    if newline == "\r\n":  # tomlkit writes new lines as LF; keep a CRLF file CRLF
        edited = edited.replace("\r\n", "\n").replace("\n", "\r\n")
    return edited


def without_trust(text: str, keys: Iterable[str]) -> str:
    """``text`` without the ``[hooks.state."<key>"]`` tables for ``keys``; ``[hooks.state]``
    and ``[hooks]`` go too when nothing else is left in them."""
    doc = tomlkit.parse(text)
    hooks = _table(doc, "hooks", create=False)
    state = _table(hooks, "state", create=False) if hooks is not None else None
    if state is None:
        return text
    for key in keys:
        if key in state:
            state.remove(key)
    if not state:
        hooks.remove("state")
        if not hooks and isinstance(hooks, Table):
            doc.remove("hooks")
    edited = tomlkit.dumps(doc)
    newline = _newline(text)
    if edited.endswith(newline * 2) and not text.endswith(newline * 2):
        edited = edited.rstrip("\r\n") + newline  # the blank line that led to a removed table
    return edited
