"""Gemini CLI (npm ``@google/gemini-cli``, checked on 0.61.0): finding and reading its sessions.

Not wired in yet: nothing outside this package imports it. What the adapter (issue 18's
registry) needs, all verified against the real binary run headless against a stub model
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

Hooks (install, idempotent, with a backup of settings.json)
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

Reading (:mod:`.transcript`, :mod:`.telemetry`)
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
      no file — except the local telemetry outfile, when the user turned it on
      (:func:`.paths.telemetry_outfile`). :func:`.telemetry.parse_telemetry` reads one
      session's unrecorded roles from it, as a side state of the session (chat + telemetry
      = every request, tested to the token). Its records reach the file only in 5-second
      batches and at process exit: **not yet there when AfterAgent and SessionEnd run**,
      so the adapter must read it again later (the background sync, watch or backfill).
      Without telemetry, ``parse`` must say :data:`.transcript.UNRECORDED_USAGE`, and the
      README too. The CLI's ``--output-format json`` stats do count every request, but only
      on stdout of a headless run, per process: no file holds them.
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
