"""Gemini CLI chat files (``~/.gemini/tmp/<project>/chats/session-*.jsonl``), read incrementally.

What this module knows about the format (checked against Gemini CLI 0.61.0):

* Line 1 is a header ``{sessionId, projectHash, startTime, lastUpdated, kind}``; a resume
  appends another header (``startTime`` = the resume) to the same file.
* Messages are ``{id, timestamp, type: user|gemini|info|error|warning, content, ...}``. A
  ``gemini`` message carries ``model`` and, per API response, ``tokens: {input, output,
  cached, thoughts, tool, total}`` (``input`` is the whole prompt, cached part included).
  A message is written again, whole, each time it changes (its tool calls complete): the
  same ``id`` on several lines. Usage is counted once per id (recent ids are kept in the
  checkpoint, and a re-written message is always the latest one).
* ``{"$set": {...}}`` lines update the header (``lastUpdated``, ``summary``...). On every
  resume ``$set.messages`` restates the whole history (without its tokens): it is never
  counted. ``{"$rewindTo": id}`` drops messages from the conversation, not from the bill.
* Tool results come back as ``user`` messages holding ``functionResponse`` parts, and the
  first ``user`` message (inside ``$set.messages``) is the CLI's ``<session_context>``,
  which names the workspace directories: neither is a prompt.

Token mapping (Google's ``usageMetadata``): input (uncached) = prompt - cached + tool-use
prompt; cache read = cached; output = candidates + thoughts, because Google bills thinking
as output and ``candidatesTokenCount`` leaves it out; reasoning = thoughts (a part of
output, as for Codex). No cache writes are reported.

**What the chat file does not hold:** only the CLI's main conversation (and subagents, in
their own files) is recorded. Its utility requests (the routing model before every
prompt, the next-speaker, loop-detection, compression, summary and edit-correction
calls) are in no file unless local telemetry is on; see :mod:`.telemetry`.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from keito_skill._safeio import open_regular
from keito_skill.transcripts._state import (
    CACHE_READ,
    DEFAULT_IDLE_SECONDS,
    INPUT,
    OUTPUT,
    REASONING,
    ParseState,
    count,
    zero_vector,
)
from keito_skill.transcripts._time import parse_ts

TYPE_CHECKING = False  # mypy takes it for typing's; importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "AGENT",
    "UNRECORDED_USAGE",
    "GeminiCliParser",
    "begin_read",
    "looks_like",
    "parse_file",
    "response_key",
    "token_vector",
]

AGENT = "gemini-cli"
#: What ``parse`` and the README must say when only chat files are read.
UNRECORDED_USAGE = (
    "Gemini CLI's chat file records its main conversation only: the routing model it asks "
    "before every prompt and its other utility calls are not in it (turn on local telemetry "
    "to bill them)"
)
_MESSAGE_CHARS = 2000
_RECENT = 128
_CONTEXT = "<session_context>"
_WORKSPACE = re.compile(r"\*\*Workspace Directories:\*\*\n\s*- ([^\n]+)")
# A tool result: a user message whose content starts with a functionResponse part.
_TOOL_RESULT = re.compile(
    rb'\{"id":"[^"\\]*","timestamp":"([^"\\]{10,40})","type":"user","content":\['
    rb'\{"functionResponse":'
)
_SET_MESSAGES = b'{"$set":{"messages":'
_HEAD_BYTES = 4096


def response_key(message_id: str) -> str:
    """The ledger key of one answer in a chat file (message ids are unique per answer)."""
    return f"gemini:{message_id}"


def looks_like(obj: dict[str, Any]) -> bool:
    """True when a decoded line has the shape of a Gemini CLI chat file's header."""
    return isinstance(obj.get("sessionId"), str) and "projectHash" in obj


def token_vector(tokens: Any) -> tuple[list[int], int] | None:
    """``(vector, prompt size of the request)`` from a chat file's ``tokens`` object."""
    if not isinstance(tokens, dict):
        return None
    prompt = count(tokens.get("input"))
    cached = min(count(tokens.get("cached")), prompt)
    tool = count(tokens.get("tool"))
    thoughts = count(tokens.get("thoughts"))
    vector = zero_vector()
    vector[INPUT] = prompt - cached + tool
    vector[CACHE_READ] = cached
    vector[OUTPUT] = count(tokens.get("output")) + thoughts
    vector[REASONING] = thoughts
    return (vector, prompt + tool) if any(vector) else None


def _text(content: Any) -> str | None:
    if isinstance(content, str):
        return content.strip() or None
    if isinstance(content, list):
        parts = [
            p.get("text")
            for p in content
            if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
        ]
        joined = "\n".join(t for t in parts if t).strip()
        return joined or None
    return None


def _is_tool_result(content: Any) -> bool:
    return isinstance(content, list) and any(
        isinstance(p, dict) and "functionResponse" in p for p in content
    )


