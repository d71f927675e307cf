"""A deterministic corpus of agent transcripts, with the exact truth of every session.

Backfill must give the same totals over a heavy user's gigabytes as summing the sessions
one by one, and its throughput matters; both need a corpus far larger than the recorded
fixtures, with a known answer. This writes one from a seed, in the shapes the real agents
write (copied from ``tests/fixtures/``):

* Claude Code: one ``assistant`` line per content block, every line of a response repeating
  its ``message.id``, ``requestId`` and full ``usage``; tool results as ``user`` lines with
  the output twice (``message.content`` and ``toolUseResult``) — the large lines; noise
  lines (``attachment``, ``api-request``, ``queue-operation``, ``last-prompt``...);
  ``cost-state`` lines with the process's cumulative cost per model (a resumed session
  starts a new process); subagent transcripts under ``<session-id>/subagents/``.
* Codex: a ``session_meta`` first line, ``turn_context`` naming the model (which may change
  mid-session), ``token_count`` events with the cumulative ``total_token_usage`` (repeated
  now and then, as Codex does), ``token_usage_record`` lines that must not count twice,
  large ``function_call_output`` lines, and resumes appended to the same rollout.

Truth is accumulated while writing, never re-derived by a parser: per model and per UTC day
the tokens (Anthropic's meaning of input: uncached only), the event days, and for Claude
the cost its ``cost-state`` lines report. Each file's mtime is set to its last event, as if
the agent had written it then, so a backfill sees finished sessions.

Use it from tests (``generate(tmp_path, size_bytes=30_000_000)``) or from the command line
to make a benchmark corpus: ``python -m bench.corpus OUT --size 2G --seed 7``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TOKEN_KEYS = (
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
)
CLAUDE_MODELS = ("claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5")
CODEX_MODELS = ("gpt-5-codex", "gpt-5")
# $ per million tokens (input, cache write, cache read, output): what our fake Claude Code
# reports in cost-state. Any numbers do; the parser must take the agent's own figure.
_CLAUDE_PRICES = {
    "claude-sonnet-4-5": (3.0, 3.75, 0.30, 15.0),
    "claude-opus-4-1": (15.0, 18.75, 1.50, 75.0),
    "claude-haiku-4-5": (1.0, 1.25, 0.10, 5.0),
}
BASE_DAY = datetime(2026, 9, 1, tzinfo=UTC)
TRUTH_FILE = "truth.ndjson"  # not *.jsonl: nothing mistakes it for a transcript


@dataclass
class SessionTruth:
    """What one generated session really contains."""

    agent: str
    session_id: str
    path: str
    side_paths: list[str]
    cwd: str
    first_ts: float
    last_ts: float
    bytes: int
    tokens: dict[str, dict[str, int]] = field(default_factory=dict)  # model -> counts
    day_tokens: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    days: list[str] = field(default_factory=list)  # UTC dates with any event
    agent_cost_usd: float | None = None  # Claude: the sum of each process's last report

    def totals(self) -> dict[str, int]:
        """Tokens over every model."""
        out = dict.fromkeys(TOKEN_KEYS, 0)
        for counts in self.tokens.values():
            for key in TOKEN_KEYS:
                out[key] += counts[key]
        return out


@dataclass
class Corpus:
    root: Path
    claude_dir: Path
    codex_dir: Path
    sessions: list[SessionTruth]

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.sessions)

    def totals(self) -> dict[str, int]:
        out = dict.fromkeys(TOKEN_KEYS, 0)
        for session in self.sessions:
            for key, value in session.totals().items():
                out[key] += value
        return out


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).date().isoformat()


_WORDS = (
    "def return self import from class if else for in while try except raise with as "
    "the and of to a path file line value error None True False print json open read "
    'write "quoted" {braces} [list] tab\there \\backslash unicode-é→✓ 0x1f 42 3.14'
)


class _Text:
    """Cheap deterministic filler: slices of one pre-made block of code-like text."""

    def __init__(self, rng: random.Random, size: int = 1 << 20) -> None:
        words = _WORDS.split(" ")
        parts: list[str] = []
        total = 0
        while total < size:
            line = " ".join(rng.choice(words) for _ in range(rng.randint(3, 14)))
            parts.append(line)
            total += len(line) + 1
        self.block = "\n".join(parts)
        self.rng = rng

    def take(self, length: int) -> str:
        length = max(1, min(length, len(self.block)))
        start = self.rng.randrange(0, len(self.block) - length + 1)
        return self.block[start : start + length]


class _Writer:
    """Accumulates one session's lines and truth."""

    def __init__(self, truth: SessionTruth) -> None:
        self.truth = truth
        self.chunks: dict[Path, list[str]] = {}
        self.days: set[str] = set()
        self.first: str | None = None

    def line(self, path: Path, obj: dict[str, Any]) -> None:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
        self.chunks.setdefault(path, []).append(text + "\n")
        ts = obj.get("timestamp")
        if isinstance(ts, str):
            self.days.add(ts[:10])
            self.first = self.first or ts

    def usage(self, ts: float, model: str, counts: dict[str, int]) -> None:
        for slot in (
            self.truth.tokens.setdefault(model, dict.fromkeys(TOKEN_KEYS, 0)),
            self.truth.day_tokens.setdefault(_day(ts), {}).setdefault(
                model, dict.fromkeys(TOKEN_KEYS, 0)
            ),
        ):
            for key in TOKEN_KEYS:
                slot[key] += counts.get(key, 0)

    def flush(self) -> None:
        total = 0
        for path, chunks in self.chunks.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            data = "".join(chunks).encode()
            path.write_bytes(data)
            total += len(data)
            os.utime(path, (self.truth.last_ts, self.truth.last_ts))
        self.truth.bytes = total
        self.truth.side_paths = sorted(str(p) for p in self.chunks if str(p) != self.truth.path)
        self.truth.days = sorted(self.days)
        if self.first is not None:
            self.truth.first_ts = datetime.fromisoformat(self.first).timestamp()


