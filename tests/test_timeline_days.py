"""Time split by local day: the kept day bounds give what working each span out gives."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keito_skill.transcripts._timeline import by_day

# Zones with a DST change at 02:00 or 03:00, at midnight (Havana), by 30 minutes (Lord
# Howe), across the date line (Chatham), and none.
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Havana",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kolkata",
]
# The 2026 DST changes of those zones (UTC instants), and an ordinary day.
CHANGES = [
    1772946000.0,
    1772953200.0,
    1774746000.0,
    1775311200.0,
    1775314800.0,
    1790431200.0,
    1791043200.0,
    1792890000.0,
    1793509200.0,
    1793512800.0,
    1788200000.0,
]


def _each_span_afresh(spans: list[list[float]]) -> dict[str, float]:
    """The day split with every piece's day worked out from scratch."""
    days: dict[str, float] = {}
    for start, end in spans:
        while start < end:
            local = datetime.fromtimestamp(start).astimezone()
            midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
            following = (midnight + timedelta(days=1)).replace(
                hour=0, minute=0, second=0, microsecond=0
            )
            piece_end = min(end, following.timestamp())
            if piece_end <= start:
                piece_end = end
            key = midnight.date().isoformat()
            days[key] = days.get(key, 0.0) + (piece_end - start)
            start = piece_end
    return days


@pytest.fixture(params=ZONES)
def zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


# The zone is set once per zone, the same for every example.
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    change=st.sampled_from(CHANGES),
    before=st.floats(min_value=0, max_value=30 * 3600, allow_nan=False),
    steps=st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=6 * 3600, allow_nan=False),
            st.floats(min_value=0, max_value=8 * 3600, allow_nan=False),
        ),
        min_size=1,
        max_size=12,
    ),
)
def test_days_match_working_each_span_out_afresh(
    zone: str, change: float, before: float, steps: list[tuple[float, float]]
) -> None:
    spans: list[list[float]] = []
    at = change - before  # from some hours before a change, on through it
    for gap, length in steps:  # sorted and disjoint, as the timeline keeps them
        start = at + gap
        spans.append([start, start + length])
        at = start + length + 1
    assert by_day(spans) == _each_span_afresh(spans)


def test_a_span_over_a_dst_change_is_split_at_each_local_midnight(zone: str) -> None:
    # Three days around Berlin's October change, one span after another through them.
    start = datetime(2026, 10, 24, 12).timestamp()
    spans = [[start + 3600 * h, start + 3600 * h + 1800] for h in range(0, 72, 3)]
    got = by_day(spans)
    assert got == _each_span_afresh(spans)
    assert sum(got.values()) == pytest.approx(1800 * 24)
    assert len(got) >= 3
