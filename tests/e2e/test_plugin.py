"""The repository as a Claude Code plugin marketplace, and `install --yes` hooks that run.

Uses the real Claude Code 2.1.328 in a sandbox HOME against the stub model. Checks that
``claude plugin marketplace add`` + ``claude plugin install keito@keito-skill`` succeed,
that the installed plugin carries our hooks and skill, and that a headless session fires
all three hooks through ``skill/scripts/keito-hook`` — with the hook JSON on stdin — to
the ``keito-skill`` executable recorded at install time.

The marketplace added is an export of the repository as a clone of it would look (git's
tracked and non-ignored files): for a local path Claude Code copies the *whole* directory
into its plugin cache, which for a working checkout means ``.venv`` and ``.e2e-cache``
(over 1 GB). A user adding the GitHub repository gets exactly the exported files.

The second test runs ``keito-skill install --agent all --yes`` into the sandbox and then
the real Codex and Claude Code: an installed-but-untrusted Codex hook would silently not
run, so this is the proof that install leaves hooks that actually run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .agents import REPO_ROOT, AgentSandbox

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

MARKETPLACE = "keito-skill"
PLUGIN = f"keito@{MARKETPLACE}"

_FAKE_KEITO_SKILL = """#!/bin/sh
# Stands in for keito-skill: logs its arguments and the hook JSON it got on stdin.
python3 -c 'import json, sys
print(json.dumps({"argv": sys.argv[1:], "stdin": sys.stdin.read()}))' "$@" \
    >> "$(dirname "$0")/calls.jsonl"
"""


def _export_repo(dest: Path) -> Path:
    """Copy the files a clone of the repository would have (tracked or not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def _claude(box: AgentSandbox, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(box.bins.claude), *args],
        env=box.claude_env(),
        cwd=box.project,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, f"claude {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _calls(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def test_marketplace_add_install_and_hooks_fire(agent_sandbox: AgentSandbox) -> None:
    box = agent_sandbox
    source = _export_repo(box.root / "keito-skill-repo")

    _claude(box, "plugin", "validate", str(source))
    _claude(box, "plugin", "marketplace", "add", str(source))
    _claude(box, "plugin", "install", PLUGIN)
    listed = json.loads(_claude(box, "plugin", "list", "--json").stdout)
    assert [(p["id"], p["version"], p["enabled"]) for p in listed] == [(PLUGIN, "0.1.0", True)]

    # The installed copy holds the manifest, the hooks and the skill.
    installed = json.loads((box.claude_dir / "plugins" / "installed_plugins.json").read_text())
    (record,) = installed["plugins"][PLUGIN]
    root = Path(record["installPath"])
    hooks = json.loads((root / "hooks" / "hooks.json").read_text())["hooks"]
    assert sorted(hooks) == ["SessionEnd", "SessionStart", "Stop"]
    assert (root / "SKILL.md").read_text().startswith("---\nname: keito\n")
    assert (root / "skill" / "scripts" / "keito-hook").is_file()

    # No keito-skill anywhere yet: the hooks do nothing and the session is unharmed.
    first = box.run_claude("Review the module").check()
    assert first.result is not None and first.result["is_error"] is False

    # Record a keito-skill (as `keito-skill install` does); the next session reaches it.
    fake = box.root / "fake-bin" / "keito-skill"
    fake.parent.mkdir()
    fake.write_text(_FAKE_KEITO_SKILL)
    fake.chmod(0o755)
    record_file = box.home / ".keito" / "skill" / "keito-skill-bin"
    record_file.parent.mkdir(parents=True)
    record_file.write_text(f"{fake}\n")
    run = box.run_claude("Now the tests").check()

    calls = _calls(fake.parent / "calls.jsonl")
    assert [c["argv"] for c in calls] == [
        ["hook", "session-start", "--agent", "claude-code"],
        ["hook", "stop", "--agent", "claude-code"],
        ["hook", "session-end", "--agent", "claude-code"],
    ]
    payloads = [json.loads(c["stdin"]) for c in calls]
    assert [p["hook_event_name"] for p in payloads] == ["SessionStart", "Stop", "SessionEnd"]
    assert {p["session_id"] for p in payloads} == {run.session_id}


def test_install_yes_leaves_hooks_that_really_run(agent_sandbox: AgentSandbox) -> None:
    """``keito-skill install --agent all --yes``: both real agents then call our hooks."""
    box = agent_sandbox
    fake = box.root / "fake-bin" / "keito-skill"
    fake.parent.mkdir()
    fake.write_text(_FAKE_KEITO_SKILL)
    fake.chmod(0o755)
    env = {**box.codex_env(), "KEITO_SKILL_HOME": str(box.root / "skill-home")}
    args = ["install", "--agent", "all", "--yes", "--bin", str(fake)]
    proc = subprocess.run(
        [sys.executable, "-m", "keito_skill", *args, "--codex-bin", str(box.bins.codex)],
        env=env,
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "hooks trusted" in proc.stdout

    log = fake.parent / "calls.jsonl"
    codex_run = box.run_codex("Review the module").check()
    claude_run = box.run_claude("Review the module").check()
    calls = _calls(log)
    by_agent: dict[str, list[str]] = {}
    for call in calls:
        by_agent.setdefault(call["argv"][-1], []).append(call["argv"][1])
        assert call["argv"][0] == "hook" and call["argv"][2] == "--agent"
    expected = ["session-start", "stop", "session-end"]
    assert by_agent == {"codex": expected, "claude-code": expected}
    sessions = {c["argv"][-1]: json.loads(c["stdin"])["session_id"] for c in calls}
    assert sessions == {"codex": codex_run.session_id, "claude-code": claude_run.session_id}
