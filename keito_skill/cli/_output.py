"""Output helpers shared by commands: JSON for machines, rich tables for people.

rich is imported inside the functions so commands that print JSON never load it.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Sequence
from typing import Any

import orjson

from keito_skill._words import counted

__all__ = [
    "SendingBar",
    "counted",
    "emit_json",
    "emit_json_list",
    "human_seconds",
    "human_tokens",
    "print_table",
]

_ORJSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def emit_json(data: Any) -> None:
    """Write ``data`` as indented JSON on stdout (dates and Decimals as strings).

    orjson writes a first backfill's thousands of sessions about ten times faster than the
    JSON module; anything it refuses (an integer over 64 bits) falls back to the latter.
    """
    _write(_encoded(data, indent=True))


def emit_json_list(key: str, items: Sequence[Any]) -> None:
    """Write ``{key: [items]}`` on stdout, one item per line.

    A ``str`` item is a JSON text, written as it is (``bytes``: its UTF-8): a listing of
    thousands of summaries stored as JSON spent most of its time decoding them only to
    encode them again. Anything else is encoded as :func:`emit_json` would (compactly).
    """
    head = b"{" + json.dumps(key).encode() + b": "
    if not items:
        _write(head + b"[]}")
        return
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a text-only stream (some test harnesses)
        parts = [_as_bytes(item) for item in items]
        _write(head + b"[\n" + b",\n".join(parts) + b"\n]}")
        return
    sys.stdout.flush()
    buffer.write(head + b"[\n")
    for index, item in enumerate(items):  # written as they are: no 12 MB joined copy
        if index:
            buffer.write(b",\n")
        buffer.write(_as_bytes(item))
    buffer.write(b"\n]}\n")
    buffer.flush()


def _as_bytes(item: Any) -> bytes:
    if isinstance(item, bytes):
        return item
    return item.encode() if isinstance(item, str) else _encoded(item)


def _encoded(data: Any, *, indent: bool = False) -> bytes:
    """``data`` as JSON (indented or compact): orjson, or for what it refuses (an integer
    over 64 bits) the JSON module."""
    options = _ORJSON_OPTIONS if indent else _ORJSON_OPTIONS & ~orjson.OPT_INDENT_2
    try:
        return orjson.dumps(data, default=str, option=options)
    except TypeError:
        spacing: dict[str, Any] = {"indent": 2} if indent else {"separators": (",", ":")}
        return json.dumps(data, default=str, ensure_ascii=False, **spacing).encode()


def _write(text: bytes) -> None:
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a text-only stream (some test harnesses)
        sys.stdout.write(text.decode() + "\n")
        return
    sys.stdout.flush()
    buffer.write(text + b"\n")
    buffer.flush()


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A table for people. Nothing in it is ever cut short: in a narrow terminal long values
    (session ids, paths) fold onto further lines, and into a pipe or a file the table is as
    wide as its contents (rich would otherwise assume 80 columns and elide them).

    Cells are text, never rich markup: a directory named ``[/]`` once stopped ``sessions``
    with a traceback, and ``[red]`` or ``:smile:`` in a value was rendered, not shown.
    A table that needs no folding is drawn here, as rich draws it (the same characters; a
    test holds the two equal): rich took 3.6 s to draw 3,374 sessions, ~1 ms a row.
    """
    from rich.console import Console

    cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
    right = [
        index > 0 and max((len(row[index]) for row in cells), default=0) <= _SHORT
        for index in range(len(columns))
    ]  # figures right, names and long text (ids, paths) left
    piped = not sys.stdout.isatty() and not os.environ.get("COLUMNS")
    console = Console(width=_UNBOUNDED if piped else None)
    styled = console.color_system is not None  # rich writes styles only then
    # Box characters need a UTF-8 stream (rich draws ASCII boxes otherwise), and a legacy
    # Windows console takes styles through its own API, not escape codes.
    plain = console.encoding.lower().startswith("utf") and not console.legacy_windows
    drawn = _drawn(title, list(columns), cells, right, console.width, styled) if plain else None
    if drawn is not None:
        sys.stdout.write(drawn)
        sys.stdout.flush()
        return
    console.print(_rich_table(title, list(columns), cells, right))


