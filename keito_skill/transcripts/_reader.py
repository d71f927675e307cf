"""Streaming JSONL reading from a byte offset, tolerant of everything a live file does.

Agents append to their transcript while we read it, so the last line may be half-written:
it is left unread (the offset stops before it) and picked up by the next read. Lines that
are not JSON objects, not UTF-8, or larger than :data:`MAX_LINE_BYTES` are skipped and
counted; nothing here raises on content.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import IO, Any

_fast_loads: Callable[[bytes], Any] | None
try:  # orjson decodes transcripts about twice as fast; the stdlib is the fallback.
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - a declared dependency, but not on every platform
    _fast_loads = None

MAX_LINE_BYTES = 64 * 1024 * 1024
_CHUNK = 1024 * 1024


class LineSource:
    """Yields ``(line_bytes, end_offset)`` for every complete line after ``offset``."""

    def __init__(self, handle: IO[bytes], offset: int) -> None:
        self._handle = handle
        self.offset = offset
        self.oversized = 0
        self.partial_tail = False

    def __iter__(self) -> Iterator[bytes]:
        handle = self._handle
        handle.seek(self.offset)
        readline = handle.readline
        while True:
            line = readline(MAX_LINE_BYTES)
            if not line:
                return
            if line[-1:] != b"\n":
                if len(line) < MAX_LINE_BYTES:
                    # End of file inside a line: the agent is still writing it.
                    self.partial_tail = True
                    return
                skipped = self._skip_rest(len(line))
                if skipped is None:
                    self.partial_tail = True
                    return
                self.offset += skipped
                self.oversized += 1
                continue
            self.offset += len(line)
            yield line

    def _skip_rest(self, already: int) -> int | None:
        """Discard the rest of an oversized line; its total length, or None at EOF."""
        total = already
        read = self._handle.read
        while True:
            chunk = read(_CHUNK)
            if not chunk:
                return None
            cut = chunk.find(b"\n")
            if cut >= 0:
                total += cut + 1
                self._handle.seek(self.offset + total)
                return total
            total += len(chunk)


def decode(line: bytes) -> dict[str, Any] | None:
    """One JSONL line as a dict, or None when it is blank or cannot be read.

    What orjson refuses but the JSON module reads (NaN, integers over 64 bits, lone
    surrogate escapes) is retried with the JSON module, so both give the same answers.
    """
    value: Any
    try:
        if _fast_loads is None:
            raise ValueError
        value = _fast_loads(line)
    except ValueError:
        try:
            value = json.loads(line)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None
    return value if isinstance(value, dict) else None


Feed = Callable[[dict[str, Any]], None]
