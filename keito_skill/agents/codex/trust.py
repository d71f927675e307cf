"""Trusting our hooks in Codex CLI, so Codex actually runs them.

Why this exists: Codex (0.169.0) discovers command hooks in ``$CODEX_HOME/hooks.json`` but
runs a non-managed hook only once the user has *trusted* it. Trust is persisted in
``$CODEX_HOME/config.toml`` as::

    [hooks.state."<key>"]
    trusted_hash = "<hash>"

where ``key`` names the hook (``<hooks.json path>:<event>:<group>:<handler>``) and ``hash``
(``sha256:...``) fingerprints its definition; editing the hook changes the hash and the hook
becomes ``modified`` (untrusted again). Neither value is documented as stable, so we never
compute them: we ask Codex's own app-server (``codex app-server``, JSON-RPC over stdio,
method ``hooks/list``) and copy what it reports.

``config.toml`` is the user's file, full of their settings and comments, so it is edited
with tomlkit, which keeps comments and layout, and the edit is verified: the edited text
must parse (``tomllib``) to exactly the original document plus the trusted hashes, or
nothing is written. The write is atomic and the previous file is kept as
``config.toml.keito-skill.bak``.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keito_skill._files import atomic_write_text
from keito_skill.agents.codex.config_toml import InlineTrustError, with_trust
from keito_skill.errors import KeitoSkillError

__all__ = [
    "CodexAppServerError",
    "CodexConfigEditError",
    "CodexTrustError",
    "HookInfo",
    "HooksListing",
    "list_hooks",
    "read_config",
    "read_hooks_listing",
    "set_trusted_hashes",
    "trust_hooks",
    "untrusted_hooks",
    "write_trusted_hashes",
]

#: Trust states ``hooks/list`` reports that mean "Codex will run it".
RUNNABLE_TRUST = frozenset({"trusted", "managed"})


class CodexTrustError(KeitoSkillError):
    """Base class for failures to read or write Codex hook trust."""


class CodexAppServerError(CodexTrustError):
    """``codex app-server`` could not be started, timed out, or answered with an error."""


class CodexConfigEditError(CodexTrustError):
    """``config.toml`` is unreadable, invalid, or cannot be edited without changing meaning."""


@dataclass(frozen=True)
class HookInfo:
    """One hook as Codex's ``hooks/list`` reports it (only the fields we rely on)."""

    key: str
    event: str  # camelCase as Codex reports it: "sessionStart", "stop", "sessionEnd", ...
    current_hash: str
    trust_status: str  # "trusted" | "untrusted" | "modified" | "managed"
    enabled: bool
    is_managed: bool
    handler_type: str
    command: str | None
    source: str
    source_path: str
    matcher: str | None
    timeout_sec: int | None
    cwd: str
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def trusted(self) -> bool:
        """Whether Codex will run this hook as it stands (trusted with this hash, or managed)."""
        return self.trust_status in RUNNABLE_TRUST

    @classmethod
    def from_wire(cls, data: Mapping[str, Any], cwd: str) -> HookInfo:
        """Build from one ``HookMetadata`` object of the ``hooks/list`` result."""
        timeout = data.get("timeoutSec")
        return cls(
            key=str(data["key"]),
            event=str(data.get("eventName", "")),
            current_hash=str(data["currentHash"]),
            trust_status=str(data.get("trustStatus", "untrusted")),
            enabled=bool(data.get("enabled", True)),
            is_managed=bool(data.get("isManaged", False)),
            handler_type=str(data.get("handlerType", "")),
            command=data.get("command") if isinstance(data.get("command"), str) else None,
            source=str(data.get("source", "")),
            source_path=str(data.get("sourcePath", "")),
            matcher=data.get("matcher") if isinstance(data.get("matcher"), str) else None,
            timeout_sec=int(timeout) if isinstance(timeout, int) else None,
            cwd=cwd,
            raw=dict(data),
        )


@dataclass(frozen=True)
class HooksListing:
    """The whole ``hooks/list`` answer: hooks plus the warnings and errors Codex found."""

    hooks: list[HookInfo]
    warnings: list[str]
    errors: list[dict[str, str]]


# --------------------------------------------------------------------------------------------
# app-server client
# --------------------------------------------------------------------------------------------


