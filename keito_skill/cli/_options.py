"""Options several commands share, defined once so they read and behave the same."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def transcript_dirs(command: F) -> F:
    """``--claude-dir`` / ``--codex-dir``: where to look instead of the agents' defaults."""
    command = click.option(
        "--codex-dir",
        "codex_dirs",
        multiple=True,
        type=click.Path(path_type=Path),
        help="Codex home (default: CODEX_HOME or ~/.codex). Repeatable.",
    )(command)
    return click.option(
        "--claude-dir",
        "claude_dirs",
        multiple=True,
        type=click.Path(path_type=Path),
        help="Claude Code config dir (default: CLAUDE_CONFIG_DIR or ~/.claude). Repeatable.",
    )(command)
