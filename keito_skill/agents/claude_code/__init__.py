"""Claude Code (npm ``@anthropic-ai/claude-code``): the adapter.

Files (:mod:`.paths`): ``$CLAUDE_CONFIG_DIR`` or ``~/.claude``, transcripts in
``projects/<slug>/<session-id>.jsonl`` with subagents beside them. Reading:
:mod:`.transcript`. Hooks and skill: :mod:`.install` (``settings.json``, no trust step).
Doctor: :mod:`.doctor` (the keito plugin's layout included).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from keito_skill.agents.claude_code import paths

TYPE_CHECKING = False  # mypy takes it for typing's; importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from typing import Any, Final

    from keito_skill.agents._protocol import Adapter, Parser
    from keito_skill.agents._records import AgentChange, Check, InstallContext
    from keito_skill.transcripts._state import ParseState

__all__ = ["ADAPTER", "AGENT", "ClaudeCode"]

AGENT: Final = "claude-code"


class ClaudeCode:
    """The Claude Code adapter (see :class:`keito_skill.agents.Adapter`)."""

    name: str = AGENT
    label: str = "Claude Code"
    dir_option: str = "claude-dir"
    dir_help: str = "Claude Code config dir (default: CLAUDE_CONFIG_DIR or ~/.claude). Repeatable."
    bin_option: str | None = None
    env_vars: tuple[str, ...] = (paths.ENV,)
    session_env: tuple[str, ...] = ("CLAUDE_CODE_SESSION_ID",)

    def roots(self, env: Mapping[str, str] | None = None) -> list[Path]:
        return paths.config_dirs(env)

    def home(self, env: Mapping[str, str] | None = None) -> Path:
        return paths.config_dir(env)

    def transcript_files(
        self, roots: list[Path] | None = None
    ) -> Iterator[tuple[Path, list[Path]]]:
        from keito_skill.agents.claude_code import transcript

        return transcript.transcript_files(roots)

    def watch_dirs(self, root: Path) -> list[Path]:
        return [paths.projects_dir(root)]

    def locate(self, path: Path, watched: Path) -> Path | None:
        """A session file (``<slug>/<session>.jsonl``), a 2.0.x ``<slug>/agent-x.jsonl``
        naming its session in its lines, or ``<slug>/<session>/subagents/x.jsonl``."""
        parts = path.relative_to(watched).parts
        if len(parts) == 2:
            return self.main_file(path)
        if len(parts) == 4 and parts[2] == "subagents":
            return watched / parts[0] / f"{parts[1]}.jsonl"
        return None

    def main_file(self, path: Path) -> Path:
        from keito_skill.agents.claude_code import transcript

        return transcript.parent_file(path) or path

    def side_files(self, main: Path) -> list[Path]:
        from keito_skill.agents.claude_code import transcript

        return transcript.side_files(main)

    def session_id_for(self, path: Path) -> str:
        return path.stem  # Claude Code names the file after the session

    def looks_like(self, obj: dict[str, Any]) -> bool:
        from keito_skill.agents.claude_code import transcript

        return transcript.looks_like(obj)

    def owns_name(self, path: Path) -> bool:
        return False

    def parser(self, state: ParseState) -> Parser:
        from keito_skill.agents.claude_code import transcript

        return transcript.ClaudeCodeParser(state)

    def begin_read(self, state: ParseState, path: Path) -> None:
        return None

    def end_read(self, state: ParseState, path: Path) -> None:
        return None

    def agent_cost(self, states: list[ParseState]) -> dict[str, float] | None:
        from keito_skill.agents.claude_code import transcript

        return transcript.agent_cost(states)

    def hook_deadline(self, event: str) -> float | None:
        return None

    def install(self, ctx: InstallContext) -> AgentChange:
        from keito_skill.agents.claude_code import install

        return install.install(ctx.bin_path)

    def after_install(self, ctx: InstallContext) -> bool | None:
        return True  # Claude Code runs user hooks without a trust step

    def uninstall(self, ctx: InstallContext) -> AgentChange:
        from keito_skill.agents.claude_code import install

        return install.uninstall()

    def hook_files(self) -> list[Path]:
        # The official Keito installer always writes to ~/.claude, whatever the environment.
        return [paths.settings_path(), Path.home() / ".claude" / "settings.json"]

    def doctor(self, agent_bin: str | None = None) -> list[Check]:
        from keito_skill.agents.claude_code import doctor

        return [doctor.check()]


ADAPTER: Final[Adapter] = ClaudeCode()
