"""Gemini CLI's local telemetry file: the one file holding *every* request's usage.

Why: the chat file records the main conversation only. Before every prompt the CLI asks a
routing model (role ``utility_router``), and it makes other utility calls (next speaker,
loop detection, compression, summaries, edit correction) whose usage no chat file holds.
With local telemetry on (``telemetry.enabled`` and ``telemetry.outfile`` in settings, or
``GEMINI_TELEMETRY_ENABLED`` / ``GEMINI_TELEMETRY_OUTFILE``), every response is logged as a
``gemini_cli.api_response`` record with ``session.id``, ``model``, ``role`` and its token
counts (``input_token_count`` = the whole prompt, ``cached_content_token_count``,
``output_token_count`` = candidates, ``thoughts_token_count``, ``tool_token_count``).

What was checked against Gemini CLI 0.61.0:

* The file is a stream of pretty-printed JSON values (``JSON.stringify(v, null, 2)`` and a
  newline each): log records, spans and metrics of every session and process that shares
  the setting, appended. A top-level value ends with a line that is exactly ``}``: nothing
  nested starts a line with it, and strings never hold a raw newline, so values are split
  on ``\\n}\\n`` and only the ones naming ``gemini_cli.api_response`` are decoded.
* Records are exported in batches (every 5 s) and at exit: **when AfterAgent and
  SessionEnd hooks run, the running process's records are usually not in the file yet.**
  They arrive within seconds of the process exiting; a later read picks them up.
* It is large (about 300 KB per prompt: spans repeat the system prompt, and the prompt
  itself is in every record's resource attributes even with ``logPrompts`` off).

Reading: :func:`parse_telemetry` folds the usage of one session's requests *that are not in
any chat file* (every role but ``main`` and ``subagent``) into a :class:`ParseState` of
its own, checkpointed by byte offset like a chat file; it is meant to be summarised as a
side file of the session, so nothing is counted twice. Requests of the recorded roles are
summed in ``extra["recorded_roles"]`` for reconciliation only. A record without a role
cannot be placed and is counted in ``extra["unattributed"]``, never billed.

The file is shared by every session, so its checkpoint belongs to a (session, file) pair,
not to the file. Cost: values not naming the session are skipped undecoded; a 50 MB file
reads in about 0.5 s (0.2 s when the session is not in it) on 2 shared cores.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from keito_skill._safeio import open_regular
from keito_skill.errors import TranscriptError
from keito_skill.transcripts._state import (
    CACHE_READ,
    DEFAULT_IDLE_SECONDS,
    INPUT,
    LINE_DAMAGE,
    OUTPUT,
    REASONING,
    ParseState,
    add_into,
    count,
    zero_vector,
)
from keito_skill.transcripts._time import parse_ts

TYPE_CHECKING = False  # mypy takes it for typing's; importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "RECORDED_ROLES",
    "parse_telemetry",
    "response_key",
    "start_offset",
    "time_at",
    "usage_vector",
]

AGENT = "gemini-cli"
#: Roles whose requests the chat files already record (main chat, subagent chats).
RECORDED_ROLES = frozenset({"main", "subagent"})
_END = b"\n}\n"
_EVENT = b'"gemini_cli.api_response"'
_READ = 1024 * 1024
_MAX_VALUE = 64 * 1024 * 1024
# A new session's read starts this long before its first event (see start_offset).
_MARGIN = 3600.0
_PROBE = 64 * 1024
# A top-level value's time: two-space indent, ``[seconds, nanoseconds]``.
_TOP_TIME = re.compile(rb'\n  "(?:hrTime|startTime)": \[\n\s*(\d{9,11}),')


def usage_vector(attributes: dict[str, Any]) -> tuple[list[int], int] | None:
    """``(token vector, prompt size)`` of one ``api_response`` record's attributes."""
    prompt = count(attributes.get("input_token_count"))
    cached = min(count(attributes.get("cached_content_token_count")), prompt)
    tool = count(attributes.get("tool_token_count"))
    thoughts = count(attributes.get("thoughts_token_count"))
    vector = zero_vector()
    vector[INPUT] = prompt - cached + tool
    vector[CACHE_READ] = cached
    vector[OUTPUT] = count(attributes.get("output_token_count")) + thoughts
    vector[REASONING] = thoughts
    return (vector, prompt + tool) if any(vector) else None


