"""One Keito identity per session, whoever records it (issue 17, item 3).

Records were keyed by the first ``sessionId`` inside the transcript, not by the id the agent
reports for the file. A fork that copies its parent's history lines begins with the
parent's id, so the two sessions shared one Keito identity and wrote over each other's
time entry. The identity is now the ledger's key: the id the agent reports for the file
(Claude Code: the file name, the hook's ``session_id``; Codex: the rollout's own
``session_meta``), the same for hooks, backfill and watch.

The fork's copied usage counting once across both sessions is issue 16's (response
dedupe); these tests only hold the identities apart.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest

from keito_skill.backfill import BackfillOptions, run_backfill
from keito_skill.ledger import Ledger
from keito_skill.transcripts import session_id_for
from tests.keito_server import KeitoServer
from tests.sessions_kit import (
    FIXTURE_CWD,
    cli,
    copy_session,
    expense_tokens,
    make_repo,
    remote,
    skill_env,
    split_at_first_end,
    sync_to,
    truth_totals,
)
from tests.test_hooks import hook
from tests.transcript_data import TOKEN_KEYS

pytestmark = pytest.mark.usefixtures("utc")

AGENTS = ("claude-code", "codex")
HOUR_AGO = time.time() - 3600


def _folder(base: Path, agent: str) -> Path:
    if agent == "claude-code":
        return base / "claude" / "projects" / "-repo"
    return base / "codex" / "sessions" / "2026" / "11" / "21"


def _fork(agent: str, folder: Path, repo: Path) -> tuple[str, Path, str, Path]:
    """A parent session, and a fork of it that begins with the parent's history lines.

    Claude Code: the fork's file (named after its own id) starts with the parent's lines,
    ``sessionId`` and all, then goes on under its own id. Codex: the forked rollout's own
    ``session_meta`` comes first, then the parent's items (its ``session_meta`` included).
    """
    parent, parent_path = copy_session(agent, folder)
    text = parent_path.read_text().replace(FIXTURE_CWD, str(repo))
    parent_path.write_text(text)
    child = str(uuid.uuid4())
    if agent == "claude-code":
        history, rest = split_at_first_end(agent, text)
        child_path = folder / f"{child}.jsonl"
        child_path.write_text(history + rest.replace(parent, child))
    else:
        first = text.splitlines(keepends=True)[0]
        child_path = folder / f"rollout-2026-11-21T23-00-00-{child}.jsonl"
        child_path.write_text(first.replace(parent, child) + text)
    for path in (parent_path, child_path):
        os.utime(path, (HOUR_AGO, HOUR_AGO))
    return parent, parent_path, child, child_path


def _held_apart(server: KeitoServer, agent: str, parent: str, child: str) -> None:
    entries = remote(server, "time_entries")
    assert sorted(e["metadata"]["session_id"] for e in entries) == sorted([parent, child])
    # The fork's copied responses are one set of responses (issue 16): whichever file was
    # read first carries them, and across the two sessions they are billed exactly once.
    carried = {k: sum(e["metadata"][k] for e in entries) for k in TOKEN_KEYS}
    assert carried == truth_totals(agent)
    expenses = remote(server, "expenses")
    assert {e["metadata"]["session_id"] for e in expenses} <= {parent, child}
    one, other = expense_tokens(expenses, parent), expense_tokens(expenses, child)
    assert {k: one[k] + other[k] for k in one} == truth_totals(agent)


@pytest.mark.parametrize("agent", AGENTS)
def test_a_fork_through_hooks_keeps_its_own_identity(
    agent: str, keito_server: KeitoServer, tmp_path: Path, keito_config_dir: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    env = skill_env(tmp_path / "home", keito_server, keito_config_dir)
    env["KEITO_SKILL_NO_BACKGROUND_SYNC"] = "1"
    parent, parent_path, child, child_path = _fork(agent, tmp_path / "t", repo)
    for session_id, path in ((parent, parent_path), (child, child_path)):
        payload = {
            "session_id": session_id,
            "transcript_path": str(path),
            "cwd": str(repo),
            "hook_event_name": "SessionEnd",
            "reason": "exit",
        }
        assert hook(agent, payload, env).returncode == 0
    assert cli("sync", env=env).returncode == 0
    _held_apart(keito_server, agent, parent, child)


@pytest.mark.parametrize("agent", AGENTS)
def test_a_fork_through_backfill_keeps_its_own_identity(
    agent: str, keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", keito_server)
    base = tmp_path / "agents"
    parent, parent_path, child, child_path = _fork(agent, _folder(base, agent), repo)
    # the rule backfill and watch key by: the id the agent reports for that file
    assert session_id_for(agent, parent_path) == parent
    assert session_id_for(agent, child_path) == child
    options = BackfillOptions(
        roots={"claude-code": [base / "claude"], "codex": [base / "codex"]}, workers=1
    )
    report = run_backfill(options, ledger)
    assert sorted(r.session_id for r in report.sessions) == sorted([parent, child])
    sync_to(keito_server, ledger)
    _held_apart(keito_server, agent, parent, child)
    # and the ledger's records carry the same identity as its rows
    for record in ledger.records():
        assert record.payload["metadata"]["session_id"] == record.session_id, json.dumps(
            record.payload["metadata"]
        )


@pytest.mark.parametrize("agent", AGENTS)
def test_a_fork_through_watch_keeps_its_own_identity(
    agent: str, keito_server: KeitoServer, ledger: Ledger, tmp_path: Path
) -> None:
    from keito_skill.watch import Watcher

    repo = make_repo(tmp_path / "repo", keito_server)
    base = tmp_path / "agents"
    parent, parent_path, child, child_path = _fork(agent, _folder(base, agent), repo)
    logged: list[str] = []
    ahead = [0.0]  # the watcher's clock runs this far ahead of the real one
    watcher = Watcher(
        ledger,
        roots={"claude-code": [base / "claude"], "codex": [base / "codex"]},
        quiet_seconds=1,
        log=logged.append,
        clock=lambda: time.time() + ahead[0],
    )
    for path in (parent_path, child_path):
        watcher.notify(str(path))
    watcher.step()  # recorded
    ahead[0] = 60.0  # a minute later, for the watcher
    watcher.step()  # quiet for longer than its idle time: ended
    assert {row.session_id for row in ledger.sessions()} == {parent, child}, logged
    sync_to(keito_server, ledger)
    _held_apart(keito_server, agent, parent, child)
