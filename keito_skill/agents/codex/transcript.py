"""Codex CLI transcripts: ``${CODEX_HOME:-~/.codex}/sessions/YYYY/MM/DD/rollout-*.jsonl``.

What this module knows about the format (checked against Codex 0.169.0):

* ``event_msg`` / ``token_count`` events carry ``total_token_usage`` (cumulative for the
  session, continued across a resume) and ``last_token_usage`` (the latest response).
  Usage is taken as the growth of the cumulative total, so a repeated event (even a stale
  one, out of order) adds nothing; a total that restarts from zero counts from there.
  Newer versions also write ``token_usage_record`` lines for the same responses; they are
  not counted again.
* Codex's ``input_tokens`` includes cached (and cache-written) tokens; we report
  Anthropic's meaning of input: ``input_tokens - cached_input_tokens - cache_write``.
  ``reasoning_output_tokens`` is part of ``output_tokens``, reported separately too.
* A fork writes its own ``session_meta``, then its parent's lines again (the parent's
  ``session_meta`` among them) with new timestamps, and goes on from the parent's running
  total. A usage event is therefore keyed by the total it reached under the id of the
  latest ``session_meta``: the copies carry their parent's keys and add nothing.
* The model is named in ``turn_context`` lines (and ``session_meta`` provenance); usage is
  attributed to the model in force when it was reported.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

from keito_skill._safeio import open_regular
from keito_skill.agents.codex.paths import SESSION_DIRS, codex_home
from keito_skill.transcripts._reader import decode
from keito_skill.transcripts._state import (
    CACHE_READ,
    CACHE_WRITE,
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

AGENT = "codex"
_MESSAGE_CHARS = 2000
_RECENT_TOTALS = 64
_TOOL_ITEMS = {"function_call", "custom_tool_call", "local_shell_call", "web_search_call"}


# The fixed head of a rollout line: timestamp, (ordinal), type, payload.type.
_HEAD = re.compile(
    rb'\{"timestamp":"([^"\\]{10,40})",(?:"ordinal":\d+,)?"type":"(\w+)","payload":\{'
    rb'(?:"type":"(\w+)")?'
)
# Line kinds the full parser reads nothing from but their time.
_TIME_ONLY = {b"token_usage_record"}
_CLOSED = (b"}}\n", b"}}\r\n")  # the line is whole: its payload and the object end
_OUTPUT_ITEMS = {b"function_call_output", b"custom_tool_call_output"}
_TOOL_ITEM_BYTES = {t.encode() for t in _TOOL_ITEMS}
# event_msg types the full parser reads; every other one is only a point in time.
_READ_EVENTS = {
    b"token_count",
    b"task_started",
    b"user_message",
    b"agent_message",
    b"task_complete",
    b"item_completed",
}


# A rollout's first line up to its session id: the payload's members before "id" are short
# plain values as Codex writes them (``session_id``, ``account_scoped``). Values here hold
# no quote or backslash, so nothing inside one can pass for structure.
_META_ID = re.compile(
    rb'\{"timestamp":"[^"\\]*",(?:"ordinal":\d+,)?"type":"session_meta","payload":\{'
    rb'(?:"\w+":(?:"[^"\\]*"|true|false|null|-?\d+),)*?"id":"([^"\\]+)"[,}]'
)
_META_HEAD_BYTES = 4096


def transcript_files(roots: list[Path] | None = None) -> Iterator[tuple[Path, list[Path]]]:
    """Every rollout file under ``sessions/`` and ``archived_sessions/`` of each root."""
    for root in roots if roots is not None else [codex_home()]:
        found: list[Path] = []
        for sub in SESSION_DIRS:
            base = root / sub
            if base.is_dir():
                found.extend(base.rglob("rollout-*.jsonl"))
        if not found and root.is_dir() and root.name in SESSION_DIRS:
            found.extend(root.rglob("rollout-*.jsonl"))
        for path in sorted(found):
            yield path, []


def session_id(path: Path) -> str | None:
    """The id in the rollout's ``session_meta`` line (the one Codex's hooks report), or None.

    Read from the first 4 KB when the id sits among the payload's first plain members, as
    Codex writes it: a listing of thousands of rollouts then skips decoding each one's
    ~13 KB of instructions. Anything else is decoded in full, as before. (Only a second
    ``"id"`` key later in the same payload, which Codex never writes, could tell the two
    apart: a decoder keeps the last, the head the first.)
    """
    try:
        with io.BufferedReader(open_regular(path)) as handle:
            match = _META_ID.match(handle.read(_META_HEAD_BYTES))
            if match is not None:
                try:
                    return match.group(1).decode()
                except UnicodeDecodeError:
                    pass  # not UTF-8: the decoder below rejects the line too
            handle.seek(0)
            for _ in range(5):
                obj = decode(handle.readline())
                payload = obj.get("payload") if obj else None
                if isinstance(payload, dict) and obj and obj.get("type") == "session_meta":
                    sid = payload.get("id") or payload.get("session_id")
                    if isinstance(sid, str) and sid:
                        return sid
    except OSError:
        pass
    return None


def looks_like(obj: dict[str, Any]) -> bool:
    """True when a decoded line has the Codex rollout shape."""
    return "payload" in obj and obj.get("type") in {
        "session_meta",
        "turn_context",
        "event_msg",
        "response_item",
        "token_usage_record",
        "compacted",
        "world_state",
    }


def _raw(usage: Any) -> list[int] | None:
    """``[input incl. cached, cached, cache_write, output, reasoning]`` or None."""
    if not isinstance(usage, dict):
        return None
    return [
        count(usage.get("input_tokens")),
        count(usage.get("cached_input_tokens")),
        count(usage.get("cache_write_input_tokens")),
        count(usage.get("output_tokens")),
        count(usage.get("reasoning_output_tokens")),
    ]


def _vector(raw: list[int]) -> list[int]:
    vector = zero_vector()
    vector[INPUT] = max(0, raw[0] - raw[1] - raw[2])
    vector[CACHE_READ] = raw[1]
    vector[CACHE_WRITE] = raw[2]
    vector[OUTPUT] = raw[3]
    vector[REASONING] = raw[4]
    return vector


def _text_of(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            block.get("text")
            for block in content
            if isinstance(block, dict) and block.get("type") in {"output_text", "text", "Text"}
        ]
        joined = "\n".join(p for p in parts if isinstance(p, str) and p)
        return joined or None
    return None


class CodexParser:
    """Folds decoded Codex rollout lines into a :class:`ParseState`."""

    agent = AGENT

    def __init__(self, state: ParseState) -> None:
        self.state = state
        extra = state.extra
        extra.setdefault("model", None)
        extra.setdefault("total", None)
        extra.setdefault("task_started", 0)
        extra.setdefault("user_messages", 0)
        # recent_totals (checkpointed, oldest first) as a set: one lookup per token_count.
        self._recent = {tuple(t) for t in extra.setdefault("recent_totals", [])}

    # Every line is offered to :meth:`quick`: about half of a rollout's lines are tool
    # calls, tool output and usage records, read from their head alone.
    quick_min = 0

    def quick(self, buf: bytearray, start: int, end: int) -> bool:
        """Take a line from its head alone when that is all :meth:`feed` would use.

        Tool output (command results, file contents) is most of a rollout's bytes and is
        never read: for such lines the timestamp, the kind, and whether it is a tool call
        sit in the line's fixed head. Returns False (decode it fully) for anything else.
        """
        match = _HEAD.match(buf, start, end)
        if match is None or not buf.endswith(_CLOSED, start, end):
            return False
        stamp, kind, item = match.groups()
        if not stamp.isascii():
            return False  # not a time (or not UTF-8): the full path decides
        if kind == b"response_item":
            if item in _TOOL_ITEM_BYTES:
                self.state.tool_calls += 1
            elif item not in _OUTPUT_ITEMS:
                return False
        elif kind == b"event_msg":
            if item is None or (
                item in _READ_EVENTS
                and not (item == b"item_completed" and self.state.first_prompt is not None)
            ):
                return False
        elif kind not in _TIME_ONLY:
            return False
        ts = parse_ts(stamp.decode())
        if ts is not None:
            self.state.event(ts)
        return True

    def feed(self, obj: dict[str, Any]) -> None:
        state = self.state
        ts = parse_ts(obj.get("timestamp"))
        if ts is not None:
            state.event(ts)
        payload = obj.get("payload")
        if not isinstance(payload, dict):
            return
        kind = obj.get("type")
        if kind == "event_msg":
            self._event(payload, ts)
        elif kind == "response_item":
            self._item(payload)
        elif kind == "turn_context":
            model = payload.get("model")
            if isinstance(model, str) and model:
                state.extra["model"] = model
            if state.cwd is None and isinstance(payload.get("cwd"), str):
                state.cwd = payload["cwd"]
        elif kind == "session_meta":
            self._meta(payload)

    def _meta(self, payload: dict[str, Any]) -> None:
        state = self.state
        sid = payload.get("id") or payload.get("session_id")
        if isinstance(sid, str):
            if state.session_id is None:
                state.session_id = sid
            # Usage is keyed under the latest session_meta's id: a fork copies its parent's
            # lines, that one included, so the copied usage has the keys it had there.
            state.extra["lineage"] = sid
        if state.agent_version is None and isinstance(payload.get("cli_version"), str):
            state.agent_version = payload["cli_version"]  # the first: the session's start
        if state.cwd is None and isinstance(payload.get("cwd"), str):
            state.cwd = payload["cwd"]
        git = payload.get("git")
        if isinstance(git, dict):
            if isinstance(git.get("branch"), str):
                state.git_branch = git["branch"]
            if isinstance(git.get("commit_hash"), str):
                state.git_commit = git["commit_hash"]
        if state.extra.get("model") is None:
            base = payload.get("base_instructions")
            provenance = base.get("provenance") if isinstance(base, dict) else None
            model = provenance.get("model") if isinstance(provenance, dict) else None
            if isinstance(model, str) and model:
                state.extra["model"] = model

    def _event(self, payload: dict[str, Any], ts: float | None) -> None:
        state = self.state
        kind = payload.get("type")
        if kind == "token_count":
            self._token_count(payload.get("info"), ts)
        elif kind == "task_started":
            state.extra["task_started"] += 1
            state.turns = max(state.extra["task_started"], state.extra["user_messages"])
        elif kind == "user_message":
            state.extra["user_messages"] += 1
            state.turns = max(state.extra["task_started"], state.extra["user_messages"])
            message = payload.get("message")
            if state.first_prompt is None and isinstance(message, str):
                state.first_prompt = message[:_MESSAGE_CHARS]
        elif kind in {"agent_message", "task_complete"}:
            text = payload.get("message") or payload.get("last_agent_message")
            if isinstance(text, str) and text:
                state.last_assistant_message = text[:_MESSAGE_CHARS]
        elif kind == "item_completed":
            item = payload.get("item")
            if (
                isinstance(item, dict)
                and item.get("type") == "UserMessage"
                and state.first_prompt is None
            ):
                text = _text_of(item.get("content"))
                if text:
                    state.first_prompt = text[:_MESSAGE_CHARS]

    def _token_count(self, info: Any, ts: float | None) -> None:
        if not isinstance(info, dict):
            return
        total = _raw(info.get("total_token_usage"))
        last = _raw(info.get("last_token_usage"))
        extra = self.state.extra
        previous: list[int] | None = extra.get("total")
        if total is None:
            delta = last or [0] * 5
        else:
            recent: list[list[int]] = extra["recent_totals"]
            if tuple(total) in self._recent:
                return  # the same cumulative report again: nothing new was used
            delta = total
            if previous is not None:
                grown = [t - p for t, p in zip(total, previous, strict=True)]
                if min(grown) >= 0:
                    delta = grown
                # else the running total restarted: it counts from zero again
            extra["total"] = total
            recent.append(total)
            self._recent.add(tuple(total))
            if len(recent) > _RECENT_TOTALS:
                self._recent.discard(tuple(recent.pop(0)))
        if any(delta):
            model = extra.get("model") or "unknown"
            # The prompt size of the latest request (input_tokens includes cached ones).
            prompt = (last or delta)[0]
            # A usage event is known by the running total it reached, within its lineage
            # (a forked rollout repeats its parent's totals; an unrelated session may not
            # share them); an event with no running total has no key.
            key = (
                f"{extra.get('lineage') or ''}:{','.join(map(str, total))}"
                if total is not None
                else None
            )
            self.state.add_response(key, None, ts, model, _vector(delta), request_prompt=prompt)

    def _item(self, payload: dict[str, Any]) -> None:
        state = self.state
        kind = payload.get("type")
        if kind in _TOOL_ITEMS:
            state.tool_calls += 1
        elif kind == "message" and payload.get("role") == "assistant":
            text = _text_of(payload.get("content"))
            if text:
                state.last_assistant_message = text[:_MESSAGE_CHARS]
