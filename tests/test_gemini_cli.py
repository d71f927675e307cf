"""Gemini CLI: its chat files and telemetry file read exactly, on real recorded fixtures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from keito_skill.agents.gemini_cli import paths
from keito_skill.agents.gemini_cli.telemetry import parse_telemetry
from keito_skill.agents.gemini_cli.transcript import (
    AGENT,
    looks_like,
    parse_file,
    token_vector,
)
from keito_skill.summary import summarize
from keito_skill.transcripts import ParseState
from keito_skill.transcripts._state import TOKEN_FIELDS
from tests.gemini_data import (
    GEMINI_DIR,
    SIMPLE,
    TELEMETRY,
    TOOLUSE,
    TOOLUSE_START,
    gemini_truth,
    served,
    session_of,
)

MAIN = {"main"}


def _models(states: list[ParseState]) -> dict[str, dict[str, int]]:
    summary = summarize(states)
    return {
        model: {key: getattr(usage, key) for key in TOKEN_FIELDS}
        for model, usage in summary.models.items()
    }


@pytest.mark.parametrize("path", [SIMPLE, TOOLUSE], ids=["simple", "tooluse-resumed"])
def test_chat_file_tokens_equal_the_main_requests_served(path: Path) -> None:
    sid = session_of(path)
    assert _models([parse_file(path)]) == gemini_truth(sid, MAIN)


@pytest.mark.parametrize("path", [SIMPLE, TOOLUSE], ids=["simple", "tooluse-resumed"])
def test_chat_file_plus_telemetry_equal_everything_served(path: Path) -> None:
    """The chat file misses the routing model; the telemetry file adds exactly that."""
    sid = session_of(path)
    telemetry = parse_telemetry(TELEMETRY, sid)
    assert _models([telemetry]) == gemini_truth(sid, {"utility_router"})
    routed = [r for r in served() if r["session_id"] == sid and r["role"] == "utility_router"]
    assert telemetry.extra["roles"] == {"utility_router": len(routed)}
    assert _models([parse_file(path), telemetry]) == gemini_truth(sid)
    # What telemetry saw of the recorded roles reconciles with the chat file, to the token.
    recorded = {
        m: dict(zip(TOKEN_FIELDS, v, strict=False))
        for m, v in telemetry.extra["recorded_roles"].items()
    }
    assert recorded == gemini_truth(sid, MAIN)


def test_chat_file_misses_the_router_the_cli_itself_counts() -> None:
    """The CLI's own ``--output-format json`` stats count the router; its chat file does not."""
    for line in (GEMINI_DIR / "cli-output.jsonl").read_text().splitlines():
        run = json.loads(line)
        models = run["result"]["stats"]["models"]
        roles = {role for m in models.values() for role in m["roles"]}
        assert roles == {"main", "utility_router"}
    sid = session_of(TOOLUSE)
    chat_models = set(_models([parse_file(TOOLUSE)]))
    served_models = {r["model"] for r in served() if r["session_id"] == sid}
    assert served_models - chat_models == {"gemini-3.5-flash-lite"}


def test_fixture_details_and_hook_payloads_agree() -> None:
    state = parse_file(TOOLUSE)
    summary = summarize([state])
    hooks = [
        json.loads(line) for line in (GEMINI_DIR / "hook-payloads.jsonl").read_text().splitlines()
    ]
    mine = [h for h in hooks if h["session_id"] == state.session_id]
    assert [h["hook_event_name"] for h in mine] == ["SessionStart", "AfterAgent", "SessionEnd"] * 2
    assert [h.get("source") for h in mine if h["hook_event_name"] == "SessionStart"] == [
        "startup",
        "resume",
    ]
    assert all(h["cwd"] == summary.cwd == "/home/dev/src/acme-api" for h in mine)
    # AfterAgent and SessionEnd name the file holding the conversation; the resumed
    # SessionStart names the history-only file the resumed process started first.
    conversation = {h["transcript_path"] for h in mine if h["hook_event_name"] != "SessionStart"}
    starts = [h["transcript_path"] for h in mine if h["hook_event_name"] == "SessionStart"]
    assert len(conversation) == 1 and starts[0] in conversation
    assert starts[1] not in conversation and starts[1].endswith(f"-{state.session_id[:8]}.jsonl")
    answers = [h["prompt_response"] for h in mine if h["hook_event_name"] == "AfterAgent"]
    assert answers[-1].strip().endswith(summary.last_assistant_message or "?")
    assert summary.agent == AGENT
    assert summary.turns == 2
    assert summary.tool_calls == 2
    assert summary.first_prompt == "Review the authentication module"
    assert summary.last_assistant_message == "Step 8: done, the module looks fine."
    assert set(summary.models) == {"gemini-3.8-flash"}
    assert summary.wall_seconds > 0 and summary.active_seconds == summary.wall_seconds


