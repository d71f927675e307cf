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
        return parsed.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


def parse_ts(value: object) -> float | None:
    """Seconds since the epoch from an ISO-8601 string or an epoch number (s or ms)."""
    seconds: float | None = None
    if isinstance(value, str):
        seconds = _parse_iso(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value) / 1000.0 if value > 1e11 else float(value)
    if seconds is None or not _EARLIEST <= seconds <= _LATEST:
        return None
    return seconds