class _Clock:
    """Event times: mostly seconds apart, sometimes a coffee break longer than idle."""

    def __init__(self, rng: random.Random, start: float) -> None:
        self.rng = rng
        self.now = start
        self.first = start

    def tick(self, small: float = 4.0) -> float:
        roll = self.rng.random()
        if roll < 0.02:
            self.now += self.rng.uniform(600, 5400)  # away: longer than any idle threshold
        elif roll < 0.10:
            self.now += self.rng.uniform(30, 240)
        else:
            self.now += self.rng.uniform(0.05, small)
        return self.now


def _tool_output(rng: random.Random, text: _Text, big_line_bytes: int) -> str:
    roll = rng.random()
    if roll < 0.06:
        return text.take(rng.randint(big_line_bytes // 4, big_line_bytes))
    if roll < 0.30:
        return text.take(rng.randint(2_000, 20_000))
    return text.take(rng.randint(20, 1_500))


# ---- Claude Code -----------------------------------------------------------------------


def _claude_session(
    rng: random.Random,
    text: _Text,
    root: Path,
    cwd: str,
    start: float,
    budget: int,
    big_line_bytes: int,
) -> SessionTruth:
    sid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    slug = "-" + cwd.strip("/").replace("/", "-")
    main = root / "projects" / slug / f"{sid}.jsonl"
    truth = SessionTruth("claude-code", sid, str(main), [], cwd, start, start, 0)
    out = _Writer(truth)
    clock = _Clock(rng, start)
    model = rng.choice(CLAUDE_MODELS)
    common = {
        "userType": "external",
        "entrypoint": "cli",
        "cwd": cwd,
        "sessionId": sid,
        "version": "2.1.328",
        "gitBranch": "main",
    }
    processes: list[dict[str, Any]] = []
    side: Path | None = None
    if rng.random() < 0.12:
        side = (
            root / "projects" / slug / sid / "subagents" / f"agent-{rng.getrandbits(32):08x}.jsonl"
        )
    written = 0
    prompts = 0
    parent: str | None = None

    def new_process() -> dict[str, Any]:
        process = {"start": int(clock.now * 1000), "models": {}, "total": 0.0}
        processes.append(process)
        return process

    process = new_process()
    while written < budget or prompts == 0:
        prompts += 1
        if prompts > 1 and rng.random() < 0.08:
            clock.now += rng.uniform(3600, 30000)  # the session is resumed later
            process = new_process()
        ts = clock.tick()
        prompt = text.take(rng.randint(20, 400))
        for operation in ("enqueue", "dequeue"):
            out.line(
                main,
                {
                    "type": "queue-operation",
                    "operation": operation,
                    "timestamp": _iso(ts),
                    "sessionId": sid,
                    **({"content": prompt} if operation == "enqueue" else {}),
                },
            )
        uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        out.line(
            main,
            {
                "parentUuid": parent,
                "isSidechain": False,
                "promptId": uid,
                "type": "user",
                "message": {"role": "user", "content": prompt},
                "uuid": uid,
                "timestamp": _iso(ts),
                "permissionMode": "default",
                **common,
            },
        )
        parent = uid
        out.line(
            main,
            {
                "parentUuid": parent,
                "isSidechain": False,
                "attachment": {"type": "date", "date": _day(ts)},
                "type": "attachment",
                "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "timestamp": _iso(ts),
                "rendered": [{"content": f"<system-reminder>{text.take(300)}</system-reminder>"}],
                **common,
            },
        )
        if rng.random() < 0.05:
            model = rng.choice(CLAUDE_MODELS)  # /model mid-session
        for step in range(rng.randint(1, 6)):
            ts = clock.tick(small=12.0)
            out.line(
                main,
                {
                    "type": "api-request",
                    "sessionId": sid,
                    "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "timestamp": _iso(ts),
                    "version": "2.1.328",
                    "params": {"model": model, "max_tokens": 32000, "tools": text.take(800)},
                },
            )
            usage = {
                "input_tokens": rng.randint(1, 4000),
                "cache_creation_input_tokens": rng.choice((0, rng.randint(100, 20000))),
                "cache_read_input_tokens": rng.randint(0, 150_000),
                "output_tokens": rng.randint(1, 3000),
            }
            message_id = f"msg_{rng.getrandbits(96):024x}"
            request_id = f"req_{rng.getrandbits(96):024x}"
            blocks: list[dict[str, Any]] = []
            if rng.random() < 0.4:
                blocks.append({"type": "thinking", "thinking": text.take(rng.randint(50, 3000))})
            blocks.append({"type": "text", "text": text.take(rng.randint(10, 1200))})
            tool_id = None
            last_step = step == 5 or rng.random() < 0.3
            if not last_step:
                tool_id = f"toolu_{rng.getrandbits(80):020x}"
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": tool_id,
                        "name": rng.choice(("Bash", "Read", "Edit", "Grep")),
                        "input": {"command": text.take(60)},
                    }
                )
            usage_line = {
                **usage,
                "output_tokens_details": {"thinking_tokens": 0},
                "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
                "service_tier": "standard",
                "cache_creation": {
                    "ephemeral_1h_input_tokens": 0,
                    "ephemeral_5m_input_tokens": usage["cache_creation_input_tokens"],
                },
            }
            for block in blocks:  # one line per content block, usage repeated on each
                uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                out.line(
                    main,
                    {
                        "parentUuid": parent,
                        "isSidechain": False,
                        "message": {
                            "id": message_id,
                            "type": "message",
                            "role": "assistant",
                            "model": model,
                            "content": [block],
                            "stop_reason": "tool_use" if tool_id else "end_turn",
                            "stop_sequence": None,
                            "usage": usage_line,
                        },
                        "requestId": request_id,
                        "type": "assistant",
                        "uuid": uid,
                        "timestamp": _iso(ts),
                        **common,
                    },
                )
                parent = uid
            out.usage(ts, model, usage)
            _count(process, model, usage)
            if tool_id is None:
                break
            ts = clock.tick(small=20.0)
            result = _tool_output(rng, text, big_line_bytes)
            uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            out.line(
                main,
                {
                    "parentUuid": parent,
                    "isSidechain": False,
                    "promptId": uid,
                    "type": "user",
                    "message": {
                        "role": "user",
                        "content": [
                            {
                                "tool_use_id": tool_id,
                                "type": "tool_result",
                                "content": result,
                                "is_error": False,
                            }
                        ],
                    },
                    "uuid": uid,
                    "timestamp": _iso(ts),
                    "toolUseResult": {"stdout": result, "stderr": "", "interrupted": False},
                    **common,
                },
            )
            parent = uid
            if side is not None and rng.random() < 0.3:
                _claude_subagent(rng, text, out, side, clock, sid, cwd, process)
        out.line(main, {"type": "last-prompt", "lastPrompt": prompt[:200], "sessionId": sid})
        out.line(
            main,
            {
                "type": "cost-state",
                "sessionId": sid,
                "totalCostUSD": round(process["total"], 10),
                "startTime": process["start"],
                "modelUsage": {
                    name: {
                        "inputTokens": f["input"],
                        "outputTokens": f["output"],
                        "cacheReadInputTokens": f["cache_read"],
                        "cacheCreationInputTokens": f["cache_write"],
                        "costUSD": round(f["cost"], 10),
                    }
                    for name, f in process["models"].items()
                },
                "hasUnknownModelCost": False,
            },
        )
        written = sum(len(c) for chunks in out.chunks.values() for c in chunks)
    truth.agent_cost_usd = round(sum(round(p["total"], 10) for p in processes), 10)
    truth.first_ts, truth.last_ts = clock.first, clock.now
    out.flush()
    return truth