def test_the_resumed_start_file_holds_no_usage() -> None:
    start = parse_file(TOOLUSE_START)
    assert start.session_id == session_of(TOOLUSE)
    assert start.turns == 0 and not start.model_totals() and start.tool_calls == 0


def test_token_mapping() -> None:
    tokens = {
        "input": 5000,
        "cached": 4000,
        "output": 200,
        "thoughts": 50,
        "tool": 10,
        "total": 5260,
    }
    vector, prompt = token_vector(tokens) or ([], 0)
    assert vector[:5] == [1010, 0, 4000, 250, 50]
    assert prompt == 5010
    assert token_vector({"input": "x"}) is None
    assert token_vector(None) is None
    assert token_vector({"input": 10, "cached": 99})[0][:3] == [0, 0, 10]  # type: ignore[index]


def test_resume_from_every_byte_gives_same_result(tmp_path: Path) -> None:
    blob = TOOLUSE.read_bytes()
    whole = summarize([parse_file(TOOLUSE)]).model_dump()
    path = tmp_path / "session.jsonl"
    for cut in range(0, len(blob) + 1, 7):
        path.write_bytes(blob[:cut])
        state = parse_file(path)
        state = ParseState.from_dict(json.loads(json.dumps(state.to_dict())))
        path.write_bytes(blob)
        assert summarize([parse_file(path, state=state)]).model_dump() == whole, cut


def test_quick_paths_agree_with_full_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keito_skill.agents.gemini_cli import transcript

    fast = summarize([parse_file(TOOLUSE)]).model_dump()
    monkeypatch.setattr(transcript.GeminiCliParser, "quick_min", 10**9)
    assert summarize([parse_file(TOOLUSE)]).model_dump() == fast


def test_a_rewritten_file_is_read_again_from_the_start(tmp_path: Path) -> None:
    """The CLI rewrites an unreadable chat file from memory (header, then every message
    once): an offset into the old file means nothing in the new one."""
    path = tmp_path / "session.jsonl"
    lines = TOOLUSE.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:12]))
    state = parse_file(path)
    header = json.loads(lines[0])
    header["lastUpdated"] = "2026-12-02T23:59:00.000Z"
    messages: dict[str, str] = {}
    for line in lines:
        obj = json.loads(line)
        if "id" in obj and "type" in obj:
            messages[obj["id"]] = line
    path.write_text(json.dumps(header, separators=(",", ":")) + "\n" + "".join(messages.values()))
    again = parse_file(path, state=state)
    assert again.skipped_lines == 0
    assert _models([again]) == gemini_truth(session_of(TOOLUSE), MAIN)


def test_telemetry_resumes_from_any_cut(tmp_path: Path) -> None:
    blob = TELEMETRY.read_bytes()
    sid = session_of(TOOLUSE)
    whole = _models([parse_telemetry(TELEMETRY, sid)])
    path = tmp_path / "telemetry.log"
    for cut in range(0, len(blob) + 1, 997):
        path.write_bytes(blob[:cut])
        state = parse_telemetry(path, sid)
        assert state.offset <= cut
        state = ParseState.from_dict(json.loads(json.dumps(state.to_dict())))
        path.write_bytes(blob)
        assert _models([parse_telemetry(path, sid, state=state)]) == whole, cut


def _api_response(sid: str, **attributes: object) -> str:
    record = {
        "attributes": {
            "session.id": sid,
            "event.name": "gemini_cli.api_response",
            "event.timestamp": "2026-12-02T10:00:00.000Z",
            "model": "gemini-3.5-flash-lite",
            "input_token_count": 100,
            "cached_content_token_count": 40,
            "output_token_count": 7,
            "thoughts_token_count": 3,
            "tool_token_count": 0,
            **attributes,
        }
    }
    return json.dumps(record, indent=2) + "\n"


