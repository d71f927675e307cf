"""``keito-skill install`` / ``uninstall``: real files in a throw-away HOME, real Codex trust.

Every test runs the CLI as a subprocess with ``HOME`` (and ``KEITO_SKILL_HOME``) pointing
into ``tmp_path``, so the developer's own ``~/.claude`` and ``~/.codex`` are never touched.
Codex trust is checked against the real ``codex app-server`` from the e2e cache; those
tests skip with the reason when the binary is unavailable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from keito_skill.agents.claude_code.install import hook_specs
from keito_skill.agents.codex.trust import HookInfo, list_hooks, untrusted_hooks
from keito_skill.cli import install_cmd
from keito_skill.install._jsonfile import BACKUP_SUFFIX, is_our_command, merge_hooks
from tests.sessions_kit import ROOT

pytestmark = pytest.mark.timeout(120)

FAKE_BIN = "/opt/keito tools/bin/keito-skill"  # a space: commands must be quoted
EVENTS = ("SessionStart", "Stop", "SessionEnd")
ARGS = {"SessionStart": "session-start", "Stop": "stop", "SessionEnd": "session-end"}

CLAUDE_SETTINGS: dict[str, Any] = {
    "model": "opus",
    "permissions": {"allow": ["Bash(ls:*)"]},
    "hooks": {
        "Stop": [{"hooks": [{"type": "command", "command": "echo their-stop", "timeout": 5}]}],
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "echo pre"}]}],
    },
}
CODEX_HOOKS: dict[str, Any] = {
    "hooks": {
        "Stop": [{"hooks": [{"type": "command", "command": "echo codex-stop", "timeout": 5}]}],
    }
}


# ---- helpers ------------------------------------------------------------------------


class Home:
    """A sandbox HOME with the env to run keito-skill in it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.claude = self.home / ".claude"
        self.codex = self.home / ".codex"
        self.skill_home = root / "skill-home"
        for d in (self.claude, self.codex):
            d.mkdir(parents=True)
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("KEITO_", "CLAUDE_", "CODEX_"))
        }
        self.env.update(
            HOME=str(self.home),
            KEITO_SKILL_HOME=str(self.skill_home),
            PATH="/usr/bin:/bin",  # no codex, no keito-skill on PATH
        )

    def run(
        self, *args: str, check: bool = True, cwd: Path = ROOT
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "keito_skill", *args],
            env=self.env,
            stdin=subprocess.DEVNULL,  # never a TTY
            capture_output=True,
            text=True,
            timeout=90,
            cwd=cwd,
        )
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def settings(self) -> dict[str, Any]:
        return dict(json.loads((self.claude / "settings.json").read_text()))

    def codex_hooks(self) -> dict[str, Any]:
        return dict(json.loads((self.codex / "hooks.json").read_text()))


@pytest.fixture
def box(tmp_path: Path) -> Home:
    return Home(tmp_path)


