"""The least any Python reader of a corpus must spend: the floor under ``backfill``'s parse.

Measured in one process on a warm page cache, as CPU time:

* ``iterate``: every line handed out by the reader ``backfill`` uses (``LineSource``: 1 MB
  chunks into one buffer, no copies), and nothing else done with it;
* ``iterate + decode usage``: the same, plus decoding with orjson each line that carries
  token usage (a Claude Code ``"usage":{`` line, a Codex ``token_count`` event): the least a
  reader reporting tokens per session must decode.

Everything ``backfill`` does on top of this (timelines, prompts, tool calls, the dedupe of
repeated responses, session days, summaries and prices) is what it costs beyond the floor.
With two cores the floor halves at best; set it next to ccusage's whole run to see how much
room a pure-Python reader has at all.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from keito_skill.transcripts._reader import LineSource

_USAGE_MARKS = (b'"usage":{', b'"token_count"')


def _usage_lines(path: Path) -> frozenset[int]:
    """Which lines of ``path`` carry usage: found beforehand, outside the timed passes, so the
    floor holds only the decoding, not the search (a reader would spend more, not less)."""
    with path.open("rb") as handle:
        return frozenset(
            index for index, line in enumerate(handle) if any(mark in line for mark in _USAGE_MARKS)
        )


def _pass(files: list[tuple[Path, frozenset[int]]], *, decode: bool) -> tuple[int, int, float]:
    lines = decoded = 0
    loads = orjson.loads
    started = time.process_time()
    for path, wanted in files:
        with path.open("rb", buffering=0) as handle:
            for index, (buf, start, end) in enumerate(LineSource(handle, 0)):
                if decode and index in wanted:
                    loads(buf[start:end])
                    decoded += 1
                lines += 1
    return lines, decoded, time.process_time() - started


def measure(files: list[Path]) -> dict[str, Any]:
    """Both passes over ``files`` (read once before, so the page cache is warm)."""
    marked = [(path, _usage_lines(path)) for path in files]
    lines, _, iterate = _pass(marked, decode=False)
    again, usage_lines, both = _pass(marked, decode=True)
    assert again == lines
    return {
        "lines": lines,
        "usage_lines": usage_lines,
        "iterate_cpu_s": round(iterate, 3),
        "iterate_and_decode_usage_cpu_s": round(both, 3),
    }
