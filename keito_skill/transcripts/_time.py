"""Timestamp parsing shared by the agents' parsers."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache


@lru_cache(maxsize=4096)
def _parse_iso(value: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        # Agents write UTC; a naive stamp is read as UTC rather than local time.
        from datetime import UTC

        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def parse_ts(value: object) -> float | None:
    """Seconds since the epoch from an ISO-8601 string or an epoch number (s or ms)."""
    if isinstance(value, str):
        return _parse_iso(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value) / 1000.0 if value > 1e11 else float(value)
    return None
