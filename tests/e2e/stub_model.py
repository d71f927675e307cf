"""A scripted stand-in for the Anthropic Messages and OpenAI Responses APIs, on loopback.

Why: the end-to-end tests drive the real Claude Code and Codex binaries, and the only way to
know *exactly* which tokens a session used is to be the model API ourselves. Every response
the stub serves carries deterministic, distinct usage figures and is appended to
``usage-truth.jsonl``; tests compare what the agents wrote to their transcripts (and what
keito-skill recorded) against that file.

Script, per user prompt: the first response makes one tool call (Claude: ``Bash`` running
``ls``; Codex: whichever shell tool the request offers), and the response after the tool
result is a short final text answer. Requests listed in ``text_only`` (by their 1-based
number ``n`` within the API) answer with text straight away.

Usage of the n-th response of an API (n counts from 1, per API):

==============  ===========  ==============================================
field           value        on the wire
==============  ===========  ==============================================
input           1000 + 7n    Anthropic ``input_tokens`` (uncached part);
                             OpenAI ``input_tokens`` is input + cache_read
cache_write     500 + n      Anthropic ``cache_creation_input_tokens``;
                             OpenAI has no such field: always 0 there
cache_read      4000 + 11n   Anthropic ``cache_read_input_tokens``;
                             OpenAI ``input_tokens_details.cached_tokens``
output          200 + 3n     ``output_tokens``
reasoning       50 + n       OpenAI ``output_tokens_details.reasoning_tokens``
                             (part of output); Anthropic: 0
==============  ===========  ==============================================

Only loopback is ever bound (127.0.0.1, port chosen by the OS).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["ServedResponse", "StubModelServer", "usage_for"]

TOOL_COMMAND = "ls"
TOOL_DESCRIPTION = "List files"


def usage_for(api: str, n: int) -> dict[str, int]:
    """The deterministic usage of the n-th response of ``api`` ("anthropic" or "openai")."""
    usage = {
        "input": 1000 + 7 * n,
        "cache_write": 500 + n,
        "cache_read": 4000 + 11 * n,
        "output": 200 + 3 * n,
        "reasoning": 50 + n,
    }
    if api == "openai":
        usage["cache_write"] = 0  # the Responses API reports no cache writes
    else:
        usage["reasoning"] = 0
    return usage


def _hex(n: int) -> str:
    return uuid.uuid4().hex[:n]


@dataclass
class ServedResponse:
    """One model response the stub served: the ground truth a test compares against."""

    api: str
    n: int
    model: str
    id: str
    request_id: str
    kind: str  # "tool_call" or "text"
    tool: str | None
    input: int
    cache_write: int
    cache_read: int
    output: int
    reasoning: int
    stream: bool
    path: str

    def to_json(self) -> dict[str, Any]:
        """The ``usage-truth.jsonl`` line (``message_id`` for Anthropic, ``response_id`` for
        OpenAI, plus ``input_total`` = the OpenAI wire ``input_tokens``)."""
        d: dict[str, Any] = {"api": self.api, "n": self.n, "model": self.model}
        if self.api == "anthropic":
            d["message_id"] = self.id
        else:
            d["response_id"] = self.id
        d.update(
            request_id=self.request_id,
            kind=self.kind,
            tool=self.tool,
            input=self.input,
            cache_write=self.cache_write,
            cache_read=self.cache_read,
            output=self.output,
            reasoning=self.reasoning,
        )
        if self.api == "openai":
            d["input_total"] = self.input + self.cache_read
        d["stream"] = self.stream
        d["path"] = self.path
        return d


@dataclass
class _Config:
    truth_path: Path | None
    latency: float
    text_only: Callable[[str, int], bool]
    final_text: Callable[[str, int], str]


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    counters: dict[str, int] = field(default_factory=lambda: {"anthropic": 0, "openai": 0})
    served: list[ServedResponse] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)


class StubModelServer:
    """Threaded HTTP server answering like the Anthropic and OpenAI model APIs.

    Use as a context manager::

        with StubModelServer(tmp_path / "usage-truth.jsonl") as stub:
            env["ANTHROPIC_BASE_URL"] = stub.base_url          # http://127.0.0.1:PORT
            codex_base_url = stub.openai_base_url               # http://127.0.0.1:PORT/v1
            ...
            stub.served("anthropic")   # list[ServedResponse], in order

    ``latency`` (seconds) is slept before each model response. ``text_only`` is a set of
    response numbers (per API, 1-based) or a predicate ``(api, n) -> bool`` selecting
    responses answered with text without a tool call.
    """

    def __init__(
        self,
        truth_path: Path | None = None,
        *,
        latency: float = 0.0,
        text_only: Iterable[int] | Callable[[str, int], bool] = (),
        final_text: Callable[[str, int], str] | None = None,
    ) -> None:
        if callable(text_only):
            pred = text_only
        else:
            numbers = frozenset(text_only)

            def pred(_api: str, n: int) -> bool:
                return n in numbers

        self._config = _Config(
            truth_path=truth_path,
            latency=latency,
            text_only=pred,
            final_text=final_text or (lambda _api, n: f"Step {n}: done, the module looks fine."),
        )
        self._state = _State()
        handler = type("_BoundHandler", (_Handler,), {"config": self._config, "state": self._state})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> StubModelServer:
        """Serve in a daemon thread; returns self."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="stub-model", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> StubModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """For ``ANTHROPIC_BASE_URL`` (Claude Code appends ``/v1/messages``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """For a Codex ``model_providers.*.base_url`` (Codex appends ``/responses``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def truth_path(self) -> Path | None:
        """Where ``usage-truth.jsonl`` is appended (``None``: kept in memory only)."""
        return self._config.truth_path

    # -- ground truth ----------------------------------------------------------------------
    def served(self, api: str | None = None) -> list[ServedResponse]:
        """Responses served so far (optionally of one api), in order."""
        with self._state.lock:
            return [s for s in self._state.served if api is None or s.api == api]

    def requests(self) -> list[dict[str, Any]]:
        """Every request seen: method, path, headers, and the parsed JSON body (if any)."""
        with self._state.lock:
            return list(self._state.requests)

    def totals(self, api: str) -> dict[str, int]:
        """Sum of the usage fields over the responses served for ``api``."""
        keys = ("input", "cache_write", "cache_read", "output", "reasoning")
        out = dict.fromkeys(keys, 0)
        for s in self.served(api):
            for k in keys:
                out[k] += getattr(s, k)
        return out


class _Handler(BaseHTTPRequestHandler):
    config: _Config
    state: _State
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests read stub.requests() instead

    # -- plumbing --------------------------------------------------------------------------
    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return {"_raw": raw[:2000].decode("utf-8", "replace")}

    def _record(self, body: Any) -> None:
        with self.state.lock:
            self.state.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers.items()),
                    "body": body,
                    "time": time.time(),
                }
            )

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _send_sse(self, events: list[tuple[str, dict[str, Any]]], headers: dict[str, str]) -> None:
        chunks = [f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events]
        payload = b"".join(chunks)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _next(self, api: str) -> int:
        with self.state.lock:
            self.state.counters[api] += 1
            return self.state.counters[api]

    def _remember(self, served: ServedResponse) -> None:
        with self.state.lock:
            self.state.served.append(served)
            if self.config.truth_path is not None:
                self.config.truth_path.parent.mkdir(parents=True, exist_ok=True)
                with self.config.truth_path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(served.to_json()) + "\n")

    # -- routing ---------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self._record(None)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self._record(None)
        path = self.path.split("?", 1)[0].rstrip("/")
        if path.endswith("/models"):
            # Anthropic-style and OpenAI-style listings at once: both clients ignore extra keys.
            self._send_json(
                200,
                {
                    "data": [],
                    "object": "list",
                    "has_more": False,
                    "first_id": None,
                    "last_id": None,
                    "models": [],
                },
            )
            return
        self._send_json(200, {})

    def do_POST(self) -> None:
        body = self._read_body()
        self._record(body)
        path = self.path.split("?", 1)[0].rstrip("/")
        if path.endswith("/messages/count_tokens"):
            self._send_json(200, {"input_tokens": 1})
        elif path.endswith("/messages"):
            self._anthropic(body if isinstance(body, dict) else {})
        elif path.endswith("/responses"):
            self._openai(body if isinstance(body, dict) else {})
        else:
            # Telemetry, event logging and the like: accept and ignore.
            self._send_json(200, {})

    # -- Anthropic -------------------------------------------------------------------------
    @staticmethod
    def _anthropic_wants_tool_call(body: dict[str, Any]) -> bool:
        tools = body.get("tools") or []
        if not any(isinstance(t, dict) and t.get("name") == "Bash" for t in tools):
            return False
        # Claude Code 2.1.328 appends a trailing ``role: system`` message (environment
        # context) after the user's turn: look at the last user/assistant message only.
        messages = [
            m
            for m in body.get("messages") or []
            if isinstance(m, dict) and m.get("role") in ("user", "assistant")
        ]
        if not messages:
            return False
        last = messages[-1]
        if last.get("role") != "user":
            return False
        content = last.get("content")
        if isinstance(content, list):
            return not any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
        return True

    def _anthropic(self, body: dict[str, Any]) -> None:
        if self.config.latency:
            time.sleep(self.config.latency)
        api = "anthropic"
        n = self._next(api)
        u = usage_for(api, n)
        model = str(body.get("model") or "claude-stub")
        msg_id = f"msg_{_hex(24)}"
        req_id = f"req_{_hex(20)}"
        tool_call = self._anthropic_wants_tool_call(body) and not self.config.text_only(api, n)
        usage = {
            "input_tokens": u["input"],
            "cache_creation_input_tokens": u["cache_write"],
            "cache_read_input_tokens": u["cache_read"],
            "output_tokens": u["output"],
            "service_tier": "standard",
        }
        if tool_call:
            text = f"Step {n}: looking at the files."
            tool_input = {"command": TOOL_COMMAND, "description": TOOL_DESCRIPTION}
            content: list[dict[str, Any]] = [
                {"type": "text", "text": text},
                {
                    "type": "tool_use",
                    "id": f"toolu_{_hex(20)}",
                    "name": "Bash",
                    "input": tool_input,
                },
            ]
            stop_reason = "tool_use"
        else:
            content = [{"type": "text", "text": self.config.final_text(api, n)}]
            stop_reason = "end_turn"
        self._remember(
            ServedResponse(
                api=api,
                n=n,
                model=model,
                id=msg_id,
                request_id=req_id,
                kind="tool_call" if tool_call else "text",
                tool="Bash" if tool_call else None,
                input=u["input"],
                cache_write=u["cache_write"],
                cache_read=u["cache_read"],
                output=u["output"],
                reasoning=u["reasoning"],
                stream=bool(body.get("stream")),
                path=self.path,
            )
        )
        headers = {"request-id": req_id, "anthropic-organization-id": "org-stub"}
        message = {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }
        if not body.get("stream"):
            self._send_json(200, message, headers)
            return
        start_usage = dict(usage, output_tokens=1)
        events: list[tuple[str, dict[str, Any]]] = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": dict(message, content=[], stop_reason=None, usage=start_usage),
                },
            ),
        ]
        for index, block in enumerate(content):
            if block["type"] == "text":
                events += [
                    (
                        "content_block_start",
                        {
                            "type": "content_block_start",
                            "index": index,
                            "content_block": {"type": "text", "text": ""},
                        },
                    ),
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "text_delta", "text": block["text"]},
                        },
                    ),
                ]
            else:
                events += [
                    (
                        "content_block_start",
                        {
                            "type": "content_block_start",
                            "index": index,
                            "content_block": dict(block, input={}),
                        },
                    ),
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {
                                "type": "input_json_delta",
                                "partial_json": json.dumps(block["input"]),
                            },
                        },
                    ),
                ]
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        events += [
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": usage,
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        self._send_sse(events, headers)

    # -- OpenAI Responses ------------------------------------------------------------------
    @staticmethod
    def _openai_shell_tool(body: dict[str, Any]) -> tuple[str, str] | None:
        """(tool name, arguments JSON) for the shell tool the request offers, if any."""
        names: dict[str, dict[str, Any]] = {}
        for t in body.get("tools") or []:
            if not isinstance(t, dict):
                continue
            name = t.get("name") or (t.get("function") or {}).get("name")
            if name:
                names[str(name)] = t
        if "exec_command" in names:
            return "exec_command", json.dumps({"cmd": TOOL_COMMAND})
        if "shell_command" in names:
            return "shell_command", json.dumps({"command": TOOL_COMMAND})
        if "shell" in names:
            return "shell", json.dumps({"command": ["bash", "-lc", TOOL_COMMAND]})
        return None

    @staticmethod
    def _openai_wants_tool_call(body: dict[str, Any]) -> bool:
        items = body.get("input")
        if not isinstance(items, list) or not items:
            return True
        last = items[-1]
        return not (isinstance(last, dict) and str(last.get("type", "")).endswith("_output"))

    def _openai(self, body: dict[str, Any]) -> None:
        if self.config.latency:
            time.sleep(self.config.latency)
        api = "openai"
        n = self._next(api)
        u = usage_for(api, n)
        model = str(body.get("model") or "gpt-stub")
        resp_id = f"resp_{_hex(20)}"
        shell = self._openai_shell_tool(body)
        tool_call = (
            shell is not None
            and self._openai_wants_tool_call(body)
            and not self.config.text_only(api, n)
        )
        item: dict[str, Any]
        if tool_call and shell is not None:
            item = {
                "type": "function_call",
                "id": f"fc_{_hex(16)}",
                "status": "completed",
                "name": shell[0],
                "arguments": shell[1],
                "call_id": f"call_{_hex(16)}",
            }
        else:
            item = {
                "type": "message",
                "id": f"msg_{_hex(16)}",
                "status": "completed",
                "role": "assistant",
                "content": [
                    {
                        "type": "output_text",
                        "text": self.config.final_text(api, n),
                        "annotations": [],
                    }
                ],
            }
        usage = {
            "input_tokens": u["input"] + u["cache_read"],
            "input_tokens_details": {"cached_tokens": u["cache_read"]},
            "output_tokens": u["output"],
            "output_tokens_details": {"reasoning_tokens": u["reasoning"]},
            "total_tokens": u["input"] + u["cache_read"] + u["output"],
        }
        self._remember(
            ServedResponse(
                api=api,
                n=n,
                model=model,
                id=resp_id,
                request_id=f"req_{_hex(20)}",
                kind="tool_call" if tool_call else "text",
                tool=shell[0] if tool_call and shell else None,
                input=u["input"],
                cache_write=u["cache_write"],
                cache_read=u["cache_read"],
                output=u["output"],
                reasoning=u["reasoning"],
                stream=bool(body.get("stream", True)),
                path=self.path,
            )
        )
        created = int(time.time())
        base = {"id": resp_id, "object": "response", "created_at": created, "model": model}
        done = dict(base, status="completed", output=[item], usage=usage)
        headers = {"x-request-id": resp_id.replace("resp_", "req_")}
        if body.get("stream") is False:
            self._send_json(200, done, headers)
            return
        added = dict(item)
        if item["type"] == "message":
            added = dict(item, status="in_progress", content=[])
        events: list[tuple[str, dict[str, Any]]] = [
            (
                "response.created",
                {
                    "type": "response.created",
                    "response": dict(base, status="in_progress", output=[]),
                },
            ),
            (
                "response.output_item.added",
                {"type": "response.output_item.added", "output_index": 0, "item": added},
            ),
        ]
        if item["type"] == "message":
            events.append(
                (
                    "response.output_text.delta",
                    {
                        "type": "response.output_text.delta",
                        "item_id": item["id"],
                        "output_index": 0,
                        "content_index": 0,
                        "delta": item["content"][0]["text"],
                    },
                )
            )
        events += [
            (
                "response.output_item.done",
                {"type": "response.output_item.done", "output_index": 0, "item": item},
            ),
            ("response.completed", {"type": "response.completed", "response": done}),
        ]
        self._send_sse(events, headers)
