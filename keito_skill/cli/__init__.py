"""The ``keito-skill`` command line.

Sub-commands are imported lazily (see :class:`_LazyGroup`): the hook path must not pay
for the HTTP stack, rich, or pricing data it never uses.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

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
            click.echo(f"keito-skill: error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="keito-skill")
def cli() -> None:
    """Turn Claude Code and Codex sessions into Keito time entries and LLM expenses."""


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="keito-skill")
