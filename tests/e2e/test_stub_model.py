"""The stub model API on its own (no agent binaries needed): script, usage, truth file."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from .stub_model import StubModelServer, usage_for

BASH_TOOL = {"name": "Bash", "input_schema": {"type": "object"}}
EXEC_TOOL = {"type": "function", "name": "exec_command", "parameters": {"type": "object"}}


def _sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_anthropic_tool_call_then_text_streaming(tmp_path: Path) -> None:
    with StubModelServer(tmp_path / "truth.jsonl") as stub:
        body: dict[str, Any] = {
            "model": "claude-x",
            "stream": True,
            "tools": [BASH_TOOL],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                {"role": "system", "content": "trailing context, ignored"},
            ],
        }
        r = httpx.post(f"{stub.base_url}/v1/messages?beta=true", json=body)
        assert r.headers["request-id"].startswith("req_")
        events = _sse(r.text)
        names = [e[0] for e in events]
        assert names[0] == "message_start" and names[-1] == "message_stop"
        tool_start = [e[1] for e in events if e[0] == "content_block_start"][1]
        assert tool_start["content_block"]["name"] == "Bash"
        delta = next(e[1] for e in events if e[0] == "message_delta")
        assert delta["delta"]["stop_reason"] == "tool_use"
        assert delta["usage"]["output_tokens"] == usage_for("anthropic", 1)["output"]

        body["messages"] = [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "..."},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t", "content": "x"}],
            },
        ]
        body["stream"] = False
        r = httpx.post(f"{stub.base_url}/v1/messages", json=body)
        msg = r.json()
        assert msg["stop_reason"] == "end_turn" and msg["id"].startswith("msg_")
        assert msg["usage"]["cache_read_input_tokens"] == 4022

    truth = [json.loads(line) for line in (tmp_path / "truth.jsonl").read_text().splitlines()]
    assert [(t["n"], t["kind"], t["input"], t["cache_write"]) for t in truth] == [
        (1, "tool_call", 1007, 501),
        (2, "text", 1014, 502),
    ]
    assert stub.totals("anthropic")["output"] == 203 + 206


def test_openai_responses_stream_and_usage() -> None:
    with StubModelServer() as stub:
        body: dict[str, Any] = {
            "model": "gpt-5-codex",
            "stream": True,
            "tools": [EXEC_TOOL],
            "input": [{"type": "message", "role": "user", "content": []}],
        }
        events = _sse(httpx.post(f"{stub.openai_base_url}/responses", json=body).text)
        assert [e[0] for e in events] == [
            "response.created",
            "response.output_item.added",
            "response.output_item.done",
            "response.completed",
        ]
        item = events[2][1]["item"]
        assert item["type"] == "function_call" and item["name"] == "exec_command"
        assert json.loads(item["arguments"]) == {"cmd": "ls"}
        usage = events[-1][1]["response"]["usage"]
        assert usage == {
            "input_tokens": 1007 + 4011,
            "input_tokens_details": {"cached_tokens": 4011},
            "output_tokens": 203,
            "output_tokens_details": {"reasoning_tokens": 51},
            "total_tokens": 1007 + 4011 + 203,
        }
        body["input"].append({"type": "function_call_output", "call_id": "c", "output": "x"})
        events = _sse(httpx.post(f"{stub.openai_base_url}/responses", json=body).text)
        assert events[-2][1]["item"]["type"] == "message"
    served = stub.served("openai")
    assert [s.kind for s in served] == ["tool_call", "text"]
    assert served[0].to_json()["input_total"] == 5018


def test_text_only_latency_and_side_endpoints() -> None:
    with StubModelServer(latency=0.2, text_only={1}) as stub:
        body = {"model": "m", "tools": [BASH_TOOL], "messages": [{"role": "user", "content": "x"}]}
        started = time.monotonic()
        msg = httpx.post(f"{stub.base_url}/v1/messages", json=body).json()
        assert time.monotonic() - started >= 0.2
        assert [b["type"] for b in msg["content"]] == ["text"]
        assert httpx.post(f"{stub.base_url}/v1/messages/count_tokens", json=body).status_code == 200
        assert httpx.get(f"{stub.base_url}/v1/models").json()["data"] == []
        assert httpx.post(f"{stub.base_url}/api/event_logging/batch", json={}).status_code == 200
    assert len(stub.served()) == 1  # side endpoints are not model responses
    assert [r["path"] for r in stub.requests()][-1] == "/api/event_logging/batch"
