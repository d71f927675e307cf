"""Streaming JSONL reading from a byte offset, tolerant of everything a live file does.

Agents append to their transcript while we read it, so the last line may be half-written:
it is left unread (the offset stops before it) and picked up by the next read. Lines that
are not JSON objects, not UTF-8, or larger than :data:`MAX_LINE_BYTES` are skipped and
counted; nothing here raises on content.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

from keito_skill import _orjson
from keito_skill._text import may_hold_half_pairs, whole_characters

TYPE_CHECKING = False  # mypy takes it for typing's; importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from typing import IO, Any

_orjson_module = _orjson.load()  # decodes transcripts about twice as fast as the stdlib
FAST_LOADS: Callable[[bytes | bytearray], Any] | None = (
    _orjson_module.loads if _orjson_module is not None else None
)

MAX_LINE_BYTES = 64 * 1024 * 1024
READ_CHUNK = 4 * 1024 * 1024

# Buffers kept for the next file this process reads. A backfill reads thousands of files
# one after the other; a fresh buffer for each costs its allocation, zeroing and page faults
# (~0.1 s of CPU for the benchmark's 1 GB). One that grew for a very long line is let go.
_spare: list[bytearray] = []
_SPARE_MAX_BYTES = 2 * READ_CHUNK


def _borrow(size: int) -> bytearray:
    """A buffer of at least ``size`` bytes, a kept one when it is large enough."""
    try:
        buf = _spare.pop()  # no check first: another thread may take it in between
    except IndexError:
        return bytearray(size)
    return buf if len(buf) >= size else bytearray(size)


def _give_back(buf: bytearray) -> None:
    if len(buf) <= _SPARE_MAX_BYTES and not _spare:
        _spare.append(buf)


class LineSource:
    """Yields ``(buffer, start, end)`` for every complete line after ``offset``.

    ``buffer[start:end]`` is the line, newline included. The file is read in large chunks
    into one reused buffer, and lines are handed out as positions in it rather than as
    copies: a parser can look at a long tool-output line with a regex (``pattern.match(
    buffer, start, end)``) without its megabytes ever being copied. The buffer's contents
    are valid only until the next line is asked for. ``offset`` is always the end of the
    last complete line handed out.
    """

    def __init__(
        self,
        handle: IO[bytes],
        offset: int,
        *,
        chunk: int = READ_CHUNK,
        max_line: int = MAX_LINE_BYTES,
        deadline: float | None = None,
    ) -> None:
        self._handle = handle
        self._deadline = deadline  # time.monotonic() after which reading stops early
        self._chunk = max(1, chunk)
        self._max_line = max_line
        self.offset = offset
        self.oversized = 0
        self.partial_tail = False
        self.cut_short = False  # stopped at the deadline; ``offset`` is still a line end

    def __iter__(self) -> Iterator[tuple[bytearray, int, int]]:
        handle = self._handle
        handle.seek(self.offset)
        readinto = handle.readinto  # type: ignore[attr-defined]
        # ``size`` is how much is read into ``buf`` (which may be larger: a kept one).
        size = self._chunk
        buf = _borrow(size)
        try:
            find = buf.find
            base = self.offset  # the file offset of buf[0]
            pos = filled = 0  # buf[pos:filled] is read but not yet handed out
            max_line = self._max_line
            while True:
                cut = find(b"\n", pos, filled)
                if cut >= 0:
                    end = cut + 1
                    self.offset = base + end
                    if end - pos <= max_line:
                        yield buf, pos, end
                    else:
                        self.oversized += 1
                    pos = end
                    continue
                if pos:  # keep the unfinished line: move it to the front
                    buf[: filled - pos] = buf[pos:filled]
                    base += pos
                    filled -= pos
                    pos = 0
                if filled >= max_line:
                    found = self._skip_oversized(buf, base + filled, size)
                    if found is None:
                        self.partial_tail = True
                        return
                    base, pos, filled = found
                    self.offset = base + pos
                    self.oversized += 1
                    continue
                if self._deadline is not None and time.monotonic() > self._deadline:
                    self.cut_short = True  # the rest is read next time, from ``offset``
                    return
                if filled == size:  # a line longer than what is read at once
                    size += min(size, max_line)
                    if size > len(buf):
                        buf.extend(bytes(size - len(buf)))
                with memoryview(buf) as view:
                    got = readinto(view[filled:size])
                if not got:
                    self.partial_tail = filled > 0  # the agent is still writing that line
                    return
                filled += got
        finally:
            _give_back(buf)

    def _skip_oversized(self, buf: bytearray, at: int, size: int) -> tuple[int, int, int] | None:
        """Read past the rest of a line too long to keep; ``(base, pos, filled)`` after it,
        or None when the file ends inside it."""
        readinto = self._handle.readinto  # type: ignore[attr-defined]
        while True:
            with memoryview(buf) as view:
                got = readinto(view[:size])
            if not got:
                return None
            cut = buf.find(b"\n", 0, got)
            if cut >= 0:
                return at, cut + 1, got
            at += got


def decode(line: bytes | bytearray) -> dict[str, Any] | None:
    """One JSONL line as a dict, or None when it is blank or cannot be read.

    What orjson refuses but the JSON module reads (NaN, integers over 64 bits, lone
    surrogate escapes) is retried with the JSON module, so both give the same answers.
    Half surrogate pairs in strings become U+FFFD (see :mod:`keito_skill._text`).
    """
    value: Any
    if FAST_LOADS is None:
        return decode_slowly(line)
    try:
        value = FAST_LOADS(line)
    except ValueError:
        return decode_slowly(line)
    return value if isinstance(value, dict) else None


def decode_slowly(line: bytes | bytearray) -> dict[str, Any] | None:
    """:func:`decode` with the JSON module alone: for a hook, and for what orjson refuses."""
    try:
        value = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if may_hold_half_pairs(line):
        value = whole_characters(value)
    return value if isinstance(value, dict) else None
