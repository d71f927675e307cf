"""Install and run the real Gemini CLI, isolated, headless and offline.

Why: a parser is only as good as our knowledge of what the agent writes, so the Gemini CLI
tests run the pinned npm release against :class:`~.gemini_stub.GeminiStubServer` in a
throw-away HOME, exactly like ``agents.py`` does for Claude Code and Codex (kept apart so
the two can change independently; the cache and its lock are shared).

The package is installed into its own prefix inside the shared cache
(``$KEITO_E2E_CACHE/gemini-cli-0.61.0``), so installing it never re-resolves the other
agents' packages::

    bins = ensure_gemini()                            # raises AgentsUnavailable(reason)
    with GeminiStubServer(tmp / "usage-truth.jsonl") as stub:
        box = GeminiSandbox(tmp, bins, stub)
        box.write_settings(hooks={"AfterAgent": "python3 hook.py"})
        run = box.run("Review the module")            # gemini -p ... --output-format json
        box.run("Now the tests", resume=run.session_id)
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .agents import DEFAULT_CACHE, AgentsUnavailable, _install_lock
from .gemini_stub import GeminiStubServer

__all__ = [
    "GEMINI_CLI_VERSION",
    "GEMINI_HOOK_EVENTS",
    "GeminiBinary",
    "GeminiRun",
    "GeminiSandbox",
    "ensure_gemini",
    "gemini_logging_hook_command",
    "gemini_unavailable_reason",
]

GEMINI_CLI_VERSION = "0.61.0"
PACKAGE = f"@google/gemini-cli@{GEMINI_CLI_VERSION}"
#: The events keito-skill will hook, in the order one headless run fires them.
GEMINI_HOOK_EVENTS = ("SessionStart", "AfterAgent", "SessionEnd")


@dataclass(frozen=True)
class GeminiBinary:
    gemini: Path
    prefix: Path
    install_seconds: float = 0.0


def _prefix(cache: Path) -> Path:
    return cache / f"gemini-cli-{GEMINI_CLI_VERSION}"


def _resolve(prefix: Path) -> GeminiBinary | None:
    manifest = prefix / "node_modules" / "@google" / "gemini-cli" / "package.json"
    try:
        version = json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None
    binary = prefix / "node_modules" / ".bin" / "gemini"
    if version != GEMINI_CLI_VERSION or not binary.exists():
        return None
    home = prefix / "version-check-home"
    home.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "LANG": "C.UTF-8"}
    try:
        out = subprocess.run(
            [str(binary), "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0 or GEMINI_CLI_VERSION not in out.stdout:
        return None
    return GeminiBinary(gemini=binary, prefix=prefix)


_CACHED: dict[Path, GeminiBinary | AgentsUnavailable] = {}


def ensure_gemini(cache_dir: Path | None = None, timeout: float = 600) -> GeminiBinary:
    """The pinned ``gemini`` binary, installed with npm on first use (memoised)."""
    cache = Path(cache_dir or DEFAULT_CACHE).resolve()
    known = _CACHED.get(cache)
    if isinstance(known, GeminiBinary):
        return known
    if isinstance(known, AgentsUnavailable):
        raise known
    try:
        found = _ensure(cache, timeout)
    except AgentsUnavailable as exc:
        _CACHED[cache] = exc
        raise
    _CACHED[cache] = found
    return found


def _ensure(cache: Path, timeout: float) -> GeminiBinary:
    prefix = _prefix(cache)
    found = _resolve(prefix)
    if found is not None:
        return found
    npm = shutil.which("npm")
    if npm is None:
        raise AgentsUnavailable("npm is not installed: cannot install Gemini CLI")
    with _install_lock(cache):
        found = _resolve(prefix)
        if found is not None:
            return found
        prefix.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            proc = subprocess.run(
                [
                    npm,
                    "install",
                    "--prefix",
                    str(prefix),
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    "--fetch-retries=1",
                    "--fetch-retry-mintimeout=2000",
                    "--fetch-retry-maxtimeout=10000",
                    PACKAGE,
                ],
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise AgentsUnavailable(f"npm install timed out after {timeout:.0f}s") from exc
        except OSError as exc:
            raise AgentsUnavailable(f"npm could not run: {exc}") from exc
        if proc.returncode != 0:
            lines = [
                ln.removeprefix("npm error").strip()
                for ln in (proc.stderr or proc.stdout).splitlines()
                if "complete log" not in ln
            ]
            detail = "; ".join(ln for ln in lines if ln)[:300]
            raise AgentsUnavailable(f"npm install failed ({proc.returncode}): {detail}")
        found = _resolve(prefix)
        if found is None:
            raise AgentsUnavailable(f"gemini {GEMINI_CLI_VERSION} installed but does not run here")
        return GeminiBinary(found.gemini, prefix, time.monotonic() - started)


def gemini_unavailable_reason(cache_dir: Path | None = None) -> str | None:
    """``None`` when Gemini CLI is ready (installing it if needed), else the skip reason."""
    if os.environ.get("KEITO_E2E", "").strip() in {"0", "false", "no", "off"}:
        return "KEITO_E2E=0: real-agent end-to-end tests disabled"
    try:
        ensure_gemini(cache_dir)
    except AgentsUnavailable as exc:
        return str(exc)
    return None


@dataclass
class GeminiRun:
    """One headless ``gemini -p`` invocation."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    result: dict[str, Any] | None  # the --output-format json object

    @property
    def session_id(self) -> str | None:
        sid = (self.result or {}).get("session_id")
        return str(sid) if sid else None

    @property
    def stats(self) -> dict[str, Any]:
        return dict((self.result or {}).get("stats") or {})

    def check(self) -> GeminiRun:
        if self.returncode != 0 or self.session_id is None:
            raise AssertionError(
                f"gemini failed (exit {self.returncode})\nargs: {self.args}\n"
                f"stdout:\n{self.stdout[-4000:]}\nstderr:\n{self.stderr[-4000:]}"
            )
        return self