def _count(process: dict[str, Any], model: str, usage: dict[str, int]) -> None:
    prices = _CLAUDE_PRICES[model]
    figures = process["models"].setdefault(
        model, {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0, "cost": 0.0}
    )
    figures["input"] += usage["input_tokens"]
    figures["cache_write"] += usage["cache_creation_input_tokens"]
    figures["cache_read"] += usage["cache_read_input_tokens"]
    figures["output"] += usage["output_tokens"]
    cost = (
        usage["input_tokens"] * prices[0]
        + usage["cache_creation_input_tokens"] * prices[1]
        + usage["cache_read_input_tokens"] * prices[2]
        + usage["output_tokens"] * prices[3]
    ) / 1_000_000
    figures["cost"] += cost
    process["total"] += cost


def _claude_subagent(
    rng: random.Random,
    text: _Text,
    out: _Writer,
    side: Path,
    clock: _Clock,
    sid: str,
    cwd: str,
    process: dict[str, Any],
) -> None:
    model = "claude-haiku-4-5"
    for _ in range(rng.randint(1, 3)):
        ts = clock.tick()
        usage = {
            "input_tokens": rng.randint(1, 2000),
            "cache_creation_input_tokens": rng.randint(0, 5000),
            "cache_read_input_tokens": rng.randint(0, 40000),
            "output_tokens": rng.randint(1, 800),
        }
        message_id = f"msg_{rng.getrandbits(96):024x}"
        for block in (
            {"type": "text", "text": text.take(200)},
            {"type": "tool_use", "id": f"toolu_{rng.getrandbits(80):020x}", "name": "Grep"},
        ):
            out.line(
                side,
                {
                    "isSidechain": True,
                    "message": {
                        "id": message_id,
                        "role": "assistant",
                        "model": model,
                        "content": [block],
                        "usage": usage,
                    },
                    "requestId": f"req_{message_id[4:]}",
                    "type": "assistant",
                    "timestamp": _iso(ts),
                    "cwd": cwd,
                    "sessionId": sid,
                    "version": "2.1.328",
                },
            )
        out.usage(ts, model, usage)
        _count(process, model, usage)