def _rich_table(title: str, columns: list[str], cells: list[list[str]], right: list[bool]) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title, style="table.title"), show_lines=False)
    for index, name in enumerate(columns):
        column = Text(name)
        if index == 0:  # names (model, session, date) must never be cut short
            table.add_column(column, justify="left", no_wrap=True, min_width=len(name))
        elif right[index]:
            table.add_column(column, justify="right", overflow="fold")  # figures
        else:  # long text (ids, paths) gives way first when the terminal is narrow
            table.add_column(column, overflow="fold")
    for row in cells:
        table.add_row(*(Text(cell) for cell in row))
    return table


# Characters rich lays out in ways of its own (line breaks, tabs, control codes).
_SPECIAL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_BOLD, _ITALIC, _RESET = "\x1b[1m", "\x1b[3m", "\x1b[0m"


def _drawn(
    title: str,
    columns: list[str],
    cells: list[list[str]],
    right: list[bool],
    width: int,
    styled: bool,
) -> str | None:
    """The table as rich's default style draws it (heavy head, light body; on a terminal a
    bold header and an italic title), or None when rich must lay it out: a value it would
    fold to fit, a title wider than the table, a character it treats specially, a value
    with spaces at an edge."""
    from rich.cells import cell_len

    if not title or not all(columns):  # not ours: rich's own rules for those
        return None
    if _SPECIAL.search("".join([title, *columns, *("".join(row) for row in cells)])):
        return None
    if any(v != v.strip() for v in (title, *columns)):  # rich trims some edges, not others
        return None
    widths = [cell_len(column) for column in columns]
    if 0 in widths:  # a header of zero-width characters: rich drops them
        return None
    widths[0] = max(widths[0], len(columns[0]))  # the first column's min_width (rich)
    for row in cells:
        for index, cell in enumerate(row):
            size = cell_len(cell)
            if (size == 0 and cell) or cell != cell.strip():  # as for the headers
                return None
            widths[index] = max(widths[index], size)
    total = sum(widths) + 3 * len(widths) + 1
    if total > width or cell_len(title) > total:
        return None

    def line(values: list[str], edge: str, sep: str, bold: bool = False) -> str:
        parts = []
        for index, value in enumerate(values):
            pad = " " * (widths[index] - cell_len(value))
            text = pad + value if right[index] else value + pad
            if bold:
                parts.append(f"{_BOLD} {_RESET}{_BOLD}{text}{_RESET}{_BOLD} {_RESET}")
            else:
                parts.append(f" {text} ")
        return edge + sep.join(parts) + edge + "\n"

    def rule(left: str, fill: str, sep: str, end: str) -> str:
        return left + sep.join(fill * (w + 2) for w in widths) + end + "\n"

    space = total - cell_len(title)
    heading = " " * (space // 2) + title + " " * (space - space // 2)
    out = [f"{_ITALIC}{heading}{_RESET}\n" if styled else heading + "\n"]
    out.append(rule("┏", "━", "┳", "┓"))
    out.append(line(columns, "┃", "┃", bold=styled))
    out.append(rule("┡", "━", "╇", "┩"))
    out.extend(line(row, "│", "│") for row in cells)
    out.append(rule("└", "─", "┴", "┘"))
    return "".join(out)


_UNBOUNDED = 100_000
_SHORT = 16


def human_tokens(value: int) -> str:
    return f"{value:,}"


def human_seconds(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


# Fewer records than this are sent in a moment: no bar.
_BAR_FROM_RECORDS = 20


class SendingBar:
    """A "Sending to Keito" bar on stderr, when stderr is a terminal and there is enough to
    send that a user would otherwise wait in silence (a first sync after a backfill can be
    thousands of records). Used as ``run_sync(..., progress=bar)`` inside ``with``; called
    from the sending threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bar: Any = None
        self._task: Any = None
        self._total = self._settled = 0

    def __enter__(self) -> SendingBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __call__(self, settled: int, total: int) -> None:
        with self._lock:
            if self._bar is None:
                if total < _BAR_FROM_RECORDS or not sys.stderr.isatty():
                    return
                self._bar = _sending_progress()
                self._bar.start()
            if self._task is None or total != self._total or settled < self._settled:
                self._task = self._bar.add_task("send", total=total)  # a further pass
                self._total = total
            self._settled = settled
            self._bar.update(self._task, completed=settled)


def _sending_progress() -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]Sending to Keito[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("records"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
