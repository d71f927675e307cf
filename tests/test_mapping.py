"""keito_skill.mapping: finding, validating and writing ``.keito/config.yml``."""

from __future__ import annotations

import pickle
import subprocess
from pathlib import Path

import pytest
import yaml

from keito_skill import mapping as mapping_module
from keito_skill.errors import ConfigError, KeitoSkillError
from keito_skill.mapping import (
    AgentTracking,
    Billing,
    ConfigProblem,
    Notes,
    RepoConfig,
    find_config,
    load_config,
    resolve,
    set_enabled,
    write_config,
)

MAPPED = "project_id: prj_1\ntask_id: tsk_1\n"


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home directory inside tmp_path, so walks never reach the real one."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def git_init(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(directory)], check=True)
    return directory


def put_config(repo: Path, text: str) -> Path:
    path = repo / ".keito" / "config.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problem(tmp_path: Path, text: str) -> ConfigProblem:
    path = put_config(tmp_path / "repo", text)
    with pytest.raises(ConfigProblem) as info:
        load_config(path)
    assert info.value.path == path
    return info.value


# ---- find_config / resolve ----------------------------------------------------------


def test_walk_up_finds_config_from_nested_cwd(tmp_path: Path) -> None:
    repo = git_init(tmp_path / "repo")
    config = put_config(repo, MAPPED)
    nested = repo / "src" / "pkg" / "deep"
    nested.mkdir(parents=True)

    assert find_config(nested) == config.resolve()
    assert find_config(str(repo)) == config.resolve()


def test_nearest_config_wins_below_git_root(tmp_path: Path) -> None:
    repo = git_init(tmp_path / "repo")
    put_config(repo, MAPPED)
    inner = put_config(repo / "services" / "api", "project_id: prj_api\ntask_id: tsk_api\n")

    (repo / "services" / "api" / "handlers").mkdir()
    assert find_config(repo / "services" / "api" / "handlers") == inner.resolve()


def test_walk_stops_at_git_root(tmp_path: Path) -> None:
    put_config(tmp_path, MAPPED)  # above the repository: belongs to something else
    repo = git_init(tmp_path / "repo")
    (repo / "src").mkdir()

    assert find_config(repo / "src") is None
    assert resolve(repo / "src") is None


def test_git_file_marks_a_root_too(tmp_path: Path) -> None:
    """Worktrees and submodules have a ``.git`` file, not a directory."""
    put_config(tmp_path, MAPPED)
    worktree = tmp_path / "wt"
    (worktree / "src").mkdir(parents=True)
    (worktree / ".git").write_text("gitdir: /elsewhere/.git/worktrees/wt\n")

    assert find_config(worktree / "src") is None


def test_without_git_walk_stops_at_home(tmp_path: Path, _home: Path) -> None:
    put_config(tmp_path, MAPPED)  # above home: never used
    project = _home / "notes" / "today"
    project.mkdir(parents=True)
    assert find_config(project) is None

    at_home = put_config(_home, MAPPED)
    assert find_config(project) == at_home.resolve()


def test_without_git_or_home_walk_reaches_a_parent(tmp_path: Path) -> None:
    outside = tmp_path / "scratch"  # not under the (fake) home, no git anywhere
    config = put_config(outside, MAPPED)
    (outside / "a" / "b").mkdir(parents=True)
    assert find_config(outside / "a" / "b") == config.resolve()


def test_missing_cwd_walks_from_nearest_existing_parent(tmp_path: Path) -> None:
    repo = git_init(tmp_path / "repo")
    config = put_config(repo, MAPPED)

    assert find_config(repo / "deleted" / "by" / "session") == config.resolve()


def test_no_config_anywhere(tmp_path: Path) -> None:
    repo = git_init(tmp_path / "repo")
    assert find_config(repo) is None
    assert resolve(repo) is None


def test_resolve_loads_and_defaults_to_process_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = git_init(tmp_path / "repo")
    put_config(repo, MAPPED)
    (repo / "src").mkdir()
    monkeypatch.chdir(repo / "src")

    mapping = resolve(None)

    assert mapping is not None
    assert mapping.config_path == (repo / ".keito" / "config.yml").resolve()
    assert mapping.repo_root == repo.resolve()
    assert mapping.config.project_id == "prj_1"
    assert mapping.config.task_id == "tsk_1"
    assert mapping.warnings == ()


# ---- load_config: content -----------------------------------------------------------


