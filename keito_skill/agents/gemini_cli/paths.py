"""Where Gemini CLI keeps its files: one resolver for parse, backfill, watch, install, doctor.

Checked against Gemini CLI 0.61.0:

* Its directory is ``<home>/.gemini``, where ``<home>`` is ``$GEMINI_CLI_HOME`` when set
  (it replaces the home directory, so the files are in ``$GEMINI_CLI_HOME/.gemini``), else
  the user's home. Inside macOS's ``sandbox-exec`` (``SANDBOX=sandbox-exec``) the runtime
  files (``tmp/``, ``projects.json``) move to ``<home>/.cache/.gemini``.
* Settings (auth, hooks, telemetry): ``<gemini dir>/settings.json`` (JSON with comments);
  a project may add ``<project>/.gemini/settings.json``.
* Each project gets a short name (its directory's basename, ``-1``, ``-2``... on a clash),
  recorded in ``<gemini dir>/projects.json`` and in ``tmp/<name>/.project_root`` (the
  project's absolute path).
* Chat files: ``tmp/<name>/chats/session-<YYYY-MM-DDTHH-MM>-<first 8 of session id>.jsonl``
  (older versions wrote whole ``.json`` files; resuming one converts it to ``.jsonl``
  holding every old message again, so only ``.jsonl`` is read). Subagents write
  ``tmp/<name>/chats/<parent session id>/<agent id>.jsonl``. A file the CLI could not read
  back is kept as ``*.jsonl.unreadable-<ms>`` and never read here.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from keito_skill._safeio import open_regular

TYPE_CHECKING = False  # mypy takes it for typing's; importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "chat_dirs",
    "chat_files",
    "gemini_dir",
    "main_file",
    "project_hash",
    "project_root",
    "runtime_dirs",
    "session_id",
    "settings_path",
    "side_files",
    "strip_comments",
    "telemetry_outfile",
]

HOME_ENV = "GEMINI_CLI_HOME"
_HEAD_BYTES = 4096
_SESSION_ID = re.compile(rb'^\{"sessionId":"([^"\\]+)"')
# Comments as strip-json-comments removes them: outside strings only.
_JSONC = re.compile(r'("(?:[^"\\]|\\.)*")|//[^\n]*|/\*.*?\*/', re.DOTALL)


def _home(env: Mapping[str, str] | None = None) -> Path:
    configured = (os.environ if env is None else env).get(HOME_ENV, "").strip()
    return Path(configured).expanduser() if configured else Path.home()


def gemini_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$GEMINI_CLI_HOME/.gemini`` or ``~/.gemini``: settings, hooks, telemetry setting."""
    return _home(env) / ".gemini"


def settings_path(env: Mapping[str, str] | None = None) -> Path:
    """The user settings file the install step edits (hooks live under ``hooks``)."""
    return gemini_dir(env) / "settings.json"


def strip_comments(text: str) -> str:
    """JSON-with-comments as plain JSON (``//`` and ``/* */`` outside strings removed)."""
    return _JSONC.sub(lambda m: m.group(1) or "", text)


def runtime_dirs(env: Mapping[str, str] | None = None) -> list[Path]:
    """Directories holding ``tmp/<project>/chats``: the Gemini dir, and the one used inside
    macOS's ``sandbox-exec`` when present."""
    dirs = [gemini_dir(env)]
    sandboxed = _home(env) / ".cache" / ".gemini"
    if sandboxed.is_dir():
        dirs.append(sandboxed)
    return dirs


def chat_dirs(root: Path) -> list[Path]:
    """The ``chats`` directories under ``root``: a Gemini directory, its ``tmp``, or one
    project's ``chats`` directory."""
    if (root / "tmp").is_dir():
        return sorted((root / "tmp").glob("*/chats"))
    if root.name == "chats":
        return [root]
    return sorted(root.glob("*/chats"))


def _by_session(chats: Path) -> dict[str, list[Path]]:
    """The main-level chat files of one ``chats`` directory, grouped by session id (a
    resumed session can have two: its own, then a history-only one named for the resume's
    minute), each group in name order (the name starts with its start time)."""
    groups: dict[str, list[tuple[str, Path]]] = {}
    for path in sorted(chats.glob("session-*.jsonl")):
        sid, start = _head(path)
        groups.setdefault(sid or path.stem, []).append((start or path.name, path))
    return {sid: [p for _, p in sorted(group)] for sid, group in groups.items()}


def chat_files(roots: list[Path] | None = None) -> Iterator[tuple[Path, list[Path]]]:
    """Every session as ``(its first chat file, [its other chat files])``: the others are
    the history-only file of a resume and its subagents' files.

    ``roots`` are Gemini directories (default :func:`runtime_dirs`); a ``tmp`` directory or
    one project's ``chats`` directory is accepted too.
    """
    for root in roots if roots is not None else runtime_dirs():
        for chats in chat_dirs(root):
            for sid, group in _by_session(chats).items():
                yield group[0], [*group[1:], *_subagents(chats, sid)]


