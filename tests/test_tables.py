"""Tables for people (``keito_skill.cli._output.print_table``).

A table that needs no folding is drawn by our own code, not rich's layout engine (rich took
3.6 s for 3,374 sessions). It must be exactly what rich draws, character for character and
style for style, or users would see two looks; and values are shown as text, never read as
rich markup.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from keito_skill.cli._output import _drawn, _rich_table, print_table
from tests.sessions_kit import ROOT

# Values like the ones tables show, plus what rich would treat as markup or emoji codes,
# and wide (CJK) and combining characters.
_CELL = st.one_of(
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Co", "Cn")),
        max_size=24,
    ),
    st.sampled_from(["[/]", "[red]x", ":smile:", "世界", "é", "e\u0301", "$1.2345", "12,345"]),
)


def _rich(
    title: str, columns: list[str], cells: list[list[str]], right: list[bool], term: str | None
) -> str:
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=100_000,
        force_terminal=term is not None,
        color_system=term,  # type: ignore[arg-type]
    )
    console.print(_rich_table(title, columns, cells, right))
    return buffer.getvalue()


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    ncols=st.integers(min_value=1, max_value=5),
    nrows=st.integers(min_value=0, max_value=6),
    term=st.sampled_from([None, "standard", "256", "truecolor"]),
)
def test_our_drawing_is_exactly_richs(
    data: st.DataObject, ncols: int, nrows: int, term: str | None
) -> None:
    title = data.draw(_CELL)
    columns = [data.draw(_CELL) for _ in range(ncols)]
    cells = [[data.draw(_CELL) for _ in range(ncols)] for _ in range(nrows)]
    right = [False, *(data.draw(st.booleans()) for _ in range(ncols - 1))]
    ours = _drawn(title, columns, cells, right, 100_000, term is not None)
    if ours is None:  # left to rich: a title wider than the table, or a special character
        return
    assert ours == _rich(title, columns, cells, right, term)


def test_a_table_too_wide_for_the_terminal_is_left_to_rich() -> None:
    cells = [["a" * 30, "b" * 30]]
    assert _drawn("t", ["x", "y"], cells, [False, False], 40, True) is None
    assert _drawn("t", ["x", "y"], cells, [False, False], 80, True) is not None
    assert _drawn("t", ["x", "y"], [["line\nbreak", "y"]], [False, False], 80, True) is None


@pytest.mark.parametrize("value", ["/tmp/[/]x", "/tmp/[red]x", "a :smile: b", "[bold]"])
@pytest.mark.parametrize("columns_env", [None, "30"])
def test_values_are_shown_as_they_are_never_as_markup(value: str, columns_env: str | None) -> None:
    """Piped (drawn here) and in a narrow terminal (folded by rich) alike: a directory named
    ``[/]`` once ended ``sessions`` with a traceback."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns_env:
        env["COLUMNS"] = columns_env
    probe = (
        "import json, sys; from keito_skill.cli._output import print_table;"
        "print_table(sys.argv[1], ['name', 'where'], [['s1', sys.argv[1]]])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, value],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    shown = "".join(line.strip("│┃ \n") for line in done.stdout.splitlines()[3:-1])
    assert value.replace(" ", "") in shown.replace(" ", "").replace("│", ""), done.stdout
    assert json.dumps(value)  # the value itself is plain text


def test_print_table_writes_the_drawn_table_when_piped(capsys: pytest.CaptureFixture[str]) -> None:
    print_table("Sessions", ["id", "tokens"], [["s1", "1,234"], ["s2", None]])
    out = capsys.readouterr().out
    assert out == _rich(
        "Sessions", ["id", "tokens"], [["s1", "1,234"], ["s2", ""]], [False, True], None
    )


def test_a_stream_that_is_not_utf8_gets_richs_ascii_table() -> None:
    """Box characters cannot be written to a latin-1 pipe (a Windows code page): rich
    draws ASCII there, and so the table is left to it."""
    probe = (
        "from keito_skill.cli._output import print_table;"
        "print_table('Sessions', ['id', 'tokens'], [['s1', '1,234']])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "latin-1"},
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode("latin-1")
    assert "s1" in text and "1,234" in text and "┃" not in text