def test_every_default(tmp_path: Path) -> None:
    config = load_config(put_config(tmp_path, "version: 1\n")).config

    assert config.version == 1
    assert config.workspace_id is None
    assert config.client_id is None
    assert config.project_id is None
    assert config.project_name is None
    assert config.task_id is None
    assert config.task_name is None
    assert config.expense_category_id is None  # issue 15: no made-up default
    assert config.agent_tracking == AgentTracking(
        enabled=True,
        source="agent",
        draft=False,
        min_duration_seconds=0,
        max_duration_seconds=None,
        redact_notes=False,
    )
    assert config.billing == Billing(duration="active", idle_minutes=5, billable=None)
    assert config.notes == Notes(mode="summary")
    assert config.metadata == {}
    assert config.idle_seconds == 300
    assert config.is_mapped is False
    assert RepoConfig() == config


def test_keito_skill_file_shape_loads(tmp_path: Path) -> None:
    path = put_config(
        tmp_path,
        """\
version: 1
workspace_id: ws_8f2
client_id: cli_acme
project_id: prj_website
project_name: Acme website
task_id: tsk_dev
task_name: Development
agent_tracking:
  enabled: true
  source: cli
  draft: true
  min_duration_seconds: 60
  max_duration_seconds: 14400
  redact_notes: true
metadata:
  team: platform
  ticket: 4521
  ratio: 0.5
  reviewed: false
  owner: null
""",
    )

    mapping = load_config(path)
    config = mapping.config

    assert mapping.warnings == ()
    assert mapping.repo_root == tmp_path
    assert (config.workspace_id, config.client_id) == ("ws_8f2", "cli_acme")
    assert (config.project_id, config.project_name) == ("prj_website", "Acme website")
    assert (config.task_id, config.task_name) == ("tsk_dev", "Development")
    assert config.agent_tracking == AgentTracking(
        enabled=True,
        source="cli",
        draft=True,
        min_duration_seconds=60,
        max_duration_seconds=14400,
        redact_notes=True,
    )
    assert config.metadata == {
        "team": "platform",
        "ticket": 4521,
        "ratio": 0.5,
        "reviewed": False,
        "owner": None,
    }
    assert type(config.metadata["ticket"]) is int
    assert type(config.metadata["reviewed"]) is bool
    assert config.is_mapped is True
    # Keys the Keito skill does not write take their defaults.
    assert config.expense_category_id is None  # issue 15: no made-up default
    assert config.billing == Billing()
    assert config.notes == Notes()


def test_our_keys_load(tmp_path: Path) -> None:
    path = put_config(
        tmp_path,
        MAPPED + "expense_category_id: cat_ai\n"
        "billing: {duration: wall, idle_minutes: 12, billable: false}\n"
        "notes:\n  mode: redacted\n",
    )
    config = load_config(path).config

    assert config.expense_category_id == "cat_ai"
    assert config.billing == Billing(duration="wall", idle_minutes=12, billable=False)
    assert config.idle_seconds == 720
    assert config.notes.mode == "redacted"


def test_numeric_ids_and_dates_become_text(tmp_path: Path) -> None:
    path = put_config(
        tmp_path,
        "project_id: 1234\ntask_id: 77\nproject_name: 2024\nmetadata:\n  since: 2024-05-01\n",
    )
    config = load_config(path).config

    assert (config.project_id, config.task_id, config.project_name) == ("1234", "77", "2024")
    assert config.metadata == {"since": "2024-05-01"}


def test_empty_keys_mean_defaults(tmp_path: Path) -> None:
    path = put_config(
        tmp_path, MAPPED + "expense_category_id:\nagent_tracking:\nbilling:\n  idle_minutes:\n"
    )
    config = load_config(path).config

    assert config.expense_category_id is None  # issue 15: no made-up default
    assert config.agent_tracking == AgentTracking()
    assert config.billing.idle_minutes == 5


def test_blank_ids_are_not_mapped(tmp_path: Path) -> None:
    config = load_config(put_config(tmp_path, "project_id: '  '\ntask_id: tsk\n")).config
    assert config.project_id == ""
    assert config.is_mapped is False


