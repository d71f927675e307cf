"""``parse`` and ``sessions``: read transcripts and show what they add up to."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from keito_skill.cli._options import date_range, note_missing_dirs, transcript_dirs
from keito_skill.cli._output import (
    counted,
    emit_json,
    emit_json_list,
    human_seconds,
    human_tokens,
    print_table,
)
from keito_skill.errors import TranscriptError
from keito_skill.transcripts import AGENTS, DEFAULT_IDLE_SECONDS, main_file, parse_session

if TYPE_CHECKING:  # pydantic models: ``sessions`` lists what the ledger stored without them
    from keito_skill.summary import SessionSummary

agent_option = click.option(
    "--agent",
    type=click.Choice(AGENTS),
    default=None,
    help="Which agent wrote it (default: detect).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
idle_option = click.option(
    "--idle-minutes",
    type=click.IntRange(min=1),
    default=DEFAULT_IDLE_SECONDS // 60,
    show_default=True,
    help="Gaps between events longer than this count only this long as active time.",
)


def summary_json(summary: SessionSummary) -> dict[str, Any]:
    return summary.model_dump(mode="json")


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@agent_option
@json_option
@idle_option
def parse(path: Path, agent: str | None, as_json: bool, idle_minutes: int) -> None:
    """Summarise one transcript: time, models, tokens and cost."""
    if not path.exists():
        raise TranscriptError(f"no such file: {path}")
    if path.is_dir():
        raise TranscriptError(f"{path} is a directory, not a transcript file")
    from keito_skill.summary import summarize

    path = main_file(agent, path)  # a 2.0.x subagent file: its session
    states, paths = parse_session(path, agent=agent, idle_seconds=idle_minutes * 60)
    summary = summarize(states, [str(p) for p in paths])
    if as_json:
        emit_json(summary_json(summary))
        return
    _print_summary(summary)


def _print_summary(summary: SessionSummary) -> None:
    agent = " ".join(p for p in (summary.agent, summary.agent_version) if p)
    click.echo(f"session   {summary.session_id or '-'}  ({agent})")
    branch = f"  branch {summary.git_branch}" if summary.git_branch else ""
    click.echo(f"cwd       {summary.cwd or '-'}{branch}")

    def stamp(moment: Any) -> str:
        return moment.strftime("%Y-%m-%d %H:%M:%S %z") if moment else "-"

    click.echo(f"time      {stamp(summary.started_at)} → {stamp(summary.ended_at)}")
    click.echo(
        f"duration  active {human_seconds(summary.active_seconds)}, "
        f"wall {human_seconds(summary.wall_seconds)}; {counted(summary.turns, 'prompt')}, "
        f"{counted(summary.tool_calls, 'tool call')}"
    )
    if summary.models:
        _print_usage(summary)
    else:
        click.echo("usage     none recorded")
    if summary.skipped_lines:
        click.echo(f"skipped   {counted(summary.skipped_lines, 'unreadable line')}")
    duplicates = summary.duplicate_responses
    if duplicates.responses:
        click.echo(
            f"copies    {counted(duplicates.responses, 'response')} written again "
            f"({human_tokens(duplicates.totals.total)} tokens), counted once"
        )


def _print_usage(summary: SessionSummary) -> None:
    rows = [
        [
            model,
            human_tokens(u.input_tokens),
            human_tokens(u.cache_creation_input_tokens),
            human_tokens(u.cache_read_input_tokens),
            human_tokens(u.output_tokens),
            human_tokens(u.reasoning_output_tokens),
            "?" if u.cost_usd is None else f"${u.cost_usd:.4f}",
        ]
        for model, u in summary.models.items()
    ]
    print_table(
        "Usage by model",
        ["model", "input", "cache write", "cache read", "output", "reasoning", "cost"],
        rows,
    )
    cost = "unknown" if summary.cost_usd is None else f"${summary.cost_usd:.4f}"
    click.echo(f"cost      {cost} ({summary.cost_source or 'no usage'})")
    if summary.unpriced_models:
        click.echo(f"unpriced  {', '.join(summary.unpriced_models)} (no price known)")
    if summary.usage_incomplete:
        click.echo(f"missing   {summary.usage_incomplete}")


@click.command()
@click.option(
    "--agent",
    type=click.Choice(AGENTS),
    default=None,
    help="Only this agent's sessions (default: every agent's).",
)
@date_range("sessions active")
@transcript_dirs
@json_option
@idle_option
def sessions(
    agent: str | None,
    since: Any,
    until: Any,
    roots: dict[str, list[Path]],
    as_json: bool,
    idle_minutes: int,
) -> None:
    """List every session found in the agents' transcript directories, newest first."""
    from keito_skill.listing import list_sessions

    note_missing_dirs(roots)
    found = list_sessions(
        agent,
        since=since.date() if since else None,
        until=until.date() if until else None,
        roots=roots,
        idle_seconds=idle_minutes * 60,
    )
    if as_json:
        emit_json_list("sessions", [s.text if s.text is not None else s.data for s in found])
        return
    if not found:
        click.echo("No sessions found" + (" in that range." if since or until else "."))
        return
    print_table(
        counted(len(found), "session"),
        ["ended", "agent", "session", "cwd", "active", "tokens", "cost"],
        [
            [
                s.ended_at.strftime("%Y-%m-%d %H:%M") if s.ended_at else "",
                s.agent,
                s.session_id or "?",
                s.cwd,
                human_seconds(s.active_seconds),
                human_tokens(s.totals.total),
                "?" if s.cost_usd is None else f"${s.cost_usd:.4f}",
            ]
            for s in found
        ],
    )
