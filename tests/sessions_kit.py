"""Building blocks for ledger/sync/hook tests: mapped repos, session copies, a skill home.

Everything real: git repos made with ``git init``, transcripts copied from the recorded
fixtures (with a fresh session id where a test needs many sessions), the dev server.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from keito_skill.keito import KeitoClient
from keito_skill.ledger import Ledger
from keito_skill.sync import SyncReport, run_sync
from tests.keito_server import KeitoServer
from tests.transcript_data import (
    CLAUDE_DIR,
    CLAUDE_TRANSCRIPT,
    CODEX_DIR,
    CODEX_TRANSCRIPT,
    TOKEN_KEYS,
    truth,
)

CLAUDE_SESSION = "cab679c4-8324-433f-b85d-880ae9d60f45"
CODEX_SESSION = "01a20020-ab0e-7730-a912-3562a2e2218f"
FIXTURE_CWD = "/home/dev/src/acme-api"  # the recorded sessions' cwd (see the fixtures README)
ROOT = Path(__file__).resolve().parent.parent
AGENTS = ("claude-code", "codex")
FOLDERS = {"claude-code": CLAUDE_DIR, "codex": CODEX_DIR}


def truth_totals(agent: str) -> dict[str, int]:
    """The recorded fixture session's token totals (all models) for ``agent``."""
    per_model = truth(FOLDERS[agent])
    return {key: sum(m[key] for m in per_model.values()) for key in TOKEN_KEYS}


def keito_client(
    server: KeitoServer, *, max_retries: int = 2, timeout: float = 10.0
) -> KeitoClient:
    """A client for the dev server that retries quickly (tests should not sleep)."""
    return KeitoClient(
        server.url,
        server.api_key,
        server.account_id,
        timeout=timeout,
        max_retries=max_retries,
        backoff_base=0.01,
    )


def sync_to(server: KeitoServer, ledger: Ledger) -> SyncReport:
    """One ``run_sync`` of ``ledger`` to the dev server, with a :func:`keito_client`."""
    with keito_client(server) as client:
        return run_sync(ledger, client)


def make_repo(root: Path, server: KeitoServer | None, **config: Any) -> Path:
    """A git repository whose ``.keito/config.yml`` maps to the dev server's demo task."""
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    body: dict[str, Any] = {"version": 1}
    if server is not None:
        body.update(
            project_id=server.project_id,
            task_id=server.task_id,
            expense_category_id=server.category_id,
        )
    body.update(config)
    (root / ".keito").mkdir(exist_ok=True)
    (root / ".keito" / "config.yml").write_text(yaml.safe_dump(body))
    return root


_STAMP = re.compile(r'"timestamp": ?"([0-9T:.\-]+)Z"')
SLOWED = 120.0  # how much slower a copied session's clock runs than the recorded one's


def slowed(text: str, factor: float = SLOWED) -> str:
    """``text`` with its timestamps spread ``factor`` times further apart from the first.

    The recorded fixtures last about a second: billed as is they round to 0.00 h, which is
    never sent as a time entry (issue 15). Slowed down they last a few minutes."""
    stamps = [datetime.fromisoformat(m.group(1)) for m in _STAMP.finditer(text)]
    if not stamps or factor == 1.0:
        return text
    first = min(stamps)

    def slow(match: re.Match[str]) -> str:
        later = first + (datetime.fromisoformat(match.group(1)) - first) * factor
        return f'"timestamp":"{later.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]}Z"'

    return _STAMP.sub(slow, text)


def copy_session(
    agent: str, dest: Path, session_id: str | None = None, *, factor: float = SLOWED
) -> tuple[str, Path]:
    """A copy of a fixture transcript, with a new session id unless one is given, its clock
    slowed down ``factor`` times (see :func:`slowed`)."""
    source, old = (
        (CLAUDE_TRANSCRIPT, CLAUDE_SESSION)
        if agent == "claude-code"
        else (CODEX_TRANSCRIPT, CODEX_SESSION)
    )
    new = session_id or str(uuid.uuid4())
    dest.mkdir(parents=True, exist_ok=True)
    name = f"{new}.jsonl" if agent == "claude-code" else f"rollout-2026-11-21T22-01-10-{new}.jsonl"
    target = dest / name
    text = source.read_text().replace(old, new)
    if agent == "claude-code":  # a new session's responses are new ones, not copies
        text = text.replace('"requestId":"req_', f'"requestId":"req_{new[:8]}')
    target.write_text(slowed(text, factor))
    return new, target


def split_at_first_end(agent: str, text: str) -> tuple[str, str]:
    """The fixture's first run and its resume: cut after the first prompt's last line."""
    lines = text.splitlines(keepends=True)
    marker = '"type": "cost-state"' if agent == "claude-code" else '"task_complete"'
    for index, line in enumerate(lines):
        if marker in line.replace('":"', '": "'):
            cut = index + 1
            break
    else:  # pragma: no cover - the fixtures have one
        raise AssertionError("no end of first prompt")
    return "".join(lines[:cut]), "".join(lines[cut:])


def skill_env(home: Path, server: KeitoServer | None, config_dir: Path) -> dict[str, str]:
    """Environment for a keito-skill subprocess: its own home, the server's credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEITO_")}
    env["KEITO_SKILL_HOME"] = str(home)
    env["KEITO_CONFIG_DIR"] = str(config_dir)
    if server is not None:
        env.update(
            KEITO_API_KEY=server.api_key,
            KEITO_ACCOUNT_ID=server.account_id,
            KEITO_API_URL=server.url,
        )
    return env


def cli(
    *args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keito_skill", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def cli_on_a_terminal(
    *args: str, env: dict[str, str], timeout: float = 120
) -> tuple[subprocess.CompletedProcess[str], str]:
    """``keito-skill ARGS`` with stderr on a pseudo-terminal (where progress bars are drawn);
    returns the run (stdout captured) and everything written to the terminal."""
    import pty

    master, slave = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "keito_skill", *args],
            env={**env, "COLUMNS": "100"},
            stdout=subprocess.PIPE,
            stderr=slave,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )
        os.close(slave)
        drawn = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(master)
    return done, drawn.decode(errors="replace")


def remote(server: KeitoServer, kind: str) -> list[dict[str, Any]]:
    """Every time entry or expense stored by the server, through its own API."""
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        response = server.api().get(f"/api/v2/{kind}", params={"page": page, "per_page": 100})
        response.raise_for_status()
        data = response.json()
        out.extend(data[kind])
        if page >= int(data.get("total_pages") or 1):
            return out
        page += 1


def expense_tokens(expenses: list[dict[str, Any]], session_id: str) -> dict[str, int]:
    keys = (
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "output_tokens",
        "reasoning_output_tokens",
    )
    totals = dict.fromkeys(keys, 0)
    for item in expenses:
        meta = item.get("metadata") or {}
        if meta.get("session_id") == session_id:
            for key in keys:
                totals[key] += int(meta.get(key, 0))
    return totals


def dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
