"""Gemini CLI fixture paths and ground truth, computed from the recorded ``usage-truth.jsonl``.

Never typed in by hand: the truth is what the stub model API served, mapped to our token
vector (input = prompt - cached + tool-use prompt; output = candidates + thoughts).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from keito_skill.transcripts._state import TOKEN_FIELDS

GEMINI_DIR = Path(__file__).parent / "fixtures" / "gemini-cli-0.61.0"
SIMPLE = GEMINI_DIR / "session-simple.jsonl"
TOOLUSE = GEMINI_DIR / "session-tooluse-resumed.jsonl"
TOOLUSE_START = GEMINI_DIR / "session-tooluse-resumed-start.jsonl"
TELEMETRY = GEMINI_DIR / "telemetry.log"


def served() -> list[dict[str, Any]]:
    text = (GEMINI_DIR / "usage-truth.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def session_of(path: Path) -> str:
    return str(json.loads(path.read_text().splitlines()[0])["sessionId"])


def gemini_truth(session_id: str, roles: set[str] | None = None) -> dict[str, dict[str, int]]:
    """Per model, in our meaning of the fields, what the stub served to one session."""
    out: dict[str, dict[str, int]] = {}
    for row in served():
        if row["session_id"] != session_id or (roles is not None and row["role"] not in roles):
            continue
        slot = out.setdefault(row["model"], dict.fromkeys(TOKEN_FIELDS, 0))
        slot["input_tokens"] += row["input"] + row["tool_use_prompt"]
        slot["cache_read_input_tokens"] += row["cache_read"]
        slot["output_tokens"] += row["output"] + row["reasoning"]
        slot["reasoning_output_tokens"] += row["reasoning"]
    return out