# ---- Codex -----------------------------------------------------------------------------


def _codex_session(
    rng: random.Random,
    text: _Text,
    root: Path,
    cwd: str,
    start: float,
    budget: int,
    big_line_bytes: int,
) -> SessionTruth:
    sid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    stamp = datetime.fromtimestamp(start, tz=UTC)
    folder = root / "sessions" / stamp.strftime("%Y/%m/%d")
    main = folder / f"rollout-{stamp.strftime('%Y-%m-%dT%H-%M-%S')}-{sid}.jsonl"
    truth = SessionTruth("codex", sid, str(main), [], cwd, start, start, 0)
    out = _Writer(truth)
    clock = _Clock(rng, start)
    model = rng.choice(CODEX_MODELS)
    out.line(
        main,
        {
            "timestamp": _iso(start),
            "type": "session_meta",
            "payload": {
                "session_id": sid,
                "id": sid,
                "timestamp": _iso(start),
                "cwd": cwd,
                "originator": "codex_cli_rs",
                "cli_version": "0.169.0",
                "source": "cli",
                "model_provider": "openai",
                "base_instructions": {
                    "text": text.take(rng.randint(4000, 20000)),
                    "provenance": {"type": "model", "model": model},
                },
                "git": {"commit_hash": f"{rng.getrandbits(160):040x}", "branch": "main"},
            },
        },
    )
    total = [0, 0, 0, 0, 0]  # input incl. cached, cached, cache write, output, reasoning
    written = 0
    turns = 0
    while written < budget or turns == 0:
        turns += 1
        if turns > 1 and rng.random() < 0.08:
            clock.now += rng.uniform(3600, 30000)  # ``codex resume`` appends to the rollout
        if rng.random() < 0.08:
            model = rng.choice(CODEX_MODELS)
        turn_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        ts = clock.tick()
        out.line(
            main,
            {
                "timestamp": _iso(ts),
                "type": "event_msg",
                "payload": {"type": "task_started", "turn_id": turn_id},
            },
        )
        out.line(
            main,
            {
                "timestamp": _iso(ts),
                "type": "turn_context",
                "payload": {"turn_id": turn_id, "cwd": cwd, "model": model, "effort": "medium"},
            },
        )
        prompt = text.take(rng.randint(20, 400))
        out.line(
            main,
            {
                "timestamp": _iso(ts),
                "type": "response_item",
                "payload": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": prompt}],
                },
            },
        )
        out.line(
            main,
            {
                "timestamp": _iso(ts),
                "type": "event_msg",
                "payload": {"type": "user_message", "message": prompt},
            },
        )
        for step in range(rng.randint(1, 6)):
            ts = clock.tick(small=12.0)
            raw_input = rng.randint(1000, 160_000)
            cached = rng.randint(0, raw_input)
            output = rng.randint(1, 3000)
            reasoning = rng.randint(0, output)
            last = [raw_input, cached, 0, output, reasoning]
            total = [a + b for a, b in zip(total, last, strict=True)]
            call_id = f"call_{rng.getrandbits(64):016x}"
            final = step == 5 or rng.random() < 0.3
            if not final:
                out.line(
                    main,
                    {
                        "timestamp": _iso(ts),
                        "type": "response_item",
                        "payload": {
                            "type": "function_call",
                            "name": "exec_command",
                            "arguments": json.dumps({"cmd": text.take(40)}),
                            "call_id": call_id,
                        },
                    },
                )
            usage = _codex_usage(last)
            out.line(
                main,
                {
                    "timestamp": _iso(ts),
                    "type": "token_usage_record",
                    "payload": {"session_id": sid, "turn_id": turn_id, "usage": usage},
                },
            )
            count = {
                "timestamp": _iso(ts),
                "type": "event_msg",
                "payload": {
                    "type": "token_count",
                    "info": {
                        "total_token_usage": _codex_usage(total),
                        "last_token_usage": usage,
                        "model_context_window": 258400,
                    },
                    "rate_limits": {"primary": {"used_percent": rng.uniform(0, 100)}},
                },
            }
            out.line(main, count)
            out.usage(
                ts,
                model,
                {
                    "input_tokens": raw_input - cached,
                    "cache_read_input_tokens": cached,
                    "output_tokens": output,
                    "reasoning_output_tokens": reasoning,
                },
            )
            if rng.random() < 0.1:
                out.line(main, count)  # Codex repeats a cumulative report: adds nothing
            if final:
                message = text.take(rng.randint(10, 1500))
                out.line(
                    main,
                    {
                        "timestamp": _iso(ts),
                        "type": "response_item",
                        "payload": {
                            "type": "message",
                            "role": "assistant",
                            "content": [{"type": "output_text", "text": message}],
                        },
                    },
                )
                out.line(
                    main,
                    {
                        "timestamp": _iso(ts),
                        "type": "event_msg",
                        "payload": {
                            "type": "task_complete",
                            "turn_id": turn_id,
                            "last_agent_message": message,
                        },
                    },
                )
                break
            ts = clock.tick(small=20.0)
            output_text = _tool_output(rng, text, big_line_bytes)
            out.line(
                main,
                {
                    "timestamp": _iso(ts),
                    "type": "event_msg",
                    "payload": {
                        "type": "item_completed",
                        "turn_id": turn_id,
                        "item": {
                            "type": "CommandExecution",
                            "id": call_id,
                            "aggregated_output": output_text,
                            "exit_code": 0,
                        },
                    },
                },
            )
            out.line(
                main,
                {
                    "timestamp": _iso(ts),
                    "type": "response_item",
                    "payload": {
                        "type": "function_call_output",
                        "call_id": call_id,
                        "output": output_text,
                    },
                },
            )
        written = sum(len(c) for chunks in out.chunks.values() for c in chunks)
    truth.first_ts, truth.last_ts = clock.first, clock.now
    out.flush()
    return truth