class GeminiSandbox:
    """An isolated HOME (``home/.gemini``) and project (``<project_name>/``) wired to the stub.

    ``gemini_home`` set: ``GEMINI_CLI_HOME`` points there instead, so Gemini CLI keeps its
    files in ``<gemini_home>/.gemini`` (it replaces the home directory, not ``.gemini``).
    """

    def __init__(
        self,
        root: Path,
        bins: GeminiBinary,
        stub: GeminiStubServer,
        *,
        gemini_home: Path | None = None,
        project_name: str = "project",
    ) -> None:
        self.root = Path(root)
        self.bins = bins
        self.stub = stub
        self.home = self.root / "home"
        self.gemini_home = gemini_home
        self.gemini_dir = (gemini_home or self.home) / ".gemini"
        self.project = self.root / project_name
        for d in (self.gemini_dir, self.project):
            d.mkdir(parents=True, exist_ok=True)
        (self.project / "auth.py").write_text("def login(user):\n    return True\n")
        self.write_settings()

    def env(self) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": str(self.home),
            "USER": os.environ.get("USER", "dev"),
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            "NO_COLOR": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "GEMINI_API_KEY": "e2e-dummy-key",
            "GOOGLE_GEMINI_BASE_URL": self.stub.base_url,
            "GEMINI_CLI_TRUST_WORKSPACE": "true",
        }
        if self.gemini_home is not None:
            env["GEMINI_CLI_HOME"] = str(self.gemini_home)
        return env

    def write_settings(
        self,
        hooks: Mapping[str, str] | None = None,
        *,
        timeout_ms: int = 30_000,
        extra: Mapping[str, Any] | None = None,
    ) -> Path:
        """``~/.gemini/settings.json``: API-key auth, no usage statistics, one command hook
        per event (``{"AfterAgent": "cmd"}``; Gemini CLI's hook timeout is milliseconds)."""
        settings: dict[str, Any] = {
            "security": {"auth": {"selectedType": "gemini-api-key"}},
            "privacy": {"usageStatisticsEnabled": False},
        }
        if hooks:
            settings["hooks"] = {
                event: [{"hooks": [{"type": "command", "command": cmd, "timeout": timeout_ms}]}]
                for event, cmd in hooks.items()
            }
        settings.update(extra or {})
        path = self.gemini_dir / "settings.json"
        path.write_text(json.dumps(settings, indent=2))
        return path

    def chat_files(self) -> list[Path]:
        """Every main-session chat file, ``tmp/<project>/chats/session-*.jsonl``."""
        return sorted((self.gemini_dir / "tmp").glob("*/chats/session-*.jsonl"))

    def run(
        self,
        prompt: str,
        resume: str | None = None,
        *,
        timeout: float = 120,
        extra_args: tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
    ) -> GeminiRun:
        """``gemini -p PROMPT --output-format json [--resume ID]``, stdin closed."""
        args = [str(self.bins.gemini), "-p", prompt, "--output-format", "json"]
        if resume:
            args += ["--resume", resume]
        args += list(extra_args)
        started = time.monotonic()
        proc = subprocess.Popen(
            args,
            cwd=self.project,
            env={**self.env(), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            raise AssertionError(
                f"gemini timed out after {timeout}s\nstdout:\n{stdout[-3000:]}\n"
                f"stderr:\n{stderr[-3000:]}"
            ) from None
        try:
            result = json.loads(stdout[stdout.index("{") :])
        except ValueError:
            result = None
        return GeminiRun(
            args=args,
            returncode=proc.returncode,
            stdout=stdout,
            stderr=stderr,
            seconds=time.monotonic() - started,
            result=result if isinstance(result, dict) else None,
        )


_HOOK_SCRIPT = """\
import json, os, sys, time
raw = sys.stdin.read()
try:
    payload = json.loads(raw)
except ValueError:
    payload = {"_unparsed": raw}
record = {"received_at": time.time(), "payload": payload,
          "env": {k: v for k, v in os.environ.items()
                  if k.startswith(("GEMINI_", "CLAUDE_", "KEITO")) and k != "GEMINI_API_KEY"}}
with open(sys.argv[1], "a", encoding="utf-8") as fh:
    fh.write(json.dumps(record) + "\\n")
"""


def gemini_logging_hook_command(directory: Path, log_path: Path) -> str:
    """A hook command appending ``{"received_at", "payload", "env"}`` to ``log_path``.

    Unlike ``agents.logging_hook_command`` it keeps the ``GEMINI_*`` variables Gemini CLI
    gives its hooks (never the API key, which Gemini CLI passes on to hooks too).
    """
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "gemini_log_hook.py"
    script.write_text(_HOOK_SCRIPT)
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {shlex.quote(str(log_path))}"
