"""Smoke tests of the real agents: hooks fire, transcripts land, usage matches the stub.

These pin down the facts keito-skill is built on, against the exact releases we support
(Claude Code 2.1.328, Codex CLI 0.169.0): which hook events fire in a headless session and
its resume, what their payloads carry, where the transcript is, and that the usage it holds
equals what the model API served.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from keito_skill.agents.codex.trust import list_hooks, untrusted_hooks

from .agents import (
    HOOK_EVENTS,
    AgentSandbox,
    claude_transcript_usage,
    codex_final_total_usage,
    logging_hook_command,
    read_hook_log,
    read_jsonl,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

PROMPTS = ("Review the authentication module", "Now check the tests")


def _payloads(log: Path) -> list[dict[str, Any]]:
    return [r["payload"] for r in read_hook_log(log)]


def _same_dir(a: str | Path, b: str | Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _assert_session_hooks(payloads: list[dict[str, Any]], session_id: str, project: Path) -> Path:
    """Common checks; returns the transcript path every payload agrees on."""
    events = [p.get("hook_event_name") for p in payloads]
    assert events == [*HOOK_EVENTS, *HOOK_EVENTS], events
    assert {p["session_id"] for p in payloads} == {session_id}
    paths = {p["transcript_path"] for p in payloads}
    assert len(paths) == 1, paths
    for p in payloads:
        assert _same_dir(p["cwd"], project), p["cwd"]
    starts = [p for p in payloads if p["hook_event_name"] == "SessionStart"]
    assert [s["source"] for s in starts] == ["startup", "resume"]
    stops = [p for p in payloads if p["hook_event_name"] == "Stop"]
    assert all(s["stop_hook_active"] is False for s in stops)
    assert all(s["last_assistant_message"] for s in stops)
    ends = [p for p in payloads if p["hook_event_name"] == "SessionEnd"]
    assert all("reason" in e for e in ends)
    transcript = Path(paths.pop())
    assert transcript.is_file(), transcript
    return transcript


def test_claude_code_hooks_transcript_and_usage(agent_sandbox: AgentSandbox) -> None:
    box = agent_sandbox
    log = box.root / "hooks.jsonl"
    command = logging_hook_command(box.root / "bin", log)
    box.write_claude_hooks(dict.fromkeys(HOOK_EVENTS, command))

    first = box.run_claude(PROMPTS[0]).check()
    second = box.run_claude(PROMPTS[1], resume=first.session_id).check()
    assert second.session_id == first.session_id
    assert first.result is not None and first.result["is_error"] is False
    assert first.result["num_turns"] == 2  # tool call + final answer

    assert first.session_id is not None
    transcript = _assert_session_hooks(_payloads(log), first.session_id, box.project)
    assert transcript.parent.parent == box.claude_dir / "projects"
    stops = [p for p in _payloads(log) if p["hook_event_name"] == "Stop"]
    assert [s["last_assistant_message"] for s in stops] == [
        "Step 2: done, the module looks fine.",
        "Step 4: done, the module looks fine.",
    ]

    served = box.stub.served("anthropic")
    assert [s.kind for s in served] == ["tool_call", "text", "tool_call", "text"]
    usage = claude_transcript_usage(transcript)
    assert list(usage) == [s.id for s in served]
    for s in served:
        u = usage[s.id]
        assert (
            u["input_tokens"],
            u["cache_creation_input_tokens"],
            u["cache_read_input_tokens"],
            u["output_tokens"],
        ) == (s.input, s.cache_write, s.cache_read, s.output)
        assert u["model"] == s.model
    # The tool really ran: its output is in the transcript.
    results = [
        block
        for line in read_jsonl(transcript)
        if line.get("type") == "user" and isinstance(line["message"].get("content"), list)
        for block in line["message"]["content"]
        if block.get("type") == "tool_result"
    ]
    assert len(results) == 2 and all("auth.py" in str(r["content"]) for r in results)
    # The truth file holds the same four responses.
    truth = read_jsonl(box.stub_truth_path)
    assert [t["message_id"] for t in truth] == [s.id for s in served]


def test_codex_hooks_trust_transcript_and_usage(agent_sandbox: AgentSandbox) -> None:
    box = agent_sandbox
    log = box.root / "hooks.jsonl"
    command = logging_hook_command(box.root / "bin", log)
    box.write_codex_hooks(dict.fromkeys(HOOK_EVENTS, command))

    codex = str(box.bins.codex)
    env = box.codex_env()
    before = list_hooks(codex, box.codex_home, cwd=box.project, env=env)
    assert sorted(h.event for h in before) == ["sessionEnd", "sessionStart", "stop"]
    assert all(
        h.trust_status == "untrusted" and h.current_hash.startswith("sha256:") for h in before
    )
    trusted = box.trust_codex_hooks()
    assert sorted(trusted) == sorted(h.key for h in before)
    assert untrusted_hooks(codex, box.codex_home, cwd=box.project, env=env) == []
    assert box.trust_codex_hooks() == []  # idempotent

    first = box.run_codex(PROMPTS[0]).check()
    second = box.run_codex(PROMPTS[1], resume=first.session_id).check()
    assert second.session_id == first.session_id

    assert first.session_id is not None
    payloads = _payloads(log)
    transcript = _assert_session_hooks(payloads, first.session_id, box.project)
    assert transcript.parent.is_relative_to(box.codex_home / "sessions")
    assert all(p["model"] == "gpt-5-codex" for p in payloads if "model" in p)

    served = box.stub.served("openai")
    assert [s.kind for s in served] == ["tool_call", "text", "tool_call", "text"]
    assert {s.tool for s in served} == {"exec_command", None}
    total = codex_final_total_usage(transcript)
    assert total is not None
    assert total["input_tokens"] == sum(s.input + s.cache_read for s in served)
    assert total["cached_input_tokens"] == sum(s.cache_read for s in served)
    assert total["output_tokens"] == sum(s.output for s in served)
    assert total["reasoning_output_tokens"] == sum(s.reasoning for s in served)
    assert total["total_tokens"] == sum(s.input + s.cache_read + s.output for s in served)
    records = [
        line["payload"] for line in read_jsonl(transcript) if line["type"] == "token_usage_record"
    ]
    assert [r["response_id"] for r in records] == [s.id for s in served]


def test_codex_edited_hook_becomes_untrusted(agent_sandbox: AgentSandbox) -> None:
    """Editing a trusted hook changes its hash: Codex reports it ``modified`` and our doctor
    check must flag it; trusting again fixes it."""
    box = agent_sandbox
    codex, env = str(box.bins.codex), box.codex_env()
    box.write_codex_hooks({"Stop": "true"})
    assert len(box.trust_codex_hooks()) == 1
    box.write_codex_hooks({"Stop": "true # edited"})
    flagged = untrusted_hooks(codex, box.codex_home, cwd=box.project, env=env)
    assert [(h.event, h.trust_status) for h in flagged] == [("stop", "modified")]
    assert box.trust_codex_hooks() == [flagged[0].key]
    assert untrusted_hooks(codex, box.codex_home, cwd=box.project, env=env) == []
