"""One line of ``doctor``'s report, shared by the modules that make checks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Check:
    """One line of the report."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None
