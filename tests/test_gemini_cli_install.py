"""Gemini CLI's settings.json: our hooks and local telemetry in, idempotently, and out again."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from keito_skill.agents.gemini_cli import doctor, install, paths
from keito_skill.install._jsonfile import BACKUP_SUFFIX, SettingsFileError

BIN = Path("/opt/keito/bin/keito-skill")


@pytest.fixture
def gemini(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KEITO_SKILL_HOME", str(tmp_path / "skill"))
    monkeypatch.setenv("GEMINI_CLI_HOME", str(tmp_path / "ghome"))
    for name in list(os.environ):
        if name.startswith("GEMINI_TELEMETRY"):
            monkeypatch.delenv(name)
    return tmp_path / "ghome" / ".gemini"


def _doc(gemini: Path) -> dict[str, object]:
    return json.loads((gemini / "settings.json").read_text())


def test_install_writes_three_named_hooks_in_milliseconds_and_local_telemetry(
    gemini: Path,
) -> None:
    edit = install.install(BIN)
    assert edit.changed and edit.created and edit.path == gemini / "settings.json"
    doc = _doc(gemini)
    hooks = doc["hooks"]
    assert isinstance(hooks, dict)
    assert set(hooks) == {"SessionStart", "AfterAgent", "SessionEnd"}
    handler = hooks["AfterAgent"][0]["hooks"][0]
    assert handler == {
        "type": "command",
        "command": f"{BIN} hook stop --agent gemini-cli",
        "timeout": 10_000,
        "name": "keito-skill",
    }
    assert hooks["SessionStart"][0]["hooks"][0]["command"].endswith(
        "hook session-start --agent gemini-cli"
    )
    outfile = gemini / install.OUTFILE_NAME
    assert doc["telemetry"] == {
        "enabled": True,
        "target": "local",
        "outfile": str(outfile),
        "logPrompts": False,
    }
    assert stat.S_IMODE(outfile.stat().st_mode) == 0o600
    assert paths.telemetry_outfile({}) == outfile
    assert any("telemetry" in note for note in edit.notes)


def test_install_twice_changes_nothing_and_keeps_the_users_settings(gemini: Path) -> None:
    gemini.mkdir(parents=True)
    theirs = {
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "hooks": {"AfterAgent": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]},
    }
    (gemini / "settings.json").write_text(json.dumps(theirs))
    first = install.install(BIN)
    assert first.changed and first.backup == gemini / f"settings.json{BACKUP_SUFFIX}"
    before = (gemini / "settings.json").read_bytes()
    second = install.install(Path("/elsewhere/keito-skill"))  # a moved install: replaced
    assert second.changed
    third = install.install(Path("/elsewhere/keito-skill"))
    assert not third.changed and third.backup is None
    doc = _doc(gemini)
    assert doc["security"] == theirs["security"]
    groups = doc["hooks"]["AfterAgent"]  # type: ignore[index]
    commands = [h["command"] for g in groups for h in g["hooks"]]
    assert commands == ["notify-send done", "/elsewhere/keito-skill hook stop --agent gemini-cli"]
    assert (gemini / "settings.json").read_bytes() != before

    removed = install.uninstall()
    assert removed.changed
    assert _doc(gemini) == theirs  # our hooks and our telemetry block gone, theirs kept


def test_the_users_own_telemetry_is_left_alone(gemini: Path) -> None:
    gemini.mkdir(parents=True)
    own = {"enabled": True, "target": "local", "outfile": "/var/log/gemini.log"}
    (gemini / "settings.json").write_text(json.dumps({"telemetry": own}))
    install.install(BIN)
    assert _doc(gemini)["telemetry"] == own
    install.uninstall()
    assert _doc(gemini) == {"telemetry": own}

    elsewhere = {"enabled": True, "target": "gcp"}
    (gemini / "settings.json").write_text(json.dumps({"telemetry": elsewhere}))
    edit = install.install(BIN)
    assert _doc(gemini)["telemetry"] == elsewhere
    assert any("not billed" in note for note in edit.notes)
    checks = {c.name: c for c in doctor.checks()}
    assert not checks["gemini-cli telemetry"].ok
    assert "routing model" in checks["gemini-cli telemetry"].detail


def test_comments_are_read_and_their_loss_is_said(gemini: Path) -> None:
    gemini.mkdir(parents=True)
    (gemini / "settings.json").write_text('{\n  // mine\n  "ui": {"theme": "a // b"}\n}\n')
    edit = install.install(BIN)
    assert _doc(gemini)["ui"] == {"theme": "a // b"}
    assert any("comments" in note for note in edit.notes)
    assert "// mine" in (gemini / f"settings.json{BACKUP_SUFFIX}").read_text()


def test_a_broken_settings_file_is_refused_not_overwritten(gemini: Path) -> None:
    gemini.mkdir(parents=True)
    (gemini / "settings.json").write_text('{"hooks": ')
    with pytest.raises(SettingsFileError):
        install.install(BIN)
    assert (gemini / "settings.json").read_text() == '{"hooks": '
    [check] = doctor.checks()
    assert not check.ok and "repair" in (check.fix or "")


def test_uninstall_removes_a_settings_file_install_created(gemini: Path) -> None:
    install.install(BIN)
    install.uninstall()
    assert not (gemini / "settings.json").exists()
    assert install.uninstall().changed is False


def test_doctor_names_what_is_missing(gemini: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert [(c.name, c.ok) for c in doctor.checks()] == [("gemini-cli hooks", True)]  # skipped
    gemini.mkdir(parents=True)
    [hooks, telemetry] = doctor.checks()
    assert not hooks.ok and hooks.fix == "keito-skill install --agent gemini-cli"
    assert not telemetry.ok and telemetry.fix == "keito-skill install --agent gemini-cli"
    install.install(BIN)
    [hooks, telemetry] = doctor.checks()
    assert not hooks.ok and str(BIN) in hooks.detail  # the executable does not exist
    doc = _doc(gemini)
    doc["hooksConfig"] = {"disabled": ["keito-skill"]}
    (gemini / "settings.json").write_text(json.dumps(doc))
    fake = gemini.parent / "keito-skill"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    install.install(fake)
    [hooks, telemetry] = doctor.checks()
    assert not hooks.ok and "hooksConfig.disabled" in hooks.detail
    assert telemetry.ok and install.OUTFILE_NAME in telemetry.detail
    doc = _doc(gemini)
    doc["hooksConfig"] = {}
    (gemini / "settings.json").write_text(json.dumps(doc))
    assert all(c.ok for c in doctor.checks())


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keito_skill", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_install_all_includes_gemini_cli_only_when_it_is_on_path(
    gemini: Path, tmp_path: Path
) -> None:
    program = tmp_path / "bin" / "keito-skill"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    env = {**os.environ, "CODEX_HOME": str(tmp_path / "codex")}
    env.pop("CLAUDE_CONFIG_DIR", None)
    env["PATH"] = f"{program.parent}:/usr/bin:/bin"  # no gemini here
    done = _cli(env, "install", "--agent", "all", "--bin", str(program))
    assert done.returncode == 0, done.stderr
    assert not (gemini / "settings.json").exists()
    assert "gemini-cli" not in done.stdout
    gemini_bin = tmp_path / "node" / "gemini"
    gemini_bin.parent.mkdir()
    gemini_bin.write_text("#!/bin/sh\n")
    gemini_bin.chmod(0o755)
    env["PATH"] = f"{gemini_bin.parent}:{env['PATH']}"
    done = _cli(env, "install", "--agent", "all", "--bin", str(program))
    assert done.returncode == 0, done.stderr
    assert set(_doc(gemini)["hooks"]) == {"SessionStart", "AfterAgent", "SessionEnd"}  # type: ignore[arg-type]
    assert (gemini / "skills" / "keito" / "SKILL.md").is_file()  # Gemini CLI reads skills there
    doctor = json.loads(_cli(env, "doctor", "--json").stdout)
    names = {c["name"]: c["ok"] for c in doctor["checks"]}
    assert names["gemini-cli hooks"] and names["gemini-cli telemetry"]
    done = _cli(env, "uninstall", "--agent", "gemini-cli")
    assert done.returncode == 0, done.stderr
    assert not (gemini / "settings.json").exists()  # install made it: gone again
    assert not (gemini / "skills" / "keito").exists()