class _JsonRpcStdio:
    """Minimal newline-delimited JSON-RPC client over a child's stdio.

    Codex's app-server omits ``"jsonrpc": "2.0"`` on the wire and interleaves notifications
    (``configWarning``, ``remoteControl/status/changed``, ...) with responses, so responses
    are matched by ``id`` and everything else is skipped.
    """

    def __init__(self, proc: subprocess.Popen[str], deadline: float) -> None:
        self._proc = proc
        self._deadline = deadline
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def send(self, message: Mapping[str, Any]) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(message) + "\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise CodexAppServerError(f"codex app-server closed its input: {exc}") from exc

    def request(self, request_id: int, method: str, params: Mapping[str, Any]) -> Any:
        self.send({"method": method, "id": request_id, "params": params})
        while True:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise CodexAppServerError(f"codex app-server did not answer {method} in time")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise CodexAppServerError(
                    f"codex app-server exited before answering {method} "
                    f"(exit code {self._proc.poll()})"
                )
            try:
                message = json.loads(line)
            except ValueError:
                continue  # not protocol: ignore
            if not isinstance(message, dict) or message.get("id") != request_id:
                continue
            if "error" in message:
                error = message["error"]
                text = error.get("message") if isinstance(error, dict) else error
                raise CodexAppServerError(f"codex app-server refused {method}: {text}")
            return message.get("result")


def read_hooks_listing(
    codex_bin: str,
    codex_home: Path,
    cwd: Path | None = None,
    timeout: float = 20,
    env: Mapping[str, str] | None = None,
) -> HooksListing:
    """Ask ``codex app-server`` which hooks it sees, with their keys, hashes and trust.

    Runs ``codex app-server`` (stdio transport) with ``CODEX_HOME=codex_home``, performs the
    ``initialize`` / ``initialized`` handshake, calls ``hooks/list`` for ``cwd`` (project
    hooks under ``<cwd>/.codex`` are included; ``None`` lists for the process's own cwd),
    then closes the server. ``env`` replaces ``os.environ`` as the child's base environment.
    """
    child_env = dict(os.environ if env is None else env)
    child_env["CODEX_HOME"] = str(codex_home)
    run_cwd = Path(cwd) if cwd is not None else Path.cwd()
    deadline = time.monotonic() + timeout
    try:
        proc = subprocess.Popen(
            [codex_bin, "app-server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=run_cwd,
            env=child_env,
            text=True,
            encoding="utf-8",
        )
    except OSError as exc:
        raise CodexAppServerError(f"cannot run {codex_bin} app-server: {exc}") from exc
    try:
        rpc = _JsonRpcStdio(proc, deadline)
        rpc.request(
            1,
            "initialize",
            {"clientInfo": {"name": "keito-skill", "title": "keito-skill", "version": "0"}},
        )
        rpc.send({"method": "initialized"})
        params = {"cwds": [str(run_cwd)]} if cwd is not None else {"cwds": []}
        result = rpc.request(2, "hooks/list", params)
    finally:
        _close(proc)
    return _parse_listing(result)


def _close(proc: subprocess.Popen[str]) -> None:
    """End the app-server: EOF on stdin first, then terminate, then kill."""
    try:
        if proc.stdin is not None:
            proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=3)


def _parse_listing(result: Any) -> HooksListing:
    if not isinstance(result, dict) or not isinstance(result.get("data"), list):
        raise CodexAppServerError(f"unexpected hooks/list result: {str(result)[:200]}")
    hooks: list[HookInfo] = []
    warnings: list[str] = []
    errors: list[dict[str, str]] = []
    seen: set[str] = set()
    for entry in result["data"]:
        if not isinstance(entry, dict):
            continue
        cwd = str(entry.get("cwd", ""))
        warnings.extend(str(w) for w in entry.get("warnings") or [])
        for err in entry.get("errors") or []:
            if isinstance(err, dict):
                errors.append({str(k): str(v) for k, v in err.items()})
        for raw in entry.get("hooks") or []:
            if not isinstance(raw, dict) or "key" not in raw or "currentHash" not in raw:
                continue
            info = HookInfo.from_wire(raw, cwd)
            if info.key not in seen:  # the same user hook shows up once per cwd
                seen.add(info.key)
                hooks.append(info)
    return HooksListing(hooks=hooks, warnings=warnings, errors=errors)


def list_hooks(
    codex_bin: str,
    codex_home: Path,
    cwd: Path | None = None,
    timeout: float = 20,
    env: Mapping[str, str] | None = None,
) -> list[HookInfo]:
    """The hooks Codex sees, as :func:`read_hooks_listing` reports them."""
    return read_hooks_listing(codex_bin, codex_home, cwd=cwd, timeout=timeout, env=env).hooks


def untrusted_hooks(
    codex_bin: str,
    codex_home: Path,
    select: Callable[[HookInfo], bool] | None = None,
    cwd: Path | None = None,
    timeout: float = 20,
    env: Mapping[str, str] | None = None,
) -> list[HookInfo]:
    """Selected hooks Codex will *not* run because they are untrusted or modified.

    For ``keito-skill doctor``: an untrusted hook is silently skipped by Codex, which would
    lose time entries without any error anywhere.
    """
    hooks = list_hooks(codex_bin, codex_home, cwd=cwd, timeout=timeout, env=env)
    return [h for h in hooks if not h.trusted and (select is None or select(h))]


