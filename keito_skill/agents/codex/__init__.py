"""OpenAI Codex CLI (npm ``@openai/codex``): the adapter.

Files (:mod:`.paths`): ``$CODEX_HOME`` or ``~/.codex``, rollouts in
``sessions/YYYY/MM/DD/rollout-*.jsonl`` and ``archived_sessions/``. Reading:
:mod:`.transcript`. Hooks and skill: :mod:`.install` (``hooks.json``); Codex runs a hook
only once trusted, recorded in ``config.toml`` by :mod:`.trust`. Doctor: :mod:`.doctor`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from keito_skill.agents.codex import paths

TYPE_CHECKING = False  # mypy takes it for typing's; importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from typing import Any, Final

    from keito_skill.agents._protocol import Adapter, Parser
    from keito_skill.agents._records import AgentChange, Check, InstallContext
    from keito_skill.transcripts._state import ParseState

__all__ = ["ADAPTER", "AGENT", "END_DEADLINE", "Codex"]

AGENT: Final = "codex"
#: Codex gives a SessionEnd hook about a second: the hook's whole budget there.
END_DEADLINE: Final = 0.8
_UUID_TAIL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _file_session_id(path: Path) -> str | None:
    """The id a rollout's file name ends with (``rollout-<time>-<uuid>.jsonl``)."""
    match = _UUID_TAIL.search(path.stem)
    return match.group(0) if match else None


class Codex:
    """The Codex adapter (see :class:`keito_skill.agents.Adapter`)."""

    name: str = AGENT
    label: str = "Codex"
    dir_option: str = "codex-dir"
    dir_help: str = "Codex home (default: CODEX_HOME or ~/.codex). Repeatable."
    bin_option: str | None = "codex-bin"
    env_vars: tuple[str, ...] = (paths.ENV,)
    session_env: tuple[str, ...] = ("CODEX_SESSION_ID", "CODEX_THREAD_ID")

    def roots(self, env: Mapping[str, str] | None = None) -> list[Path]:
        return [paths.codex_home(env)]

    def home(self, env: Mapping[str, str] | None = None) -> Path:
        return paths.codex_home(env)

    def transcript_files(
        self, roots: list[Path] | None = None
    ) -> Iterator[tuple[Path, list[Path]]]:
        from keito_skill.agents.codex import transcript

        return transcript.transcript_files(roots)

    def watch_dirs(self, root: Path) -> list[Path]:
        return paths.session_dirs(root)

    def locate(self, path: Path, watched: Path) -> Path | None:
        return path if path.name.startswith("rollout-") else None

    def main_file(self, path: Path) -> Path:
        return path

    def side_files(self, main: Path) -> list[Path]:
        return []

    def session_id_for(self, path: Path) -> str:
        """The id in the rollout's first ``session_meta`` line, else the one its file name
        ends with, else the file's stem."""
        from keito_skill.agents.codex import transcript

        return transcript.session_id(path) or _file_session_id(path) or path.stem

    def looks_like(self, obj: dict[str, Any]) -> bool:
        from keito_skill.agents.codex import transcript

        return transcript.looks_like(obj)

    def owns_name(self, path: Path) -> bool:
        return path.name.startswith("rollout-")

    def parser(self, state: ParseState) -> Parser:
        from keito_skill.agents.codex import transcript

        return transcript.CodexParser(state)

    def begin_read(self, state: ParseState, path: Path) -> None:
        if "lineage" not in state.extra:  # until a session_meta names one
            state.extra["lineage"] = _file_session_id(path) or path.stem

    def end_read(self, state: ParseState, path: Path) -> None:
        if state.session_id is None:  # no session_meta (older Codex): the file name's id
            state.session_id = _file_session_id(path)

    def agent_cost(self, states: list[ParseState]) -> dict[str, float] | None:
        return None

    def hook_deadline(self, event: str) -> float | None:
        return END_DEADLINE if event == "session-end" else None

    def install(self, ctx: InstallContext) -> AgentChange:
        from keito_skill.agents.codex import install

        return install.install(ctx.bin_path)

    def after_install(self, ctx: InstallContext) -> bool | None:
        from keito_skill.agents.codex import install

        return install.finish(ctx)

    def uninstall(self, ctx: InstallContext) -> AgentChange:
        from keito_skill.agents.codex import install

        return install.uninstall(codex_bin=install.find_codex(ctx.agent_bin))

    def hook_files(self) -> list[Path]:
        # The official Keito installer always writes to ~/.codex, whatever the environment.
        return [paths.hooks_path(), Path.home() / ".codex" / "hooks.json"]

    def doctor(self, agent_bin: str | None = None) -> list[Check]:
        from keito_skill.agents.codex import doctor

        return doctor.checks(agent_bin)


ADAPTER: Final[Adapter] = Codex()
