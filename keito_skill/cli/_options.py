"""Options several commands share, defined once so they read and behave the same."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def transcript_dirs(command: F) -> F:
    """``--claude-dir`` / ``--codex-dir``: where to look instead of the agents' defaults.

    A directory that does not exist is allowed (``watch`` follows it from when it appears;
    a script may name both agents' directories where only one agent is installed): the
    commands that read once say so with :func:`note_missing_dirs` instead.
    """
    command = click.option(
        "--codex-dir",
        "codex_dirs",
        multiple=True,
        type=click.Path(path_type=Path),
        help="Codex home (default: CODEX_HOME or ~/.codex). Repeatable.",
    )(command)
    return click.option(
        "--claude-dir",
        "claude_dirs",
        multiple=True,
        type=click.Path(path_type=Path),
        help="Claude Code config dir (default: CLAUDE_CONFIG_DIR or ~/.claude). Repeatable.",
    )(command)


def date_range(what: str) -> Callable[[F], F]:
    """``--since`` / ``--until`` (inclusive local days), worded for ``what`` they select.

    A range that ends before it starts is refused rather than answered with "nothing".
    """

    def in_order(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        since, until = (
            (value, ctx.params.get("until"))
            if param.name == "since"
            else (ctx.params.get("since"), value)
        )
        if since is not None and until is not None and since > until:
            other = (
                f"--until {until:%Y-%m-%d}"
                if param.name == "since"
                else f"--since {since:%Y-%m-%d}"
            )
            where = "after" if param.name == "since" else "before"
            raise click.BadParameter(f"{value:%Y-%m-%d} is {where} {other}", ctx, param)
        return value

    def decorate(command: F) -> F:
        day = click.DateTime(["%Y-%m-%d"])
        command = click.option(
            "--until",
            type=day,
            default=None,
            callback=in_order,
            help=f"YYYY-MM-DD: only {what} until then.",
        )(command)
        return click.option(
            "--since",
            type=day,
            default=None,
            callback=in_order,
            help=f"YYYY-MM-DD: only {what} since then.",
        )(command)

    return decorate


def note_missing_dirs(*dirs: Iterable[Path]) -> None:
    """One stderr line per directory given on the command line that is not there: a typo
    should not read as "0 sessions"."""
    for group in dirs:
        for path in group:
            if not path.expanduser().is_dir():
                click.echo(f"keito-skill: note: no directory {path}; nothing read there", err=True)
