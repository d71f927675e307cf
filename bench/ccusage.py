"""``ccusage``, pinned, installed into ``bench/.cache/ccusage`` and run on the same corpus.

Pinned version and why: ``ccusage@20.0.26`` is the registry's ``latest``, but its
``linux-x64`` native binary (``@ccusage/ccusage-linux-x64@20.0.26``) was never published,
so on Linux it only prints "native binary is not available". 20.0.24 is the newest
release with a Linux binary; that is what we pin. Since v20 ccusage is a native program
(the npm package is a small launcher) that reads Claude Code *and* Codex itself (no
separate ``@ccusage/codex`` needed): ``ccusage session --json`` reports both, one row
per session with an ``agent`` field.

How it finds data: ``CLAUDE_CONFIG_DIR`` (a dir holding ``projects/``) and ``CODEX_HOME``
(a dir holding ``sessions/``); we also point ``HOME`` at an empty dir so it finds no other
agent's data, and pass ``--offline`` so it prices from its embedded table instead of
fetching LiteLLM's (no network in a timed run).

What its JSON fields mean, per session row (checked against the corpus truth):

* ``inputTokens``: *uncached* input, for Claude (Anthropic's ``input_tokens``) and for
  Codex alike (OpenAI's ``input_tokens`` minus ``cached_input_tokens``) — the same as our
  ``input_tokens``.
* ``cacheCreationTokens`` / ``cacheReadTokens``: our ``cache_creation_input_tokens`` /
  ``cache_read_input_tokens`` (Codex has no cache writes: always 0).
* ``outputTokens``: output *including* reasoning (OpenAI counts reasoning inside output);
  ``metadata.reasoningOutputTokens`` is the "of which" part, like our
  ``reasoning_output_tokens``.
* ``totalTokens`` = input + cache creation + cache read + output.
* ``period``: the Claude session id, or for Codex the rollout's path under
  ``sessions/`` without ``.jsonl`` (the session id is the UUID at its end).
* ``totalCost``: ccusage's own price for the tokens (LiteLLM table). Ours is the agent's
  own figure for Claude (``cost-state`` lines) and our price table for Codex, so costs are
  reported side by side but not expected to be equal.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench._common import CACHE, Run, clean_env, run

PINNED = "20.0.24"
PREFIX = CACHE / "ccusage"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TOKEN_FIELDS = {
    "input_tokens": "inputTokens",
    "cache_creation_input_tokens": "cacheCreationTokens",
    "cache_read_input_tokens": "cacheReadTokens",
    "output_tokens": "outputTokens",
}


def binary() -> Path | None:
    """The installed native binary (what the npm launcher would exec), if any."""
    found = sorted(PREFIX.glob("node_modules/@ccusage/ccusage-*/bin/ccusage"))
    return found[0] if found else None


def installed_version() -> str | None:
    package = PREFIX / "node_modules" / "ccusage" / "package.json"
    try:
        return str(json.loads(package.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def ensure(timeout: float = 300) -> tuple[Path | None, str | None]:
    """Install the pinned ccusage if needed: (binary, None) or (None, why not)."""
    if installed_version() == PINNED and (found := binary()) is not None:
        found.chmod(0o755)
        return found, None
    npm = shutil.which("npm")
    if npm is None:
        return None, "npm is not installed"
    PREFIX.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(PREFIX),
                "--no-audit",
                "--no-fund",
                "--save-exact",
                f"ccusage@{PINNED}",
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"npm install ccusage@{PINNED} failed: {exc}"
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return None, f"npm install ccusage@{PINNED} failed: {' / '.join(tail)}"
    found = binary()
    if found is None:
        return None, f"ccusage@{PINNED} has no native binary for this platform"
    found.chmod(0o755)
    return found, None


def run_session(exe: Path, claude_dir: Path, codex_dir: Path, home: Path) -> Run:
    """``ccusage session --json --offline`` over exactly these two directories."""
    home.mkdir(parents=True, exist_ok=True)
    env = clean_env(
        HOME=str(home),
        CLAUDE_CONFIG_DIR=str(claude_dir),
        CODEX_HOME=str(codex_dir),
        NO_COLOR="1",
    )
    return run([str(exe), "session", "--json", "--offline"], env=env)


def per_session(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(agent, session id) → our token names, reasoning, cost and row count."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for row in report.get("session", []):
        agent = {"claude": "claude-code"}.get(row.get("agent"), row.get("agent"))
        ids = _UUID.findall(str(row.get("period", "")))
        key = (str(agent), ids[-1] if ids else str(row.get("period")))
        slot = out.setdefault(
            key, {**dict.fromkeys(TOKEN_FIELDS, 0), "reasoning": 0, "cost": 0.0, "rows": 0}
        )
        for ours, theirs in TOKEN_FIELDS.items():
            slot[ours] += int(row.get(theirs) or 0)
        slot["reasoning"] += int((row.get("metadata") or {}).get("reasoningOutputTokens") or 0)
        slot["cost"] += float(row.get("totalCost") or 0.0)
        slot["rows"] += 1
    return out
