"""Installing keito-skill into OpenAI Codex: the skill, the hooks, and the hooks' trust.

Codex reads user hooks from ``$CODEX_HOME/hooks.json`` (``~/.codex`` by default) in the
same shape as Claude Code, but caps a SessionEnd hook's timeout (about 3 s observed), so
ours asks for 2 s there and 10 s elsewhere.

An installed hook is not enough: Codex silently skips a hook the user has not trusted,
and trust is bound to a hash of the hook's definition. Trust is recorded the way Codex's
own ``/hooks`` screen records it, through :mod:`keito_skill.agents.codex.trust` (which
asks ``codex app-server`` for each hook's key and hash). This module selects *our* hooks
for it — by command, and only from the user-level ``hooks.json`` — and adds what
``trust`` lacks: forgetting our trust entries on uninstall.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from keito_skill._files import atomic_write_text
from keito_skill.agents._hooks import add_hooks, hook_command, save
from keito_skill.agents._records import AgentChange, InstallContext
from keito_skill.agents.codex.config_toml import InlineTrustError, without_trust
from keito_skill.agents.codex.paths import codex_home, config_path, hooks_path
from keito_skill.agents.codex.trust import (
    CodexConfigEditError,
    CodexTrustError,
    HookInfo,
    list_hooks,
    read_config,
    trust_hooks,
)
from keito_skill.install import bundle
from keito_skill.install._jsonfile import (
    BACKUP_SUFFIX,
    HookSpec,
    is_our_command,
    read_json,
    remove_hooks,
)
from keito_skill.ledger import skill_home

__all__ = [
    "AGENT",
    "EVENTS",
    "TIMEOUTS",
    "find_codex",
    "finish",
    "forget_trust",
    "hook_specs",
    "install",
    "our_hook_infos",
    "record_codex",
    "trust",
    "uninstall",
]

AGENT: Final = "codex"
EVENTS: Final = {"SessionStart": "session-start", "Stop": "stop", "SessionEnd": "session-end"}
TIMEOUTS: Final = {"SessionStart": 10, "Stop": 10, "SessionEnd": 2}
#: File under :func:`~keito_skill.ledger.skill_home` naming the codex install used.
CODEX_RECORD: Final = "codex-bin"
#: hooks.json event names as they appear in Codex's hook keys.
_KEY_EVENTS: Final = {"SessionStart": "session_start", "Stop": "stop", "SessionEnd": "session_end"}


def _runnable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_codex(override: str | Path | None = None) -> str | None:
    """The codex executable: ``--codex-bin`` when given (must exist), else PATH, else the
    one a previous ``install`` used (:func:`record_codex`), so ``doctor`` and ``uninstall``
    work for a codex that is not on PATH without repeating ``--codex-bin``."""
    if override:
        path = Path(override).expanduser()
        return str(path.absolute()) if _runnable(path) else None
    found = shutil.which("codex")
    if found:
        return found
    try:
        recorded = Path((skill_home() / CODEX_RECORD).read_text(encoding="utf-8").strip())
    except (OSError, UnicodeDecodeError):
        return None
    return str(recorded) if recorded.is_absolute() and _runnable(recorded) else None


def record_codex(codex_bin: str) -> None:
    """Remember the codex executable install used (see :func:`find_codex`)."""
    record = skill_home() / CODEX_RECORD
    record.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(record, f"{Path(codex_bin).absolute()}\n")


def hook_specs(bin_path: Path) -> list[HookSpec]:
    """Our three handlers with Codex's timeouts."""
    return [
        HookSpec(event, hook_command(bin_path, arg, AGENT), TIMEOUTS[event])
        for event, arg in EVENTS.items()
    ]


def _same_file(a: str | Path, b: Path) -> bool:
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except (OSError, ValueError):
        return False


def _selector(env: Mapping[str, str] | None) -> Callable[[HookInfo], bool]:
    path = hooks_path(env)

    def ours(info: HookInfo) -> bool:
        return is_our_command(info.command) and _same_file(info.source_path, path)

    return ours