class GeminiCliParser:
    """Folds decoded chat-file lines into a :class:`ParseState`."""

    agent = AGENT
    # Tool results and restated histories are the long lines; both are read from the head.
    quick_min = 512

    def __init__(self, state: ParseState) -> None:
        self.state = state
        extra = state.extra
        extra.setdefault("model", None)
        self._counted: list[str] = extra.setdefault("counted", [])
        self._tools: list[str] = extra.setdefault("tools", [])
        self._prompts: list[str] = extra.setdefault("prompts", [])

    @staticmethod
    def _remember(store: list[str], key: str) -> bool:
        """Add ``key`` to a bounded recent list; False if it was already there."""
        if key in store:
            return False
        store.append(key)
        if len(store) > _RECENT:
            del store[0]
        return True

    def quick(self, buf: bytearray, start: int, end: int) -> bool:
        """Take a tool result or a restated history from its head alone."""
        if buf.startswith(_SET_MESSAGES, start, end):
            return self.state.cwd is not None  # only the workspace is read from it
        match = _TOOL_RESULT.match(buf, start, end)
        if match is None:
            return False
        stamp = match.group(1)
        if not stamp.isascii():
            return False
        ts = parse_ts(stamp.decode())
        if ts is not None:
            self.state.event(ts)
        return True

    def feed(self, obj: dict[str, Any]) -> None:
        state = self.state
        if "$set" in obj:
            self._set(obj["$set"])
            return
        if looks_like(obj):
            if state.session_id is None:
                state.session_id = obj["sessionId"]
            ts = parse_ts(obj.get("startTime"))
            if ts is not None:
                state.event(ts)
            return
        kind = obj.get("type")
        ts = parse_ts(obj.get("timestamp"))
        if ts is not None:
            state.event(ts)
        if kind == "gemini":
            self._answer(obj, ts)
        elif kind == "user":
            self._user(obj)

    def _set(self, update: Any) -> None:
        if not isinstance(update, dict):
            return
        messages = update.get("messages")
        if "messages" not in update:  # a restated history is read for its workspace only
            ts = parse_ts(update.get("lastUpdated"))
            if ts is not None:
                self.state.event(ts)
        if self.state.cwd is None and isinstance(messages, list):
            for message in messages:
                if isinstance(message, dict) and message.get("type") == "user":
                    self._context(_text(message.get("content")))

    def _context(self, text: str | None) -> bool:
        if text is None or not text.startswith(_CONTEXT):
            return False
        match = _WORKSPACE.search(text)
        if match is not None and self.state.cwd is None:
            self.state.cwd = match.group(1).strip()
        return True

    def _user(self, obj: dict[str, Any]) -> None:
        state = self.state
        content = obj.get("content")
        if _is_tool_result(content):
            return
        text = _text(content)
        if text is None or self._context(text):
            return
        key = obj.get("id")
        if isinstance(key, str) and not self._remember(self._prompts, key):
            return
        state.turns += 1
        if state.first_prompt is None:
            state.first_prompt = text[:_MESSAGE_CHARS]

    def _answer(self, obj: dict[str, Any], ts: float | None) -> None:
        state = self.state
        model = obj.get("model")
        if isinstance(model, str) and model:
            state.extra["model"] = model
        key = obj.get("id")
        usage = token_vector(obj.get("tokens"))
        if usage is not None and (not isinstance(key, str) or self._remember(self._counted, key)):
            vector, prompt = usage
            # Keyed once for the ledger's ``responses`` table: a copy of this message in
            # another file (or rewritten past the recent-id list) bills nothing again.
            state.add_response(
                response_key(key) if isinstance(key, str) else None,
                None,
                ts,
                state.extra["model"] or "unknown",
                vector,
                request_prompt=prompt,
            )
        calls = obj.get("toolCalls")
        if isinstance(calls, list):
            for call in calls:
                if not isinstance(call, dict):
                    continue
                call_id = call.get("id")
                if isinstance(call_id, str) and not self._remember(self._tools, call_id):
                    continue
                state.tool_calls += 1
                done = parse_ts(call.get("timestamp"))
                if done is not None:
                    state.event(done)
        text = _text(obj.get("content"))
        if text:
            state.last_assistant_message = text[:_MESSAGE_CHARS]


def _head_digest(handle: Any) -> str | None:
    """A digest of the file's first line: the CLI rewrites an unreadable file from memory,
    and a checkpoint of the old file must not be resumed in the new one."""
    handle.seek(0)
    head = handle.read(_HEAD_BYTES)
    line = head.split(b"\n", 1)[0] if b"\n" in head else None
    return hashlib.sha256(line).hexdigest()[:16] if line else None


def begin_read(state: ParseState, path: Path) -> None:
    """Before a read: a checkpoint of another file under the same name (the first line
    changed) starts over, in place, as a read from the start."""
    try:
        with open_regular(path) as handle:
            head = _head_digest(handle)
    except OSError:
        return
    known = state.extra.get("head")
    if state.offset and known and head and known != head:
        fresh = ParseState(AGENT, state.idle_seconds)
        vars(state).update(vars(fresh))
        state.read_from = 0
    if head is not None:
        state.extra["head"] = head


def parse_file(
    path: Path,
    *,
    state: ParseState | None = None,
    idle_seconds: int = DEFAULT_IDLE_SECONDS,
    deadline: float | None = None,
) -> ParseState:
    """Fold the bytes of a chat file after ``state.offset`` into ``state`` (new if None):
    :func:`keito_skill.transcripts.parse_file` for this agent (resumes exactly where the
    checkpoint stopped, re-reads a file that shrank or whose first line changed, never
    raises on content; :class:`TranscriptError` only when the file cannot be opened)."""
    from keito_skill.transcripts import parse_file as parse_any

    return parse_any(path, agent=AGENT, state=state, idle_seconds=idle_seconds, deadline=deadline)
