"""Claude Code transcripts: ``<config dir>/projects/<project-slug>/<session-id>.jsonl``.

What this module knows about the format (checked against Claude Code 2.1.328):

* One API response is written as one ``assistant`` line per content block, and every one
  of those lines repeats the same ``message.id``, ``requestId`` and the full ``usage``.
  Usage is therefore counted once per ``message.id:requestId``; should a later line of the
  same response carry larger numbers (older versions streamed partial counts), only the
  difference is added. Recently seen ids are kept in the checkpoint (bounded), so the
  dedupe survives incremental reads; a response written again further on, or in another
  file (a replayed or copied history), is caught by the ledger's ``responses`` table (see
  :mod:`._responses`).
* ``cost-state`` lines are the process's own running cost, per model, cumulative for the
  process (``startTime``). They are the agent's own figure, preferred for cost when their
  token counts reconcile with what we counted (see :func:`agent_cost`).
* Subagents write their own files under ``<session-id>/subagents/`` (Claude Code 2.0.x:
  ``agent-<id>.jsonl`` beside the session file, its lines carrying the session's id); they
  belong to the session for usage and time.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

from keito_skill._safeio import open_regular
from keito_skill.agents.claude_code.paths import config_dirs
from keito_skill.transcripts._state import (
    CACHE_READ,
    CACHE_WRITE,
    CACHE_WRITE_1H,
    INPUT,
    OUTPUT,
    REASONING,
    ParseState,
    count,
    prompt_tokens,
    zero_vector,
)
from keito_skill.transcripts._time import parse_ts

TYPE_CHECKING = False  # mypy takes it for typing's; importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from typing import Any

AGENT = "claude-code"
# A user line answering a tool call: its head, its timestamp (the first after the message,
# which holds only content blocks), and its tail of session facts.
_TOOL_RESULT_HEAD = re.compile(
    rb'\{"parentUuid":(?:"[^"\\]*"|null),"isSidechain":false,(?:"promptId":"[^"\\]*",)?'
    rb'"type":"user","message":\{"role":"user","content":\[\{"tool_use_id":"[^"\\]*",'
    rb'"type":"tool_result"'
)
_STAMP = re.compile(rb'"uuid":"[0-9a-f-]{36}","timestamp":"([^"\\]{10,40})"')
_TAIL = re.compile(rb'"sessionId":"([^"\\]+)","version":"([^"\\]*)","gitBranch":"([^"\\]*)"\}\s*$')
_RECENT_IDS = 128  # one response's lines are adjacent; this is ample and keeps hooks flat
_MESSAGE_CHARS = 2000
_MAX_COST_USD = 1e6  # one process's own cost report above this is not believed


def side_files(main: Path) -> list[Path]:
    """Subagent transcripts of the session whose main transcript is ``main``: under
    ``<session-id>/subagents/``, and (Claude Code 2.0.x) ``agent-*.jsonl`` files beside it
    whose lines carry the session's id."""
    found = side_files_in(main)
    try:
        names = [
            e.name for e in os.scandir(main.parent) if _is_sibling_name(e.name) and e.is_file()
        ]
    except OSError:
        return found
    for name in sorted(names):
        if name != main.name and sibling_parent(main.parent / name) == main.stem:
            found.append(main.parent / name)
    return found


_SIBLING_PREFIX = "agent-"
_SESSION_ID = re.compile(rb'"sessionId"\s*:\s*"([^"\\]+)"')
_SIBLING_HEAD_BYTES = 16384


def _is_sibling_name(name: str) -> bool:
    return name.startswith(_SIBLING_PREFIX) and name.endswith(".jsonl")


def parent_file(path: Path) -> Path | None:
    """For an ``agent-*.jsonl`` file beside the sessions, the session file it belongs to
    (when that is there); None for anything else."""
    if not _is_sibling_name(path.name):
        return None
    parent = sibling_parent(path)
    if not parent or "/" in parent:
        return None
    candidate = path.parent / f"{parent}.jsonl"
    return candidate if candidate != path and candidate.is_file() else None


