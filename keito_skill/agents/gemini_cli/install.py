"""Installing keito-skill into Gemini CLI: three hooks and local telemetry in ``settings.json``.

Gemini CLI reads user hooks from ``<gemini dir>/settings.json`` (:func:`.paths.settings_path`;
``$GEMINI_CLI_HOME/.gemini`` when set), in Claude Code's shape but with the ``timeout`` in
milliseconds. User-level hooks need no trust step; they run unless ``hooksConfig.enabled``
is false or ``hooksConfig.disabled`` names them (ours are named ``keito-skill``).

**Local telemetry is what makes the bill complete.** The chat files miss the routing model
Gemini CLI asks before every prompt and its other utility calls; only its telemetry
outfile holds them. So install turns on local telemetry to a file of ours
(:data:`OUTFILE_NAME` beside the settings, created 0600: its records repeat the prompt),
with ``logPrompts`` off, **only when the user has no telemetry set up**: an outfile of
their own is read as it is, and telemetry exported elsewhere (Google Cloud, a collector)
is left alone, with a note that that usage cannot be read. Uninstall removes the
telemetry block only when it is still exactly ours.

The file is JSON with comments; writing it drops the comments (the previous file is kept
as ``settings.json.keito-skill.bak`` and the change says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from keito_skill.agents._hooks import hook_command
from keito_skill.agents.gemini_cli import paths
from keito_skill.install._jsonfile import (
    HookSpec,
    merge_hooks,
    read_json_prepared,
    remove_hooks,
    write_json,
)

__all__ = [
    "AGENT",
    "EVENTS",
    "HOOK_NAME",
    "HOOK_TIMEOUT_MS",
    "OUTFILE_NAME",
    "Edit",
    "hook_specs",
    "install",
    "our_telemetry",
    "read_settings",
    "uninstall",
]

AGENT: Final = "gemini-cli"
#: Gemini CLI's event -> our hook event. AfterAgent fires after every answer (like Stop).
EVENTS: Final = {"SessionStart": "session-start", "AfterAgent": "stop", "SessionEnd": "session-end"}
HOOK_TIMEOUT_MS: Final = 10_000
HOOK_NAME: Final = "keito-skill"
OUTFILE_NAME: Final = "keito-telemetry.log"


@dataclass(frozen=True)
class _NamedSpec(HookSpec):
    """A handler with a ``name``: what ``hooksConfig.disabled`` would list to skip it."""

    def handler(self) -> dict[str, Any]:
        return {**super().handler(), "name": HOOK_NAME}


@dataclass
class Edit:
    """What an install or uninstall did to ``settings.json``."""

    path: Path
    changed: bool = False
    backup: Path | None = None
    created: bool = False
    notes: list[str] = field(default_factory=list)


def hook_specs(bin_path: Path) -> list[HookSpec]:
    """Our three handlers (timeout in milliseconds, as Gemini CLI reads it)."""
    return [
        _NamedSpec(event, hook_command(bin_path, arg, AGENT), HOOK_TIMEOUT_MS)
        for event, arg in EVENTS.items()
    ]


def read_settings(path: Path) -> tuple[dict[str, Any], bool]:
    """The settings object and whether the file had comments; ``{}`` when missing.

    Anything that is not a JSON object (after comments are removed) is an error: writing
    over it would lose the user's settings.
    """
    return read_json_prepared(path, paths.strip_comments)


def our_telemetry(gemini_dir: Path) -> dict[str, Any]:
    """The telemetry block install writes when the user has none."""
    return {
        "enabled": True,
        "target": "local",
        "outfile": str(gemini_dir / OUTFILE_NAME),
        "logPrompts": False,
    }


def _telemetry(doc: dict[str, Any], gemini_dir: Path, notes: list[str]) -> dict[str, Any]:
    """``doc`` with local telemetry on, unless the user set telemetry up their own way."""
    current = doc.get("telemetry")
    if isinstance(current, dict) and current.get("enabled") is True:
        outfile = current.get("outfile")
        if isinstance(outfile, str) and outfile:
            if current.get("target") == "gcp" and current.get("useCollector") is not True:
                notes.append(
                    "telemetry goes to Google Cloud: the routing model's usage cannot be"
                    " read, so it is not billed (see keito-skill doctor)"
                )
            return doc
        notes.append(
            "telemetry is exported elsewhere (no telemetry.outfile): the routing model's"
            " usage cannot be read, so it is not billed (see keito-skill doctor)"
        )
        return doc
    if isinstance(current, dict) and any(k not in ("enabled", "logPrompts") for k in current):
        notes.append(
            "telemetry is configured but off: left as it is, so the routing model's usage"
            " is not billed (see keito-skill doctor)"
        )
        return doc
    ours = our_telemetry(gemini_dir)
    _private_outfile(Path(ours["outfile"]))
    notes.append(
        f"local telemetry on, to {ours['outfile']} (the only file holding the routing"
        " model's usage; prompts not logged)"
    )
    return {**doc, "telemetry": ours}


def _private_outfile(path: Path) -> None:
    """Create the outfile 0600 before Gemini CLI does (it would make it 0644): its
    records repeat each prompt in their attributes."""
    from keito_skill._safeio import private_file

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # Gemini CLI creates it; doctor still finds it
    private_file(path)


def _save(edit: Edit, before: dict[str, Any], after: dict[str, Any], comments: bool) -> None:
    from keito_skill.install import _created as created

    if after == before and edit.path.exists():
        return
    edit.created = not edit.path.exists()
    if edit.created:
        created.remember(edit.path)
    elif not after and created.forget(edit.path):  # install made it; nothing else in it
        edit.path.unlink(missing_ok=True)
        edit.changed = True
        return
    edit.backup = write_json(edit.path, after)
    edit.changed = True
    if comments:
        edit.notes.append(f"comments in {edit.path} were not kept (see {edit.backup})")


def install(bin_path: Path, env: Mapping[str, str] | None = None) -> Edit:
    """Merge our hooks (and, when the user has none, local telemetry) into settings.json.

    Idempotent: a second install changes nothing and makes no backup.
    """
    gemini_dir = paths.gemini_dir(env)
    edit = Edit(gemini_dir / "settings.json")
    before, comments = read_settings(edit.path)
    after = merge_hooks(before, hook_specs(bin_path))
    after = _telemetry(after, gemini_dir, edit.notes)
    _save(edit, before, after, comments)
    config = after.get("hooksConfig")
    if isinstance(config, dict):
        if config.get("enabled") is False:
            edit.notes.append("hooksConfig.enabled is false: Gemini CLI runs no hooks")
        disabled = config.get("disabled")
        if isinstance(disabled, list) and HOOK_NAME in disabled:
            edit.notes.append(f"hooksConfig.disabled lists {HOOK_NAME}: our hooks do not run")
    return edit


def uninstall(env: Mapping[str, str] | None = None) -> Edit:
    """Remove our hooks (only ours) and the telemetry block if it is still ours."""
    gemini_dir = paths.gemini_dir(env)
    edit = Edit(gemini_dir / "settings.json")
    if not edit.path.exists():
        return edit
    before, comments = read_settings(edit.path)
    after = remove_hooks(before)
    if after.get("telemetry") == our_telemetry(gemini_dir):
        after = {k: v for k, v in after.items() if k != "telemetry"}
        edit.notes.append(
            f"local telemetry off; {gemini_dir / OUTFILE_NAME} is left (delete it when"
            " every session is billed)"
        )
    _save(edit, before, after, comments)
    return edit
