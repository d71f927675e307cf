"""Install and run the real Claude Code and Codex CLI binaries, isolated and headless.

Why: keito-skill's hooks are only as good as our knowledge of what the real agents do, so the
end-to-end tests run the pinned npm releases against :class:`~.stub_model.StubModelServer`
in a throw-away HOME. Nothing here touches the developer's own ``~/.claude`` or ``~/.codex``,
and nothing talks to anything but loopback.

Typical use (see ``conftest.py`` for the fixtures)::

    bins = ensure_agents()                       # raises AgentsUnavailable(reason)
    with StubModelServer(tmp / "usage-truth.jsonl") as stub:
        box = AgentSandbox(tmp, bins, stub)
        box.write_claude_hooks({"Stop": "python3 hook.py"})
        run = box.run_claude("Review the module")        # claude -p ... --output-format json
        run2 = box.run_claude("Now the tests", resume=run.session_id)
        box.write_codex_hooks({"Stop": "python3 hook.py"})
        box.trust_codex_hooks()                           # config.toml [hooks.state."…"]
        run = box.run_codex("Review the module")          # codex exec --json ...
        box.run_codex("Now the tests", resume=run.session_id)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keito_skill.agents.codex.trust import HookInfo, trust_hooks

from .stub_model import StubModelServer

__all__ = [
    "CLAUDE_CODE_VERSION",
    "CODEX_VERSION",
    "HOOK_EVENTS",
    "AgentBinaries",
    "AgentRun",
    "AgentSandbox",
    "AgentsUnavailable",
    "agents_unavailable_reason",
    "ensure_agents",
    "logging_hook_command",
    "read_hook_log",
]

CLAUDE_CODE_VERSION = "2.1.328"
CODEX_VERSION = "0.169.0"
PACKAGES = (f"@anthropic-ai/claude-code@{CLAUDE_CODE_VERSION}", f"@openai/codex@{CODEX_VERSION}")
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Where the binaries are installed; override with ``KEITO_E2E_CACHE``.
DEFAULT_CACHE = Path(os.environ.get("KEITO_E2E_CACHE", REPO_ROOT / ".e2e-cache"))
HOOK_EVENTS = ("SessionStart", "Stop", "SessionEnd")
#: Codex caps a SessionEnd hook's timeout at about a second; ask for no more.
CODEX_SESSION_END_TIMEOUT = 1
CODEX_MODEL = "gpt-5-codex"


class AgentsUnavailable(RuntimeError):
    """npm or the pinned agent binaries cannot be had here; ``str(exc)`` is the skip reason."""


@dataclass(frozen=True)
class AgentBinaries:
    """Paths of the installed agent executables."""

    claude: Path
    codex: Path
    cache_dir: Path
    install_seconds: float = 0.0  # time spent installing in this process (0 when cached)


# ------------------------------------------------------------------------------------------
# installation
# ------------------------------------------------------------------------------------------


def _installed_version(cache: Path, package: str) -> str | None:
    manifest = cache / "node_modules" / package / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def _runs(binary: Path, expect: str, env: Mapping[str, str]) -> bool:
    try:
        out = subprocess.run(
            [str(binary), "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(env),
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and expect in out.stdout


def _claude_candidates(cache: Path) -> Iterator[Path]:
    yield cache / "node_modules" / ".bin" / "claude"
    # If npm skipped the postinstall that copies the native binary over bin/claude.exe,
    # the platform package's binary is still there.
    yield from sorted((cache / "node_modules" / "@anthropic-ai").glob("claude-code-*/claude"))


def _resolve(cache: Path) -> AgentBinaries | None:
    if _installed_version(cache, "@anthropic-ai/claude-code") != CLAUDE_CODE_VERSION:
        return None
    if _installed_version(cache, "@openai/codex") != CODEX_VERSION:
        return None
    home = cache / "version-check-home"
    home.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "LANG": "C.UTF-8"}
    claude = next(
        (c for c in _claude_candidates(cache) if c.exists() and _runs(c, CLAUDE_CODE_VERSION, env)),
        None,
    )
    codex = cache / "node_modules" / ".bin" / "codex"
    if claude is None or not _runs(codex, CODEX_VERSION, env):
        return None
    return AgentBinaries(claude=claude, codex=codex, cache_dir=cache)


@contextlib.contextmanager
def _install_lock(cache: Path) -> Iterator[None]:
    """Several engineers (and pytest sessions) share the cache: install one at a time."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".install.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


_CACHED: dict[Path, AgentBinaries | AgentsUnavailable] = {}


