"""Doctor's checks for Gemini CLI: our hooks run, and its usage can be read completely.

Two lines: the hooks (in ``settings.json``, all three events, our executable present,
not switched off by ``hooksConfig``) and the telemetry outfile (without it the routing
model's usage, asked before every prompt, is in no file and cannot be billed).
Skipped when Gemini CLI is not on this machine (no ``gemini`` on PATH, no Gemini dir).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keito_skill.agents._hooks import missing_binaries, missing_events
from keito_skill.agents.gemini_cli import install, paths

__all__ = ["Result", "checks", "present"]

NAME = f"{install.AGENT} hooks"
TELEMETRY = f"{install.AGENT} telemetry"
FIX = f"keito-skill install --agent {install.AGENT}"


@dataclass
class Result:
    """One doctor line (the adapter turns it into the registry's ``Check``)."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None


def present() -> bool:
    """Whether Gemini CLI is on this machine: its executable on PATH, or its directory."""
    return shutil.which("gemini") is not None or paths.gemini_dir().is_dir()


def _hooks(doc: dict[str, Any], path: Path) -> Result:
    from keito_skill.install._jsonfile import our_handlers

    handlers = our_handlers(doc)
    if not handlers:
        if not present():
            return Result(NAME, True, "Gemini CLI not found here; skipped")
        return Result(NAME, False, f"no keito-skill hooks in {path}", FIX)
    missing = missing_events(doc, install.EVENTS)
    if missing:
        return Result(NAME, False, f"missing {', '.join(missing)} in {path}", FIX)
    gone = missing_binaries(handlers)
    if gone:
        return Result(NAME, False, f"hooks run {', '.join(gone)}, which does not exist", FIX)
    config = doc.get("hooksConfig")
    if isinstance(config, dict):
        if config.get("enabled") is False:
            return Result(NAME, False, f"hooksConfig.enabled is false in {path}", "set it to true")
        disabled = config.get("disabled")
        if isinstance(disabled, list) and install.HOOK_NAME in disabled:
            fix = f"remove {install.HOOK_NAME!r} from hooksConfig.disabled"
            return Result(NAME, False, f"hooksConfig.disabled lists our hooks in {path}", fix)
    return Result(NAME, True, f"{', '.join(install.EVENTS)} in {path}")


def _telemetry(doc: dict[str, Any], path: Path) -> Result:
    outfile = paths.telemetry_outfile()
    if outfile is None:
        why = (
            "no local telemetry outfile: the routing model Gemini CLI asks before every"
            " prompt is in no other file, so its usage is not billed"
        )
        if "telemetry" not in doc:
            return Result(TELEMETRY, False, why, FIX)
        return Result(
            TELEMETRY, False, why, f'set "telemetry": {{"enabled": true, "outfile": ...}} in {path}'
        )
    try:
        size = outfile.stat().st_size
    except OSError:
        return Result(TELEMETRY, True, f"{outfile} (not written yet)")
    return Result(TELEMETRY, True, f"{outfile} ({size / 1e6:.1f} MB)")


def checks() -> list[Result]:
    """The hooks line, and the telemetry line when our hooks are installed."""
    from keito_skill.install._jsonfile import SettingsFileError

    path = paths.settings_path()
    try:
        doc, _comments = install.read_settings(path)
    except SettingsFileError as exc:
        return [Result(NAME, False, str(exc), f"repair {path}, then {FIX}")]
    hooks = _hooks(doc, path)
    if hooks.detail.endswith("skipped"):
        return [hooks]
    return [hooks, _telemetry(doc, path)]
