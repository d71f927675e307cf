"""The agent registry (issue 18): every agent through one protocol, one resolver per agent.

Install and doctor must look at the very directory backfill and watch read: before the
adapters, Claude Code's reader also looked in ``~/.config/claude`` while install wrote to
``~/.claude``, so a user whose sessions sat in the first got hooks in the second.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keito_skill import agents
from keito_skill.agents import InstallContext
from keito_skill.transcripts import discover
from keito_skill.watch import watch_paths

SESSION = "2d3a1b2c-0000-4000-8000-000000000000"


@pytest.fixture
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throw-away HOME with no agent variables set."""
    home = tmp_path / "user"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KEITO_SKILL_HOME", str(tmp_path / "skill"))
    for adapter in agents.adapters():
        for name in adapter.env_vars:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    program = home / "bin" / "keito-skill"  # what the hooks run: doctor checks it is there
    program.parent.mkdir()
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    return home


def _claude_session(config_dir: Path, name: str) -> Path:
    path = config_dir / "projects" / "-src-app" / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"sessionId": name, "type": "user"}) + "\n")
    return path


def test_registry_lists_each_adapter_under_its_own_name() -> None:
    assert agents.names() == tuple(agents.ADAPTERS)
    for name in agents.names():
        adapter = agents.adapter(name)
        assert adapter.name == name
        assert agents.label(name) == adapter.label != name
    assert agents.label("retired-agent") == "retired-agent"
    with pytest.raises(agents.UnknownAgentError, match="unknown agent 'nope'"):
        agents.adapter("nope")


def test_home_is_the_first_root_for_every_agent(user: Path, tmp_path: Path) -> None:
    for adapter in agents.adapters():
        assert adapter.home() == adapter.roots()[0]
        assert adapter.home().is_relative_to(user)
        moved = {name: str(tmp_path / "moved" / name) for name in adapter.env_vars}
        assert adapter.home(moved) == adapter.roots(moved)[0]
        # The variable names the directory itself, or (Gemini CLI) the home holding it.
        assert adapter.home(moved).is_relative_to(Path(next(iter(moved.values()))))


def test_install_doctor_and_backfill_use_one_claude_code_directory(user: Path) -> None:
    """Sessions in ``~/.config/claude`` (Claude Code never reads it) and in ``~/.claude``:
    install writes where backfill and watch read, and doctor checks that same file."""
    claude = agents.adapter("claude-code")
    _claude_session(user / ".config" / "claude", "aaaaaaaa-0000-4000-8000-000000000000")
    read = _claude_session(user / ".claude", SESSION)

    change = claude.install(InstallContext(user / "bin" / "keito-skill"))
    config_dir = change.hooks_file.parent
    assert config_dir == claude.home() == user / ".claude"

    found = [main for agent, main, _ in discover("claude-code")]
    assert found == [read]  # nothing from ~/.config/claude
    assert watch_paths() == [
        ("claude-code", config_dir / "projects"),
        *[("codex", d) for d in agents.adapter("codex").watch_dirs(agents.adapter("codex").home())],
        ("gemini-cli", user / ".gemini" / "tmp"),
    ]
    (check,) = claude.doctor()
    assert str(change.hooks_file) in check.detail


def test_claude_config_dir_moves_install_doctor_and_backfill_together(
    user: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "work", tmp_path / "personal"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", f"{first},{second}")
    claude = agents.adapter("claude-code")
    sessions = [_claude_session(first, SESSION), _claude_session(second, "b" * 8)]
    _claude_session(user / ".claude", "c" * 8)

    change = claude.install(InstallContext(user / "bin" / "keito-skill"))
    assert change.hooks_file == first / "settings.json"
    assert [main for _, main, _ in discover("claude-code")] == sessions
    (check,) = claude.doctor()
    assert str(first / "settings.json") in check.detail


def test_codex_home_is_one_directory_for_install_and_backfill(
    user: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "codex-home"
    monkeypatch.setenv("CODEX_HOME", str(home))
    rollout = (
        home / "sessions" / "2026" / "11" / "21" / f"rollout-2026-11-21T10-00-00-{SESSION}.jsonl"
    )
    rollout.parent.mkdir(parents=True)
    rollout.write_text(json.dumps({"type": "session_meta", "payload": {"id": SESSION}}) + "\n")
    codex = agents.adapter("codex")

    change = codex.install(InstallContext(user / "bin" / "keito-skill"))
    assert change.hooks_file == home / "hooks.json"
    assert [main for _, main, _ in discover("codex")] == [rollout]
    assert ("codex", home / "sessions") in watch_paths()