@pytest.mark.usefixtures("either_loader")
def test_unknown_keys_become_warnings(tmp_path: Path) -> None:
    path = put_config(
        tmp_path,
        """\
version: 1
project_id: prj_1
task_id: tsk_1
rounding_minutes: 15
billing:
  duration: wall
  round_to: 6
agent_tracking:
  enabled: false
  sampling: 3
metadata:
  anything_goes: here
""",
    )

    mapping = load_config(path)

    assert mapping.warnings == (
        f"{path}:4: unknown key 'rounding_minutes' ignored",
        f"{path}:7: unknown key 'billing.round_to' ignored",
        f"{path}:10: unknown key 'agent_tracking.sampling' ignored",
    )
    assert mapping.config.billing.duration == "wall"
    assert mapping.config.agent_tracking.enabled is False
    assert mapping.config.metadata == {"anything_goes": "here"}


def test_duplicate_keys_and_newer_version_warn(tmp_path: Path) -> None:
    path = put_config(tmp_path, "version: 2\nproject_id: a\ntask_id: t\nproject_id: b\n")

    mapping = load_config(path)

    assert mapping.config.project_id == "b"
    assert mapping.warnings == (
        f"{path}:4: duplicate key 'project_id'; this later value is used",
        f"{path}:1: version 2 is newer than this keito-skill understands (1); "
        "settings it does not know are ignored",
    )


# ---- load_config: problems ----------------------------------------------------------


def test_problem_is_a_config_error_with_path_and_line(tmp_path: Path) -> None:
    err = problem(tmp_path, MAPPED + "billing:\n  duration: hourly\n")

    assert isinstance(err, ConfigError)
    assert isinstance(err, KeitoSkillError)
    assert err.line == 4
    assert err.message == "billing.duration: Input should be 'active' or 'wall'"
    assert str(err) == f"{err.path}:4: billing.duration: Input should be 'active' or 'wall'"
    again = pickle.loads(pickle.dumps(err))
    assert (again.path, again.line, again.message) == (err.path, 4, err.message)


@pytest.fixture(params=["C", "pure"])
def either_loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with libyaml's loader and with the pure-Python fallback."""
    if request.param == "pure":
        monkeypatch.setattr(mapping_module, "_Loader", yaml.SafeLoader)
    elif not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML built without libyaml")
    return str(request.param)


@pytest.mark.usefixtures("either_loader")
def test_yaml_syntax_error_line(tmp_path: Path) -> None:
    err = problem(
        tmp_path,
        "version: 1\nproject_id: prj_1\ntask_id: tsk_1\nbilling:\n  duration: [active\n"
        "notes:\n  mode: summary\n",
    )
    # The unclosed flow sequence is detected where the next plain key appears.
    assert err.message.startswith("invalid YAML: ")
    assert err.line == 6


@pytest.mark.usefixtures("either_loader")
def test_yaml_bad_indentation_line(tmp_path: Path) -> None:
    err = problem(tmp_path, "project_id: prj_1\ntask_id: tsk_1\n  oops: 3\n")
    assert err.line == 3
    # libyaml says "... in this context", the pure-Python parser "... here".
    assert err.message.startswith("invalid YAML: mapping values are not allowed")


@pytest.mark.usefixtures("either_loader")
def test_yaml_tab_indentation_line(tmp_path: Path) -> None:
    err = problem(tmp_path, "project_id: prj_1\nbilling:\n\tduration: wall\n")
    assert err.line == 3
    assert err.message.startswith("invalid YAML: found character")
    assert "cannot start any token" in err.message


@pytest.mark.usefixtures("either_loader")
def test_wrong_enum_value(tmp_path: Path) -> None:
    err = problem(
        tmp_path,
        "version: 1\nproject_id: p\ntask_id: t\nagent_tracking:\n  enabled: true\n"
        "  source: browser\n",
    )
    assert err.line == 6
    assert err.message == "agent_tracking.source: Input should be 'web', 'cli', 'api' or 'agent'"


def test_wrong_notes_mode_in_flow_mapping(tmp_path: Path) -> None:
    err = problem(tmp_path, MAPPED + "notes: {mode: everything}\n")
    assert err.line == 3
    assert err.message == (
        "notes.mode: Input should be 'last_message', 'first_prompt', 'summary' or 'redacted'"
    )


def test_negative_min_duration(tmp_path: Path) -> None:
    err = problem(
        tmp_path,
        MAPPED + "agent_tracking:\n  draft: false\n\n  # seconds\n  min_duration_seconds: -5\n",
    )
    assert err.line == 7
    assert err.message == (
        "agent_tracking.min_duration_seconds: Input should be greater than or equal to 0"
    )


