"""Gemini CLI (npm ``@google/gemini-cli``, checked on 0.61.0): the adapter.

Registered in :data:`keito_skill.agents.ADAPTERS` like the others; what it knows, all
verified against the real binary run headless against a stub model
(``tests/e2e/gemini_agent.py``, ``tests/e2e/test_gemini_cli.py``):

Identity
    ``AGENT = "gemini-cli"``; display name "Gemini CLI"; binary ``gemini`` (version from
    ``gemini --version``: the chat file and hook payloads carry none).

Paths (:mod:`.paths`, one resolver for parse, backfill, watch, install and doctor)
    * ``GEMINI_CLI_HOME`` replaces the *home* directory: everything lives in
      ``${GEMINI_CLI_HOME:-~}/.gemini`` (:func:`.paths.gemini_dir`).
    * User settings, hooks included: ``<gemini dir>/settings.json`` (JSON with comments);
      project settings: ``<project>/.gemini/settings.json``; system:
      ``/etc/gemini-cli/settings.json`` or ``GEMINI_CLI_SYSTEM_SETTINGS_PATH``.
    * Chat files: ``<gemini dir>/tmp/<project name>/chats/session-<YYYY-MM-DDTHH-MM>-<id8>.jsonl``;
      subagents: ``chats/<session id>/<agent id>.jsonl`` (side files,
      :func:`.paths.side_files`); the project's path: ``tmp/<name>/.project_root``.
      Watch: ``<gemini dir>/tmp`` recursively, ``*.jsonl``.
    * A resumed session can have **two main files**: the resumed process first writes a
      history-only ``session-<now>-<id8>.jsonl`` (header + restated history, no usage), then
      appends the conversation to the original file; in the same minute both are the same
      file (it then has two headers). Group files by the header's ``sessionId``
      (:func:`.paths.session_id`), never by file name.
    * Headless runs refuse an untrusted folder (exit 55) unless
      ``GEMINI_CLI_TRUST_WORKSPACE=true``, ``--skip-trust`` or ``trustedFolders.json``.

Hooks (:mod:`.install`, idempotent, with a backup of settings.json; :mod:`.doctor`)
    * On by default (``hooksConfig.enabled``; ``hooksConfig.disabled`` lists names to
      skip). User-level hooks need no trust; project-level hooks are trusted on first sight
      with a warning (``<gemini dir>/trusted_hooks.json``).
    * Shape, same as Claude Code's, but ``timeout`` is in **milliseconds** (default 60000)::

        {"hooks": {"SessionStart": [{"hooks": [{"type": "command", "command": "...",
                                                "timeout": 5000}]}],
                   "AfterAgent":   [...], "SessionEnd": [...]}}

      Optional per hook: ``name`` (what ``hooksConfig.disabled`` names), ``env``;
      per group: ``matcher`` (tool events only), ``sequential``.
    * Events to hook: ``SessionStart`` (``source``: ``startup`` | ``resume``),
      ``AfterAgent`` (after every prompt's answer, like Claude Code's ``Stop``: ``prompt``,
      ``prompt_response``, ``stop_hook_active``) and ``SessionEnd`` (``reason``: ``exit``).
      Others exist: ``BeforeAgent``, ``BeforeTool``, ``AfterTool``, ``BeforeModel``,
      ``BeforeToolSelection``, ``PreCompress``, ``Notification``, and ``AfterModel`` (per
      streamed chunk of chat requests, never for utility calls).
    * Every payload (JSON on stdin): ``session_id``, ``transcript_path``, ``cwd``,
      ``hook_event_name``, ``timestamp``. ``transcript_path`` of AfterAgent/SessionEnd is
      the conversation's file; of a resumed SessionStart it may be the history-only file
      above. The hook runs in ``cwd`` with ``GEMINI_SESSION_ID``, ``GEMINI_PROJECT_DIR``,
      ``GEMINI_CWD``, ``GEMINI_PLANS_DIR`` and ``CLAUDE_PROJECT_DIR`` added to the agent's
      whole environment (``GEMINI_API_KEY`` included: never log the environment). Its
      stdout is read as a JSON decision: print nothing; exit 0.

Reading (:mod:`.transcript`, :mod:`.telemetry`, :mod:`.session`, :mod:`.late`)
    * :func:`.transcript.parse_file` / :class:`.transcript.GeminiCliParser` fill the
      project's :class:`~keito_skill.transcripts._state.ParseState` (``feed`` / ``quick`` /
      ``quick_min`` like the other parsers, so the registry's generic ``parse_file`` can
      drive it; the local ``parse_file`` adds a first-line check, since the CLI rewrites
      an unreadable file from memory). :func:`.transcript.looks_like` recognises a header.
    * Token vector: input = prompt - cached + tool-use prompt; cache read = cached;
      output = candidates + thoughts (Google bills thinking as output; its
      ``candidatesTokenCount`` excludes it); reasoning = thoughts, shown, not added again.
    * **Usage completeness.** The chat files hold the main conversation (and subagents)
      only. The routing request before every prompt (``utility_router``, another model)
      and any other utility call (``utility_next_speaker``, ``utility_loop_detector``,
      ``utility_compressor``, ``utility_summarizer``, ``utility_edit_corrector``...) are in
      no file — except the local telemetry outfile (which install turns on when the user
      has no telemetry of their own)
      (:func:`.paths.telemetry_outfile`). :func:`.telemetry.parse_telemetry` reads one
      session's unrecorded roles from it, as a side state of the session (chat + telemetry
      = every request, tested to the token). Its records reach the file only in 5-second
      batches and at process exit: **not yet there when AfterAgent and SessionEnd run**,
      so the adapter reads it again later: :mod:`.late`, started by the hook, waits for
      them; any later read (hook, watch, backfill) also bills what arrived, keyed once.
      Without telemetry, ``parse`` says :data:`.transcript.UNRECORDED_USAGE` (the summary's
      ``usage_incomplete``), and so does the README. The CLI's ``--output-format json``
      stats do count every request, but only on stdout of a headless run, per process:
      no file holds them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from keito_skill.agents.gemini_cli import paths

TYPE_CHECKING = False  # mypy takes it for typing's; importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from typing import Any, Final

    from keito_skill.agents._protocol import Adapter, Parser
    from keito_skill.agents._records import AgentChange, Check, InstallContext
    from keito_skill.transcripts._state import ParseState

__all__ = ["ADAPTER", "AGENT", "GeminiCli"]

AGENT: Final = "gemini-cli"


class GeminiCli:
    """The Gemini CLI adapter (see :class:`keito_skill.agents.Adapter`)."""

    name: str = AGENT
    label: str = "Gemini CLI"
    dir_option: str = "gemini-dir"
    dir_help: str = "Gemini CLI dir (default: $GEMINI_CLI_HOME/.gemini or ~/.gemini). Repeatable."
    bin_option: str | None = None
    env_vars: tuple[str, ...] = (paths.HOME_ENV,)
    session_env: tuple[str, ...] = ("GEMINI_SESSION_ID",)

    def roots(self, env: Mapping[str, str] | None = None) -> list[Path]:
        return paths.runtime_dirs(env)

    def home(self, env: Mapping[str, str] | None = None) -> Path:
        return paths.gemini_dir(env)

    def present(self) -> bool:
        """Whether Gemini CLI is on this machine (``install --agent all`` skips it if not)."""
        import shutil

        return shutil.which("gemini") is not None

    def transcript_files(
        self, roots: list[Path] | None = None
    ) -> Iterator[tuple[Path, list[Path]]]:
        return paths.chat_files(roots)

    def watch_dirs(self, root: Path) -> list[Path]:
        if root.name in ("tmp", "chats"):
            return [root]
        return [root / "tmp"]

    def locate(self, path: Path, watched: Path) -> Path | None:
        """``<project>/chats/session-*.jsonl`` (a session's, or a resume's history-only
        file) or ``<project>/chats/<session id>/<agent>.jsonl`` (a subagent's)."""
        parts = path.relative_to(watched).parts
        if "chats" not in parts or not path.name.endswith(".jsonl"):
            return None
        at = len(parts) - 1 - list(reversed(parts)).index("chats")
        tail = parts[at + 1 :]
        if (len(tail) == 1 and tail[0].startswith("session-")) or len(tail) == 2:
            return paths.main_file(path)
        return None

    def main_file(self, path: Path) -> Path:
        return paths.main_file(path)

    def side_files(self, main: Path) -> list[Path]:
        return paths.side_files(main)

    def session_id_for(self, path: Path) -> str:
        return paths.session_id(path) or path.stem

    def looks_like(self, obj: dict[str, Any]) -> bool:
        from keito_skill.agents.gemini_cli import transcript

        return transcript.looks_like(obj)

    def owns_name(self, path: Path) -> bool:
        """``session-<time>-<id8>.jsonl``: its header also fits Claude Code's line shape."""
        return path.name.startswith("session-") and path.suffix == ".jsonl"

    def parser(self, state: ParseState) -> Parser:
        from keito_skill.agents.gemini_cli import transcript

        return transcript.GeminiCliParser(state)

    def begin_read(self, state: ParseState, path: Path) -> None:
        from keito_skill.agents.gemini_cli import transcript

        transcript.begin_read(state, path)

    def end_read(self, state: ParseState, path: Path) -> None:
        return None

    def agent_cost(self, states: list[ParseState]) -> dict[str, float] | None:
        return None

    def extra_states(
        self,
        states: list[ParseState],
        paths_read: list[Path],
        known: Mapping[str, ParseState],
        *,
        idle_seconds: int,
        deadline: float | None = None,
        skip: bool = False,
    ) -> None:
        """Add the session's share of the telemetry file (see :mod:`.session`)."""
        from keito_skill.agents.gemini_cli import session

        session.add_telemetry(
            states, paths_read, known, idle_seconds=idle_seconds, deadline=deadline, skip=skip
        )

    def hook_deadline(self, event: str) -> float | None:
        return None

    def after_hook(self, event: str, payload: dict[str, Any], row: Any) -> None:
        """Wait (detached) for the telemetry the CLI writes after this hook."""
        from keito_skill.agents.gemini_cli import late

        late.after_hook(event, payload, row)

    def install(self, ctx: InstallContext) -> AgentChange:
        from keito_skill.agents._records import AgentChange
        from keito_skill.agents.gemini_cli import install
        from keito_skill.install import bundle

        skill = bundle.install_skill(paths.gemini_dir() / "skills", agent_metadata=False)
        edit = install.install(ctx.bin_path)
        for note in edit.notes:
            ctx.say(AGENT, note)
        return AgentChange(AGENT, edit.path, edit.changed, edit.backup, skill, edit.notes)

    def after_install(self, ctx: InstallContext) -> bool | None:
        return None

    def uninstall(self, ctx: InstallContext) -> AgentChange:
        from keito_skill.agents._records import AgentChange
        from keito_skill.agents.gemini_cli import install
        from keito_skill.install import bundle

        skill = bundle.remove_skill(paths.gemini_dir() / "skills")
        edit = install.uninstall()
        return AgentChange(AGENT, edit.path, edit.changed, edit.backup, skill, edit.notes)

    def hook_files(self) -> list[Path]:
        return [paths.settings_path()]

    def doctor(self, agent_bin: str | None = None) -> list[Check]:
        from keito_skill.agents._records import Check
        from keito_skill.agents.gemini_cli import doctor

        return [Check(r.name, r.ok, r.detail, r.fix) for r in doctor.checks()]


ADAPTER: Final[Adapter] = GeminiCli()
