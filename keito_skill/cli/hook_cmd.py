"""``hook`` as a click command, for ``--help`` and completeness.

The console script never reaches this for a real hook call: it dispatches ``hook`` to
:func:`keito_skill.hooks.main` before click is imported, to stay fast.
"""

from __future__ import annotations

import sys

import click

from keito_skill import agents
from keito_skill.hooks import EVENTS
from keito_skill.hooks import main as hook_main


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("event", type=click.Choice(EVENTS))
@click.option("--agent", type=click.Choice(agents.names()), required=True)
def hook(event: str, agent: str) -> None:
    """Record a hook call from a coding agent (JSON payload on stdin). Always exits 0."""
    sys.exit(hook_main([event, "--agent", agent]))