def test_zero_idle_minutes_and_max_duration(tmp_path: Path) -> None:
    err = problem(tmp_path, MAPPED + "billing:\n  idle_minutes: 0\n")
    assert (err.line, err.message) == (
        4,
        "billing.idle_minutes: Input should be greater than or equal to 1",
    )
    err = problem(tmp_path, MAPPED + "agent_tracking:\n  max_duration_seconds: 0\n")
    assert (err.line, err.message) == (
        4,
        "agent_tracking.max_duration_seconds: Input should be greater than 0",
    )


def test_min_above_max_points_at_the_block(tmp_path: Path) -> None:
    err = problem(
        tmp_path,
        MAPPED + "agent_tracking:\n  min_duration_seconds: 600\n  max_duration_seconds: 60\n",
    )
    assert err.line == 3
    assert err.message == (
        "agent_tracking: min_duration_seconds (600) is above max_duration_seconds (60)"
    )


def test_wrong_types(tmp_path: Path) -> None:
    err = problem(tmp_path, MAPPED + "billing:\n  billable: maybe\n")
    assert (err.line, err.message) == (
        4,
        "billing.billable: Input should be a valid boolean, unable to interpret input",
    )

    err = problem(tmp_path, "project_id:\n  - a\n  - b\ntask_id: t\n")
    assert (err.line, err.message) == (1, "project_id: Input should be a valid string")

    err = problem(tmp_path, MAPPED + "billing: weekly\n")
    assert err.line == 3
    assert err.message.startswith("billing: Input should be a valid dictionary")

    err = problem(tmp_path, MAPPED + "metadata:\n  team: x\n  tags: [a, b]\n")
    assert (err.line, err.message) == (
        5,
        "metadata.tags: must be a string, number, boolean or null, not a list or mapping",
    )


def test_several_problems_report_the_first_line(tmp_path: Path) -> None:
    err = problem(
        tmp_path,
        MAPPED + "notes:\n  mode: loud\nbilling:\n  duration: hourly\n  idle_minutes: -1\n",
    )
    # billing comes before notes in the model, but notes comes first in the file.
    assert err.line == 4
    assert err.message == (
        "notes.mode: Input should be 'last_message', 'first_prompt', 'summary' or 'redacted'"
        " (and 2 more problems)"
    )


def test_empty_file(tmp_path: Path) -> None:
    for text in ("", "# nothing here yet\n\n"):
        err = problem(tmp_path, text)
        assert err.line is None
        assert err.message == "file is empty; expected at least project_id and task_id"
        assert str(err) == f"{err.path}: {err.message}"


def test_top_level_not_a_mapping(tmp_path: Path) -> None:
    err = problem(tmp_path, "# mapping\n- project_id: p\n- task_id: t\n")
    assert err.line == 2
    assert err.message == "top level must be a mapping of keys to values, not a list"

    err = problem(tmp_path, "just text\n")
    assert (err.line, err.message) == (
        1,
        "top level must be a mapping of keys to values, not a str",
    )


def test_unreadable_file(tmp_path: Path) -> None:
    path = put_config(tmp_path, "")
    path.write_bytes(b"project_id: \xff\xfe\n")
    with pytest.raises(ConfigProblem) as info:
        load_config(path)
    assert info.value.line is None
    assert info.value.message.startswith("not UTF-8 text")


def test_resolve_propagates_problems(tmp_path: Path) -> None:
    repo = git_init(tmp_path / "repo")
    put_config(repo, "billing:\n  duration: x\n")
    with pytest.raises(ConfigProblem) as info:
        resolve(repo)
    assert info.value.line == 2


# ---- write_config -------------------------------------------------------------------


def full_config() -> RepoConfig:
    return RepoConfig(
        workspace_id="ws_1",
        client_id="cli_1",
        project_id="prj_1",
        project_name="Website",
        task_id="tsk_1",
        task_name="Development",
        expense_category_id="cat_ai",
        agent_tracking=AgentTracking(draft=True, min_duration_seconds=30, redact_notes=True),
        billing=Billing(duration="wall", idle_minutes=10, billable=False),
        notes=Notes(mode="summary"),
        metadata={"team": "web", "ticket": 12, "ratio": 1.5, "urgent": True, "owner": None},
    )


def test_write_config_round_trips(tmp_path: Path) -> None:
    repo = git_init(tmp_path / "repo")
    config = full_config()

    path = write_config(repo, config)

    assert path == repo / ".keito" / "config.yml"
    loaded = load_config(path)
    assert loaded.config == config
    assert loaded.warnings == ()
    assert not list(path.parent.glob("*.tmp"))