def _codex_usage(raw: list[int]) -> dict[str, int]:
    return {
        "input_tokens": raw[0],
        "cached_input_tokens": raw[1],
        "cache_write_input_tokens": raw[2],
        "output_tokens": raw[3],
        "reasoning_output_tokens": raw[4],
        "total_tokens": raw[0] + raw[3],
    }


# ---- the corpus ------------------------------------------------------------------------


def generate(
    root: Path,
    *,
    size_bytes: int = 20_000_000,
    seed: int = 0,
    cwds: Sequence[str] = ("/home/dev/src/acme-api",),
    mean_session_bytes: int = 100_000,
    big_line_bytes: int = 400_000,
    days: int = 30,
) -> Corpus:
    """Write about ``size_bytes`` of transcripts under ``root`` and return their truth.

    Both agents, roughly half each; session sizes are heavy-tailed around
    ``mean_session_bytes`` (a few are many times larger); ``cwds`` are assigned in turn,
    so tests can point sessions at mapped and unmapped repos. The same arguments always
    write the same bytes. The truth is also written to ``root/truth.jsonl``.
    """
    rng = random.Random(seed)
    text = _Text(random.Random(seed ^ 0x5EED))
    claude_dir = root / "claude"
    codex_dir = root / "codex"
    sessions: list[SessionTruth] = []
    written = 0
    index = 0
    while written < size_bytes:
        budget = int(
            min(max(rng.expovariate(1 / mean_session_bytes), 3_000), 25 * mean_session_bytes)
        )
        budget = min(budget, max(size_bytes - written, 3_000))
        start = (BASE_DAY + timedelta(seconds=rng.uniform(0, days * 86400))).timestamp()
        if rng.random() < 0.05:  # start late in the evening: crosses midnight (UTC)
            day = datetime.fromtimestamp(start, tz=UTC).replace(hour=23, minute=50)
            start = day.timestamp()
        cwd = cwds[index % len(cwds)]
        make = _claude_session if index % 2 == 0 else _codex_session
        truth = make(
            rng,
            text,
            claude_dir if make is _claude_session else codex_dir,
            cwd,
            start,
            budget,
            big_line_bytes,
        )
        sessions.append(truth)
        written += truth.bytes
        index += 1
    corpus = Corpus(root, claude_dir, codex_dir, sessions)
    with (root / TRUTH_FILE).open("w") as handle:  # paths relative: the corpus can move
        for session in sessions:
            row = asdict(session)
            row["path"] = str(Path(session.path).relative_to(root))
            row["side_paths"] = [str(Path(p).relative_to(root)) for p in session.side_paths]
            handle.write(json.dumps(row, separators=(",", ":")) + "\n")
    return corpus


def load(root: Path) -> Corpus:
    """A corpus written earlier by :func:`generate` (benchmarks reuse a big one)."""
    sessions = []
    for line in (root / TRUTH_FILE).read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            row["path"] = str(root / row["path"])
            row["side_paths"] = [str(root / p) for p in row["side_paths"]]
            sessions.append(SessionTruth(**row))
    return Corpus(root, root / "claude", root / "codex", sessions)


def _size(text: str) -> int:
    units = {"k": 10**3, "m": 10**6, "g": 10**9}
    text = text.strip().lower().rstrip("b")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", default="100M", help="total bytes, e.g. 50M or 2G")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cwd", action="append", help="session cwd (repeatable)")
    args = parser.parse_args(argv)
    corpus = generate(
        args.out,
        size_bytes=_size(args.size),
        seed=args.seed,
        cwds=args.cwd or ("/home/dev/src/acme-api",),
    )
    print(
        f"{len(corpus.sessions)} sessions, {corpus.bytes / 1e6:.1f} MB under {args.out} "
        f"(truth in {args.out / TRUTH_FILE})"
    )


if __name__ == "__main__":
    main()
