"""Time split by local day: the kept day bounds give what working each span out gives."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keito_skill.transcripts import _timeline
from keito_skill.transcripts._state import ParseState
from keito_skill.transcripts._timeline import by_day, local_day

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


def _first_instant(day: date) -> float:
    return datetime(day.year, day.month, day.day).timestamp()  # local midnight, fold 0


def _overlap_with_each_local_day(spans: list[list[float]]) -> dict[str, float]:
    """The seconds of ``spans`` within each local date's bounds, worked out independently:
    each day from its own midnight to the next, as local times."""
    day = datetime.fromtimestamp(spans[0][0]).date() - timedelta(days=1)
    last = datetime.fromtimestamp(spans[-1][1]).date() + timedelta(days=1)
    days: dict[str, float] = {}
    while day <= last:
        low, high = _first_instant(day), _first_instant(day + timedelta(days=1))
        inside = sum(max(0.0, min(end, high) - max(start, low)) for start, end in spans)
        if inside > 0:
            days[day.isoformat()] = inside
        day += timedelta(days=1)
    return days


def _same_days(got: dict[str, float], expected: dict[str, float]) -> None:
    assert sorted(got) == sorted(expected)
    for key, seconds in expected.items():
        assert got[key] == pytest.approx(seconds, rel=1e-12, abs=1e-6), key


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
            st.floats(min_value=0, max_value=30 * 3600, allow_nan=False),
        ),
        min_size=1,
        max_size=12,
    ),
)
def test_days_match_each_local_days_bounds(
    zone: str, change: float, before: float, steps: list[tuple[float, float]]
) -> None:
    spans: list[list[float]] = []
    at = change - before  # from some hours before a change, on through it
    for gap, length in steps:  # sorted and disjoint, as the timeline keeps them
        start = at + gap
        spans.append([start, start + length])
        at = start + length + 1
    _same_days(by_day(spans), _overlap_with_each_local_day(spans))


def test_each_event_is_kept_on_its_own_local_day(zone: str) -> None:
    # An event every 7.5 minutes from 30 h before each change to 30 h after it: each is
    # recorded on its own local date, those after the next midnight too.
    for change in [*CHANGES[zone], ORDINARY]:
        state = ParseState("claude-code", 300)
        for k in range(481):
            ts = change - 30 * 3600 + 450 * k
            bucket = state.event(ts)
            assert bucket is state.days[datetime.fromtimestamp(ts).date().isoformat()]


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
        _same_days(got, _overlap_with_each_local_day(spans))
        assert sum(got.values()) == pytest.approx(sum(end - start for start, end in spans))
        assert len(got) >= 5


def test_kept_days_give_what_working_each_time_out_gives(zone: str) -> None:
    # Every 7 minutes over two days around each change, twice (the second time from what
    # is kept): the day is the one worked out afresh, and holds the time.
    for change in [*CHANGES[zone], ORDINARY]:
        for _ in range(2):
            for ts in (change - 26 * 3600 + 420.5 * k for k in range(450)):
                key, midnight, following = local_day(ts)
                day = datetime.fromtimestamp(ts).date()
                assert key == day.isoformat()
                assert (midnight, following) == (
                    _first_instant(day),
                    _first_instant(day + timedelta(days=1)),
                )
                assert midnight <= ts < following


def test_the_day_the_clocks_go_forward_has_23_hours(monkeypatch: pytest.MonkeyPatch) -> None:
    # Berlin, 2026-03-29: 01:00 CET (00:00 UTC) to 01:00 CEST the next day (23:00 UTC).
    # Its next midnight is 22:00 UTC, not 23:00 (midnight at the morning's offset): the
    # last hour is the 30th's, for time and for what an event there records.
    start = datetime(2026, 3, 29, 0, tzinfo=UTC).timestamp()
    end = datetime(2026, 3, 29, 23, tzinfo=UTC).timestamp()
    try:
        monkeypatch.setenv("TZ", "Europe/Berlin")
        time.tzset()
        assert by_day([[start, end]]) == {"2026-03-29": 22 * 3600.0, "2026-03-30": 3600.0}
        state = ParseState("claude-code", 300)
        state.event(start)
        state.event(end - 1800)  # 00:30 CEST on the 30th
        assert sorted(state.days) == ["2026-03-29", "2026-03-30"]
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_new_zone_with_the_same_names_does_not_reuse_kept_days(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Chicago and Havana are both CST/CDT, and 2026-11-01 17:00 UTC is on the 1st in both,
    # but Havana's next midnight comes an hour before Chicago's.
    try:
        monkeypatch.setenv("TZ", "America/Chicago")
        time.tzset()
        chicago = local_day(1793511000.0)  # 2026-11-01 05:30 UTC, 00:30 CDT
        monkeypatch.setenv("TZ", "America/Havana")
        time.tzset()
        assert time.tzname == ("CST", "CDT")
        havana = local_day(1793552400.0)  # 2026-11-01 17:00 UTC, 12:00 CST
        assert havana[0] == chicago[0] == "2026-11-01"
        assert havana == _timeline._work_out_day(1793552400.0)
        assert havana[2] == chicago[2] - 3600
    finally:
        monkeypatch.undo()
        time.tzset()