def test_telemetry_bills_only_what_no_chat_file_holds(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.log"
    path.write_text(
        _api_response("s1", role="utility_next_speaker")
        + _api_response("s1", role="main")
        + _api_response("s1", role="subagent")
        + _api_response("s1")  # no role: cannot be placed, never billed
        + _api_response("s2", role="utility_router")
        + '{"resourceMetrics": []}\n'
        + _api_response("s1", role="utility_compressor")[:-30]  # still being written
    )
    state = parse_telemetry(path, "s1")
    assert state.model_totals() == {"gemini-3.5-flash-lite": [60, 0, 40, 10, 3, 0]}
    assert state.extra["roles"] == {"utility_next_speaker": 1}
    assert state.extra["unattributed"] == 1
    assert state.extra["recorded_roles"]["gemini-3.5-flash-lite"][0] == 120
    assert state.extra["partial_tail"] is True
    with path.open("a") as fh:
        fh.write(_api_response("s1", role="utility_compressor")[-30:])
    state = parse_telemetry(path, "s1", state=state)
    assert state.extra["roles"] == {"utility_next_speaker": 1, "utility_compressor": 1}


def test_paths_follow_gemini_cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GEMINI_CLI_HOME", raising=False)
    assert paths.gemini_dir() == tmp_path / "home" / ".gemini"
    monkeypatch.setenv("GEMINI_CLI_HOME", str(tmp_path / "alt"))
    assert paths.gemini_dir() == tmp_path / "alt" / ".gemini"
    assert paths.settings_path() == tmp_path / "alt" / ".gemini" / "settings.json"


def test_chat_files_sides_and_project_root(tmp_path: Path) -> None:
    gemini = tmp_path / ".gemini"
    chats = gemini / "tmp" / "acme-api" / "chats"
    chats.mkdir(parents=True)
    (chats.parent / ".project_root").write_text("/home/dev/src/acme-api")
    main = chats / TOOLUSE.name
    main.write_bytes(TOOLUSE.read_bytes())
    (chats / "session-2026-12-02T19-08-x.jsonl.unreadable-1").write_text("{}")
    sub = chats / session_of(TOOLUSE) / "agent-1.jsonl"
    sub.parent.mkdir()
    sub.write_text('{"sessionId":"agent-1","projectHash":"h","kind":"subagent"}\n')
    found = list(paths.chat_files([gemini]))
    assert found == [(main, [sub])]
    assert paths.session_id(main) == session_of(TOOLUSE)
    assert paths.project_root(main) == paths.project_root(sub) == "/home/dev/src/acme-api"
    header = json.loads(TOOLUSE.read_text().splitlines()[0])
    assert paths.project_hash("/home/dev/src/acme-api") == header["projectHash"]
    assert looks_like(header)


def test_telemetry_outfile_as_gemini_cli_decides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_CLI_HOME", str(tmp_path))
    settings = tmp_path / ".gemini" / "settings.json"
    settings.parent.mkdir(parents=True)
    assert paths.telemetry_outfile({}) is None
    settings.write_text(
        '{\n  // comments are allowed\n  "telemetry": {"enabled": true, "outfile": "/t/x.log"},'
        '\n  "note": "a // in a string"\n}'
    )
    assert paths.telemetry_outfile({}) == Path("/t/x.log")
    assert paths.telemetry_outfile({"GEMINI_TELEMETRY_ENABLED": "false"}) is None
    assert paths.telemetry_outfile({"GEMINI_TELEMETRY_OUTFILE": "/t/y.log"}) == Path("/t/y.log")
    assert paths.telemetry_outfile({"GEMINI_TELEMETRY_TARGET": "gcp"}) is None
    project = tmp_path / "proj"
    (project / ".gemini").mkdir(parents=True)
    (project / ".gemini" / "settings.json").write_text('{"telemetry": {"outfile": "/t/p.log"}}')
    assert paths.telemetry_outfile({}, project) == Path("/t/p.log")


def test_hook_payload_fields() -> None:
    """What install's hooks will receive: the common fields, and each event's own."""
    hooks = [
        json.loads(line) for line in (GEMINI_DIR / "hook-payloads.jsonl").read_text().splitlines()
    ]
    common = {"session_id", "transcript_path", "cwd", "hook_event_name", "timestamp"}
    own = {
        "SessionStart": {"source"},
        "AfterAgent": {"prompt", "prompt_response", "stop_hook_active"},
        "SessionEnd": {"reason"},
    }
    for payload in hooks:
        assert set(payload) == common | own[payload["hook_event_name"]], payload
    assert {p["reason"] for p in hooks if p["hook_event_name"] == "SessionEnd"} == {"exit"}
    env = json.loads((GEMINI_DIR / "hook-env.json").read_text())
    assert {"GEMINI_SESSION_ID", "GEMINI_PROJECT_DIR", "GEMINI_CWD"} <= set(env)
    assert env["GEMINI_SESSION_ID"] == hooks[0]["session_id"]


def test_a_telemetry_record_with_a_count_of_two_to_the_63_is_skipped(tmp_path: Path) -> None:
    """It raised out of the whole read (no usage from the file at all); now that record
    alone is skipped and counted, and the others are read as before."""
    sid = session_of(TOOLUSE)  # two routing requests in the telemetry file
    text = TELEMETRY.read_text()
    at = text.index('"input_token_count"', text.index(sid))  # the first one's
    damaged = tmp_path / "telemetry.log"
    damaged.write_text(
        text[:at]
        + re.sub(
            r'"input_token_count":\s*\d+',
            '"input_token_count": 9223372036854775808',
            text[at:],
            count=1,
        )
    )
    whole = parse_telemetry(TELEMETRY, sid)
    state = parse_telemetry(damaged, sid)
    assert whole.extra["roles"] == {"utility_router": 2}
    assert state.extra["roles"] == {"utility_router": 1}
    assert state.skipped_lines == whole.skipped_lines + 1
    kept = sum(map(sum, state.model_totals().values()))
    assert 0 < kept < sum(map(sum, whole.model_totals().values()))