def main_file(path: Path) -> Path:
    """The session's first chat file, for any of its files (itself if it is that one)."""
    if path.parent.name != "chats":  # a subagent's: chats/<session id>/<agent>.jsonl
        chats, sid = path.parent.parent, path.parent.name
    else:
        chats, sid = path.parent, session_id(path) or path.stem
    if chats.name != "chats":
        return path
    # The CLI's names end with the id's first 8 characters: look there first.
    for candidate in sorted(chats.glob(f"session-*-{sid[:8]}.jsonl")):
        if (session_id(candidate) or candidate.stem) == sid:
            return candidate
    group = _by_session(chats).get(sid)
    return group[0] if group else path


def _subagents(chats: Path, sid: str) -> list[Path]:
    folder = chats / sid
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def session_id(path: Path) -> str | None:
    """The session id in a chat file's first line (the one hooks report), read cheaply."""
    return _head(path)[0]


def _head(path: Path) -> tuple[str | None, str | None]:
    """``(sessionId, startTime)`` of a chat file's header line, read cheaply."""
    try:
        with open_regular(path) as handle:
            head = handle.read(_HEAD_BYTES)
    except OSError:
        return None, None
    first = head.split(b"\n", 1)[0]
    try:
        obj = json.loads(first)
    except ValueError:
        match = _SESSION_ID.match(head)  # a header longer than the bytes read
        return (match.group(1).decode("utf-8", "replace") if match else None), None
    if not isinstance(obj, dict):
        return None, None
    sid, start = obj.get("sessionId"), obj.get("startTime")
    return (
        sid if isinstance(sid, str) and sid else None,
        start if isinstance(start, str) else None,
    )


def side_files(main: Path) -> list[Path]:
    """The session's other chat files: a resume's history-only file, its subagents'."""
    sid = session_id(main)
    if not sid:
        return []
    others = [p for p in _by_session(main.parent).get(sid, []) if p != main]
    return [*others, *_subagents(main.parent, sid)]


def project_root(chat: Path) -> str | None:
    """The project directory a chat file belongs to (``tmp/<name>/.project_root``)."""
    marker = chat.parent.parent / ".project_root"
    if chat.parent.name != "chats":  # a subagent's file: chats/<parent id>/<agent>.jsonl
        marker = chat.parent.parent.parent / ".project_root"
    try:
        text = marker.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def project_hash(project: str) -> str:
    """The ``projectHash`` a chat file's header carries: SHA-256 of the project path."""
    import hashlib  # ~3 ms of every listing's start, for a rare question

    return hashlib.sha256(project.encode()).hexdigest()


def _settings(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    try:
        data = json.loads(strip_comments(text))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() in {"1", "true"}


def telemetry_outfile(
    env: Mapping[str, str] | None = None, project: Path | None = None
) -> Path | None:
    """The local telemetry file Gemini CLI writes every request's usage to, if it does.

    As Gemini CLI decides it: ``GEMINI_TELEMETRY_ENABLED`` / ``telemetry.enabled`` must be
    on, ``GEMINI_TELEMETRY_OUTFILE`` / ``telemetry.outfile`` set (it then wins over an OTLP
    endpoint), and the target not ``gcp`` without a collector (that exports to Google
    directly). Project settings override user settings; the environment overrides both
    (a hook sees the agent's environment, so pass it when known).
    """
    environ = os.environ if env is None else env
    telemetry: dict[str, Any] = {}
    sources = [settings_path()]
    if project is not None:
        sources.append(project / ".gemini" / "settings.json")
    for source in sources:
        section = _settings(source).get("telemetry")
        if isinstance(section, dict):
            telemetry.update(section)
    enabled = _flag(environ.get("GEMINI_TELEMETRY_ENABLED"))
    if enabled is None:
        enabled = telemetry.get("enabled") is True
    outfile = environ.get("GEMINI_TELEMETRY_OUTFILE") or telemetry.get("outfile")
    target = environ.get("GEMINI_TELEMETRY_TARGET") or telemetry.get("target")
    collector = _flag(environ.get("GEMINI_TELEMETRY_USE_COLLECTOR"))
    if collector is None:
        collector = telemetry.get("useCollector") is True
    if not enabled or not isinstance(outfile, str) or not outfile:
        return None
    if target == "gcp" and not collector:
        return None
    found = Path(outfile).expanduser()
    if not found.is_absolute() and project is not None:
        found = project / found  # Gemini CLI opens it from the session's directory
    return found