_DECODER = json.JSONDecoder()


def _values(chunk: bytes) -> list[Any] | None:
    """The JSON values in one chunk (one, unless a value fit on a line), or None."""
    try:
        text = chunk.decode("utf-8")
    except UnicodeDecodeError:
        return None
    out: list[Any] = []
    pos, end = 0, len(text)
    try:
        while True:
            while pos < end and text[pos].isspace():
                pos += 1
            if pos >= end:
                return out
            value, pos = _DECODER.raw_decode(text, pos)
            out.append(value)
    except (ValueError, RecursionError):
        return None


def response_key(session_id: str, attributes: dict[str, Any]) -> str:
    """The ledger key of one ``api_response`` record: the same whoever reads it, and never
    equal to a chat file's key (those requests are billed from the chat file)."""
    parts = [
        attributes.get(name)
        for name in (
            "prompt_id",
            "event.timestamp",
            "model",
            "role",
            "duration_ms",
            "input_token_count",
            "cached_content_token_count",
            "output_token_count",
            "thoughts_token_count",
            "tool_token_count",
        )
    ]
    return "gemini-tel:" + session_id + ":" + json.dumps(parts, separators=(",", ":"))


def _record(state: ParseState, obj: Any, offset: int) -> None:
    """Fold one decoded top-level value, which starts at byte ``offset`` of the file."""
    attributes = obj.get("attributes") if isinstance(obj, dict) else None
    if not isinstance(attributes, dict):
        return
    if attributes.get("event.name") != "gemini_cli.api_response":
        return
    if attributes.get("session.id") != state.session_id:
        return
    usage = usage_vector(attributes)
    if usage is None:
        return
    vector, prompt = usage
    role = attributes.get("role")
    model = attributes.get("model")
    model = model if isinstance(model, str) and model else "unknown"
    extra = state.extra
    if not isinstance(role, str) or not role:
        extra["unattributed"] = extra.get("unattributed", 0) + 1
        return
    if role in RECORDED_ROLES:
        recorded = extra.setdefault("recorded_roles", {})
        add_into(recorded.setdefault(model, zero_vector()), vector)
        return
    roles = extra.setdefault("roles", {})
    roles[role] = roles.get(role, 0) + 1
    ts = parse_ts(attributes.get("event.timestamp"))
    if ts is None:  # the log record's own time: [seconds, nanoseconds]
        hr_time = obj.get("hrTime")
        ts = parse_ts(hr_time[0]) if isinstance(hr_time, list) and hr_time else None
    if ts is None:
        extra["undated"] = extra.get("undated", 0) + 1  # no day to bill it on: held back
        return
    state.add_response(
        response_key(str(state.session_id), attributes),
        offset,
        ts,
        model,
        vector,
        request_prompt=prompt,
    )


def _value_time(handle: Any, at: int) -> float | None:
    """The time of the top-level value starting at ``at`` (its ``hrTime`` or ``startTime``,
    a top-level key), or None when its head does not say."""
    handle.seek(at)
    head = handle.read(_PROBE)
    match = _TOP_TIME.search(head)
    return float(match.group(1)) if match else None


def time_at(path: Path, offset: int) -> float | None:
    """The time of the value starting at ``offset`` of ``path`` (None: none there, or it
    does not say)."""
    try:
        with open_regular(path) as handle:
            return _value_time(handle, offset)
    except OSError:
        return None


