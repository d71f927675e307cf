"""Timestamp parsing shared by the agents' parsers."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

# Anything outside 2000-01-01 .. 2100-01-01 is damage, not a time an agent ran.
_EARLIEST = 946_684_800.0
_LATEST = 4_102_444_800.0


@lru_cache(maxsize=4096)
def _parse_iso(value: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        # Agents write UTC; a naive stamp is read as UTC rather than local time.
        parsed = parsed.replace(tzinfo=UTC)
    try:
        seconds = parsed.timestamp()
    except (OverflowError, OSError, ValueError):
        return None
    return seconds if _EARLIEST <= seconds <= _LATEST else None


def parse_ts(value: object) -> float | None:
    """Seconds since the epoch from an ISO-8601 string or an epoch number (s or ms)."""
    if value.__class__ is str:  # every line has one: the fast path is a cache lookup
        return _parse_iso(value)
    if isinstance(value, str):
        return _parse_iso(str(value))
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value) / 1000.0 if value > 1e11 else float(value)
        return seconds if _EARLIEST <= seconds <= _LATEST else None
    return None