def ensure_agents(cache_dir: Path | None = None, timeout: float = 600) -> AgentBinaries:
    """Return the pinned binaries, installing them with npm into ``cache_dir`` if needed.

    ``npm install --prefix <cache> @anthropic-ai/claude-code@2.1.328 @openai/codex@0.169.0``
    runs at most once per cache (file lock); later calls re-use it. Raises
    :class:`AgentsUnavailable` with a one-line reason when npm is missing, the install
    fails (no registry), or the binaries do not run on this platform. The outcome is
    memoised per process.
    """
    cache = Path(cache_dir or DEFAULT_CACHE).resolve()
    known = _CACHED.get(cache)
    if isinstance(known, AgentBinaries):
        return known
    if isinstance(known, AgentsUnavailable):
        raise known
    try:
        bins = _ensure(cache, timeout)
    except AgentsUnavailable as exc:
        _CACHED[cache] = exc
        raise
    _CACHED[cache] = bins
    return bins


def _ensure(cache: Path, timeout: float) -> AgentBinaries:
    found = _resolve(cache)
    if found is not None:
        return found
    npm = shutil.which("npm")
    if npm is None:
        raise AgentsUnavailable("npm is not installed: cannot install the agent binaries")
    with _install_lock(cache):
        found = _resolve(cache)  # another process may have installed meanwhile
        if found is not None:
            return found
        started = time.monotonic()
        try:
            proc = subprocess.run(
                [
                    npm,
                    "install",
                    "--prefix",
                    str(cache),
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    # Fail fast when the registry is unreachable: the tests then skip.
                    "--fetch-retries=1",
                    "--fetch-retry-mintimeout=2000",
                    "--fetch-retry-maxtimeout=10000",
                    *PACKAGES,
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
        found = _resolve(cache)
        if found is None:
            raise AgentsUnavailable(
                "agent binaries installed but do not run here "
                f"(claude {CLAUDE_CODE_VERSION}, codex {CODEX_VERSION})"
            )
        return AgentBinaries(
            claude=found.claude,
            codex=found.codex,
            cache_dir=cache,
            install_seconds=time.monotonic() - started,
        )


def agents_unavailable_reason(cache_dir: Path | None = None) -> str | None:
    """``None`` when the agents are ready (installing them if needed), else the skip reason.

    ``KEITO_E2E=0`` in the environment disables the real-agent tests outright.
    """
    if os.environ.get("KEITO_E2E", "").strip() in {"0", "false", "no", "off"}:
        return "KEITO_E2E=0: real-agent end-to-end tests disabled"
    try:
        ensure_agents(cache_dir)
    except AgentsUnavailable as exc:
        return str(exc)
    return None


# ------------------------------------------------------------------------------------------
# hooks used by tests
# ------------------------------------------------------------------------------------------

_HOOK_SCRIPT = """\
import json, os, sys, time
raw = sys.stdin.read()
try:
    payload = json.loads(raw)
except ValueError:
    payload = {"_unparsed": raw}
record = {"received_at": time.time(), "argv": sys.argv[2:], "payload": payload,
          "env": {k: v for k, v in os.environ.items()
                  if k.startswith(("CLAUDE", "CODEX", "KEITO"))}}
with open(sys.argv[1], "a", encoding="utf-8") as fh:
    fh.write(json.dumps(record) + "\\n")
"""


def logging_hook_command(directory: Path, log_path: Path, *extra_args: str) -> str:
    """Write a tiny hook script into ``directory``; return the shell command running it.

    The hook appends ``{"received_at", "argv", "payload", "env"}`` as one JSON line to
    ``log_path`` for every call, ``payload`` being the JSON the agent sent on stdin.
    """
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "log_hook.py"
    script.write_text(_HOOK_SCRIPT)
    parts = [sys.executable, str(script), str(log_path), *extra_args]
    return " ".join(_sh_quote(p) for p in parts)


def read_hook_log(log_path: Path) -> list[dict[str, Any]]:
    """The records :func:`logging_hook_command` hooks wrote, in order (empty if none)."""
    if not log_path.exists():
        return []
    return [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]


def _sh_quote(s: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./:=@%+-]+", s):
        return s
    return "'" + s.replace("'", "'\"'\"'") + "'"


# ------------------------------------------------------------------------------------------
# running the agents
# ------------------------------------------------------------------------------------------


@dataclass
class AgentRun:
    """One headless agent invocation."""

    agent: str
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    session_id: str | None
    result: dict[str, Any] | None = None  # claude: the --output-format json object
    events: list[dict[str, Any]] = field(default_factory=list)  # codex: --json events

    def check(self) -> AgentRun:
        """Raise AssertionError with the output when the agent failed; return self."""
        if self.returncode != 0 or self.session_id is None:
            raise AssertionError(
                f"{self.agent} failed (exit {self.returncode}, session {self.session_id})\n"
                f"args: {self.args}\nstdout:\n{self.stdout[-4000:]}\nstderr:\n{self.stderr[-4000:]}"
            )
        return self


class AgentSandbox:
    """An isolated HOME/project/CODEX_HOME wired to a stub model server.

    Layout under ``root``: ``home/`` (HOME; Claude Code keeps ``home/.claude`` and
    ``home/.claude.json``), ``home/.codex/`` (CODEX_HOME), ``project/`` (the cwd, holding
    ``auth.py`` so ``ls`` has something to list). ``CLAUDE_CONFIG_DIR`` is left unset so
    Claude Code uses ``$HOME/.claude`` like a default install.
    """

    def __init__(self, root: Path, bins: AgentBinaries, stub: StubModelServer) -> None:
        self.root = Path(root)
        self.bins = bins
        self.stub = stub
        self.home = self.root / "home"
        self.claude_dir = self.home / ".claude"
        self.codex_home = self.home / ".codex"
        self.project = self.root / "project"
        for d in (self.claude_dir, self.codex_home, self.project):
            d.mkdir(parents=True, exist_ok=True)
        (self.project / "auth.py").write_text("def login(user):\n    return True\n")
        self.write_codex_config()

    @property
    def stub_truth_path(self) -> Path:
        """The stub's ``usage-truth.jsonl`` (``AssertionError`` if it has none)."""
        path = self.stub.truth_path
        assert path is not None, "stub model server started without a truth path"
        return path

    # -- environment -----------------------------------------------------------------------
    def base_env(self) -> dict[str, str]:
        """A minimal environment: no proxies, no real keys, nothing from the developer."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": str(self.home),
            "USER": os.environ.get("USER", "dev"),
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            "NO_COLOR": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        return env

    def claude_env(self) -> dict[str, str]:
        env = self.base_env()
        env.update(
            ANTHROPIC_BASE_URL=self.stub.base_url,
            ANTHROPIC_API_KEY="sk-ant-e2e-dummy",
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
            DISABLE_AUTOUPDATER="1",
        )
        return env

    def codex_env(self) -> dict[str, str]:
        env = self.base_env()
        env.update(CODEX_HOME=str(self.codex_home), STUB_API_KEY="sk-e2e-dummy")
        return env

    # -- configuration ---------------------------------------------------------------------
    def write_claude_settings(self, settings: Mapping[str, Any]) -> Path:
        """Write ``$HOME/.claude/settings.json`` (user settings) as given."""
        path = self.claude_dir / "settings.json"
        path.write_text(json.dumps(settings, indent=2))
        return path

    def write_claude_hooks(self, commands: Mapping[str, str], timeout: int = 30) -> Path:
        """User settings with one command hook per event: ``{"Stop": "cmd", ...}``."""
        hooks = {
            event: [{"hooks": [{"type": "command", "command": cmd, "timeout": timeout}]}]
            for event, cmd in commands.items()
        }
        return self.write_claude_settings({"hooks": hooks})

    def write_codex_config(self, extra_toml: str = "") -> Path:
        """(Over)write ``$CODEX_HOME/config.toml`` pointing Codex at the stub.

        Overwrites hook trust too: call :meth:`trust_codex_hooks` afterwards. No feature
        flag is needed for hooks in Codex 0.169.0 (``[features] hooks`` defaults to on).
        """
        path = self.codex_home / "config.toml"
        text = (
            f'model = "{CODEX_MODEL}"\n'
            'model_provider = "stub"\n'
            'approval_policy = "never"\n'
            "\n"
            "[model_providers.stub]\n"
            'name = "stub"\n'
            f'base_url = "{self.stub.openai_base_url}"\n'
            'wire_api = "responses"\n'
            'env_key = "STUB_API_KEY"\n'
            "request_max_retries = 0\n"
            "stream_max_retries = 0\n"
        )
        if extra_toml:
            text += "\n" + extra_toml.rstrip("\n") + "\n"
        path.write_text(text)
        return path

    def write_codex_hooks(self, commands: Mapping[str, str], timeout: int = 30) -> Path:
        """``$CODEX_HOME/hooks.json`` with one command hook per event (same shape as Claude).

        SessionEnd gets :data:`CODEX_SESSION_END_TIMEOUT` since Codex caps it anyway.
        """
        hooks = {
            event: [
                {
                    "hooks": [
                        {
                            "type": "command",
                            "command": cmd,
                            "timeout": CODEX_SESSION_END_TIMEOUT
                            if event == "SessionEnd"
                            else timeout,
                        }
                    ]
                }
            ]
            for event, cmd in commands.items()
        }
        path = self.codex_home / "hooks.json"
        path.write_text(json.dumps({"hooks": hooks}, indent=2))
        return path

    def trust_codex_hooks(self, select: Callable[[HookInfo], bool] | None = None) -> list[str]:
        """Trust (by default all) hooks Codex sees, via ``keito_skill.agents.codex.trust``."""
        return trust_hooks(
            str(self.bins.codex),
            self.codex_home,
            select or (lambda _h: True),
            cwd=self.project,
            env=self.codex_env(),
        )

    # -- running ---------------------------------------------------------------------------
    def run_claude(
        self,
        prompt: str,
        resume: str | None = None,
        *,
        timeout: float = 120,
        extra_args: Sequence[str] = (),
    ) -> AgentRun:
        """``claude -p PROMPT --output-format json --allowedTools Bash [--resume ID]``."""
        args = [
            str(self.bins.claude),
            "-p",
            prompt,
            "--output-format",
            "json",
            "--allowedTools",
            "Bash",
        ]
        if resume:
            args += ["--resume", resume]
        args += list(extra_args)
        run = self._run("claude", args, self.claude_env(), timeout)
        try:
            result = json.loads(run.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            result = None
        if isinstance(result, dict):
            run.result = result
            sid = result.get("session_id")
            run.session_id = str(sid) if sid else None
        return run

    def run_codex(
        self,
        prompt: str,
        resume: str | None = None,
        *,
        timeout: float = 120,
        extra_args: Sequence[str] = (),
    ) -> AgentRun:
        """``codex exec --skip-git-repo-check --json [resume ID] PROMPT`` with stdin closed."""
        args = [str(self.bins.codex), "exec", "--skip-git-repo-check", "--json"]
        if resume:
            args += ["resume", resume]
        args += [*extra_args, prompt]
        run = self._run("codex", args, self.codex_env(), timeout)
        for line in run.stdout.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                run.events.append(event)
                if event.get("type") == "thread.started" and event.get("thread_id"):
                    run.session_id = str(event["thread_id"])
        if run.session_id is None:
            m = re.search(r"session id: ([0-9a-f-]{36})", run.stderr + run.stdout)
            run.session_id = m.group(1) if m else None
        return run

    def _run(self, agent: str, args: list[str], env: dict[str, str], timeout: float) -> AgentRun:
        """Run one agent process in its own process group; on timeout end that group
        (the agent and whatever it spawned: tool shells, hooks) and fail with its output."""
        started = time.monotonic()
        proc = subprocess.Popen(
            args,
            cwd=self.project,
            env=env,
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
                f"{agent} timed out after {timeout}s\nargs: {args}\nstdout:\n{stdout[-3000:]}\n"
                f"stderr:\n{stderr[-3000:]}"
            ) from None
        return AgentRun(
            agent=agent,
            args=args,
            returncode=proc.returncode,
            stdout=stdout,
            stderr=stderr,
            seconds=time.monotonic() - started,
            session_id=None,
        )


# ------------------------------------------------------------------------------------------
# reading what the agents wrote
# ------------------------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every JSON object line of ``path`` (other lines skipped)."""
    out: list[dict[str, Any]] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def claude_transcript_usage(path: Path) -> dict[str, dict[str, Any]]:
    """Usage per unique ``message.id`` of the assistant lines of a Claude Code transcript.

    Claude Code writes one line per content block, each repeating the full usage of the
    response: keep one per message id (never sum the lines).
    """
    per_id: dict[str, dict[str, Any]] = {}
    for line in read_jsonl(path):
        msg = line.get("message")
        if line.get("type") != "assistant" or not isinstance(msg, dict) or "id" not in msg:
            continue
        per_id.setdefault(str(msg["id"]), {"model": msg.get("model"), **(msg.get("usage") or {})})
    return per_id


def codex_final_total_usage(path: Path) -> dict[str, int] | None:
    """The last ``token_count`` event's ``info.total_token_usage`` of a Codex rollout."""
    total: dict[str, int] | None = None
    for line in read_jsonl(path):
        payload = line.get("payload")
        if (
            line.get("type") == "event_msg"
            and isinstance(payload, dict)
            and payload.get("type") == "token_count"
            and isinstance(payload.get("info"), dict)
        ):
            total = dict(payload["info"].get("total_token_usage") or {})
    return total
