"""The main job with the real Gemini CLI 0.61.0: our installer, a mapped repo, a session with
a tool call and a resume, and nothing but the hooks (and what they start) afterwards.

Keito must end up with one time entry per session-day and expenses whose tokens equal
everything the stub model served, the routing model's requests included (they are only
in Gemini CLI's telemetry file, which install turns on and which the CLI writes after its
last hook: the late reader the hook starts picks them up).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keito_skill.ledger import Ledger
from tests.keito_server import KeitoServer
from tests.sessions_kit import cli, expense_tokens, make_repo, remote

from .gemini_agent import GeminiBinary, GeminiSandbox, ensure_gemini, gemini_unavailable_reason
from .gemini_stub import GeminiServed, GeminiStubServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
AGENT = "gemini-cli"
KEYS = ("input_tokens", "cache_read_input_tokens", "output_tokens", "reasoning_output_tokens")


@pytest.fixture(scope="module")
def gemini_bin() -> GeminiBinary:
    reason = gemini_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    return ensure_gemini()


@pytest.fixture
def gemini_stub(tmp_path: Path) -> Iterator[GeminiStubServer]:
    with GeminiStubServer(tmp_path / "usage-truth.jsonl") as stub:
        yield stub


def _served(rows: list[GeminiServed]) -> dict[str, int]:
    """Everything served, in our meaning of the fields (input = prompt - cached + tool-use
    prompt; output = candidates + thoughts; reasoning = thoughts)."""
    return {
        "input_tokens": sum(r.input + r.tool_use_prompt for r in rows),
        "cache_read_input_tokens": sum(r.cache_read for r in rows),
        "output_tokens": sum(r.output + r.reasoning for r in rows),
        "reasoning_output_tokens": sum(r.reasoning for r in rows),
    }


def _entries(skill_home: Path, server: KeitoServer, session_id: str) -> list[dict[str, Any]]:
    """The session's time entries: sent, or held because a run of seconds rounds to 0.00 h
    (never sent as a zero-hour entry)."""
    found = [e for e in remote(server, "time_entries") if e["metadata"]["session_id"] == session_id]
    db = skill_home / "ledger.sqlite3"
    if db.exists():
        with Ledger(db) as ledger:
            for record in ledger.records(kind="time_entry", status="held"):
                if record.session_id == session_id:
                    found.append(record.payload)
    return found


def test_hooks_alone_bill_a_resumed_gemini_session_exactly(
    tmp_path: Path,
    gemini_bin: GeminiBinary,
    gemini_stub: GeminiStubServer,
    keito_server: KeitoServer,
) -> None:
    box = GeminiSandbox(tmp_path / "sandbox", gemini_bin, gemini_stub)
    make_repo(box.project, keito_server)
    skill_home = box.root / "skill-home"
    extra = {
        "KEITO_SKILL_HOME": str(skill_home),
        "KEITO_CONFIG_DIR": str(box.root / "keito-config"),
        "KEITO_API_KEY": keito_server.api_key,
        "KEITO_ACCOUNT_ID": keito_server.account_id,
        "KEITO_API_URL": keito_server.url,
        "TZ": "UTC",
    }
    env = {**box.env(), **extra}
    keito_bin = str(Path(sys.executable).parent / "keito-skill")
    done = cli("install", "--agent", AGENT, "--yes", "--bin", keito_bin, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    settings = json.loads((box.gemini_dir / "settings.json").read_text())
    assert set(settings["hooks"]) == {"SessionStart", "AfterAgent", "SessionEnd"}
    assert settings["security"]["auth"]["selectedType"] == "gemini-api-key"  # kept
    assert settings["telemetry"]["outfile"] == str(box.gemini_dir / "keito-telemetry.log")
    doctor = json.loads(cli("doctor", "--json", env=env).stdout)
    mine = {c["name"]: c for c in doctor["checks"] if c["name"].startswith(AGENT)}
    assert mine and all(c["ok"] for c in mine.values()), mine

    first = box.run("Review the authentication module", env=extra).check()
    second = box.run("Now check the tests", resume=first.session_id, env=extra).check()
    sid = first.session_id
    assert sid is not None and second.session_id == sid
    served = gemini_stub.served()
    assert [s.kind for s in served] == ["json", "tool_call", "text"] * 2  # router, tool, answer
    want = _served(served)

    # No sync by hand: the hooks' background syncs and the late telemetry reader deliver.
    deadline = time.monotonic() + 120
    got: dict[str, int] = {}
    while time.monotonic() < deadline:
        tokens = expense_tokens(remote(keito_server, "expenses"), sid)
        got = {k: tokens[k] for k in KEYS}
        if got == want:
            break
        time.sleep(0.5)
    assert got == want
    expenses = [e for e in remote(keito_server, "expenses") if e["metadata"]["session_id"] == sid]
    assert {e["metadata"]["model"] for e in expenses} == {s.model for s in served}
    entries = _entries(skill_home, keito_server, sid)
    assert len(entries) == 1, entries  # one session-day
    meta = entries[0]["metadata"]
    assert meta["agent_type"] == AGENT and meta["tool_calls"] == 2 and meta["turns"] == 2
    assert expenses and all(e["metadata"]["session_id"] == sid for e in expenses)
