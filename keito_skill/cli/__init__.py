"""The ``keito-skill`` command line.

Sub-commands are imported lazily (see :class:`_LazyGroup`): the hook path must not pay
for the HTTP stack, rich, or pricing data it never uses.
"""

from __future__ import annotations

import errno
import importlib
import sqlite3
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from keito_skill import __version__
from keito_skill.errors import KeitoSkillError

# command name -> "module:attribute"; one line per command, kept sorted.
_COMMANDS: dict[str, str] = {
    "auth": "keito_skill.cli.auth_cmd:auth",
    "backfill": "keito_skill.cli.backfill_cmd:backfill",
    "dev-server": "keito_skill.cli.devserver_cmd:dev_server",
    "disable": "keito_skill.cli.control_cmd:disable",
    "doctor": "keito_skill.cli.doctor_cmd:doctor",
    "enable": "keito_skill.cli.control_cmd:enable",
    "hook": "keito_skill.cli.hook_cmd:hook",
    "init": "keito_skill.cli.init_cmd:init",
    "install": "keito_skill.cli.install_cmd:install",
    "parse": "keito_skill.cli.parse_cmd:parse",
    "pause": "keito_skill.cli.control_cmd:pause",
    "report": "keito_skill.cli.report_cmd:report",
    "resume": "keito_skill.cli.control_cmd:resume",
    "sessions": "keito_skill.cli.parse_cmd:sessions",
    "status": "keito_skill.cli.sync_cmd:status",
    "sync": "keito_skill.cli.sync_cmd:sync",
    "uninstall": "keito_skill.cli.install_cmd:uninstall",
    "watch": "keito_skill.cli.watch_cmd:watch",
}


class _LazyGroup(click.Group):
    """A click group whose sub-commands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeitoSkillError as exc:
            _fail(str(exc), exc.exit_code)
        except sqlite3.DatabaseError as exc:  # a damaged ledger, a disk full mid-write
            from keito_skill.ledger import ledger_error, skill_home

            _fail(str(ledger_error(skill_home() / "ledger.sqlite3", exc)))
        except OSError as exc:
            if exc.errno not in _DISK_ERRNOS:
                raise
            from keito_skill._diskerrors import classify, fix_for

            where = Path(exc.filename) if exc.filename else Path.cwd()
            _fail(f"{exc.strerror}: {fix_for(classify(where, exc) or 'disk full', where)}")

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Usage errors as one line, like every other error (click prints three).

        A caller that asks for ``standalone_mode=False`` (an in-process run, e.g. the
        benchmarks) gets the command's return value back instead of an exit."""
        standalone = kwargs.get("standalone_mode", True)
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.UsageError as exc:
            if isinstance(exc, _NO_ARGS):  # a bare ``keito-skill``: the help is the answer
                exc.show()
                sys.exit(exc.exit_code)
            where = exc.ctx.command_path if exc.ctx is not None else "keito-skill"
            _fail(f"{exc.format_message().rstrip('.')}; see '{where} --help'")
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        if not standalone:
            return code
        sys.exit(code if isinstance(code, int) else 0)


_NO_ARGS: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, getattr(errno, "EDQUOT", errno.ENOSPC)})


def _fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"keito-skill: error: {message}", err=True)
    sys.exit(code)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="keito-skill")
def cli() -> None:
    """Turn coding-agent sessions into Keito time entries and LLM expenses."""


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="keito-skill")