def test_write_config_key_order_and_no_nulls(tmp_path: Path) -> None:
    path = write_config(tmp_path, RepoConfig(project_id="prj_1", task_id="tsk_1"))
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text)

    assert text.startswith("# ")
    assert list(data) == [
        "version",
        "project_id",
        "task_id",
        "agent_tracking",
        "billing",
        "notes",
    ]  # no expense category unless chosen (issue 15)
    assert data["agent_tracking"] == {
        "enabled": True,
        "source": "agent",
        "draft": False,
        "min_duration_seconds": 0,
        "redact_notes": False,
    }
    # billable only when set (issue 15): the project's and task's default applies
    assert data["billing"] == {"duration": "active", "idle_minutes": 5, "granularity": "session"}
    assert "null" not in text
    assert load_config(path).config == RepoConfig(project_id="prj_1", task_id="tsk_1")


def test_write_config_adds_gitignore_once(tmp_path: Path) -> None:
    repo = git_init(tmp_path / "repo")
    (repo / ".gitignore").write_text("__pycache__/\n*.pyc", encoding="utf-8")

    write_config(repo, full_config())
    write_config(repo, full_config().model_copy(update={"task_id": "tsk_2"}))

    assert (repo / ".gitignore").read_text(encoding="utf-8") == (
        "__pycache__/\n*.pyc\n.keito/config.yml\n"
    )
    assert load_config(repo / ".keito" / "config.yml").config.task_id == "tsk_2"
    ignored = subprocess.run(
        ["git", "-C", str(repo), "check-ignore", "-q", ".keito/config.yml"], check=False
    )
    assert ignored.returncode == 0


def test_write_config_creates_gitignore(tmp_path: Path) -> None:
    repo = git_init(tmp_path / "repo")
    write_config(repo, full_config())
    assert (repo / ".gitignore").read_text(encoding="utf-8") == ".keito/config.yml\n"


def test_write_config_respects_existing_ignore_of_the_directory(tmp_path: Path) -> None:
    repo = git_init(tmp_path / "repo")
    (repo / ".gitignore").write_text("/.keito/\n", encoding="utf-8")
    write_config(repo, full_config())
    assert (repo / ".gitignore").read_text(encoding="utf-8") == "/.keito/\n"


def test_write_config_edits_an_existing_file_keeping_comments_and_order(tmp_path: Path) -> None:
    """Issue 18: the file is the user's; rewriting it from its data lost their comments."""
    repo = git_init(tmp_path / "repo")
    text = (
        "# Acme's mapping, kept by hand\n"
        "task_id: tsk_1        # the task we bill\n"
        "project_id: 'prj_1'\n"
        "client_id: cli_1\n"
        "\n"
        "billing:\n"
        "    # as the contract says\n"
        "    idle_minutes: 9\n"
        "our_note: keep me   # a key keito-skill does not know\n"
    )
    path = put_config(repo, text)
    config = load_config(path).config.model_copy(
        update={"task_id": "tsk_2", "client_id": None, "metadata": {"team": "web"}}
    )

    assert write_config(repo, config) == path

    written = path.read_text(encoding="utf-8")
    for kept in (
        "# Acme's mapping, kept by hand\n",
        "task_id: tsk_2        # the task we bill\n",
        "project_id: 'prj_1'\n",  # an unchanged value keeps its quoting
        "\nbilling:\n    # as the contract says\n    idle_minutes: 9\n",  # and its indent
        "our_note: keep me   # a key keito-skill does not know\n",
    ):
        assert kept in written, (kept, written)
    data = yaml.safe_load(written)
    # The user's order first; what the file lacked is appended; an unset id is removed.
    assert list(data)[:4] == ["task_id", "project_id", "billing", "our_note"]
    assert "client_id" not in data
    assert list(data)[4:] == ["version", "agent_tracking", "notes", "metadata"]
    assert list(data["billing"]) == ["idle_minutes", "duration", "granularity"]
    loaded = load_config(path)
    assert loaded.config == config
    assert loaded.warnings == (f"{path}:9: unknown key 'our_note' ignored",)


def test_write_config_rewrites_a_file_that_cannot_be_edited(tmp_path: Path) -> None:
    """The safety net: a file ruamel.yaml refuses (a duplicate key) is rewritten whole."""
    repo = git_init(tmp_path / "repo")
    path = put_config(repo, "# lost\nproject_id: prj_0\nproject_id: prj_1\ntask_id: tsk_1\n")
    config = full_config()

    write_config(repo, config)

    written = path.read_text(encoding="utf-8")
    assert "# lost" not in written and written.startswith("# Keito mapping")
    assert load_config(path).config == config


