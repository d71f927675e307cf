"""Options several commands share, defined once so they read and behave the same."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

F = TypeVar("F", bound=Callable[..., Any])


def transcript_dirs(command: F) -> F:
    """``--<Adapter.dir_option>`` for every agent: where to look instead of its defaults.

    The command receives them as ``roots``: agent name -> the directories given, ``~``
    expanded and made absolute (an agent not named is absent: its defaults apply). The
    ledger keys sessions by the absolute paths hooks report; a relative directory would
    name every file differently from what the ledger holds.

    A directory that does not exist is allowed (``watch`` follows it from when it appears;
    a script may name every agent's directory where only one agent is installed): the
    commands that read once say so with :func:`note_missing_dirs` instead.
    """
    from keito_skill import agents

    adapters = agents.adapters()
    inner = command

    @functools.wraps(inner)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {a.name: kwargs.pop(_dir_param(a.name), ()) for a in adapters}
        kwargs["roots"] = {
            name: [_absolute(p.expanduser()) for p in dirs] for name, dirs in given.items() if dirs
        }
        return inner(*args, **kwargs)

    for adapter in reversed(adapters):
        click.option(
            f"--{adapter.dir_option}",
            _dir_param(adapter.name),
            multiple=True,
            type=click.Path(path_type=Path),
            help=adapter.dir_help,
        )(wrapper)
    return cast(F, wrapper)


def _absolute(path: Path) -> Path:
    """``path`` made absolute as the system reads it: ``..`` after a link is the link
    target's parent, so a path holding ``..`` is resolved (links followed) rather than
    collapsed first, as ``os.path.abspath`` would; any other keeps its links as named."""
    if ".." in path.parts:
        return Path(os.path.realpath(path))
    return Path(os.path.abspath(path))


def _dir_param(agent: str) -> str:
    return "dirs_" + agent.replace("-", "_")


def agent_bin_options(command: F) -> F:
    """``--<agent>-bin PATH`` for every agent whose adapter needs its own executable; the
    command receives them as keyword arguments named after the option."""
    from keito_skill import agents

    for adapter in reversed(agents.adapters()):
        if adapter.bin_option:
            command = click.option(
                f"--{adapter.bin_option}",
                adapter.bin_option.replace("-", "_"),
                metavar="PATH",
                default=None,
                help=f"{adapter.name} executable (default: PATH).",
            )(command)
    return command


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


def note_missing_dirs(roots: dict[str, list[Path]]) -> None:
    """One stderr line per directory given on the command line that is not there: a typo
    should not read as "0 sessions"."""
    for group in roots.values():
        for path in group:
            if not path.expanduser().is_dir():
                click.echo(f"keito-skill: note: no directory {path}; nothing read there", err=True)