def _next_value(handle: Any, at: int, size: int) -> int | None:
    """The offset of the first top-level value that starts after ``at``."""
    pos = at
    while pos < size:
        handle.seek(pos)
        chunk: bytes = handle.read(_READ)
        if not chunk:
            return None
        cut = chunk.find(_END)
        if cut >= 0:
            return pos + cut + len(_END)
        pos += max(1, len(chunk) - len(_END))
    return None


def start_offset(path: Path, since: float) -> int:
    """Where a session that began at ``since`` can first have a record in ``path``.

    The file holds every session's records in about the order they happened (each process
    exports every few seconds and at exit), so a bisection on the values' times finds a
    place :data:`_MARGIN` seconds before ``since``: reading from there sees every record of
    the session without reading the whole shared file. A value whose time cannot be read
    counts as late (the search then starts earlier, never later).
    """
    try:
        handle = open_regular(path)
    except OSError:
        return 0
    with handle:
        try:
            size = handle.seek(0, 2)
            low, high = 0, size
            target = since - _MARGIN
            while high - low > _READ:
                mid = _next_value(handle, (low + high) // 2, high)
                if mid is None or mid >= high:
                    break
                when = _value_time(handle, mid)
                if when is not None and when < target:
                    low = mid
                else:
                    high = (low + high) // 2
            return low
        except OSError:
            return 0


def parse_telemetry(
    path: Path,
    session_id: str,
    *,
    state: ParseState | None = None,
    idle_seconds: int = DEFAULT_IDLE_SECONDS,
    since: float | None = None,
    deadline: float | None = None,
) -> ParseState:
    """Fold the unrecorded-role usage of ``session_id`` after ``state.offset`` into ``state``.

    A new state starts at :func:`start_offset` of ``since`` (the session's first event)
    when given, else at the start. Only whole values are consumed: the offset stops before
    one still being written, or where ``deadline`` (``time.monotonic()``) ran out (then
    ``extra["cut_short"]``). A file that shrank (rotated, truncated) is read again from
    the start. Raises :class:`TranscriptError` only when the file cannot be opened (or is
    not a regular file).
    """
    if state is not None and (state.session_id != session_id or state.agent != AGENT):
        state = None
    if state is None:
        state = _fresh(session_id, idle_seconds)
        if since is not None:
            state.offset = start_offset(path, since)
    try:
        handle = open_regular(path)
    except OSError as exc:
        raise TranscriptError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        try:
            size = handle.seek(0, 2)
        except OSError:
            size = 0
        if size < state.offset:
            state = _fresh(session_id, state.idle_seconds)
        if state.read_from is None:
            state.read_from = state.offset
        handle.seek(state.offset)
        needle = session_id.encode()
        buf = b""
        base = state.offset  # file offset of buf[0]
        skipped = 0
        cut_short = False
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                cut_short = True
                break
            try:
                more = handle.read(_READ)
            except OSError:
                more = b""
            if not more:
                break
            buf += more
            pos = 0
            while True:
                cut = buf.find(_END, pos)
                if cut < 0:
                    break
                end = cut + len(_END)
                value = buf[pos:end]
                if _EVENT in value and needle in value:
                    values = _values(value)
                    if values is None:
                        skipped += 1
                    for obj in values or ():
                        try:
                            _record(state, obj, base + pos)
                        except LINE_DAMAGE:
                            skipped += 1  # damage (a count of 2^63): nothing from it is kept
                pos = end
            base += pos
            buf = buf[pos:]
            if len(buf) > _MAX_VALUE:  # no end in sight: not this format; skip it
                base += len(buf)
                buf = b""
                skipped += 1
        state.offset = base
        state.skipped_lines += skipped
        state.extra["partial_tail"] = bool(buf.strip()) and not cut_short
        if cut_short:
            state.extra["cut_short"] = True
        else:
            state.extra.pop("cut_short", None)
    return state


def _fresh(session_id: str, idle_seconds: int) -> ParseState:
    state = ParseState(AGENT, idle_seconds)
    state.session_id = session_id
    state.extra["source"] = "telemetry"
    return state