def our_hook_infos(
    codex_bin: str, env: Mapping[str, str] | None = None, timeout: float = 20
) -> list[HookInfo]:
    """Our hooks as Codex sees them (key, hash, trust status, enabled)."""
    home = codex_home(env)
    select = _selector(env)
    return [
        h for h in list_hooks(codex_bin, home, timeout=timeout, env=_child_env(env)) if select(h)
    ]


def _child_env(env: Mapping[str, str] | None) -> dict[str, str] | None:
    return None if env is None else dict(env)


def trust(codex_bin: str, env: Mapping[str, str] | None = None, timeout: float = 20) -> list[str]:
    """Trust our hooks (only ours) in ``config.toml``; returns the keys newly trusted."""
    return trust_hooks(
        codex_bin, codex_home(env), _selector(env), timeout=timeout, env=_child_env(env)
    )


def install(bin_path: Path, env: Mapping[str, str] | None = None) -> AgentChange:
    """Copy the skill and merge our hooks into ``hooks.json`` (idempotent). Trust is separate:
    it needs the user's consent and the codex binary (see :func:`trust`)."""
    path = hooks_path(env)
    change = AgentChange(AGENT, path)
    change.skill_dir = bundle.install_skill(
        codex_home(env) / "skills", agent_metadata=True
    )  # agents/openai.yaml
    add_hooks(change, hook_specs(bin_path))
    return change


def _finish_command(ctx: InstallContext) -> str:
    parts = ["keito-skill", "install", "--agent", AGENT, "--yes"]
    if ctx.bin_override:
        parts += ["--bin", ctx.bin_override]
    if ctx.agent_bin:
        parts += ["--codex-bin", str(Path(ctx.agent_bin).expanduser().absolute())]
    return shlex.join(parts)


def finish(ctx: InstallContext) -> bool | None:
    """Trust our hooks if we may and can; returns whether they will run.

    ``None`` when trust was not attempted — no consent (the finishing command is printed),
    or codex is not installed, which is not an error for someone who uses only another
    agent, so ``install --agent all --yes`` still succeeds. ``False`` (exit 1) when it was
    attempted and failed.
    """
    say = ctx.say
    finish_cmd = _finish_command(ctx)
    codex_bin = find_codex(ctx.agent_bin)
    if codex_bin is None:
        where = f"at {ctx.agent_bin}" if ctx.agent_bin else "on PATH"
        say(AGENT, f"hooks NOT trusted yet: codex not found {where}.")
        say("", f"Once codex is installed, finish with: {finish_cmd}")
        say("", "(or run 'keito-skill doctor' to see what is missing)")
        return None
    record_codex(codex_bin)
    if not ctx.yes:
        if not ctx.interactive:
            say(AGENT, "hooks installed but NOT trusted: Codex skips untrusted hooks.")
            say("", f"To trust them (as Codex's /hooks screen would), run: {finish_cmd}")
            return None
        if not ctx.confirm(
            "Codex runs a hook only once you trust it. Trust keito-skill's 3 hooks "
            "(session-start, stop, session-end) now?",
            True,
        ):
            say(AGENT, f"hooks NOT trusted. Trust them later with: {finish_cmd}")
            return None
    try:
        written = trust(codex_bin)
        left = [h for h in our_hook_infos(codex_bin) if not h.trusted or not h.enabled]
    except CodexTrustError as exc:
        say(AGENT, f"hooks NOT trusted: {exc}")
        say("", f"Retry with: {finish_cmd}  (or trust them in Codex's /hooks screen)")
        return False
    if left:
        states = ", ".join(
            f"{h.event}: {h.trust_status if h.enabled else 'disabled'}" for h in left
        )
        say(AGENT, f"hooks still not runnable ({states}); enable them in Codex's /hooks")
        return False
    detail = f"{len(written)} trust entries written to" if written else "already trusted in"
    say(AGENT, f"hooks trusted ({detail} {config_path()})")
    return True


