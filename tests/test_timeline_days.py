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
# The 2026 DST changes of those zones (UTC instants, to the minute), and an ordinary day.
CHANGES = {
    "Europe/Berlin": [1774746000.0, 1792890000.0],
    "America/New_York": [1772953200.0, 1793512800.0],
    "America/Havana": [1772946000.0, 1793509200.0],
    "Australia/Lord_Howe": [1775314800.0, 1791041400.0],
    "Pacific/Chatham": [1775311200.0, 1790431200.0],
    "Asia/Kolkata": [],
    "UTC": [],
}
ORDINARY = 1788200000.0
EVERY_CHANGE = sorted({t for zone in CHANGES.values() for t in zone} | {ORDINARY})


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
    change=st.sampled_from(EVERY_CHANGE),
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


def _midnights(start: float, end: float) -> int:
    """Local midnights strictly inside ``(start, end)``."""
    day = datetime.fromtimestamp(start).date()
    count = 0
    while True:
        day += timedelta(days=1)
        midnight = datetime(day.year, day.month, day.day).timestamp()
        if midnight >= end:
            return count
        count += midnight > start


@pytest.mark.parametrize("hours", [1.0, 2.5, 7.0])
def test_spans_over_each_dst_change_are_split_at_each_local_midnight(
    zone: str, hours: float
) -> None:
    for change in [*CHANGES[zone], ORDINARY]:
        # From 39.5 h before the change to 40 h after: runs of ``hours`` every 3 h (some over
        # midnight, some over the change itself), then one span over all of it.
        spans = [
            [
                change - 39.5 * 3600 + 3 * 3600 * k,
                change - 39.5 * 3600 + 3 * 3600 * k + hours * 3600,
            ]
            for k in range(27)
        ]
        spans.append([spans[-1][1] + 60, spans[-1][1] + 60 + 50 * 3600])
        assert any(start < change < end for start, end in spans)  # one crosses the change
        assert any(_midnights(*span) for span in spans)  # some span crosses a midnight
        got = by_day(spans)
        assert got == _each_span_afresh(spans)
        assert sum(got.values()) == pytest.approx(sum(end - start for start, end in spans))
        assert len(got) >= 5
