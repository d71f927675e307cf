"""Wording shared by every message the package prints, so counts read the same everywhere."""

from __future__ import annotations


def counted(count: int, noun: str) -> str:
    """``1 session``, ``2 sessions``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
