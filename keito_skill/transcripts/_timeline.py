"""A session's working time as sets of intervals: exact in any order, over any files.

Two sorted lists of disjoint ``[start, end]`` spans are kept per transcript file:

* ``runs``: stretches of events where each is at most the idle threshold after the one
  before; a new run starts after a longer silence.
* ``walls``: the union of the forward steps between consecutive events in the order the
  file lists them. A clock that steps back adds nothing, and an event written late (an
  agent may write a ``/compact`` line after the compaction it precedes) adds only what no
  other step covers.

A session's wall time is the size of its files' walls, joined where events lie within the
idle threshold of each other or where one file's event is followed by another file's
(:func:`times`). Active time is the part of that within the idle threshold after some
event: for events in order, the sum of the gaps between them, each capped at the
threshold. Both are functions of each file's events alone, so reading a file in two halves
gives what reading it once gives, and a session's files (main transcript, subagents) merge
by uniting their spans.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from datetime import date, datetime, timedelta

Spans = list[list[float]]


def add_span(spans: Spans, start: float, end: float, gap: float) -> None:
    """Insert ``[start, end]`` into sorted disjoint ``spans``, merging every span that
    overlaps it or lies within ``gap`` of it."""
    i = bisect_left(spans, [start])
    if i > 0 and spans[i - 1][1] + gap >= start:
        i -= 1
    j = i
    while j < len(spans) and spans[j][0] - gap <= end:
        start = min(start, spans[j][0])
        end = max(end, spans[j][1])
        j += 1
    spans[i:j] = [[start, end]]


def merge(groups: list[Spans], gap: float) -> Spans:
    """The union of several span lists, merged as :func:`add_span` merges."""
    merged: Spans = []
    for start, end in sorted(span for spans in groups for span in spans):
        if merged and merged[-1][1] + gap >= start:
            if end > merged[-1][1]:
                merged[-1][1] = end
        else:
            merged.append([start, end])
    return merged


def intersect(left: Spans, right: Spans) -> Spans:
    """The intersection of two sorted disjoint span lists."""
    out: Spans = []
    i = j = 0
    while i < len(left) and j < len(right):
        start = max(left[i][0], right[j][0])
        end = min(left[i][1], right[j][1])
        if start < end:
            out.append([start, end])
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


# Days worked out in this process, by local date: a backfill asks for the same few hundred
# days thousands of times, and the date maths costs ~15 µs each time.
_DAYS: dict[int, tuple[str, float, float]] = {}
_DAYS_KEPT = 4096
_days_zone: object = None  # time.tzname when _DAYS was filled: time.tzset() replaces it


def local_day(ts: float) -> tuple[str, float, float]:
    """The local calendar day of ``ts``: its date (ISO), and the first instant of that date
    and of the next one (as timestamps).

    Kept per process. The local wall clock at ``ts`` is ``ts`` plus its UTC offset, so the
    date is known from ``time.localtime`` (a tenth of the date maths), and the rest
    follows from the date alone.
    """
    global _days_zone
    if time.tzname is not _days_zone:  # another zone since (a test's): forget its days
        _DAYS.clear()
        _days_zone = time.tzname
    try:
        offset = time.localtime(ts).tm_gmtoff  # local wall clock = ts + offset
    except (OverflowError, OSError, ValueError):  # not a time: let the date maths say so
        return _work_out_day(ts)
    key = (math.floor(ts) + offset) // 86400  # the local date, as days since 1970-01-01
    found = _DAYS.get(key)
    if found is not None and found[1] <= ts < found[2]:
        return found
    found = _work_out_day(ts)
    if len(_DAYS) >= _DAYS_KEPT:
        _DAYS.clear()
    _DAYS[key] = found
    return found


def _work_out_day(ts: float) -> tuple[str, float, float]:
    day = datetime.fromtimestamp(ts).date()
    return day.isoformat(), _first_instant(day), _first_instant(day + timedelta(days=1))


def _first_instant(day: date) -> float:
    """When the local date ``day`` begins. Its midnight as local time: the first one where
    a zone repeats it, the moment the clocks skip to where a zone skips it. (Not the
    midnight at the UTC offset of some time that day: on a day the clocks go forward, the
    next midnight comes an hour before that one.)"""
    return datetime(day.year, day.month, day.day).timestamp()


def by_day(spans: Spans) -> dict[str, float]:
    """Seconds of ``spans`` on each local calendar day (split exactly at local midnight).

    A day's bounds are kept for the spans after it that start within them (a session's
    spans mostly fall on one day).
    """
    days: dict[str, float] = {}
    key = ""  # the day held, and its [midnight, following)
    midnight = following = 0.0
    for start, end in spans:
        while start < end:
            if not midnight <= start < following:
                key, midnight, following = local_day(start)
            piece_end = min(end, following)
            if piece_end <= start:  # a clock oddity: never loop forever
                piece_end = end
            days[key] = days.get(key, 0.0) + (piece_end - start)
            start = piece_end
    return days


def times(runs: list[Spans], walls: list[Spans], idle: float) -> tuple[Spans, Spans]:
    """``(active spans, wall spans)`` of a session from its files' runs and walls.

    The session's wall is every file's walls, every stretch where events (of any files)
    are within the idle threshold of each other, and the gaps between one file's events
    and the next event of another file: files are merged in time order, and only a step
    back within one file's own order adds nothing.
    """
    dense = merge(runs, idle)
    pieces = [span for spans in walls for span in spans] + dense
    end: float | None = None
    owner = -1
    for start, stop, index in sorted(
        (start, stop, index) for index, spans in enumerate(runs) for start, stop in spans
    ):
        if end is not None and start > end and index != owner:
            pieces.append([end, start])  # from one file's event to another file's next
        if end is None or stop > end:
            end, owner = stop, index
    wall = merge([pieces], 0.0)
    reach = [[start, stop + idle] for start, stop in dense]
    return intersect(reach, wall), wall


def total(spans: Spans) -> float:
    return sum(end - start for start, end in spans)
