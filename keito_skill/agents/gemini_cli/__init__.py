"""Gemini CLI (``@google/gemini-cli``, checked on 0.61.0): reading its sessions.

Not wired in yet: nothing outside this package imports it.
"""

from keito_skill.agents.gemini_cli.paths import chat_files, gemini_dir, session_id, side_files
from keito_skill.agents.gemini_cli.telemetry import parse_telemetry
from keito_skill.agents.gemini_cli.transcript import (
    AGENT,
    UNRECORDED_USAGE,
    GeminiCliParser,
    looks_like,
    parse_file,
)

__all__ = [
    "AGENT",
    "UNRECORDED_USAGE",
    "GeminiCliParser",
    "chat_files",
    "gemini_dir",
    "looks_like",
    "parse_file",
    "parse_telemetry",
    "session_id",
    "side_files",
]
