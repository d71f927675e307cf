"""Issue 17 item 12: no secret reaches Keito in a time entry's notes.

The default notes carry no free text; the modes that do (``last_message``,
``first_prompt``) are redacted before they leave. Each case below went through verbatim
before the fix (``notes_for`` copied the text).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from keito_skill.mapping import Notes, RepoConfig
from keito_skill.redact import MASK, redact
from keito_skill.summary import SessionSummary, summarize
from keito_skill.sync import run_sync
from keito_skill.sync._payloads import notes_for
from keito_skill.transcripts import parse_session
from tests.keito_server import KeitoServer
from tests.sessions_kit import (
    FIXTURE_CWD,
    copy_session,
    keito_client,
    make_repo,
    remote,
)
from tests.transcript_data import CLAUDE_TRANSCRIPT

SECRETS = {
    "github classic": "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    "github fine-grained": "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123",
    "openai": "sk-proj-" + "Zx9" * 12,
    "anthropic": "sk-ant-api03-" + "q" * 40,
    "aws key id": "AKIAIOSFODNN7EXAMPLE",
    "slack": "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "bearer": "Authorization: Bearer abcDEF123456ghiJKL789",
}
ASSIGNMENTS = {
    "env password": ("DB_PASSWORD=hunter2hunter2", "hunter2hunter2"),
    "aws secret": (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    "json token": ('{"api_key": "0123456789abcdef0123"}', "0123456789abcdef0123"),
    "yaml secret": ("client_secret: s3cr3t-Value_99", "s3cr3t-Value_99"),
    "connection string": (
        "postgres://admin:Pa55w0rd!x@db.example.com:5432/prod",
        "Pa55w0rd!x",
    ),
    "cli flag": ("mysql --password=Tr0ub4dor&3 -u root", "Tr0ub4dor&3"),
}
PEM = (
    "here is the key\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE\n"
    "bm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQy\n-----END OPENSSH PRIVATE KEY-----\nthanks"
)


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_tokens_are_redacted(name: str) -> None:
    secret = SECRETS[name]
    out = redact(f"I used {secret} to deploy.")
    assert MASK in out
    token = secret.split()[-1]
    assert token not in out and token[-12:] not in out


@pytest.mark.parametrize("name", sorted(ASSIGNMENTS))
def test_assigned_secrets_are_redacted(name: str) -> None:
    text, value = ASSIGNMENTS[name]
    out = redact(f"Set {text} and restarted")
    assert value not in out and MASK in out


def test_private_key_blocks_are_redacted_whole() -> None:
    out = redact(PEM)
    assert "b3BlbnNz" not in out and "bm9uZQ" not in out
    assert out.startswith("here is the key") and out.endswith("thanks")


def test_prose_is_left_alone() -> None:
    text = (
        "Fixed the password reset flow; the token expired too early. Refactored "
        "auth middleware and added tests for the secret rotation page (see PR 123)."
    )
    assert redact(text) == text


def _summary(message: str) -> SessionSummary:
    states, paths = parse_session(CLAUDE_TRANSCRIPT, agent="claude-code")
    summary = summarize(states, [str(p) for p in paths])
    return summary.model_copy(
        update={
            "last_assistant_message": message,
            "first_prompt": message,
            "turns": 3,
            "tool_calls": 7,
            "models": ["claude-sonnet-4-5"],
        }
    )


def test_default_notes_carry_no_free_text() -> None:
    summary = _summary(f"deployed with {SECRETS['github classic']}")
    config = RepoConfig(project_id="p", task_id="t")
    assert config.notes == Notes(mode="summary")
    notes = notes_for(summary, config)
    assert notes == "Claude Code: 3 prompts, 7 tool calls (claude-sonnet-4-5)"


@pytest.mark.parametrize("mode", ["last_message", "first_prompt"])
def test_text_modes_are_redacted(mode: str) -> None:
    summary = _summary(f"deployed with {SECRETS['github classic']} and DB_PASSWORD=x9y8z7w6v5")
    config = RepoConfig(project_id="p", task_id="t", notes=Notes(mode=mode))  # type: ignore[arg-type]
    notes = notes_for(summary, config)
    assert "ghp_" not in notes and "x9y8z7w6v5" not in notes
    assert notes.startswith("Claude Code: deployed with [redacted]")


def test_a_token_in_the_last_message_never_reaches_keito(
    keito_server: KeitoServer, tmp_path: Path, ledger: object, utc: None
) -> None:
    from keito_skill.ledger import Ledger
    from keito_skill.recorder import record

    assert isinstance(ledger, Ledger)
    repo = make_repo(tmp_path / "repo", keito_server, notes={"mode": "last_message"})
    session_id, path = copy_session("claude-code", tmp_path / "t")
    token = SECRETS["github classic"]
    text = path.read_text().replace(FIXTURE_CWD, str(repo))
    lines = text.splitlines()
    for index in range(len(lines) - 1, -1, -1):
        if '"type":"assistant"' in lines[index].replace(" ", "") and '"text"' in lines[index]:
            lines[index] = lines[index].replace('"text": "', f'"text": "token {token} ', 1)
            lines[index] = lines[index].replace('"text":"', f'"text":"token {token} ', 1)
            break
    path.write_text("\n".join(lines) + "\n")
    record(ledger, "claude-code", session_id, path, cwd=str(repo), end_reason="exit")
    with keito_client(keito_server) as client:
        run_sync(ledger, client)
    entries = remote(keito_server, "time_entries")
    assert entries and all(token not in str(e) for e in entries)
    assert any(MASK in (e.get("notes") or "") for e in entries)