def trust_hooks(
    codex_bin: str,
    codex_home: Path,
    select: Callable[[HookInfo], bool],
    cwd: Path | None = None,
    timeout: float = 20,
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """Trust the selected hooks in ``$CODEX_HOME/config.toml``; returns the keys written.

    Managed hooks need no trust and are skipped. Hooks already trusted with their current
    hash are left alone, so a second call returns ``[]`` and leaves the file untouched.
    """
    hooks = list_hooks(codex_bin, codex_home, cwd=cwd, timeout=timeout, env=env)
    wanted = {
        h.key: h.current_hash
        for h in hooks
        if not h.is_managed and h.trust_status != "trusted" and select(h)
    }
    if not wanted:
        return []
    return write_trusted_hashes(Path(codex_home) / "config.toml", wanted)


# --------------------------------------------------------------------------------------------
# config.toml editing (tomlkit, see .config_toml), checked after the edit
# --------------------------------------------------------------------------------------------


def _expected(original: Mapping[str, Any], trust: Mapping[str, str]) -> dict[str, Any]:
    """The document ``original`` should become: a deep copy with the hashes set."""
    doc: dict[str, Any] = json.loads(json.dumps(original, default=str))
    state = doc.setdefault("hooks", {}).setdefault("state", {})
    for key, digest in trust.items():
        state.setdefault(key, {})["trusted_hash"] = digest
    return doc


def _normalised(doc: Mapping[str, Any]) -> Any:
    return json.loads(json.dumps(doc, default=str, sort_keys=True))


def set_trusted_hashes(text: str, trust: Mapping[str, str]) -> str:
    """Return ``text`` with ``[hooks.state."<key>"] trusted_hash = "<hash>"`` for each entry.

    Edited with tomlkit (:mod:`.config_toml`): an existing ``trusted_hash`` in the key's
    table is replaced in place (its comment kept), a table without one gets it added, and
    missing tables are appended after the others; everything else keeps its bytes. Raises
    :class:`CodexConfigEditError` when ``text`` is not valid TOML, or when the edited text
    would not parse to exactly the original document plus these hashes (for instance trust
    kept in an inline table we do not rewrite) — then nothing should be written.
    """
    try:
        original = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CodexConfigEditError(f"config.toml is not valid TOML: {exc}") from exc

    state = (
        original.get("hooks", {}).get("state", {})
        if isinstance(original.get("hooks"), dict)
        else {}
    )
    pending: dict[str, str] = {}
    for key, digest in trust.items():
        current = state.get(key) if isinstance(state, dict) else None
        if isinstance(current, dict) and current.get("trusted_hash") == digest:
            continue
        pending[key] = digest
    if not pending:
        return text

    try:
        edited = with_trust(text, pending)
    except InlineTrustError as exc:
        raise CodexConfigEditError(
            f"hook trust in config.toml is written as an inline table ({exc}); "
            "trust the hooks in Codex's /hooks screen instead"
        ) from None

    try:
        result = tomllib.loads(edited)
    except tomllib.TOMLDecodeError as exc:
        raise CodexConfigEditError(
            f"cannot add hook trust to config.toml without breaking it ({exc}); "
            "trust the hooks in Codex's /hooks screen instead"
        ) from exc
    if _normalised(result) != _normalised(_expected(original, pending)):
        raise CodexConfigEditError(
            "cannot add hook trust to config.toml without changing other settings; "
            "trust the hooks in Codex's /hooks screen instead"
        )
    return edited


def read_config(config_path: Path) -> tuple[str, dict[str, Any]]:
    """``config.toml``'s text and what it parses to; ``("", {})`` when it is missing.

    Both trust edits start here, so they refuse the same unreadable or invalid file with
    the same :class:`CodexConfigEditError`.
    """
    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return "", {}
    except (OSError, UnicodeDecodeError) as exc:
        raise CodexConfigEditError(f"cannot read {config_path}: {exc}") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CodexConfigEditError(f"{config_path} is not valid TOML: {exc}") from None


def write_trusted_hashes(config_path: Path, trust: Mapping[str, str]) -> list[str]:
    """Apply :func:`set_trusted_hashes` to ``config_path``; returns the keys it changed.

    Writes atomically (temporary file in the same directory, then rename), keeping the
    previous content as ``<name>.keito-skill.bak`` and the file's permission bits. No
    change, no write.
    """
    text, before = read_config(Path(config_path))
    edited = set_trusted_hashes(text, trust)
    if edited == text:
        return []
    state = (
        before.get("hooks", {}).get("state", {}) if isinstance(before.get("hooks"), dict) else {}
    )
    changed = [
        key
        for key, digest in trust.items()
        if not (isinstance(state.get(key), dict) and state[key].get("trusted_hash") == digest)
    ]
    _atomic_write(config_path, edited, backup=config_path.exists())
    return changed


def _atomic_write(path: Path, text: str, backup: bool) -> None:
    # The one backup name every file we edit uses (see install/_jsonfile.py).
    atomic_write_text(
        path, text, backup_suffix=".keito-skill.bak" if backup else None, new_mode=0o600
    )
