"""``keito-skill init`` against the local Keito dev server (real HTTP, real files).

The dev server seeds one client, project and task (``Demo Client`` / ``Demo Project`` /
``Software Development``), which is what the names below resolve to.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from keito_skill.cli import init_cmd
from keito_skill.cli.init_cmd import InitError, pick, repo_root
from keito_skill.keito import Project, Task
from keito_skill.mapping import load_config
from tests.keito_server import KeitoServer
from tests.sessions_kit import cli, make_repo, skill_env

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def env(tmp_path: Path, keito_server: KeitoServer, keito_config_dir: Path) -> dict[str, str]:
    return skill_env(tmp_path / "skill-home", keito_server, keito_config_dir)


def _repo(path: Path) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


def test_names_resolve_case_insensitively_from_a_subdirectory(
    tmp_path: Path, env: dict[str, str], keito_server: KeitoServer
) -> None:
    repo = _repo(tmp_path / "repo")
    sub = repo / "src" / "deep"
    sub.mkdir(parents=True)
    proc = cli(
        "init",
        "--project",
        "  demo PROJECT ",
        "--task",
        "software development",
        "--cwd",
        str(sub),
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Mapped" in proc.stdout and "Demo Project / Software Development" in proc.stdout
    mapping = load_config(repo / ".keito" / "config.yml")
    config = mapping.config
    assert (config.project_id, config.task_id) == (keito_server.project_id, keito_server.task_id)
    assert (config.project_name, config.task_name) == ("Demo Project", "Software Development")
    assert config.client_id == keito_server.client_id
    assert config.workspace_id == keito_server.account_id
    # No made-up default category: time entries go out, expenses wait for one.
    assert config.expense_category_id is None
    assert "No expense category" in proc.stdout and "--expense-category" in proc.stdout
    assert mapping.warnings == ()
    assert ".keito/config.yml" in (repo / ".gitignore").read_text().splitlines()
    assert keito_server.api_key not in (repo / ".keito" / "config.yml").read_text()


def test_ids_work_and_other_settings_are_kept(
    tmp_path: Path, env: dict[str, str], keito_server: KeitoServer
) -> None:
    repo = make_repo(
        tmp_path / "repo",
        None,
        project_id="prj_old",
        billing={"idle_minutes": 9},
        metadata={"team": "blue"},
    )
    proc = cli(
        "init",
        "--project",
        keito_server.project_id,
        "--task",
        keito_server.task_id,
        "--expense-category",
        "cat_other",
        "--cwd",
        str(repo),
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    config = load_config(repo / ".keito" / "config.yml").config
    assert config.project_id == keito_server.project_id
    assert config.billing.idle_minutes == 9
    assert config.metadata == {"team": "blue"}
    assert config.expense_category_id == "cat_other"


def test_init_keeps_the_users_comments_and_key_order(
    tmp_path: Path, env: dict[str, str], keito_server: KeitoServer
) -> None:
    """Issue 18: ``init`` rewrote an existing file from its data; the comments were lost."""
    repo = _repo(tmp_path / "repo")
    (repo / ".keito").mkdir()
    path = repo / ".keito" / "config.yml"
    path.write_text(
        "# Acme: billed per the 2026 contract\n"
        "task_id: tsk_old      # set by hand\n"
        "project_id: prj_old\n"
        "billing:\n"
        "    # the contract says ten minutes\n"
        "    idle_minutes: 10\n"
        "version: 1\n"
    )
    proc = cli(
        "init", "--project", keito_server.project_id, "--task", keito_server.task_id,
        "--cwd", str(repo), env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = path.read_text()
    assert text.startswith("# Acme: billed per the 2026 contract\n")
    assert re.search(rf"^task_id: {keito_server.task_id} +# set by hand$", text, re.MULTILINE)
    assert "billing:\n    # the contract says ten minutes\n    idle_minutes: 10\n" in text
    data = yaml.safe_load(text)
    assert list(data)[:4] == ["task_id", "project_id", "billing", "version"]
    config = load_config(path).config
    assert (config.project_id, config.task_id) == (keito_server.project_id, keito_server.task_id)
    assert config.project_name == "Demo Project" and config.billing.idle_minutes == 10


def test_outside_git_the_directory_itself_is_mapped(
    tmp_path: Path, env: dict[str, str], keito_server: KeitoServer
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert repo_root(plain) == plain.resolve()
    proc = cli("init", "--project", "DEMO", "--task", "tsk_demo", "--cwd", str(plain), env=env)
    assert proc.returncode == 0, proc.stderr  # "DEMO" is the project's code
    assert yaml.safe_load((plain / ".keito" / "config.yml").read_text())["project_id"] == (
        keito_server.project_id
    )


def test_unknown_name_lists_the_candidates(tmp_path: Path, env: dict[str, str]) -> None:
    repo = _repo(tmp_path / "repo")
    proc = cli("init", "--project", "Acme", "--task", "x", "--cwd", str(repo), env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "keito-skill: error: no project named 'Acme'; available: "
        "Demo Project (prj_demo) — DEMO, Demo Client"
    )
    assert not (repo / ".keito").exists()
    task = cli("init", "--project", "prj_demo", "--task", "Design", "--cwd", str(repo), env=env)
    assert task.returncode == 2
    assert "no task named 'Design'; available: Software Development (tsk_demo)" in task.stderr


def test_without_flags_and_without_a_terminal_it_says_what_to_pass(
    tmp_path: Path, env: dict[str, str]
) -> None:
    repo = _repo(tmp_path / "repo")
    proc = cli("init", "--cwd", str(repo), env=env, stdin="")
    assert proc.returncode == 2
    assert "pass --project and --task" in proc.stderr


def test_rejected_credentials_are_one_line_without_the_key(
    tmp_path: Path, env: dict[str, str]
) -> None:
    repo = _repo(tmp_path / "repo")
    env = {**env, "KEITO_API_KEY": "kto_wrong_secret_123"}
    proc = cli("init", "--project", "prj_demo", "--task", "tsk_demo", "--cwd", str(repo), env=env)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "kto_wrong_secret_123" not in proc.stderr + proc.stdout


def test_broken_existing_config_needs_yes(tmp_path: Path, env: dict[str, str]) -> None:
    repo = _repo(tmp_path / "repo")
    (repo / ".keito").mkdir()
    (repo / ".keito" / "config.yml").write_text("version: 1\nbilling:\n  idle_minutes: zero\n")
    args = ("init", "--project", "prj_demo", "--task", "tsk_demo", "--cwd", str(repo))
    refused = cli(*args, env=env)
    assert refused.returncode == 2
    assert "config.yml:3:" in refused.stderr and "--yes" in refused.stderr
    assert cli(*args, "--yes", env=env).returncode == 0
    assert load_config(repo / ".keito" / "config.yml").config.is_mapped


def test_interactive_picker(
    tmp_path: Path,
    keito_server: KeitoServer,
    keito_config_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = _repo(tmp_path / "repo")
    monkeypatch.setenv("KEITO_API_KEY", keito_server.api_key)
    monkeypatch.setenv("KEITO_ACCOUNT_ID", keito_server.account_id)
    monkeypatch.setenv("KEITO_API_URL", keito_server.url)
    monkeypatch.setattr(init_cmd, "_interactive", lambda: True)  # CliRunner has no TTY
    answers = f"nope\n1\nsoftware development\n{keito_server.category_id}\n"
    result = CliRunner().invoke(init_cmd.init, ["--cwd", str(repo)], input=answers)
    assert result.exit_code == 0, result.output
    assert "1. Demo Project (prj_demo) — DEMO, Demo Client" in result.output
    assert "no project named 'nope'" in result.output
    # The account lists no categories (as the spec): the id is asked for, with the hint.
    assert "this account lists none; in Keito's web app" in result.output
    config = load_config(repo / ".keito" / "config.yml").config
    assert (config.project_id, config.task_id) == (keito_server.project_id, keito_server.task_id)
    assert config.expense_category_id == keito_server.category_id


# ---- real accounts: embedded tasks, archived records, expense categories ---------------


def test_only_active_projects_and_tasks_from_embedded_or_listed_tasks(
    tmp_path: Path, env: dict[str, str], keito_server: KeitoServer
) -> None:
    ids = keito_server.seed(
        tasks=[{"name": "Design"}, {"name": "Old", "is_active": False}],
        projects=[{"name": "Closed", "is_active": False}],
    )
    design, old = ids["tasks"]
    keito_server.seed(
        projects=[{"id": keito_server.project_id, "name": "Demo Project", "tasks": [design, old]}]
    )
    repo = _repo(tmp_path / "repo")
    for embed in (True, False):
        keito_server.configure(embed_tasks=embed)
        keito_server.clear_requests()
        ok = cli("init", "--project", "prj_demo", "--task", "design", "--cwd", str(repo), env=env)
        assert ok.returncode == 0, ok.stderr
        assert load_config(repo / ".keito" / "config.yml").config.task_id == design
        asked_tasks = any(r["path"] == "/api/v2/tasks" for r in keito_server.requests())
        assert asked_tasks is not embed  # embedded tasks need no /tasks call
        archived = cli(
            "init", "--project", "prj_demo", "--task", "Old", "--cwd", str(repo), env=env
        )
        assert archived.returncode == 2 and "no task named 'Old'" in archived.stderr
    closed = cli("init", "--project", "Closed", "--task", "Design", "--cwd", str(repo), env=env)
    assert closed.returncode == 2 and "no project named 'Closed'" in closed.stderr


def test_expense_category_by_name_where_the_account_lists_them(
    tmp_path: Path, env: dict[str, str], keito_server: KeitoServer
) -> None:
    keito_server.seed(expense_categories=[{"name": "Retired", "is_active": False}])
    keito_server.configure(expense_categories_endpoint=True)
    repo = _repo(tmp_path / "repo")
    args = ("init", "--project", "prj_demo", "--task", "tsk_demo", "--cwd", str(repo))
    ok = cli(*args, "--expense-category", "llm USAGE", env=env)
    assert ok.returncode == 0, ok.stderr
    config = load_config(repo / ".keito" / "config.yml").config
    assert config.expense_category_id == keito_server.category_id
    for wrong in ("cat_llm_usage", "Retired"):
        refused = cli(*args, "--expense-category", wrong, env=env)
        assert refused.returncode == 2
        assert f"no expense category named '{wrong}'; available: LLM usage" in refused.stderr


def test_expense_category_name_found_on_existing_expenses_without_a_listing(
    tmp_path: Path, env: dict[str, str], keito_server: KeitoServer
) -> None:
    with keito_server.api() as api:
        api.post(
            "/api/v2/expenses",
            json={
                "project_id": keito_server.project_id,
                "expense_category_id": keito_server.category_id,
                "spent_date": "2026-03-04",
                "total_cost": 1.0,
            },
        ).raise_for_status()
    repo = _repo(tmp_path / "repo")
    args = ("init", "--project", "prj_demo", "--task", "tsk_demo", "--cwd", str(repo))
    assert cli(*args, "--expense-category", "LLM usage", env=env).returncode == 0
    assert load_config(repo / ".keito" / "config.yml").config.expense_category_id == (
        keito_server.category_id
    )


# ---- name resolution (pure) ---------------------------------------------------------


def _project(id_: str, name: str, **extra: Any) -> Project:
    return Project.model_validate({"id": id_, "name": name, **extra})


def test_pick_ambiguous_names_list_every_match() -> None:
    projects = [
        _project("p1", "Website", client={"id": "c1", "name": "Acme"}),
        _project("p2", "website", client={"id": "c2", "name": "Globex"}),
        _project("p3", "Mobile app"),
    ]
    with pytest.raises(InitError) as caught:
        pick("project", projects, "WEBSITE")
    assert str(caught.value) == (
        "project 'WEBSITE' is ambiguous: Website (p1) — Acme, website (p2) — Globex; "
        "pass the id with --project"
    )
    assert pick("project", projects, "p2").id == "p2"
    assert pick("project", projects, "mobile APP").id == "p3"
    tasks = [Task.model_validate({"id": f"t{n}", "name": f"Task {n}"}) for n in range(20)]
    with pytest.raises(InitError, match=r"and 5 more$"):
        pick("task", tasks, "nothing")
    with pytest.raises(InitError, match="no tasks are visible"):
        pick("task", [], "x")