# ---- set_enabled --------------------------------------------------------------------


def test_set_enabled_flips_and_keeps_comments(tmp_path: Path) -> None:
    text = (
        "# mapped by hand\n"
        "project_id: prj_1   # website\n"
        "task_id: tsk_1\n"
        "agent_tracking:\n"
        "  enabled: true  # flip with keito-skill disable\n"
        "  draft: true\n"
        "custom_key: kept\n"
    )
    path = put_config(tmp_path, text)

    set_enabled(path, False)

    assert path.read_text(encoding="utf-8") == text.replace("enabled: true ", "enabled: false ")
    mapping = load_config(path)
    assert mapping.config.agent_tracking.enabled is False
    assert mapping.config.agent_tracking.draft is True

    set_enabled(path, True)
    assert path.read_text(encoding="utf-8") == text


def test_set_enabled_adds_missing_key(tmp_path: Path) -> None:
    path = put_config(tmp_path, "# hand\n" + MAPPED + "agent_tracking:\n    draft: true\n")

    set_enabled(path, False)

    assert path.read_text(encoding="utf-8") == (
        "# hand\n" + MAPPED + "agent_tracking:\n    enabled: false\n    draft: true\n"
    )


def test_set_enabled_adds_missing_block(tmp_path: Path) -> None:
    path = put_config(tmp_path, "# hand\n" + MAPPED.rstrip("\n"))

    set_enabled(path, False)

    assert path.read_text(encoding="utf-8") == (
        "# hand\n" + MAPPED + "agent_tracking:\n  enabled: false\n"
    )
    assert load_config(path).config.agent_tracking.enabled is False


def test_set_enabled_falls_back_to_round_trip(tmp_path: Path) -> None:
    """Where the one-line text edit cannot be made, ruamel.yaml's round trip is used: since
    issue 18 the comment survives it (PyYAML's round trip, before, lost it)."""
    path = put_config(
        tmp_path,
        "# comment is kept\nproject_id: prj_1\ntask_id: tsk_1\n"
        "agent_tracking: {draft: true}\nextra: [1, 2]\n",
    )

    set_enabled(path, False)

    text = path.read_text(encoding="utf-8")
    assert text.startswith("# comment is kept\n")
    assert "agent_tracking: {draft: true, enabled: false}\n" in text  # flow style kept
    assert yaml.safe_load(text) == {
        "project_id": "prj_1",
        "task_id": "tsk_1",
        "agent_tracking": {"draft": True, "enabled": False},
        "extra": [1, 2],
    }
    assert list(yaml.safe_load(text)) == ["project_id", "task_id", "agent_tracking", "extra"]


def test_set_enabled_rewrites_what_no_edit_can_keep(tmp_path: Path) -> None:
    """A duplicate key (PyYAML takes the last; ruamel.yaml refuses) in a flow block: the
    last resort is a rewrite from the parsed data, comments lost, values and order kept."""
    path = put_config(
        tmp_path,
        "# comment is lost\nproject_id: prj_0\nproject_id: prj_1\ntask_id: tsk_1\n"
        "agent_tracking: {draft: true}\n",
    )

    set_enabled(path, False)

    text = path.read_text(encoding="utf-8")
    assert "comment" not in text
    assert yaml.safe_load(text) == {
        "project_id": "prj_1",
        "task_id": "tsk_1",
        "agent_tracking": {"draft": True, "enabled": False},
    }


def test_set_enabled_on_empty_block(tmp_path: Path) -> None:
    path = put_config(tmp_path, MAPPED + "agent_tracking:\n")
    set_enabled(path, False)
    assert load_config(path).config.agent_tracking.enabled is False


def test_set_enabled_works_on_a_file_invalid_elsewhere(tmp_path: Path) -> None:
    path = put_config(tmp_path, MAPPED + "billing:\n  duration: hourly\nagent_tracking:\n")
    set_enabled(path, False)
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["agent_tracking"] == {"enabled": False}


def test_set_enabled_rejects_broken_files(tmp_path: Path) -> None:
    path = put_config(tmp_path, MAPPED + "agent_tracking: off\n")
    with pytest.raises(ConfigProblem) as info:
        set_enabled(path, False)
    assert (info.value.line, info.value.message) == (3, "agent_tracking must be a mapping")

    path.write_text("project_id: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigProblem) as info:
        set_enabled(path, False)
    assert info.value.message.startswith("invalid YAML")
