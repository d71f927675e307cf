"""Fixture paths and ground truth read from the recorded ``usage-truth.jsonl`` files.

The truth is computed here from what the stub model API served, never typed in by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

# The truth's names: one list for the recorded fixtures and the generated corpora.
from bench.corpus import TOKEN_KEYS as TOKEN_KEYS

FIXTURES = Path(__file__).parent / "fixtures"
CLAUDE_DIR = FIXTURES / "claude-code-2.1.328"
CODEX_DIR = FIXTURES / "codex-0.169.0"
CLAUDE_TRANSCRIPT = CLAUDE_DIR / "session-tooluse-resumed.jsonl"
CODEX_TRANSCRIPT = CODEX_DIR / "rollout-tooluse-resumed.jsonl"


def _served(folder: Path) -> list[dict[str, object]]:
    lines = (folder / "usage-truth.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def truth(folder: Path) -> dict[str, dict[str, int]]:
    """Per model, the token counts the stub served, in our (Anthropic) meaning of input."""
    result: dict[str, dict[str, int]] = {}
    for row in _served(folder):
        slot = result.setdefault(str(row["model"]), dict.fromkeys(TOKEN_KEYS, 0))
        if row["api"] == "anthropic":
            slot["input_tokens"] += int(row["input"])  # type: ignore[call-overload]
            slot["cache_creation_input_tokens"] += int(row["cache_write"])  # type: ignore[call-overload]
            slot["cache_read_input_tokens"] += int(row["cache_read"])  # type: ignore[call-overload]
            slot["output_tokens"] += int(row["output"])  # type: ignore[call-overload]
        else:
            cached = int(row["cached"])  # type: ignore[call-overload]
            slot["input_tokens"] += int(row["input"]) - cached  # type: ignore[call-overload]
            slot["cache_read_input_tokens"] += cached
            slot["output_tokens"] += int(row["output"])  # type: ignore[call-overload]
            slot["reasoning_output_tokens"] += int(row["reasoning"])  # type: ignore[call-overload]
    return result


def served_responses(folder: Path) -> int:
    return len(_served(folder))
