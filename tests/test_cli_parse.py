"""``parse`` and ``sessions`` through the real console entry point."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tests.sessions_kit import ROOT, cli, copy_session
from tests.transcript_data import CLAUDE_DIR, CLAUDE_TRANSCRIPT, CODEX_DIR, CODEX_TRANSCRIPT, truth

ENV = {k: v for k, v in os.environ.items() if not k.startswith(("KEITO_", "CLAUDE_", "CODEX_"))}


def test_parse_json_has_every_documented_field() -> None:
    result = cli("parse", str(CODEX_TRANSCRIPT), "--json", env=ENV)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in (
        "session_id",
        "agent",
        "started_at",
        "ended_at",
        "wall_seconds",
        "active_seconds",
        "models",
        "totals",
        "cost_usd",
        "cost_source",
        "turns",
        "tool_calls",
        "cwd",
        "git_branch",
        "skipped_lines",
    ):
        assert key in data, key
    model = truth(CODEX_DIR)
    assert {m: {k: v[k] for k in model[m]} for m, v in data["models"].items()} == model
    assert set(data["models"]["gpt-5-codex"]) >= {"cost_usd", "reasoning_output_tokens"}


def test_parse_table_names_model_and_cost() -> None:
    result = cli("parse", str(CLAUDE_TRANSCRIPT), env=ENV)
    assert result.returncode == 0
    assert "claude-opus-5-5" in result.stdout and "$0.0462" in result.stdout


def test_parse_table_reads_as_text() -> None:
    out = cli("parse", str(CODEX_TRANSCRIPT), env=ENV).stdout
    assert "(codex 0.169.0)" in out and "branch master" in out
    assert "2 prompts, 2 tool calls" in out and "None" not in out


def test_parse_of_a_transcript_with_nothing_in_it_says_so(tmp_path: Path) -> None:
    """Forced to an agent, an empty or unreadable file shows dashes, not Python's None, and
    no empty usage table."""
    empty = tmp_path / "rollout-empty.jsonl"
    empty.write_text("not json\n")
    result = cli("parse", str(empty), "--agent", "codex", env=ENV)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["session", "-", "(codex)"]
    assert lines[1].split() == ["cwd", "-"]
    assert "0 prompts, 0 tool calls" in result.stdout
    assert "usage     none recorded" in lines
    assert "skipped   1 unreadable line" in lines
    assert "None" not in result.stdout and "Usage by model" not in result.stdout


def test_parse_agent_override_and_errors(tmp_path: Path) -> None:
    forced = cli("parse", str(CLAUDE_TRANSCRIPT), "--agent", "claude-code", "--json", env=ENV)
    assert json.loads(forced.stdout)["agent"] == "claude-code"
    for path in (tmp_path / "missing.jsonl", tmp_path):
        bad = cli("parse", str(path), env=ENV)
        assert bad.returncode == 2
        assert bad.stderr.startswith("keito-skill: error:") and "Traceback" not in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
    unknown = tmp_path / "notes.jsonl"
    unknown.write_text('{"hello": "world"}\n')
    result = cli("parse", str(unknown), env=ENV)
    assert result.returncode == 2 and "does not look like" in result.stderr
    unreadable = tmp_path / "locked.jsonl"
    shutil.copy(CLAUDE_TRANSCRIPT, unreadable)
    unreadable.chmod(0)
    if not os.access(unreadable, os.R_OK):  # root reads anything
        result = cli("parse", str(unreadable), env=ENV)
        assert result.returncode == 2 and "Traceback" not in result.stderr


def test_sessions_lists_both_agents_newest_first(tmp_path: Path) -> None:
    claude = tmp_path / "claude"
    codex = tmp_path / "codex"
    # the recorded clocks (not slowed down for billing): codex ran after claude
    claude_id, _ = copy_session(
        "claude-code", claude / "projects" / "-home-dev-src-acme-api", factor=1.0
    )
    codex_id, _ = copy_session("codex", codex / "sessions" / "2026" / "11" / "21", factor=1.0)
    env = {**ENV, "CLAUDE_CONFIG_DIR": str(claude), "CODEX_HOME": str(codex)}
    result = cli("sessions", "--json", env=env)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)["sessions"]
    assert [s["session_id"] for s in found] == [codex_id, claude_id]  # codex ran later
    assert (
        found[1]["totals"]["output_tokens"] == truth(CLAUDE_DIR)["claude-opus-5-5"]["output_tokens"]
    )
    only = json.loads(cli("sessions", "--agent", "codex", "--json", env=env).stdout)["sessions"]
    assert [s["agent"] for s in only] == ["codex"]
    later = json.loads(cli("sessions", "--since", "2099-01-01", "--json", env=env).stdout)
    assert later["sessions"] == []
    flags = cli(
        "sessions", "--claude-dir", str(claude), "--codex-dir", str(codex), "--json", env=ENV
    )
    assert len(json.loads(flags.stdout)["sessions"]) == 2
    # Relative directories name the files as hooks and the ledger do: by absolute path.
    relative = cli(
        "sessions",
        "--claude-dir",
        os.path.relpath(claude, ROOT),
        "--codex-dir",
        os.path.relpath(codex, ROOT),
        "--json",
        env=ENV,
    )
    listed = json.loads(relative.stdout)["sessions"]
    assert [s["transcript_path"] for s in listed] == [s["transcript_path"] for s in found]
    # ``..`` after a link is the link's parent, as the system reads it (not collapsed first)
    (tmp_path / "real" / "sub").mkdir(parents=True)
    shutil.copytree(claude, tmp_path / "real" / "moved")
    (tmp_path / "lnk").symlink_to(tmp_path / "real" / "sub")
    through = os.path.relpath(tmp_path / "lnk", ROOT) + "/../moved"  # tmp_path/moved: none
    linked = cli("sessions", "--agent", "claude-code", "--claude-dir", through, "--json", env=ENV)
    assert [s["session_id"] for s in json.loads(linked.stdout)["sessions"]] == [claude_id]
    table = cli("sessions", env=env)
    assert "2 sessions" in table.stdout
    # Piped, the table is as wide as its contents: whole ids to pass to pause/parse.
    assert claude_id in table.stdout and codex_id in table.stdout
    assert "/home/dev/src/acme-api" in table.stdout and "…" not in table.stdout
    narrow = cli("sessions", env={**env, "COLUMNS": "70"})
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 70
    assert "…" not in narrow.stdout  # long values fold onto more lines instead
    none = cli("sessions", "--since", "2099-01-01", env=env)
    assert none.returncode == 0 and none.stdout == "No sessions found in that range.\n"
    typo = cli("sessions", "--claude-dir", str(claude) + "-typo", env=ENV)
    assert typo.returncode == 0 and typo.stdout == "No sessions found.\n"
    assert f"note: no directory {claude}-typo; nothing read there" in typo.stderr


def test_help_lists_every_command() -> None:
    result = cli("--help", env=ENV)
    for name in ("parse", "sessions", "sync", "status", "report", "hook", "pause", "resume"):
        assert f"  {name}" in result.stdout