def sibling_parent(path: Path) -> str | None:
    """The session an ``agent-*.jsonl`` file beside the session files belongs to: the
    ``sessionId`` its lines carry (read from its head), or None."""
    try:
        with io.BufferedReader(open_regular(path)) as handle:  # a FIFO would hang
            head = handle.read(_SIBLING_HEAD_BYTES)
    except OSError:
        return None
    match = _SESSION_ID.search(head)
    if match is None:
        return None
    try:
        return match.group(1).decode()
    except UnicodeDecodeError:
        return None


def transcript_files(roots: list[Path] | None = None) -> Iterator[tuple[Path, list[Path]]]:
    """Every session as ``(main transcript, [subagent transcripts])``."""
    for root in roots if roots is not None else config_dirs():
        projects = root / "projects" if (root / "projects").is_dir() else root
        if not projects.is_dir():
            continue
        for project in sorted(p for p in projects.iterdir() if p.is_dir()):
            # One listing per project: a session has side files only if a directory named
            # after it is there, so most sessions cost no extra system call.
            try:
                entries = list(os.scandir(project))
            except OSError:
                continue
            dirs = {e.name for e in entries if e.is_dir()}
            names = {e.name for e in entries if e.name.endswith(".jsonl")}
            # Claude Code 2.0.x subagent files sit beside the sessions: each goes with the
            # session its lines name (one alone, whose session is not here, stays a session).
            siblings: dict[str, list[Path]] = {}
            for name in sorted(n for n in names if _is_sibling_name(n)):
                parent = sibling_parent(project / name)
                if parent is not None and f"{parent}.jsonl" in names and parent != name[:-6]:
                    siblings.setdefault(parent, []).append(project / name)
                    names.discard(name)
            for name in sorted(n for n in names if not n.startswith(".")):  # as glob does
                main = project / name
                stem = name[: -len(".jsonl")]
                sides = side_files_in(main) if stem in dirs else []
                yield main, sides + siblings.get(stem, [])


def side_files_in(main: Path) -> list[Path]:
    """The subagent files under ``<session-id>/subagents/``."""
    side_dir = main.parent / main.stem / "subagents"
    return sorted(side_dir.glob("*.jsonl")) if side_dir.is_dir() else []


def looks_like(obj: dict[str, Any]) -> bool:
    """True when a decoded line has Claude Code's shape."""
    return "sessionId" in obj or obj.get("type") in {"summary", "cost-state", "queue-operation"}


def _text_of(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            block.get("text", "")
            for block in content
            if isinstance(block, dict) and block.get("type") == "text"
        ]
        joined = "\n".join(p for p in parts if isinstance(p, str) and p)
        return joined or None
    return None


def _usage_vector(usage: dict[str, Any]) -> list[int]:
    get = usage.get
    vector = zero_vector()
    vector[INPUT] = count(get("input_tokens"))
    vector[CACHE_WRITE] = count(get("cache_creation_input_tokens"))
    vector[CACHE_READ] = count(get("cache_read_input_tokens"))
    vector[OUTPUT] = count(get("output_tokens"))
    details = get("output_tokens_details")
    if isinstance(details, dict):
        vector[REASONING] = count(details.get("thinking_tokens"))
    creation = get("cache_creation")
    if isinstance(creation, dict):
        vector[CACHE_WRITE_1H] = count(creation.get("ephemeral_1h_input_tokens"))
    return vector


