"""Fault injection and the request log, as an ASGI middleware around the API routes.

Tests need to see the client survive a flaky Keito: slow answers, a run of 503s, a 429
with ``Retry-After``, and connections that die either before the server did anything
or after it committed the write (the case that must not be blindly retried). Rules
are queued over ``POST /_admin/faults`` and consumed in order by matching requests.

Every ``/api/`` request is logged (method, path, query, status, fault) so tests can
count exactly how many calls a sync made.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DROP_MODES = ("before", "after")


@dataclass
class Fault:
    """One injected misbehaviour.

    ``count`` is how many matching requests it applies to (``None``: until cleared).
    ``drop="before"`` closes the connection without touching the data;
    ``drop="after"`` lets the request commit, then closes without an answer.
    """

    method: str | None = None
    path: str | None = None  # prefix of the request path, e.g. "/api/v2/time_entries"
    count: int | None = 1
    status: int | None = None
    retry_after: str | None = None
    latency: float = 0.0
    drop: str | None = None
    error: str = "injected_fault"
    error_description: str = "fault injected by the Keito dev server"
    id: int = 0
    hits: int = field(default=0)

    @classmethod
    def from_json(cls, body: Any) -> Fault:
        """Validate an admin request body; raises ``ValueError`` with a readable reason."""
        if not isinstance(body, dict):
            raise ValueError("fault must be a JSON object")
        known = {f for f in cls.__dataclass_fields__ if f not in ("id", "hits")}
        unknown = set(body) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        fault = cls(**body)
        if fault.method is not None:
            fault.method = str(fault.method).upper()
        if fault.retry_after is not None:
            fault.retry_after = str(fault.retry_after)
        if fault.count is not None and (not isinstance(fault.count, int) or fault.count < 1):
            raise ValueError("count must be a positive integer or null")
        if fault.status is not None and not (
            isinstance(fault.status, int) and 400 <= fault.status <= 599
        ):
            raise ValueError("status must be an HTTP error status (400-599)")
        if fault.drop is not None and fault.drop not in DROP_MODES:
            raise ValueError(f"drop must be one of {DROP_MODES}")
        if fault.status is not None and fault.drop is not None:
            raise ValueError("a fault either answers with a status or drops, not both")
        if not isinstance(fault.latency, int | float) or fault.latency < 0:
            raise ValueError("latency must be a non-negative number of seconds")
        return fault

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or path.startswith(self.path)
        )


class FaultBook:
    """The queue of faults and the log of API requests, shared with the admin routes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._next_id = 1
        self.requests: list[dict[str, Any]] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            fault.id = self._next_id
            self._next_id += 1
            self._faults.append(fault)
            return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first live fault matching this request, using up one of its ``count``."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count == 0:
                            self._faults.remove(fault)
                    return fault
            return None

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def log(self, entry: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            entry["seq"] = len(self.requests) + 1
            self.requests.append(entry)
            return entry

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()


async def _drop(send: Send) -> None:
    """Start an answer, then stop mid-body: the server closes the connection and the
    client sees it die without a complete response (as with a crashed proxy)."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
        }
    )
    await send({"type": "http.response.body", "body": b"{", "more_body": True})


async def _buffered(receive: Receive) -> Receive:
    """Drain the request body now and return a ``receive`` that replays it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    replay: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

    async def replayed() -> Message:
        if replay:
            return replay.pop()
        return await receive()

    return replayed


class FaultMiddleware:
    """Applies queued faults to ``/api/`` requests and logs each one."""

    def __init__(self, app: ASGIApp, book: FaultBook) -> None:
        self.app = app
        self.book = book

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        entry = self.book.log(
            {
                "method": method,
                "path": path,
                "query": scope.get("query_string", b"").decode("latin-1"),
                "status": None,
                "fault": None,
                "time": time.time(),
            }
        )
        fault = self.book.take(method, path)
        if fault is not None:
            entry["fault"] = fault.id
            if fault.latency:
                # Read the whole request first, then stall: a slow server that has the
                # request and will still process it even if the client gives up.
                receive = await _buffered(receive)
                await asyncio.sleep(fault.latency)
            if fault.drop == "before":
                entry["status"] = "dropped"
                await _drop(send)
                return
            if fault.status is not None:
                entry["status"] = fault.status
                headers = [(b"content-type", b"application/json")]
                if fault.retry_after is not None:
                    headers.append((b"retry-after", fault.retry_after.encode()))
                body = json.dumps(
                    {"error": fault.error, "error_description": fault.error_description}
                ).encode()
                await send(
                    {"type": "http.response.start", "status": fault.status, "headers": headers}
                )
                await send({"type": "http.response.body", "body": body})
                return
            if fault.drop == "after":

                async def swallow(message: Message) -> None:
                    if message["type"] == "http.response.start":
                        entry["committed_status"] = message["status"]

                await self.app(scope, receive, swallow)
                entry["status"] = "dropped"
                await _drop(send)
                return

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        await self.app(scope, receive, record)
