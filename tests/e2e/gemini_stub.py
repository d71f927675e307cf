"""A scripted stand-in for the Gemini API (``generativelanguage`` v1beta), on loopback.

Why: Gemini CLI makes more requests than its chat file records (a routing model before
each prompt, other utility calls), so the only way to know *exactly* which tokens a
session used is to be the model API ourselves. Every response carries deterministic,
distinct usage figures and is appended to ``usage-truth.jsonl``, like
:class:`~.stub_model.StubModelServer` does for Anthropic and OpenAI (a separate server so
the two can change independently).

Routes: ``POST /v1beta/models/<model>:generateContent`` (JSON) and
``:streamGenerateContent?alt=sse`` (server-sent events), ``:countTokens``; anything else is
answered ``{}``.

Script: a request that offers the ``list_directory`` tool and ends with the user's text
gets a function call (``list_directory`` on ``.``); a request ending with a function
response gets a short final text. A request asking for JSON (``responseMimeType:
application/json``, as the CLI's router, next-speaker and loop checks do) gets an object
filled from its ``responseJsonSchema``. Streams send a thought part and partial usage
first and the full usage in the last chunk, as the real API does.

Usage of the n-th response (n counts from 1 over every request):

===================  ===========  ================================================
field                value        on the wire (``usageMetadata``)
===================  ===========  ================================================
input (uncached)     1000 + 7n    ``promptTokenCount`` = input + cache_read
cache_read           4000 + 11n   ``cachedContentTokenCount``
output               200 + 3n     ``candidatesTokenCount`` (excludes thoughts)
reasoning            50 + n       ``thoughtsTokenCount`` (billed as output)
tool_use_prompt      10 + n       ``toolUsePromptTokenCount`` (billed as input)
===================  ===========  ================================================

``totalTokenCount`` = prompt + candidates + thoughts + tool use prompt, as Google's API
adds them. Only loopback is ever bound.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["GeminiServed", "GeminiStubServer", "gemini_usage_for"]

TOOL_NAME = "list_directory"
TOOL_ARGS = {"dir_path": "."}


def gemini_usage_for(n: int) -> dict[str, int]:
    """The deterministic usage of the n-th response (see the module docstring)."""
    return {
        "input": 1000 + 7 * n,
        "cache_read": 4000 + 11 * n,
        "output": 200 + 3 * n,
        "reasoning": 50 + n,
        "tool_use_prompt": 10 + n,
    }


def _hex(n: int) -> str:
    return uuid.uuid4().hex[:n]


@dataclass
class GeminiServed:
    """One response the stub served: the ground truth a test compares against."""

    api: str
    n: int
    model: str
    response_id: str
    kind: str  # "tool_call", "text" or "json"
    tool: str | None
    prompt: int  # promptTokenCount (input + cache_read)
    input: int
    cache_write: int
    cache_read: int
    output: int
    reasoning: int
    tool_use_prompt: int
    total: int
    stream: bool
    path: str

    def to_json(self) -> dict[str, Any]:
        """The ``usage-truth.jsonl`` line."""
        return asdict(self)

    def usage_metadata(self) -> dict[str, int]:
        """The ``usageMetadata`` object as served on the wire."""
        return {
            "promptTokenCount": self.prompt,
            "cachedContentTokenCount": self.cache_read,
            "candidatesTokenCount": self.output,
            "thoughtsTokenCount": self.reasoning,
            "toolUsePromptTokenCount": self.tool_use_prompt,
            "totalTokenCount": self.total,
        }


@dataclass
class _Config:
    truth_path: Path | None
    latency: float
    final_text: Callable[[int], str]
    text_only: Callable[[int], bool]
    bad_json: bool


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: int = 0
    served: list[GeminiServed] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)


class GeminiStubServer:
    """Threaded HTTP server answering like the Gemini API; a context manager.

    ``base_url`` goes into ``GOOGLE_GEMINI_BASE_URL``. ``text_only`` (response numbers or a
    predicate on n) answers those responses with text even when a tool call would be due.
    ``bad_json`` answers JSON requests with text that is not JSON (the CLI then retries its
    router, five requests in all, and falls back to its default model).
    """

    def __init__(
        self,
        truth_path: Path | None = None,
        *,
        latency: float = 0.0,
        text_only: Iterable[int] | Callable[[int], bool] = (),
        final_text: Callable[[int], str] | None = None,
        bad_json: bool = False,
    ) -> None:
        if callable(text_only):
            pred = text_only
        else:
            numbers = frozenset(text_only)

            def pred(n: int) -> bool:
                return n in numbers

        self._config = _Config(
            truth_path=truth_path,
            latency=latency,
            final_text=final_text or (lambda n: f"Step {n}: done, the module looks fine."),
            text_only=pred,
            bad_json=bad_json,
        )
        self._state = _State()
        handler = type("_BoundGemini", (_Handler,), {"config": self._config, "state": self._state})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    def start(self) -> GeminiStubServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="stub-gemini", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> GeminiStubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """For ``GOOGLE_GEMINI_BASE_URL`` (the CLI appends ``/v1beta/models/...``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def truth_path(self) -> Path | None:
        return self._config.truth_path

    def served(self) -> list[GeminiServed]:
        """Responses served so far, in order."""
        with self._state.lock:
            return list(self._state.served)

    def requests(self) -> list[dict[str, Any]]:
        """Every request seen: method, path, headers and the parsed JSON body."""
        with self._state.lock:
            return list(self._state.requests)

    def totals(self, model: str | None = None) -> dict[str, int]:
        """Sum of the usage fields over the responses served (optionally for one model)."""
        keys = ("input", "cache_write", "cache_read", "output", "reasoning", "tool_use_prompt")
        out = dict.fromkeys(keys, 0)
        for s in self.served():
            if model is None or s.model == model:
                for k in keys:
                    out[k] += getattr(s, k)
        return out


def _from_schema(schema: Any) -> Any:
    """A small value satisfying a JSON schema (the CLI's utility calls validate answers)."""
    if not isinstance(schema, dict):
        return "stub"
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        # The next-speaker check asks "user" or "model": "user" ends the turn.
        return "user" if "user" in enum else enum[0]
    kind = str(schema.get("type", "object")).lower()
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: _from_schema(sub) for name, sub in props.items()}
    if kind == "array":
        return []
    if kind in {"integer", "number"}:
        return 10
    if kind == "boolean":
        return False
    return "stub"


