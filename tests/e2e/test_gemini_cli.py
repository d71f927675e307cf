"""The real Gemini CLI 0.61.0 against the Gemini stub: our readers equal what was served.

A session with a tool call and a resume, hooks on SessionStart / AfterAgent / SessionEnd
and local telemetry on. What it pins down:

* the chat file(s) of the session hold exactly the main requests' usage;
* the routing model's requests (one before every prompt) are in no chat file; the local
  telemetry file holds them, and chat + telemetry equal everything the stub served;
* the CLI's own ``--output-format json`` stats count every request of its process.

Skipped, with the reason, when npm or the registry is unavailable (``KEITO_E2E=0`` too).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keito_skill.agents.gemini_cli import paths
from keito_skill.agents.gemini_cli.telemetry import parse_telemetry
from keito_skill.agents.gemini_cli.transcript import parse_file
from keito_skill.summary import summarize
from keito_skill.transcripts import ParseState
from keito_skill.transcripts._state import TOKEN_FIELDS

from .agents import read_hook_log
from .gemini_agent import (
    GEMINI_HOOK_EVENTS,
    GeminiBinary,
    GeminiSandbox,
    ensure_gemini,
    gemini_logging_hook_command,
    gemini_unavailable_reason,
)
from .gemini_stub import GeminiServed, GeminiStubServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


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


def _served_vector(rows: list[GeminiServed]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        slot = out.setdefault(row.model, dict.fromkeys(TOKEN_FIELDS, 0))
        slot["input_tokens"] += row.input + row.tool_use_prompt
        slot["cache_read_input_tokens"] += row.cache_read
        slot["output_tokens"] += row.output + row.reasoning
        slot["reasoning_output_tokens"] += row.reasoning
    return out


def _models(states: list[ParseState]) -> dict[str, dict[str, int]]:
    summary = summarize(states)
    return {m: {k: getattr(u, k) for k in TOKEN_FIELDS} for m, u in summary.models.items()}


def _stats_tokens(result: dict[str, Any]) -> dict[str, tuple[int, int, int, int]]:
    models = result["stats"]["models"]
    return {
        m: (
            v["tokens"]["prompt"],
            v["tokens"]["cached"],
            v["tokens"]["candidates"],
            v["tokens"]["thoughts"],
        )
        for m, v in models.items()
    }


def _served_stats(rows: list[GeminiServed]) -> dict[str, tuple[int, int, int, int]]:
    out: dict[str, tuple[int, int, int, int]] = {}
    for r in rows:
        p, c, o, t = out.get(r.model, (0, 0, 0, 0))
        out[r.model] = (p + r.prompt, c + r.cache_read, o + r.output, t + r.reasoning)
    return out


def test_tool_call_and_resume_tokens_equal_what_was_served(
    tmp_path: Path, gemini_bin: GeminiBinary, gemini_stub: GeminiStubServer
) -> None:
    box = GeminiSandbox(tmp_path / "sandbox", gemini_bin, gemini_stub)
    log = tmp_path / "hooks.jsonl"
    telemetry = tmp_path / "telemetry.log"
    box.write_settings(
        dict.fromkeys(GEMINI_HOOK_EVENTS, gemini_logging_hook_command(tmp_path / "bin", log)),
        extra={
            "telemetry": {
                "enabled": True,
                "target": "local",
                "outfile": str(telemetry),
                "logPrompts": False,
            }
        },
    )
    first = box.run("Review the authentication module").check()
    after_first = len(gemini_stub.served())
    second = box.run("Now check the tests", resume=first.session_id).check()
    assert second.session_id == first.session_id
    served = gemini_stub.served()
    sid = first.session_id
    assert sid is not None

    # The stub: per prompt, one routing request, then a tool call and a final answer.
    assert [s.kind for s in served] == ["json", "tool_call", "text"] * 2
    main = [s for s in served if s.kind != "json"]
    router = [s for s in served if s.kind == "json"]

    # The CLI's own stats count every request of its process, the router's too.
    assert first.result is not None and second.result is not None
    assert _stats_tokens(first.result) == _served_stats(served[:after_first])
    assert _stats_tokens(second.result) == _served_stats(served[after_first:])

    # Hooks: each run fires SessionStart, AfterAgent, SessionEnd for the same session.
    payloads = [r["payload"] for r in read_hook_log(log)]
    assert [p["hook_event_name"] for p in payloads] == [*GEMINI_HOOK_EVENTS] * 2
    assert {p["session_id"] for p in payloads} == {sid}
    assert [p.get("source") for p in payloads if p["hook_event_name"] == "SessionStart"] == [
        "startup",
        "resume",
    ]
    conversation = {
        p["transcript_path"] for p in payloads if p["hook_event_name"] != "SessionStart"
    }
    assert len(conversation) == 1
    transcript = Path(conversation.pop())

    # Every chat file of the session (a resume in a later minute adds a history-only one).
    files = [f for f in box.chat_files() if paths.session_id(f) == sid]
    assert transcript in files
    states = [parse_file(f) for f in files]
    assert _models(states) == _served_vector(main)
    # The router's usage is in no chat file ...
    assert not set(_served_vector(router)) & set(_models(states))
    # ... but in the telemetry file, which then completes the bill to the token.
    tel = parse_telemetry(telemetry, sid)
    assert _models([tel]) == _served_vector(router)
    assert _models([*states, tel]) == _served_vector(served)

    summary = summarize(states)
    assert summary.turns == 2 and summary.tool_calls == 2
    assert summary.first_prompt == "Review the authentication module"
    assert summary.cwd is not None and Path(summary.cwd).resolve() == box.project.resolve()


def test_gemini_cli_home_moves_every_file(
    tmp_path: Path,
    gemini_bin: GeminiBinary,
    gemini_stub: GeminiStubServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alt = tmp_path / "alt-home"
    box = GeminiSandbox(tmp_path / "sandbox", gemini_bin, gemini_stub, gemini_home=alt)
    run = box.run("What does auth.py do?").check()
    assert not (box.home / ".gemini" / "tmp").exists()
    monkeypatch.setenv("GEMINI_CLI_HOME", str(alt))
    assert paths.gemini_dir() == alt / ".gemini"
    found = [main for main, _sides in paths.chat_files()]
    assert [paths.session_id(f) for f in found] == [run.session_id]
    assert paths.project_root(found[0]) == str(box.project)


@pytest.mark.skipif(
    os.environ.get("KEITO_E2E_SLOW") != "1",
    reason="about 2 minutes (the CLI backs off between router retries): KEITO_E2E_SLOW=1 runs it",
)
def test_retried_router_requests_are_all_in_telemetry(
    tmp_path: Path, gemini_bin: GeminiBinary
) -> None:
    """A router answer that is not JSON is asked again, five times in all, then the CLI
    falls back to its default model: five billed requests no chat file shows."""
    with GeminiStubServer(tmp_path / "usage-truth.jsonl", bad_json=True) as stub:
        box = GeminiSandbox(tmp_path / "sandbox", gemini_bin, stub)
        telemetry = tmp_path / "telemetry.log"
        box.write_settings(
            extra={"telemetry": {"enabled": True, "target": "local", "outfile": str(telemetry)}}
        )
        run = box.run("What does auth.py do?").check()
        served = stub.served()
    router = [s for s in served if s.kind == "json"]
    assert len(router) == 5 and len({s.model for s in router}) == 1
    main = [s for s in served if s.kind != "json"]
    assert main and router[0].model not in {s.model for s in main}
    assert run.session_id is not None and run.result is not None
    assert _stats_tokens(run.result) == _served_stats(served)
    states = [parse_file(f) for f in box.chat_files()]
    assert _models(states) == _served_vector(main)
    tel = parse_telemetry(telemetry, run.session_id)
    assert tel.extra["roles"] == {"utility_router": 5}
    assert _models([*states, tel]) == _served_vector(served)
