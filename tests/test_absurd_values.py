"""Issue 17 items 15 and 16: absurd values are refused at the edge, in one line.

A usage count of 2^63 in a transcript was billed as a $36.9 trillion expense; now the line
is out of range, counted in ``skipped_lines``, and the rest of the session is exact.
``idle_minutes: 10^20`` passed validation and overflowed SQLite; now it is a config error
naming its line. Garbage in the ledger (checkpoint JSON, missing tables, damaged pages)
was a traceback in ``report``, ``status``, ``sync`` and ``backfill --dry-run``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from keito_skill.mapping import ConfigProblem, load_config
from keito_skill.summary import summarize
from keito_skill.transcripts import parse_file
from keito_skill.transcripts._state import TOKEN_FIELDS
from tests.sessions_kit import AGENTS, cli, copy_session, skill_env, truth_totals

pytestmark = pytest.mark.usefixtures("utc")


def _with_absurd_line(agent: str, folder: Path) -> Path:
    """The fixture session plus one line whose usage is 2^63 tokens."""
    _, path = copy_session(agent, folder)
    lines = path.read_text().splitlines()
    index = 0
    for index, line in enumerate(lines):  # noqa: B007 - the line after it is wanted
        obj = json.loads(line)
        if agent == "claude-code" and isinstance(obj.get("message", {}).get("usage"), dict):
            obj["message"]["id"] = "msg_absurd"
            obj["message"]["usage"]["input_tokens"] = 2**63
            break
        if agent == "codex" and obj.get("payload", {}).get("type") == "token_count":
            info = obj["payload"]["info"]
            info["total_token_usage"]["input_tokens"] = 2**63
            info["last_token_usage"]["input_tokens"] = 2**63
            break
    lines.insert(index + 1, json.dumps(obj))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("agent", AGENTS)
def test_a_usage_value_of_two_to_the_63_is_skipped(agent: str, tmp_path: Path) -> None:
    path = _with_absurd_line(agent, tmp_path)
    state = parse_file(path, agent=agent)
    summary = summarize([state])
    assert state.skipped_lines == 1
    assert {k: getattr(summary.totals, k) for k in TOKEN_FIELDS} == truth_totals(agent)
    assert summary.cost_usd is not None and summary.cost_usd < 10


def test_report_on_a_session_with_an_absurd_value_is_sane(
    tmp_path: Path, keito_config_dir: Path
) -> None:
    path = _with_absurd_line("claude-code", tmp_path / "t")
    env = skill_env(tmp_path / "home", None, keito_config_dir)
    payload = json.dumps({"session_id": "s", "transcript_path": str(path), "cwd": "/tmp"})
    assert (
        cli("hook", "session-end", "--agent", "claude-code", env=env, stdin=payload).returncode == 0
    )
    report = cli("report", "--json", env=env)
    assert report.returncode == 0, report.stderr
    rows = json.loads(report.stdout)["rows"]
    assert sum(r["input_tokens"] for r in rows) == truth_totals("claude-code")["input_tokens"]


@pytest.mark.parametrize(
    ("body", "line", "field"),
    [
        ("billing:\n  idle_minutes: 100000000000000000000\n", 4, "billing.idle_minutes"),
        ("billing:\n  idle_minutes: 100000\n", 4, "billing.idle_minutes"),
        ("agent_tracking:\n  min_duration_seconds: 10000000000000\n", 4, "min_duration"),
        ("agent_tracking:\n  max_duration_seconds: 99999999999999999\n", 4, "max_duration"),
        ("version: 100000000000000000000\n", 3, "version"),
        ("metadata:\n  n: 100000000000000000000\n", 4, "metadata.n"),
    ],
)
def test_huge_integers_in_the_config_are_errors_with_their_line(
    body: str, line: int, field: str, tmp_path: Path
) -> None:
    path = tmp_path / ".keito" / "config.yml"
    path.parent.mkdir()
    path.write_text("project_id: p\ntask_id: t\n" + body)
    with pytest.raises(ConfigProblem) as caught:
        load_config(path)
    assert caught.value.line == line, str(caught.value)
    assert field in str(caught.value)


def _ledger_with_a_session(tmp_path: Path, env: dict[str, str]) -> Path:
    _, path = copy_session("codex", tmp_path / "t" / "sessions")
    payload = json.dumps({"session_id": "s", "transcript_path": str(path), "cwd": "/tmp"})
    assert cli("hook", "session-end", "--agent", "codex", env=env, stdin=payload).returncode == 0
    return Path(env["KEITO_SKILL_HOME"]) / "ledger.sqlite3"


def _one_line(proc: object, *words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    err = str(proc.stderr)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err


@pytest.mark.parametrize("garbage", ["{not json", "[1, 2]", '{"x": 5}', '"text"'])
@pytest.mark.parametrize("command", [["report"], ["backfill", "--dry-run"], ["status"]])
def test_garbage_checkpoint_json_is_not_a_traceback(
    command: list[str], garbage: str, tmp_path: Path, keito_config_dir: Path
) -> None:
    env = skill_env(tmp_path / "home", None, keito_config_dir)
    ledger = _ledger_with_a_session(tmp_path, env)
    with sqlite3.connect(ledger) as db:
        db.execute("UPDATE session_checkpoints SET checkpoints = ?", (garbage,))
        db.execute("UPDATE sessions SET offsets = ?, summary = ?", (garbage,) * 2)
    extra = ["--claude-dir", str(tmp_path / "t"), "--codex-dir", str(tmp_path / "t")]
    proc = cli(*command, *(extra if command[0] == "backfill" else []), env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 2), proc.stderr
    if proc.returncode == 2:
        _one_line(proc, "ledger")


@pytest.mark.parametrize("command", [["sync"], ["status"], ["report"]])
def test_a_missing_table_is_one_line(
    command: list[str], tmp_path: Path, keito_config_dir: Path
) -> None:
    env = skill_env(tmp_path / "home", None, keito_config_dir)
    ledger = _ledger_with_a_session(tmp_path, env)
    with sqlite3.connect(ledger) as db:
        db.execute("DROP TABLE records")
    _one_line(cli(*command, env=env), "ledger", str(ledger))


@pytest.mark.parametrize("command", [["sync"], ["status"], ["report"]])
def test_corrupted_pages_are_one_line(
    command: list[str], tmp_path: Path, keito_config_dir: Path
) -> None:
    env = skill_env(tmp_path / "home", None, keito_config_dir)
    ledger = _ledger_with_a_session(tmp_path, env)
    with sqlite3.connect(ledger) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(ledger.read_bytes())
    for page in range(4096, len(data), 4096):  # every page's b-tree type, but the first's
        data[page] = 0x00
    ledger.write_bytes(bytes(data))
    _one_line(cli(*command, env=env), "ledger")