def _our_keys_from_file(path: Path, doc: Mapping[str, Any]) -> list[str]:
    """Codex's keys for our handlers, derived from their position in ``hooks.json``.

    Used only to *forget* trust when codex itself is not available to list them.
    """
    keys: list[str] = []
    hooks = doc.get("hooks")
    if not isinstance(hooks, dict):
        return keys
    for event, groups in hooks.items():
        name = _KEY_EVENTS.get(event, re.sub(r"(?<!^)(?=[A-Z])", "_", str(event)).lower())
        if not isinstance(groups, list):
            continue
        for g, group in enumerate(groups):
            handlers = group.get("hooks") if isinstance(group, dict) else None
            for h, handler in enumerate(handlers if isinstance(handlers, list) else []):
                if isinstance(handler, dict) and is_our_command(handler.get("command")):
                    keys.append(f"{path}:{name}:{g}:{h}")
    return keys


def uninstall(env: Mapping[str, str] | None = None, codex_bin: str | None = None) -> AgentChange:
    """Remove our hooks, our trust entries and our skill directory."""
    path = hooks_path(env)
    change = AgentChange(AGENT, path)
    change.skill_dir = bundle.remove_skill(codex_home(env) / "skills")
    before = read_json(path)
    keys = set(_our_keys_from_file(path, before))
    if codex_bin is not None:
        try:
            keys |= {h.key for h in our_hook_infos(codex_bin, env)}
        except Exception as exc:  # the derived keys still cover a normal install
            change.notes.append(f"could not ask codex for hook keys ({exc})")
    save(change, before, remove_hooks(before), create=False)
    try:
        forgotten = forget_trust(config_path(env), sorted(keys))
    except CodexConfigEditError as exc:
        change.notes.append(f"trust entries left in config.toml: {exc}")
    else:
        if forgotten:
            change.notes.append(f"removed {len(forgotten)} trust entries from config.toml")
    return change


def forget_trust(config_path: Path, keys: list[str]) -> list[str]:
    """Remove ``[hooks.state."<key>"]`` for ``keys`` from Codex's ``config.toml``.

    Verified like the trust edit: the result must parse to the original document minus
    exactly those entries, or nothing is written (:class:`CodexConfigEditError`). Atomic,
    with a backup. Returns the keys removed.
    """
    text, original = read_config(config_path)
    hooks = original.get("hooks")
    state = hooks.get("state") if isinstance(hooks, dict) else None
    present = [k for k in keys if isinstance(state, dict) and k in state]
    if not present:
        return []
    try:
        edited = without_trust(text, present)
    except InlineTrustError:
        return []  # not a table of ours: Codex writes tables, so we wrote none of these
    expected: dict[str, Any] = json.loads(json.dumps(original, default=str))
    for key in present:
        del expected["hooks"]["state"][key]
    try:
        result = tomllib.loads(edited)
    except tomllib.TOMLDecodeError as exc:
        raise CodexConfigEditError(f"removing trust would break {config_path}: {exc}") from None
    normalised = json.loads(json.dumps(result, default=str, sort_keys=True))
    # An emptied [hooks.state] / [hooks] table may or may not survive the cut; both are fine.
    for doc in (normalised, expected):
        hooks_doc = doc.get("hooks")
        if isinstance(hooks_doc, dict):
            if hooks_doc.get("state") == {}:
                del hooks_doc["state"]
            if hooks_doc == {}:
                del doc["hooks"]
    if normalised != json.loads(json.dumps(expected, sort_keys=True)):
        raise CodexConfigEditError(
            f"cannot remove keito-skill's hook trust from {config_path} without changing "
            "other settings; remove the [hooks.state] entries by hand"
        )
    atomic_write_text(config_path, edited, backup_suffix=BACKUP_SUFFIX)
    return present
