"""``keito-skill init``: map this repository to a Keito project and task.

Writes ``<repo root>/.keito/config.yml`` (the git root of ``--cwd``, else ``--cwd``
itself) with :func:`keito_skill.mapping.write_config`, which also keeps the file out of
git. Projects and tasks may be given by id or by name; names are matched
case-insensitively against what the API returns, because people type "acme website", not
``prj_8f2...``. An ambiguous or unknown name is an error that lists the candidates, never
a guess: a wrong guess bills the wrong client.

Without ``--project``/``--task`` on a terminal, a numbered picker asks; without a terminal
(or with ``--yes``) the flags are required. Settings already in the file (billing, notes,
metadata, ...) are kept; only the mapping fields change.

Tasks are read the way real accounts return them (embedded in the project when present,
else ``/tasks``), and only active projects and tasks can be picked. The expense category
has no default (each account's ids are opaque): ``--expense-category`` takes an id, or a
name when the account lists its categories; on a terminal it is asked for. Where the
account offers no listing, categories already used on the account's expenses are
offered, else the id is typed in, with a hint where to find it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from keito_skill._repo import git_root
from keito_skill.cli._picking import (
    InitError,
    Item,
    active_projects,
    active_tasks,
    label,
    pick,
)
from keito_skill.keito import (
    ExpenseCategory,
    KeitoClient,
    KeitoError,
    KeitoForbiddenError,
    load_credentials,
)
from keito_skill.mapping import CONFIG_RELPATH, ConfigProblem, RepoConfig, load_config, write_config


def repo_root(cwd: Path) -> Path:
    """The git root containing ``cwd``; ``cwd`` itself outside any git checkout."""
    cwd = cwd.resolve()
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        out = None
    if out is not None and out.returncode == 0 and out.stdout.strip():
        return Path(out.stdout.strip())
    return git_root(cwd) or cwd  # git missing: look for the marker ourselves


CATEGORY_HINT = (
    "in Keito's web app, open the expense category you bill LLM usage to and copy its id"
    " (a cm… string); or log one expense in that category there and run init again"
)


def known_categories(client: KeitoClient) -> tuple[list[ExpenseCategory], bool]:
    """Active expense categories and whether that list is the account's own listing.

    The spec has no category endpoint; where the account offers none, the categories of
    its recent expenses are the next best source (``False``: maybe not all of them).
    """
    try:
        listed = client.list_expense_categories()
    except KeitoForbiddenError:  # e.g. a member key: fall back to what expenses show
        listed = None
    if listed is not None:
        return [c for c in listed if c.is_active], True
    seen: dict[str, ExpenseCategory] = {}
    try:
        for number, expense in enumerate(client.list_expenses(per_page=100)):
            ref = expense.expense_category
            if ref is not None and ref.id not in seen:
                seen[ref.id] = ExpenseCategory(id=ref.id, name=ref.name or ref.id)
            if number >= 99:  # the first page is plenty to find the one in use
                break
    except KeitoError:
        return [], False
    return list(seen.values()), False


def choose_category(
    client: KeitoClient, given: str | None, current: str | None, ask: bool
) -> str | None:
    """The category id to write: ``given`` (id or name), else kept, else asked for."""
    categories, authoritative = known_categories(client)
    if given is not None:
        if categories and (
            authoritative or any(c.name.casefold() == given.casefold().strip() for c in categories)
        ):
            return pick("expense category", categories, given).id
        if authoritative:  # the account lists none at all
            raise InitError(f"no active expense categories on this account: {CATEGORY_HINT}")
        return given.strip()
    if current or not ask:
        return current
    if categories:
        click.echo("Expense category for LLM usage (expenses wait until one is set):")
        chosen = _choose("expense category", categories, None)
        return chosen.id
    click.echo(f"Expense category for LLM usage: this account lists none; {CATEGORY_HINT}.")
    answer = str(click.prompt("Expense category id (empty: decide later)", default="")).strip()
    return answer or None


def _interactive() -> bool:
    return sys.stdin.isatty()


def _choose(kind: str, items: Sequence[Item], default: str | None) -> Item:
    """Numbered list on the terminal; the answer may be a number, an id or a name."""
    plural = kind[:-1] + "ies" if kind.endswith("y") else kind + "s"
    click.echo(f"{plural.capitalize()}:")
    for number, item in enumerate(items, 1):
        click.echo(f"  {number:>3}. {label(item)}")
    suggested = next((str(n) for n, i in enumerate(items, 1) if i.id == default), None)
    if suggested is None and len(items) == 1:
        suggested = "1"
    while True:
        answer = str(click.prompt(f"{kind.capitalize()} (number, id or name)", default=suggested))
        if answer.strip().isdigit() and 1 <= int(answer) <= len(items):
            return items[int(answer) - 1]
        try:
            return pick(kind, items, answer)
        except InitError as exc:
            click.echo(str(exc), err=True)


def _existing(path: Path, yes: bool) -> RepoConfig:
    if not path.exists():
        return RepoConfig()
    try:
        return load_config(path).config
    except ConfigProblem as exc:
        if yes:
            return RepoConfig()
        raise InitError(f"{exc} — fix it, or pass --yes to replace the file") from None


@click.command()
@click.option("--project", default=None, help="Keito project id or name.")
@click.option("--task", default=None, help="Keito task id or name.")
@click.option(
    "--expense-category",
    default=None,
    metavar="ID",
    help="Expense category for LLM costs: id, or name where the account lists them"
    " (default: keep; asked for on a terminal).",
)
@click.option(
    "--cwd",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A directory in the repository (default: the current directory).",
)
@click.option("--yes", "-y", is_flag=True, help="Never prompt; replace an existing mapping.")
def init(
    project: str | None,
    task: str | None,
    expense_category: str | None,
    cwd: Path | None,
    yes: bool,
) -> None:
    """Map this repository to a Keito project and task (writes .keito/config.yml)."""
    root = repo_root((cwd or Path.cwd()).absolute())
    config_path = root / CONFIG_RELPATH
    config = _existing(config_path, yes)
    ask = _interactive() and not yes
    if (project is None or task is None) and not ask:
        raise InitError(
            "pass --project and --task (ids or names), or run on a terminal to pick them"
        )
    creds = load_credentials()
    with KeitoClient.from_credentials(creds, timeout=15.0, max_retries=2) as client:
        projects = active_projects(client)
        if project is not None:
            chosen_project = pick("project", projects, project)
        else:
            if not projects:
                raise InitError("no active projects are visible to this Keito API key")
            chosen_project = _choose("project", projects, config.project_id)
        tasks = active_tasks(client, chosen_project)
        if task is not None:
            chosen_task = pick("task", tasks, task)
        else:
            if not tasks:
                raise InitError(f"project {label(chosen_project)} has no active tasks")
            chosen_task = _choose("task", tasks, config.task_id)
        category = choose_category(client, expense_category, config.expense_category_id, ask)
    if (
        ask
        and config.project_id
        and (config.project_id, config.task_id) != (chosen_project.id, chosen_task.id)
        and not click.confirm(
            f"{config_path} maps to {config.project_name or config.project_id} / "
            f"{config.task_name or config.task_id}. Replace?",
            default=True,
        )
    ):
        raise InitError("left the existing mapping unchanged")
    updated = config.model_copy(
        update={
            "workspace_id": creds.account_id,
            "client_id": chosen_project.client.id if chosen_project.client else None,
            "project_id": chosen_project.id,
            "project_name": chosen_project.name,
            "task_id": chosen_task.id,
            "task_name": chosen_task.name,
            "expense_category_id": category,
        }
    )
    written = write_config(root, updated)
    click.echo(f"Mapped {root} to {chosen_project.name} / {chosen_task.name}.")
    click.echo(f"Wrote {written} (kept out of git via .gitignore).")
    if category is None:
        click.echo(
            "No expense category: time entries go out, LLM expenses wait until one is set"
            f" (keito-skill init --expense-category ID; {CATEGORY_HINT})."
        )