class ClaudeCodeParser:
    """Folds decoded Claude Code lines into a :class:`ParseState`."""

    agent = AGENT

    def __init__(self, state: ParseState) -> None:
        self.state = state
        extra = state.extra
        self._seen: dict[str, list[Any]] = extra.setdefault("seen", {})
        self._tool_ids: dict[str, int] = extra.setdefault("tool_ids", {})
        self._costs: dict[str, Any] = extra.setdefault("cost_states", {})

    # Only long lines are offered to :meth:`quick`: the tool results it takes are what
    # makes a transcript large; short lines are decoded without trying it first.
    quick_min = 8192

    def quick(self, buf: bytearray, start: int, end: int) -> bool:
        """Take a long tool-result line without decoding its (large) output.

        Such a line is never a prompt and carries no usage: :meth:`feed` would use only its
        timestamp and the session facts at its end, which are read here directly. Anything
        that does not have exactly this shape is decoded fully (returns False).
        """
        state = self.state
        if state.session_id is None or state.cwd is None:
            return False
        if _TOOL_RESULT_HEAD.match(buf, start, end) is None:
            return False
        tail = _TAIL.search(buf, max(start, end - 1024), end)
        stamp = _STAMP.search(buf, start, end)
        if tail is None or stamp is None:
            return False
        try:  # bytes that are not UTF-8 make the line unreadable: the full path skips it
            when = stamp.group(1).decode()
            version = tail.group(2).decode()
            branch = tail.group(3).decode()
        except UnicodeDecodeError:
            return False
        ts = parse_ts(when)
        if ts is not None:
            state.event(ts)
        if state.agent_version is None:
            state.agent_version = version
        if branch:
            state.git_branch = branch
        return True

    def feed(self, obj: dict[str, Any]) -> None:
        state = self.state
        get = obj.get
        ts = parse_ts(get("timestamp"))
        if ts is not None:
            state.event(ts)
        if state.session_id is None:
            session_id = get("sessionId")
            if isinstance(session_id, str):
                state.session_id = session_id
        if state.agent_version is None:
            version = get("version")
            if isinstance(version, str):
                state.agent_version = version  # the first: the one the session started with
        if state.cwd is None:
            cwd = get("cwd")
            if isinstance(cwd, str):
                state.cwd = cwd
        branch = get("gitBranch")
        if branch and isinstance(branch, str):
            state.git_branch = branch

        kind = get("type")
        if kind == "assistant":
            self._assistant(obj, ts)
        elif kind == "user":
            self._user(obj)
        elif kind == "cost-state":
            self._cost_state(obj)

    def _user(self, obj: dict[str, Any]) -> None:
        if obj.get("isMeta") or obj.get("isSidechain") or obj.get("isCompactSummary"):
            return
        message = obj.get("message")
        if not isinstance(message, dict):
            return
        content = message.get("content")
        if isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in content
        ):
            return
        text = _text_of(content)
        if text is None:
            return
        self.state.turns += 1
        if self.state.first_prompt is None:
            self.state.first_prompt = text[:_MESSAGE_CHARS]

    def _assistant(self, obj: dict[str, Any], ts: float | None) -> None:
        message = obj.get("message")
        if not isinstance(message, dict):
            return
        state = self.state
        content = message.get("content")
        if isinstance(content, list):
            for block in content:
                if not isinstance(block, dict):
                    continue
                if block.get("type") == "tool_use":
                    tool_id = str(block.get("id") or obj.get("uuid") or "")
                    if tool_id not in self._tool_ids:
                        state.tool_calls += 1
                        self._remember(self._tool_ids, tool_id, 1)
        text = _text_of(content)
        if text and not obj.get("isSidechain"):
            state.last_assistant_message = text[:_MESSAGE_CHARS]

        usage = message.get("usage")
        if not isinstance(usage, dict):
            return
        model = message.get("model")
        if not isinstance(model, str) or not model:
            model = "unknown"
        vector = _usage_vector(usage)
        if model == "<synthetic>" and not any(vector):
            return
        message_id = message.get("id")
        key = f"{message_id}:{obj.get('requestId')}" if message_id else None
        prompt = prompt_tokens(vector)
        if key is None:
            state.add_usage(ts, model, vector, request_prompt=prompt)
            return
        seen = self._seen.get(key)
        if seen is None:
            state.add_response(key, None, ts, model, vector, request_prompt=prompt)
            first = state.responses[-1][1] if state.responses else 0
            self._remember(self._seen, key, [vector, first])
            return
        previous, first = seen
        if previous == vector:
            return  # the same response's next content block: counted already
        delta = [max(0, new - old) for new, old in zip(vector, previous, strict=True)]
        if any(delta):
            # The same response, written again with larger numbers: keyed by where it was
            # first written, so the check across files knows it for this file's own.
            state.add_response(key, first, ts, model, delta, request_prompt=prompt)
            grown = [max(a, b) for a, b in zip(vector, previous, strict=True)]
            self._remember(self._seen, key, [grown, first])

    @staticmethod
    def _remember(store: dict[str, Any], key: str, value: Any) -> None:
        store.pop(key, None)
        store[key] = value
        while len(store) > _RECENT_IDS:
            store.pop(next(iter(store)))

    def _cost_state(self, obj: dict[str, Any]) -> None:
        usage = obj.get("modelUsage")
        if not isinstance(usage, dict):
            return
        per_model: dict[str, Any] = {}
        for model, figures in usage.items():
            if not isinstance(figures, dict):
                continue
            cost = figures.get("costUSD")
            sane = isinstance(cost, int | float) and 0 <= cost < _MAX_COST_USD
            per_model[str(model)] = {
                "cost": float(cost) if sane and cost is not None else None,  # absurd: ours
                "tokens": [
                    count(figures.get("inputTokens")),
                    count(figures.get("cacheCreationInputTokens")),
                    count(figures.get("cacheReadInputTokens")),
                    count(figures.get("outputTokens")),
                ],
            }
        key = str(obj.get("startTime") or "process")
        total = obj.get("totalCostUSD")
        total = float(total) if isinstance(total, int | float) else 0.0
        held = self._costs.get(key)
        if held is not None and held.get("total", 0.0) > total:
            return  # an older report of the same process, seen late: keep the newer one
        self._costs.pop(key, None)
        self._costs[key] = {
            "total": total,
            "models": per_model,
            "unknown": bool(obj.get("hasUnknownModelCost")),
        }


