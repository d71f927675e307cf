"""The main job, end to end: real Claude Code and Codex, our hooks installed by our installer,
a stub model API, and the local Keito server. Every session must arrive in Keito as exactly
one time entry per session-day, with expenses whose tokens equal what the model served."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agents import AgentSandbox
from tests.keito_server import KeitoServer
from tests.sessions_kit import cli, expense_tokens, make_repo, remote

pytestmark = pytest.mark.e2e

KEYS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")


def _served(box: AgentSandbox, api: str) -> dict[str, int]:
    """What the stub served for ``api``, in our meaning of the token fields."""
    totals = box.stub.totals(api)
    return {
        "input_tokens": totals["input"],
        "cache_creation_input_tokens": totals["cache_write"],
        "cache_read_input_tokens": totals["cache_read"],
        "output_tokens": totals["output"],
    }


def _track(
    box: AgentSandbox, server: KeitoServer, *, keito_url: str | None = None
) -> dict[str, str]:
    """Map the project, install our hooks with our installer, and give the agents our env."""
    make_repo(box.project, server)
    extra = {
        "KEITO_SKILL_HOME": str(box.root / "skill-home"),
        "KEITO_CONFIG_DIR": str(box.root / "keito-config"),
        "KEITO_API_KEY": server.api_key,
        "KEITO_ACCOUNT_ID": server.account_id,
        "KEITO_API_URL": keito_url or server.url,
        "TZ": "UTC",
    }
    claude_env, codex_env = box.claude_env, box.codex_env
    box.claude_env = lambda: {**claude_env(), **extra}  # type: ignore[method-assign]
    box.codex_env = lambda: {**codex_env(), **extra}  # type: ignore[method-assign]
    install_env = {**box.codex_env(), **box.claude_env()}
    keito_bin = str(Path(sys.executable).parent / "keito-skill")
    result = cli(
        "install",
        "--agent",
        "all",
        "--yes",
        "--bin",
        keito_bin,
        "--codex-bin",
        str(box.bins.codex),
        env=install_env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    settings = json.loads((box.home / ".claude" / "settings.json").read_text())
    assert set(settings["hooks"]) >= {"SessionStart", "Stop", "SessionEnd"}
    return {**install_env, "KEITO_API_URL": server.url}


def _sync(env: dict[str, str]) -> dict[str, Any]:
    result = cli("sync", "--json", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def _entries(box: AgentSandbox, server: KeitoServer) -> list[dict[str, Any]]:
    """Every session-day's entry: sent to Keito, or held because a run of a few seconds
    rounds to 0.00 h, which is never sent as a zero-hour entry (issue 15). A held one is
    the ledger's payload, with what would be sent."""
    from keito_skill.ledger import Ledger

    found = remote(server, "time_entries")
    with Ledger(box.root / "skill-home" / "ledger.sqlite3") as ledger:
        for record in ledger.records(kind="time_entry", status="held"):
            assert (record.last_error or "").startswith("under 0.01 h"), record.last_error
            found.append(record.payload)
    return found


def _one_entry_per_day(box: AgentSandbox, server: KeitoServer, session_id: str) -> dict[str, Any]:
    entries = [e for e in _entries(box, server) if e["metadata"]["session_id"] == session_id]
    assert len(entries) == 1, entries
    return entries[0]


def test_claude_code_multi_prompt_resumed_session(
    agent_sandbox: AgentSandbox, keito_server: KeitoServer
) -> None:
    box = agent_sandbox
    env = _track(box, keito_server)
    first = box.run_claude("Review the authentication module").check()
    assert first.session_id
    box.run_claude("Now check the tests", resume=first.session_id).check()
    _sync(env)
    entry = _one_entry_per_day(box, keito_server, first.session_id)
    served = _served(box, "anthropic")
    assert len(box.stub.served("anthropic")) == 4  # 2 prompts x (tool call + answer)
    assert {k: entry["metadata"][k] for k in KEYS} == served
    assert entry["metadata"]["agent_type"] == "claude-code"
    assert entry["metadata"]["tool_calls"] == 2 and entry["metadata"]["turns"] == 2
    tokens = expense_tokens(remote(keito_server, "expenses"), first.session_id)
    assert {k: tokens[k] for k in KEYS} == served


def test_codex_multi_prompt_resumed_session(
    agent_sandbox: AgentSandbox, keito_server: KeitoServer
) -> None:
    box = agent_sandbox
    env = _track(box, keito_server)
    first = box.run_codex("Review the authentication module").check()
    assert first.session_id
    box.run_codex("Now check the tests", resume=first.session_id).check()
    _sync(env)
    entry = _one_entry_per_day(box, keito_server, first.session_id)
    served = _served(box, "openai")
    assert {k: entry["metadata"][k] for k in KEYS} == served
    assert entry["metadata"]["reasoning_output_tokens"] == box.stub.totals("openai")["reasoning"]
    tokens = expense_tokens(remote(keito_server, "expenses"), first.session_id)
    assert {k: tokens[k] for k in KEYS} == served
    # The hooks really ran (trusted by the installer), not only the sync's own reading.
    skill_home = box.root / "skill-home"
    assert (skill_home / "ledger.sqlite3").exists()
    doctor = cli("doctor", "--json", env=env)
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    untrusted = [c for name, c in checks.items() if "trust" in name and not c["ok"]]
    assert untrusted == [], untrusted


def test_two_sessions_at_once(agent_sandbox: AgentSandbox, keito_server: KeitoServer) -> None:
    box = agent_sandbox
    env = _track(box, keito_server)
    runs: dict[str, Any] = {}

    def run(agent: str) -> None:
        runs[agent] = (box.run_claude if agent == "claude" else box.run_codex)(
            "Review the authentication module"
        ).check()

    threads = [threading.Thread(target=run, args=(a,)) for a in ("claude", "codex")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert set(runs) == {"claude", "codex"}
    _sync(env)
    for agent, api in (("claude", "anthropic"), ("codex", "openai")):
        entry = _one_entry_per_day(box, keito_server, runs[agent].session_id)
        assert {k: entry["metadata"][k] for k in KEYS} == _served(box, api)
    assert len(_entries(box, keito_server)) == 2


def test_keito_down_during_the_session(
    agent_sandbox: AgentSandbox, keito_server: KeitoServer
) -> None:
    box = agent_sandbox
    env = _track(box, keito_server, keito_url="http://127.0.0.1:9")
    first = box.run_claude("Review the authentication module").check()
    box.run_claude("Now check the tests", resume=first.session_id).check()
    assert remote(keito_server, "time_entries") == []  # nothing could reach Keito
    report = _sync(env)  # Keito is back (the right URL): everything arrives, once
    assert report["sent"]["failed"] == 0
    entry = _one_entry_per_day(box, keito_server, first.session_id)
    assert {k: entry["metadata"][k] for k in KEYS} == _served(box, "anthropic")
    again = _sync(env)
    assert again["sent"]["created"] == 0
    assert len(_entries(box, keito_server)) == 1