class _Handler(BaseHTTPRequestHandler):
    config: _Config
    state: _State
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

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

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def do_GET(self) -> None:
        self._record(None)
        self._send(200, b"{}", "application/json")

    def do_POST(self) -> None:
        body = self._read_body()
        self._record(body)
        path = self.path.split("?", 1)[0]
        if ":countTokens" in path:
            self._send(200, json.dumps({"totalTokens": 1}).encode(), "application/json")
        elif ":generateContent" in path or ":streamGenerateContent" in path:
            self._generate(body if isinstance(body, dict) else {}, path)
        else:
            self._send(200, b"{}", "application/json")

    @staticmethod
    def _model(path: str) -> str:
        tail = path.rsplit("/models/", 1)[-1]
        return tail.split(":", 1)[0] or "gemini-stub"

    @staticmethod
    def _wants_tool_call(body: dict[str, Any]) -> bool:
        names = {
            f.get("name")
            for t in body.get("tools") or []
            if isinstance(t, dict)
            for f in t.get("functionDeclarations") or []
            if isinstance(f, dict)
        }
        if TOOL_NAME not in names:
            return False
        contents = [c for c in body.get("contents") or [] if isinstance(c, dict)]
        if not contents or contents[-1].get("role", "user") != "user":
            return False
        parts = contents[-1].get("parts") or []
        return not any(isinstance(p, dict) and "functionResponse" in p for p in parts)

    def _generate(self, body: dict[str, Any], path: str) -> None:
        if self.config.latency:
            time.sleep(self.config.latency)
        stream = ":streamGenerateContent" in path
        model = self._model(path)
        gen = body.get("generationConfig") or {}
        with self.state.lock:
            self.state.counter += 1
            n = self.state.counter
        u = gemini_usage_for(n)
        if gen.get("responseMimeType") == "application/json":
            kind = "json"
            schema = gen.get("responseJsonSchema")
            text = "not json" if self.config.bad_json else json.dumps(_from_schema(schema))
            parts: list[dict[str, Any]] = [{"text": text}]
        elif self._wants_tool_call(body) and not self.config.text_only(n):
            kind = "tool_call"
            parts = [
                {"text": f"Step {n}: looking at the files."},
                {"functionCall": {"name": TOOL_NAME, "args": dict(TOOL_ARGS)}},
            ]
        else:
            kind = "text"
            parts = [{"text": self.config.final_text(n)}]
        prompt = u["input"] + u["cache_read"]
        served = GeminiServed(
            api="gemini",
            n=n,
            model=model,
            response_id=f"resp-{_hex(16)}",
            kind=kind,
            tool=TOOL_NAME if kind == "tool_call" else None,
            prompt=prompt,
            input=u["input"],
            cache_write=0,
            cache_read=u["cache_read"],
            output=u["output"],
            reasoning=u["reasoning"],
            tool_use_prompt=u["tool_use_prompt"],
            total=prompt + u["output"] + u["reasoning"] + u["tool_use_prompt"],
            stream=stream,
            path=self.path,
        )
        with self.state.lock:
            self.state.served.append(served)
            if self.config.truth_path is not None:
                self.config.truth_path.parent.mkdir(parents=True, exist_ok=True)
                with self.config.truth_path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(served.to_json()) + "\n")
        final = {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": served.usage_metadata(),
            "modelVersion": model,
            "responseId": served.response_id,
        }
        if not stream:
            self._send(200, json.dumps(final).encode(), "application/json")
            return
        # The real API streams a thought first, with the prompt counted so far.
        first = {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [{"text": f"**Planning** step {n}", "thought": True}],
                    },
                    "index": 0,
                }
            ],
            "usageMetadata": {"promptTokenCount": prompt, "totalTokenCount": prompt},
            "modelVersion": model,
            "responseId": served.response_id,
        }
        data = b"".join(f"data: {json.dumps(c)}\r\n\r\n".encode() for c in (first, final))
        self._send(200, data, "text/event-stream")
