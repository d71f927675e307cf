"""``doctor``'s checks against Keito itself: real requests, reads only.

Each failure Keito can give us has a different fix, and a generic "cannot reach Keito"
sends the user looking in the wrong place. So the first answers are told apart:

* no answer, TLS failure, or an answer that is not Keito's API: the URL is wrong;
* 401: the key is wrong or revoked;
* 403/404 on ``/users/me``: the key works, but not for this account;
* 403 on ``/tasks``: a read-only key (the personal sync key), which cannot write
  entries; found without writing anything;

then the repository's project, task and expense category are looked up: missing,
unknown (not visible to this key) or archived. Tasks are read the way real accounts
return them: embedded in the project when present, else from ``/tasks``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from keito_skill.agents import Check

if TYPE_CHECKING:
    from keito_skill.keito import KeitoClient, Project
    from keito_skill.mapping import RepoConfig

RELOGIN = "keito-skill auth login"
URL_FIX = (
    "set the API URL Keito's CLI uses (https://app.keito.ai): unset KEITO_API_URL or fix"
    " api_url in the Keito config.toml, or 'keito-skill auth login --api-url URL'"
)
KEY_TYPE = (
    "create a full-access (or member) API key in Keito's web app — not the personal sync"
    f" key — then {RELOGIN}"
)
CATEGORY_HINT = (
    "in Keito's web app, open the expense category you bill LLM usage to and copy its id"
    " (a cm… string); or log one expense in that category there and run keito-skill init"
    " again, which reads it from your expenses"
)


def _api_check(client: KeitoClient, where: str, account_id: str) -> Check:
    from keito_skill.keito import (
        KeitoAuthError,
        KeitoError,
        KeitoForbiddenError,
        KeitoNetworkError,
        KeitoNotFoundError,
        KeitoServerError,
    )

    name = "keito credentials"
    try:
        user = client.me()
    except KeitoAuthError as exc:
        return Check(
            name,
            False,
            f"{where}: rejected: Keito refused the API key (401: {exc.message})",
            f"{RELOGIN} with a valid key (create one in Keito's web app if it was revoked)",
        )
    except (KeitoForbiddenError, KeitoNotFoundError) as exc:
        if exc.api_version is None:  # not an answer from Keito's API
            return Check(
                name,
                False,
                f"{where}: no Keito API there ({exc.status_code} on /api/v2/users/me)",
                URL_FIX,
            )
        return Check(
            name,
            False,
            f"{where}: the key works but not for account {account_id} "
            f"({exc.status_code}: {exc.message})",
            f"use the account id (company id) your key belongs to: {RELOGIN} --account-id ID"
            " (or KEITO_ACCOUNT_ID)",
        )
    except KeitoNetworkError as exc:
        tls = "TLS handshake failed" in exc.message
        what = "TLS failed" if tls else "cannot reach it"
        return Check(name, False, f"{where}: {what} ({exc.message})", URL_FIX)
    except KeitoServerError as exc:
        return Check(
            name,
            False,
            f"{where}: not Keito's API or failing ({exc})",
            f"{URL_FIX}; if it is right, try again later",
        )
    except KeitoError as exc:
        return Check(name, False, f"{where}: {exc}", URL_FIX)
    company = user.company.id if user.company else None
    if company and company != account_id:
        return Check(
            name,
            False,
            f"{where}: the key belongs to account {company}, not {account_id}",
            f"{RELOGIN} --account-id {company}",
        )
    return Check(name, True, f"{where} as {user.email or user.id}")


def _key_check(client: KeitoClient) -> Check:
    """A read-only key is found by reading ``/tasks`` (403), never by trying a write."""
    from keito_skill.keito import KeitoError, KeitoForbiddenError

    name = "keito key"
    try:
        client.list_tasks(per_page=1)
    except KeitoForbiddenError:
        return Check(
            name,
            False,
            "read-only key (like the personal sync key): it cannot write time entries"
            " or expenses (403 on /tasks)",
            KEY_TYPE,
        )
    except KeitoError as exc:
        return Check(name, False, f"cannot tell the key's access: {exc}", "keito-skill doctor")
    return Check(name, True, "not a read-only key (it may read tasks)")


def _find_project(client: KeitoClient, project_id: str) -> tuple[Project | None, bool, int]:
    """The project, whether it is archived, and how many active ones the key sees."""
    active = client.list_projects()
    for project in active:
        if project.id == project_id:
            return project, not project.is_active, len(active)
    for project in client.list_projects(is_active=False):
        if project.id == project_id:
            return project, True, len(active)
    return None, False, len(active)


def _mapping_checks(client: KeitoClient, config: RepoConfig, config_path: Path) -> list[Check]:
    from keito_skill.keito import KeitoError, KeitoForbiddenError

    init = f"keito-skill init (rewrites {config_path})"
    checks: list[Check] = []
    if not (config.project_id and config.task_id):
        return checks  # the local mapping check already says so
    try:
        project, archived, visible = _find_project(client, config.project_id)
    except KeitoError as exc:
        return [Check("keito project", False, f"cannot list projects: {exc}", "keito-skill doctor")]
    label = config.project_name or config.project_id
    if project is None:
        checks.append(
            Check(
                "keito project",
                False,
                f"unknown project {config.project_id} ({label}): not among the {visible}"
                " projects this key can see (deleted, another account, or not assigned to you)",
                init,
            )
        )
        return checks
    if archived:
        checks.append(
            Check(
                "keito project",
                False,
                f"project {project.name} ({project.id}) is archived (inactive)",
                f"reactivate it in Keito's web app, or {init}",
            )
        )
        return checks
    checks.append(Check("keito project", True, f"{project.name} ({project.id}) is active"))
    try:
        tasks = client.project_tasks(project)
    except KeitoForbiddenError:
        checks.append(Check("keito task", False, "cannot read tasks with this key", KEY_TYPE))
        return checks
    except KeitoError as exc:
        checks.append(Check("keito task", False, f"cannot list tasks: {exc}", "keito-skill doctor"))
        return checks
    task = next((t for t in tasks if t.id == config.task_id), None)
    if task is None:
        checks.append(
            Check(
                "keito task",
                False,
                f"unknown task {config.task_id} ({config.task_name or '?'}): not a task of"
                f" project {project.name}",
                init,
            )
        )
    elif not task.is_active:
        checks.append(
            Check(
                "keito task",
                False,
                f"task {task.name} ({task.id}) is archived (inactive)",
                f"reactivate it in Keito's web app, or {init}",
            )
        )
    else:
        checks.append(Check("keito task", True, f"{task.name} ({task.id}) is active"))
    return checks


def category_check(client: KeitoClient | None, config: RepoConfig, config_path: Path) -> Check:
    """Is an expense category set, and (when the account can tell us) does it exist?"""
    from keito_skill.keito import KeitoError

    name = "expense category"
    fix = f"keito-skill init --expense-category ID ({CATEGORY_HINT})"
    category = config.expense_category_id
    if not category:
        return Check(
            name,
            False,
            f"none in {config_path}: time entries go out, LLM expenses wait until one is set",
            fix,
        )
    if client is None:
        return Check(name, True, f"{category} (not checked: Keito not reachable)")
    try:
        listed = client.list_expense_categories()
    except KeitoError as exc:
        return Check(name, True, f"{category} (not checked: {exc})")
    if listed is None:
        return Check(
            name,
            True,
            f"{category} set; this account offers no category listing, so it cannot be"
            f" checked before the first expense ({CATEGORY_HINT})",
        )
    match = next((c for c in listed if c.id == category), None)
    if match is None:
        names = ", ".join(f"{c.name} ({c.id})" for c in listed[:10]) or "none"
        return Check(
            name,
            False,
            f"unknown expense category {category}; the account has: {names}",
            f"keito-skill init --expense-category ID-OR-NAME (rewrites {config_path})",
        )
    if not match.is_active:
        return Check(
            name,
            False,
            f"expense category {match.name} ({match.id}) is archived",
            "reactivate it in Keito's web app, or keito-skill init --expense-category",
        )
    return Check(name, True, f"{match.name} ({match.id})")


def keito_checks(cwd: Path) -> list[Check]:
    """Credentials, then (if Keito answers) key access, project, task and category."""
    from keito_skill.billing import repo_config
    from keito_skill.keito import (
        KeitoClient,
        KeitoConfigError,
        KeitoCredentialsError,
        KeitoError,
        load_credentials,
    )
    from keito_skill.mapping import RepoMapping

    found = repo_config(cwd)
    if not isinstance(found, RepoMapping):
        found = None  # a broken config: the mapping check reports it
    try:
        creds = load_credentials()
    except KeitoConfigError as exc:
        return [Check("keito credentials", False, str(exc), URL_FIX)]
    except KeitoCredentialsError as exc:
        return [Check("keito credentials", False, str(exc), RELOGIN)]
    except KeitoError as exc:
        return [Check("keito credentials", False, str(exc), RELOGIN)]
    where = f"account {creds.account_id} at {creds.api_url} (key from {creds.api_key_source})"
    with KeitoClient.from_credentials(creds, timeout=10.0, max_retries=1) as client:
        api = _api_check(client, where, creds.account_id)
        checks = [api]
        if api.ok:
            checks.append(_key_check(client))
            if found is not None:
                checks += _mapping_checks(client, found.config, found.config_path)
        if found is not None and found.config.is_mapped:
            checks.append(
                category_check(client if api.ok else None, found.config, found.config_path)
            )
    return checks
