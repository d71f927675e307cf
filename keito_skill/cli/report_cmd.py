"""``report``: hours, tokens and cost from the ledger, grouped as asked."""

from __future__ import annotations

from typing import Any

import click

from keito_skill.cli._options import date_range
from keito_skill.cli._output import emit_json, human_tokens, print_table
from keito_skill.ledger import Ledger
from keito_skill.report import known_projects, report_rows
from keito_skill.transcripts import AGENTS

_TOKEN_HEADERS = ("input", "cache write", "cache read", "output", "cost")


@click.command()
@date_range("days")
@click.option(
    "--by",
    type=click.Choice(["day", "project", "model", "agent"]),
    default="day",
    show_default=True,
)
@click.option(
    "--agent", type=click.Choice(AGENTS), default=None, help="Only this agent's sessions."
)
@click.option(
    "--project",
    default=None,
    help="Only sessions billed to this Keito project (its id, or the name in the repo config).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def report(
    since: Any, until: Any, by: str, agent: str | None, project: str | None, as_json: bool
) -> None:
    """Hours, tokens and cost of recorded sessions, by day, project, model or agent."""
    first, last = (when.date() if when else None for when in (since, until))
    with Ledger.for_reading() as ledger:
        rows = report_rows(ledger, by=by, since=first, until=last, agent=agent, project=project)
        # none for that project: the ones that have sessions (a typo, another spelling?)
        known = known_projects(ledger, first, last, agent) if project and not rows else []
    if as_json:
        emit_json({"by": by, "agent": agent, "project": project, "rows": rows})
        return
    only = "".join(
        f" {word} {value}" for word, value in (("of", agent), ("for project", project)) if value
    )
    if not rows:
        span = "".join(
            f" {word} {when.date().isoformat()}"
            for word, when in (("from", since), ("until", until))
            if when
        )
        hint = (
            f" Projects with recorded sessions{span}: {', '.join(known)}."
            if known
            else " 'keito-skill backfill' records the ones hooks missed."
        )
        click.echo(f"No recorded sessions{only}{span}.{hint}")
        return
    rounding = sorted({r["rounding"] for r in rows if r.get("rounding")})
    title = f"Agent work{only} by {by}"
    if rounding:
        title += f" (billed: as the account's rounding {', '.join(rounding)} would bill it)"
    print_table(
        title,
        [by, "sessions", "hours", *(["billed"] if rounding else []), *_TOKEN_HEADERS],
        [
            [
                f"{r['project_name']} ({r[by]})" if r.get("project_name") else r[by],
                r["sessions"],
                f"{r['hours']:.2f}",
                *([f"{r['rounded_hours']:.2f}"] if rounding else []),
                human_tokens(r["input_tokens"]),
                human_tokens(r["cache_creation_input_tokens"]),
                human_tokens(r["cache_read_input_tokens"]),
                human_tokens(r["output_tokens"]),
                f"${r['cost_usd']:.4f}" + ("" if r["cost_complete"] else " +?"),
            ]
            for r in rows
        ],
    )
