"""The chunked line reader: every line whole, wherever the chunk boundaries fall."""

from __future__ import annotations

import io

import pytest

from keito_skill.transcripts._reader import LineSource


def _read(data: bytes, offset: int = 0, **kwargs: int) -> tuple[list[bytes], LineSource]:
    source = LineSource(io.BytesIO(data), offset, **kwargs)
    lines = [bytes(buf[start:end]) for buf, start, end in source]
    return lines, source


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1 << 20])
def test_every_line_is_whole_whatever_the_chunk(chunk: int) -> None:
    lines = [b'{"a":1}\n', b"\n", b'{"b":"' + b"x" * 150 + b'"}\n', b"{}\r\n", b'{"c":3}\n']
    data = b"".join(lines)
    got, source = _read(data, chunk=chunk)
    assert got == lines
    assert source.offset == len(data)
    assert not source.partial_tail and source.oversized == 0


@pytest.mark.parametrize("chunk", [1, 5, 1 << 20])
def test_a_half_written_last_line_is_left_for_later(chunk: int) -> None:
    data = b'{"a":1}\n{"b":2}\n{"c":'
    got, source = _read(data, chunk=chunk)
    assert got == [b'{"a":1}\n', b'{"b":2}\n']
    assert source.offset == 16  # the next read starts at the unfinished line
    assert source.partial_tail
    again, _ = _read(data + b"3}\n", source.offset, chunk=chunk)
    assert again == [b'{"c":3}\n']


@pytest.mark.parametrize("chunk", [4, 16, 1 << 20])
def test_an_oversized_line_is_skipped_and_counted(chunk: int) -> None:
    big = b'{"x":"' + b"y" * 100 + b'"}\n'
    data = b'{"a":1}\n' + big + b'{"b":2}\n'
    got, source = _read(data, chunk=chunk, max_line=32)
    assert got == [b'{"a":1}\n', b'{"b":2}\n']
    assert source.oversized == 1
    assert source.offset == len(data)


def test_an_oversized_line_still_being_written_is_not_skipped_yet() -> None:
    data = b'{"a":1}\n{"x":"' + b"y" * 100
    got, source = _read(data, chunk=8, max_line=32)
    assert got == [b'{"a":1}\n']
    assert source.partial_tail and source.oversized == 0
    assert source.offset == 8


def test_reading_resumes_from_an_offset() -> None:
    data = b'{"a":1}\n{"b":2}\n'
    got, source = _read(data, 8, chunk=3)
    assert got == [b'{"b":2}\n']
    assert source.offset == len(data)


class _Recording(io.BytesIO):
    """A file that notes how many bytes each read asked for."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.asked: list[int] = []

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        self.asked.append(len(buffer))
        return super().readinto(buffer)


def test_a_buffer_kept_from_an_earlier_read_is_read_only_as_far_as_the_chunk() -> None:
    # The reader before leaves its 1 MB buffer for the next: the next still reads in its
    # own small steps (so a long line grows and is skipped exactly as with a fresh buffer).
    first = {id(buf) for buf, _, _ in LineSource(io.BytesIO(b'{"a":1}\n' * 1000), 0)}
    big = b'{"x":"' + b"y" * 100 + b'"}\n'
    data = b'{"a":1}\n' + big + b'{"b":2}\n'
    handle = _Recording(data)
    source = LineSource(handle, 0, chunk=4, max_line=32)
    got, used = [], set()
    for buf, start, end in source:
        got.append(bytes(buf[start:end]))
        used.add(id(buf))
    assert used == first  # the same buffer: kept, not made again
    assert got == [b'{"a":1}\n', b'{"b":2}\n']
    assert source.oversized == 1 and source.offset == len(data)
    assert handle.asked[0] == 4
    assert max(handle.asked) <= 64
