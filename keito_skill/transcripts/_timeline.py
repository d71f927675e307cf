"""A session's working time as sets of intervals: exact in any order, over any files.

Two sorted lists of disjoint ``[start, end]`` spans are kept per transcript file:

* ``runs``: stretches of events where each is at most the idle threshold after the one
  before; a new run starts after a longer silence.
* ``walls``: the union of the forward steps between consecutive events in the order the
  file lists them. A clock that steps back adds nothing, and an event written late (Claude
  Code writes a ``/compact`` line after the compaction it precedes) adds only what no other
  step covers.

Wall time is the size of ``walls``. Active time is the part of ``walls`` within the idle
threshold after some event: ``walls ∩ ⋃ [run start, run end + idle]``, which equals the sum
of the gaps between time-sorted events, each capped at the threshold. Both are functions of
the set of events alone, so reading a file in two halves gives what reading it once gives,
and a session's files (main transcript, subagents) merge by uniting their spans.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import datetime, timedelta

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


def by_day(spans: Spans) -> dict[str, float]:
    """Seconds of ``spans`` on each local calendar day (split exactly at local midnight)."""
    days: dict[str, float] = {}
    for start, end in spans:
        while start < end:
            local = datetime.fromtimestamp(start).astimezone()
            midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
            following = (midnight + timedelta(days=1)).replace(
                hour=0, minute=0, second=0, microsecond=0
            )
            piece_end = min(end, following.timestamp())
            if piece_end <= start:  # a clock oddity: never loop forever
                piece_end = end
            key = midnight.date().isoformat()
            days[key] = days.get(key, 0.0) + (piece_end - start)
            start = piece_end
    return days


def times(runs: list[Spans], walls: list[Spans], idle: float) -> tuple[Spans, Spans]:
    """``(active spans, wall spans)`` of a session from its files' runs and walls."""
    wall = merge(walls, 0.0)
    reach = [[start, end + idle] for start, end in merge(runs, idle)]
    return intersect(reach, wall), wall


def total(spans: Spans) -> float:
    return sum(end - start for start, end in spans)