def _ours(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for event, groups in doc.get("hooks", {}).items():
        for group in groups:
            for handler in group["hooks"]:
                if is_our_command(handler.get("command")):
                    found.setdefault(event, []).append(handler)
    return found


def _codex_bin() -> str:
    from tests.e2e.agents import agents_unavailable_reason, ensure_agents

    reason = agents_unavailable_reason()
    if reason is not None:
        pytest.skip(f"real codex binary unavailable: {reason}")
    return str(ensure_agents().codex)


def _is_ours(info: HookInfo) -> bool:
    return is_our_command(info.command)


# ---- recognising and merging (pure) -------------------------------------------------


@pytest.mark.parametrize(
    ("command", "ours"),
    [
        ("/usr/local/bin/keito-skill hook stop --agent codex", True),
        ("'/opt/a b/keito-skill' hook session-start --agent claude-code", True),
        ("keito-skill hook session-end --agent codex", True),
        ("keito-skill status", False),
        ("echo keito-skill hook", False),
        ("/x/keito-skill-dev hook stop", False),
        ("python3 log_hook.py", False),
        ("env A=1 exec keito-skill hook stop", True),
        (None, False),
    ],
)
def test_is_our_command(command: str | None, ours: bool) -> None:
    assert is_our_command(command) is ours


def test_merge_keeps_position_and_replaces_old_versions() -> None:
    doc = {
        "hooks": {
            "Stop": [
                {"hooks": [{"type": "command", "command": "/old/keito-skill hook stop"}]},
                {"hooks": [{"type": "command", "command": "echo theirs"}]},
            ],
            "UserPromptSubmit": [
                {"hooks": [{"type": "command", "command": "/old/keito-skill hook prompt"}]}
            ],
            "Notification": [],
        }
    }
    merged = merge_hooks(doc, hook_specs(Path("/new/keito-skill")))
    stop = merged["hooks"]["Stop"]
    assert stop[0]["hooks"][0]["command"] == "/new/keito-skill hook stop --agent claude-code"
    assert stop[1] == {"hooks": [{"type": "command", "command": "echo theirs"}]}
    assert "UserPromptSubmit" not in merged["hooks"]  # only ours was there
    assert merged["hooks"]["Notification"] == []  # theirs, even if empty: kept
    assert merge_hooks(merged, hook_specs(Path("/new/keito-skill"))) == merged


# ---- install / uninstall ------------------------------------------------------------


def test_install_merges_once_keeps_everything_else_and_backs_up(box: Home) -> None:
    (box.claude / "settings.json").write_text(json.dumps(CLAUDE_SETTINGS))
    (box.codex / "hooks.json").write_text(json.dumps(CODEX_HOOKS))

    first = box.run("install", "--agent", "all", "--bin", FAKE_BIN, "--codex-bin", "/nowhere")
    assert "codex not found at /nowhere" in first.stdout
    assert "keito-skill install --agent codex --yes" in first.stdout

    settings = box.settings()
    assert settings["model"] == "opus" and settings["permissions"] == CLAUDE_SETTINGS["permissions"]
    assert settings["hooks"]["PreToolUse"] == CLAUDE_SETTINGS["hooks"]["PreToolUse"]
    assert settings["hooks"]["Stop"][0] == CLAUDE_SETTINGS["hooks"]["Stop"][0]
    ours = _ours(settings)
    assert sorted(ours) == sorted(EVENTS)
    for event in EVENTS:
        assert ours[event] == [
            {
                "type": "command",
                "command": f"'{FAKE_BIN}' hook {ARGS[event]} --agent claude-code",
                "timeout": 10,
            }
        ]
    codex_doc = box.codex_hooks()
    assert codex_doc["hooks"]["Stop"][0] == CODEX_HOOKS["hooks"]["Stop"][0]
    codex_ours = _ours(codex_doc)
    assert {e: [h["timeout"] for h in hs] for e, hs in codex_ours.items()} == {
        "SessionStart": [10],
        "Stop": [10],
        "SessionEnd": [2],
    }
    assert all(h[0]["command"].endswith("--agent codex") for h in codex_ours.values())

    # The file changed was backed up as it was before.
    assert json.loads((box.claude / f"settings.json{BACKUP_SUFFIX}").read_text()) == (
        CLAUDE_SETTINGS
    )
    assert json.loads((box.codex / f"hooks.json{BACKUP_SUFFIX}").read_text()) == CODEX_HOOKS

    # The skill is there for both agents; Codex also gets agents/openai.yaml at the root.
    for skills in (box.claude / "skills" / "keito", box.codex / "skills" / "keito"):
        assert (skills / "SKILL.md").read_text().startswith("---\nname: keito\n")
        assert os.access(skills / "skill" / "scripts" / "keito-hook", os.X_OK)
    assert (box.codex / "skills" / "keito" / "agents" / "openai.yaml").is_file()
    assert not (box.claude / "skills" / "keito" / "agents").exists()
    assert (box.skill_home / "keito-skill-bin").read_text().strip() == FAKE_BIN

    # Twice: nothing changes, not even the backups.
    before = {p: p.read_bytes() for p in (box.claude.glob("*.json*")) if p.is_file()}
    before |= {p: p.read_bytes() for p in (box.codex.glob("*.json*")) if p.is_file()}
    second = box.run("install", "--bin", FAKE_BIN, "--codex-bin", "/nowhere")
    assert second.stdout.count("already up to date") == 2
    after = {p: p.read_bytes() for p in before}
    assert after == before


def test_older_keito_hook_is_replaced_in_place(box: Home) -> None:
    old = {
        "hooks": {
            "Stop": [
                {"hooks": [{"type": "command", "command": "/old/venv/bin/keito-skill hook stop"}]},
                {"hooks": [{"type": "command", "command": "echo theirs"}]},
            ]
        }
    }
    (box.claude / "settings.json").write_text(json.dumps(old))
    box.run("install", "--agent", "claude-code", "--bin", FAKE_BIN)
    stop = box.settings()["hooks"]["Stop"]
    assert len(stop) == 2
    assert stop[0]["hooks"][0]["command"].startswith(f"'{FAKE_BIN}' hook stop")
    assert stop[1]["hooks"][0]["command"] == "echo theirs"
    assert not (box.codex / "hooks.json").exists()  # --agent claude-code only


def test_install_names_only_the_steps_left(box: Home) -> None:
    from keito_skill.mapping import RepoConfig, write_config

    repo = box.root / "repo"
    repo.mkdir()
    bare = box.run("install", "--agent", "claude-code", "--bin", FAKE_BIN, cwd=repo)
    assert bare.stdout.splitlines()[-1] == (
        "Next: 'keito-skill auth login', then 'keito-skill init' in each repository you bill for."
    )
    box.env.update(KEITO_API_KEY="kk_test", KEITO_ACCOUNT_ID="acc_1")
    logged_in = box.run("install", "--agent", "claude-code", "--bin", FAKE_BIN, cwd=repo)
    assert logged_in.stdout.splitlines()[-1] == (
        "Next: 'keito-skill init' in each repository you bill for."
    )
    write_config(
        repo,
        RepoConfig.model_validate(
            {"project_id": "prj_1", "project_name": "Site", "task_id": "tsk_1", "task_name": "Dev"}
        ),
    )
    ready = box.run("install", "--agent", "claude-code", "--bin", FAKE_BIN, cwd=repo)
    assert ready.stdout.splitlines()[-1].startswith(
        "Ready: sessions here are billed to Site / Dev."
    )


def test_config_dirs_from_environment(box: Home) -> None:
    first, second = box.root / "cc-a", box.root / "cc-b"
    box.env["CLAUDE_CONFIG_DIR"] = f"{first},{second}"
    box.env["CODEX_HOME"] = str(box.root / "codex-home")
    box.run("install", "--bin", FAKE_BIN, "--codex-bin", "/nowhere")
    assert sorted(_ours(json.loads((first / "settings.json").read_text()))) == sorted(EVENTS)
    assert (first / "skills" / "keito" / "SKILL.md").is_file()
    assert not second.exists()
    assert (box.root / "codex-home" / "hooks.json").is_file()
    assert not (box.claude / "settings.json").exists()


def test_uninstall_removes_only_ours(box: Home) -> None:
    (box.claude / "settings.json").write_text(json.dumps(CLAUDE_SETTINGS))
    (box.codex / "hooks.json").write_text(json.dumps(CODEX_HOOKS))
    box.run("install", "--bin", FAKE_BIN, "--codex-bin", "/nowhere")
    out = box.run("uninstall").stdout
    assert "hooks removed" in out
    assert box.settings() == CLAUDE_SETTINGS
    assert box.codex_hooks() == CODEX_HOOKS
    assert not (box.claude / "skills" / "keito").exists()
    assert not (box.codex / "skills" / "keito").exists()
    # A backup of the file as install left it.
    assert _ours(json.loads((box.claude / f"settings.json{BACKUP_SUFFIX}").read_text()))
    # Again: nothing of ours left, nothing written.
    assert "no hooks of ours" in box.run("uninstall").stdout


def test_a_foreign_keito_skill_dir_is_never_replaced_or_deleted(box: Home) -> None:
    theirs = box.claude / "skills" / "keito"
    theirs.mkdir(parents=True)
    (theirs / "SKILL.md").write_text("---\nname: keito\ndescription: mine\n---\n")
    proc = box.run("install", "--agent", "claude-code", "--bin", FAKE_BIN, check=False)
    assert proc.returncode == 2
    assert "was not installed by keito-skill" in proc.stderr
    box.run("uninstall", "--agent", "claude-code")
    assert (theirs / "SKILL.md").read_text().endswith("mine\n---\n")


def test_broken_settings_file_is_left_alone(box: Home) -> None:
    (box.claude / "settings.json").write_text('{"model": "opus",')
    proc = box.run("install", "--agent", "claude-code", "--bin", FAKE_BIN, check=False)
    assert proc.returncode == 2
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("keito-skill: error: ") and "is not valid JSON" in last
    assert (box.claude / "settings.json").read_text() == '{"model": "opus",'


# ---- Codex trust, with the real codex app-server ------------------------------------


@pytest.mark.parametrize("ask_codex", [True, False], ids=["keys-from-codex", "keys-derived"])
def test_yes_trusts_our_codex_hooks_only(box: Home, ask_codex: bool) -> None:
    codex = _codex_bin()
    (box.codex / "hooks.json").write_text(json.dumps(CODEX_HOOKS))
    (box.codex / "config.toml").write_text('# mine\nmodel = "gpt-5-codex"\n')
    out = box.run("install", "--agent", "all", "--yes", "--bin", FAKE_BIN, "--codex-bin", codex)
    assert "hooks trusted" in out.stdout

    assert untrusted_hooks(codex, box.codex, select=_is_ours, env=box.env) == []
    hooks = list_hooks(codex, box.codex, env=box.env)
    assert sorted(h.event for h in hooks if _is_ours(h)) == ["sessionEnd", "sessionStart", "stop"]
    theirs = [h for h in hooks if h.command == "echo codex-stop"]
    assert [h.trust_status for h in theirs] == ["untrusted"]  # never trust someone else's
    config = (box.codex / "config.toml").read_text()
    assert config.startswith('# mine\nmodel = "gpt-5-codex"\n')

    again = box.run("install", "--agent", "codex", "--yes", "--bin", FAKE_BIN, "--codex-bin", codex)
    assert "already trusted" in again.stdout
    assert (box.codex / "config.toml").read_text() == config

    # install remembered which codex it used: doctor and uninstall find it off PATH.
    record = box.skill_home / "codex-bin"
    assert record.read_text().strip() == codex
    if not ask_codex:  # without codex to list the keys, they come from hooks.json positions
        record.unlink()
    box.run("uninstall", "--agent", "codex")
    left = tomllib.loads((box.codex / "config.toml").read_text())
    assert left == {"model": "gpt-5-codex"}
    assert box.codex_hooks() == CODEX_HOOKS


def test_without_tty_or_yes_hooks_are_installed_untrusted_and_the_fix_printed(box: Home) -> None:
    codex = _codex_bin()
    out = box.run("install", "--agent", "codex", "--bin", FAKE_BIN, "--codex-bin", codex)
    assert f"keito-skill install --agent codex --yes --bin '{FAKE_BIN}' --codex-bin {codex}" in (
        out.stdout
    )
    assert "NOT trusted" in out.stdout
    assert len(untrusted_hooks(codex, box.codex, select=_is_ours, env=box.env)) == 3
    assert not (box.codex / "config.toml").exists()


@pytest.mark.parametrize(("answer", "trusted"), [("y\n", True), ("n\n", False)])
def test_on_a_terminal_install_asks_before_trusting(
    box: Home, monkeypatch: pytest.MonkeyPatch, answer: str, trusted: bool
) -> None:
    codex = _codex_bin()
    for name in ("HOME", "KEITO_SKILL_HOME"):
        monkeypatch.setenv(name, box.env[name])
    monkeypatch.delenv("CODEX_HOME", raising=False)
    monkeypatch.setattr(install_cmd, "_interactive", lambda: True)  # CliRunner has no TTY
    args = ["--agent", "codex", "--bin", FAKE_BIN, "--codex-bin", codex]
    result = CliRunner().invoke(install_cmd.install, args, input=answer)
    assert result.exit_code == 0, result.output
    assert "Trust keito-skill's 3 hooks" in result.output
    left = untrusted_hooks(codex, box.codex, select=_is_ours, env=box.env)
    assert len(left) == (0 if trusted else 3)
    if not trusted:
        assert "Trust them later with: keito-skill install --agent codex --yes" in result.output


# ---- the plugin hook wrapper --------------------------------------------------------

_LOGGER = """#!/bin/sh
printf '%s\\n' "$*" >> "$LOG"
cat >> "$LOG"
"""


def test_hook_wrapper_runs_the_recorded_binary_or_does_nothing(box: Home) -> None:
    wrapper = ROOT / "skill" / "scripts" / "keito-hook"
    env = {**box.env, "LOG": str(box.root / "log")}
    quiet = subprocess.run(
        ["sh", str(wrapper), "stop", "--agent", "claude-code"],
        input='{"session_id": "s"}',
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")

    fake = box.root / "bin" / "keito-skill"
    fake.parent.mkdir()
    fake.write_text(_LOGGER)
    fake.chmod(0o755)
    box.skill_home.mkdir()
    (box.skill_home / "keito-skill-bin").write_text(f"{fake}\n")
    ran = subprocess.run(
        ["sh", str(wrapper), "stop", "--agent", "claude-code"],
        input='{"session_id": "s"}',
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert (ran.returncode, ran.stdout) == (0, "")
    assert (box.root / "log").read_text() == 'hook stop --agent claude-code\n{"session_id": "s"}'

    fake.write_text("#!/bin/sh\necho noise; exit 3\n")  # a failing runner: still exit 0
    failed = subprocess.run(
        ["sh", str(wrapper), "stop"], input="", env=env, capture_output=True, text=True
    )
    assert (failed.returncode, failed.stdout) == (0, "")

    forward = subprocess.run(
        ["sh", str(ROOT / "skill" / "scripts" / "keito"), "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert forward.stdout == "noise\n" and forward.returncode == 3


# ---- packaging ----------------------------------------------------------------------


def test_wheel_carries_the_skill_and_the_installed_package_finds_it(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("keito_skill", "skill"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("SKILL.md", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    out = tmp_path / "wheels"
    attempts = [["--no-build-isolation"], []]  # the venv's setuptools may be too old
    errors: list[str] = []
    for extra in attempts:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *extra, "-w", str(out), "."],
            cwd=src,
            capture_output=True,
            text=True,
            timeout=240,
        )
        if proc.returncode == 0:
            break
        errors.append(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "?")
    else:
        pytest.skip(f"cannot build a wheel here: {' | '.join(errors)}")
    (wheel,) = out.glob("keito_skill-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        data = "keito_skill-0.1.0.data/data/share/keito-skill/"
        for path in ("SKILL.md", "skill/scripts/keito-hook", "skill/scripts/keito"):
            assert data + path in names
            assert zf.read(data + path) == (ROOT / path).read_bytes()
        assert data + "skill/agents/openai.yaml" in names
        assert zf.getinfo(data + "skill/scripts/keito-hook").external_attr >> 16 & 0o111

    # Install it into a fresh venv (no deps: they come from ours via PYTHONPATH, which
    # does not activate our editable install) and ask it where the skill is.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", wheel],
        check=True,
        capture_output=True,
        timeout=120,
    )
    site = next((venv / "lib").glob("python3*/site-packages"))
    ours = Path(__import__("click").__file__).resolve().parent.parent
    found = subprocess.run(
        [
            str(py),
            "-c",
            "import keito_skill.install.bundle as b; print(b.find_bundle()); print(b.__file__)",
        ],
        env={**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ours}"},
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.split()
    assert Path(found[0]) == venv / "share" / "keito-skill"
    assert Path(found[1]).is_relative_to(venv)


def test_official_cli_login_then_install_reaches_the_clis_base_url(box: Home) -> None:
    """A user whose only set-up is the official ``keito auth login`` (its config.toml has
    no ``api_url``) plus ``keito-skill install`` talks to the server Keito's CLI uses."""
    box.env["XDG_CONFIG_HOME"] = str(box.home / ".config")
    cli_config = box.home / ".config" / "keito" / "config.toml"
    cli_config.parent.mkdir(parents=True)
    cli_config.write_text('api_key = "kto_cli"\nworkspace_id = "co_cli"\naccount_id = "co_cli"\n')
    box.run("install", "--agent", "all", "--yes", "--bin", FAKE_BIN, "--codex-bin", "/nowhere")
    status = json.loads(box.run("auth", "status", "--json").stdout)
    assert status["configured"] is True
    assert status["config_file"] == str(cli_config)
    assert status["api_url"] == {"value": "https://app.keito.ai", "source": "default"}
    # Nothing the install wrote pins another server for the hooks.
    written = (box.claude / "settings.json").read_text() + (box.codex / "hooks.json").read_text()
    assert "keito.io" not in written and "KEITO_API_URL" not in written


# ---- the official Keito skill's hooks (keito-time-track) ----------------------------


def _official(home: Path, agent: str) -> dict[str, Any]:
    """Hooks as Keito's own installers write them (facts from osodevops/keito-cli's
    skills/keito-time-track/installers): SessionStart + Stop, commands running the
    skill's session-start.sh / session-end.sh with KEITO_AGENT_TYPE (and KEITO_CLI_BIN)."""
    skill = home / (".claude" if agent == "claude-code" else ".codex") / "skills/keito-time-track"
    prefix = f"KEITO_CLI_BIN='/usr/local/bin/keito' KEITO_AGENT_TYPE={agent} "
    matcher = "*" if agent == "claude-code" else "startup|resume"
    return {
        "SessionStart": [
            {
                "matcher": matcher,
                "hooks": [
                    {"type": "command", "command": f"{prefix}'{skill}/hooks/session-start.sh'"}
                ],
            }
        ],
        "Stop": [
            {
                "hooks": [
                    {
                        "type": "command",
                        "command": f"{prefix}'{skill}/hooks/session-end.sh'",
                        "timeout": 30,
                    }
                ]
            }
        ],
    }


def test_official_hooks_are_reported_and_left_without_consent(box: Home) -> None:
    settings = {"model": "opus", "hooks": _official(box.home, "claude-code")}
    (box.claude / "settings.json").write_text(json.dumps(settings))
    out = box.run("install", "--agent", "claude-code", "--bin", FAKE_BIN).stdout
    assert "keito-time-track" in out and "same session" in out
    assert "'keito-skill install --yes' disables them" in out
    doc = box.settings()
    assert doc["hooks"]["SessionStart"][0] == settings["hooks"]["SessionStart"][0]
    assert not (box.claude / "settings.json.keito-time-track.json").exists()


def test_install_yes_disables_official_hooks_and_uninstall_restores_them(box: Home) -> None:
    claude_doc = {
        "model": "opus",
        "hooks": {
            **_official(box.home, "claude-code"),
            "PreToolUse": CLAUDE_SETTINGS["hooks"]["PreToolUse"],
        },
    }
    claude_doc["hooks"]["Stop"].append(CLAUDE_SETTINGS["hooks"]["Stop"][0])  # someone else's
    codex_doc = {"hooks": _official(box.home, "codex")}
    (box.claude / "settings.json").write_text(json.dumps(claude_doc))
    (box.codex / "hooks.json").write_text(json.dumps(codex_doc))
    out = box.run("install", "--yes", "--bin", FAKE_BIN, "--codex-bin", "/nowhere").stdout
    assert out.count("disabled 2 official hooks") == 2
    for doc in (box.settings(), box.codex_hooks()):
        commands = json.dumps(doc)
        assert "keito-time-track" not in commands
        assert sorted(_ours(doc)) == sorted(EVENTS)
    assert "echo their-stop" in json.dumps(box.settings())  # other hooks untouched
    assert box.settings()["hooks"]["PreToolUse"] == CLAUDE_SETTINGS["hooks"]["PreToolUse"]
    assert (box.claude / "settings.json.keito-time-track.json").is_file()
    # A second install finds nothing more to disable.
    assert (
        "official" not in box.run("install", "--yes", "--bin", FAKE_BIN, "--codex-bin", "/x").stdout
    )

    out = box.run("uninstall").stdout
    assert "restored 2 official keito-time-track hooks" in out
    assert box.settings() == claude_doc
    assert box.codex_hooks() == codex_doc
    assert not (box.claude / "settings.json.keito-time-track.json").exists()


def test_uninstall_removes_what_install_created(box: Home) -> None:
    """Issue 17 item 20: ``{}`` was left in a hooks.json install had created, and an empty
    ``skills/``; backups came under two names. Files install only edited stay (above)."""
    box.run("install", "--bin", FAKE_BIN, "--codex-bin", "/nowhere")
    assert (box.codex / "hooks.json").exists() and (box.claude / "settings.json").exists()
    box.run("uninstall")
    assert sorted(p.name for p in box.codex.iterdir()) == []
    assert sorted(p.name for p in box.claude.iterdir()) == []
    # A file install created but the user has added to since stays, without our hooks.
    box.run("install", "--bin", FAKE_BIN, "--codex-bin", "/nowhere")
    settings = box.settings()
    settings["model"] = "opus"
    (box.claude / "settings.json").write_text(json.dumps(settings))
    box.run("uninstall")
    assert box.settings() == {"model": "opus", "hooks": {}} or box.settings() == {"model": "opus"}
    backups = [p.name for p in box.root.rglob("*.bak")]
    assert all(name.endswith(BACKUP_SUFFIX) for name in backups), backups