def agent_cost(states: list[ParseState]) -> dict[str, float] | None:
    """The agent's own cost per model, when its token counts reconcile with ours exactly.

    Each process writes cumulative ``cost-state`` lines keyed by its ``startTime``. A resume
    may carry the earlier process's totals forward (Claude Code 2.1.328 does) or start from
    zero, so two readings are tried — the last report alone, and the sum of every process's
    last report — and the one whose per-model tokens equal the transcript's is used. None
    when neither reconciles, or the agent flagged an unknown model: the caller then prices
    the tokens itself.
    """
    counted: dict[str, list[int]] = {}
    reports: list[dict[str, Any]] = []
    for state in states:
        for model, vector in state.model_totals().items():
            slot = counted.setdefault(model, [0, 0, 0, 0])
            for i, idx in enumerate((INPUT, CACHE_WRITE, CACHE_READ, OUTPUT)):
                slot[i] += vector[idx]
        reports.extend(state.extra.get("cost_states", {}).values())
    if not reports or any(r.get("unknown") for r in reports):
        return None

    def reading(chosen: list[dict[str, Any]]) -> dict[str, float] | None:
        tokens: dict[str, list[int]] = {}
        costs: dict[str, float] = {}
        for report in chosen:
            for model, figures in report["models"].items():
                if figures["cost"] is None:
                    return None
                slot = tokens.setdefault(model, [0, 0, 0, 0])
                for i in range(4):
                    slot[i] += figures["tokens"][i]
                costs[model] = costs.get(model, 0.0) + figures["cost"]
        live = {m: t for m, t in counted.items() if any(t)}
        return costs if tokens == live else None

    return reading(reports[-1:]) or reading(reports)
