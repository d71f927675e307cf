"""A Gemini CLI session's complete usage: chat files plus its share of the telemetry file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keito_skill.agents.gemini_cli import session as gsession
from keito_skill.agents.gemini_cli.telemetry import parse_telemetry, start_offset
from keito_skill.agents.gemini_cli.transcript import UNRECORDED_USAGE, parse_file
from keito_skill.summary import summarize
from keito_skill.transcripts._state import TOKEN_FIELDS
from tests.gemini_data import TELEMETRY, TOOLUSE, gemini_truth, session_of


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_CLI_HOME", str(tmp_path / "ghome"))
    monkeypatch.delenv("GEMINI_TELEMETRY_OUTFILE", raising=False)
    monkeypatch.delenv("GEMINI_TELEMETRY_ENABLED", raising=False)


def _configure(tmp_path: Path, outfile: Path) -> None:
    settings = tmp_path / "ghome" / ".gemini" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"telemetry": {"enabled": True, "outfile": str(outfile)}}))


def _models(states: list) -> dict[str, dict[str, int]]:  # type: ignore[type-arg]
    summary = summarize(states)
    return {m: {k: getattr(u, k) for k in TOKEN_FIELDS} for m, u in summary.models.items()}


def test_no_telemetry_configured_says_so() -> None:
    chat = parse_file(TOOLUSE)
    assert gsession.read_telemetry([chat], {}, idle_seconds=300) is None
    assert chat.extra[gsession.INCOMPLETE] == UNRECORDED_USAGE


def test_complete_telemetry_completes_the_bill(tmp_path: Path) -> None:
    outfile = tmp_path / "telemetry.log"
    outfile.write_bytes(TELEMETRY.read_bytes())
    _configure(tmp_path, outfile)
    chat = parse_file(TOOLUSE)
    found = gsession.read_telemetry([chat], {}, idle_seconds=300)
    assert found is not None
    tel, path = found
    assert path == outfile
    assert gsession.INCOMPLETE not in chat.extra
    assert _models([chat, tel]) == gemini_truth(session_of(TOOLUSE))
    assert tel.extra["complete"] is True


def test_telemetry_still_on_its_way_is_waited_for_then_billed_once(tmp_path: Path) -> None:
    """The records a hook cannot see yet (written every 5 s and at exit) are billed by the
    next read, and a read after that adds nothing."""
    blob = TELEMETRY.read_bytes()
    sid = session_of(TOOLUSE)
    outfile = tmp_path / "telemetry.log"
    # Cut the file before the session's last main-role record.
    last_main = blob.rfind(b'"role": "main"')
    cut = blob.rfind(b"\n}\n", 0, last_main) + 3
    outfile.write_bytes(blob[:cut])
    _configure(tmp_path, outfile)
    chat = parse_file(TOOLUSE)
    found = gsession.read_telemetry([chat], {}, idle_seconds=300)
    assert found is not None
    assert chat.extra[gsession.INCOMPLETE] == gsession.WAITING
    first = found[0]
    outfile.write_bytes(blob)
    known = {str(outfile): first}
    found = gsession.read_telemetry([chat], known, idle_seconds=300)
    assert found is not None and gsession.INCOMPLETE not in chat.extra
    again = found[0]
    assert _models([chat, again]) == gemini_truth(sid)
    # Each router record is listed once, with its key, for the ledger to claim.
    routed = [r for r in json.loads("[" + ",".join(_truth_lines()) + "]") if r["session_id"] == sid]
    keys = [e[0] for e in again.responses]
    assert len(keys) == len(set(keys)) == sum(r["role"] == "utility_router" for r in routed)
    assert all(k.startswith(f"gemini-tel:{sid}:") for k in keys)
    listed = len(again.responses)
    gsession.read_telemetry([chat], {str(outfile): again}, idle_seconds=300)
    assert len(again.responses) == listed  # nothing new: nothing listed again


def _truth_lines() -> list[str]:
    return (TELEMETRY.parent / "usage-truth.jsonl").read_text().splitlines()


def _value(sid: str, seconds: int, role: str = "utility_router") -> str:
    record = {
        "hrTime": [seconds, 0],
        "attributes": {
            "session.id": sid,
            "event.name": "gemini_cli.api_response",
            "model": "gemini-3.5-flash-lite",
            "role": role,
            "prompt_id": f"{sid}#{seconds}",
            "input_token_count": 100,
            "cached_content_token_count": 40,
            "output_token_count": 7,
            "thoughts_token_count": 3,
            "padding": "x" * 3000,
        },
    }
    return json.dumps(record, indent=2) + "\n"


def test_a_new_session_starts_reading_near_its_own_start(tmp_path: Path) -> None:
    """The shared file holds every earlier session: a new one skips most of it, and still
    sees every record of its own."""
    path = tmp_path / "telemetry.log"
    start = 1_796_000_000
    old = "".join(_value("old", start + i * 10) for i in range(4000))  # ~11 hours, ~14 MB
    mine = "".join(_value("new", start + 40_000 + i) for i in range(5))
    path.write_text(old + mine)
    offset = start_offset(path, start + 40_000)
    assert 0 < offset <= len(old.encode())
    assert len(old.encode()) - offset < 3 * 1024 * 1024  # about the margin's hour, no more
    state = parse_telemetry(path, "new", since=start + 40_000)
    assert state.extra["roles"] == {"utility_router": 5}
    assert parse_telemetry(path, "new").model_totals() == state.model_totals()
    # A time earlier than everything: from the start.
    assert start_offset(path, start - 10_000) == 0


def test_a_settled_session_does_not_read_the_shared_files_growth(tmp_path: Path) -> None:
    outfile = tmp_path / "telemetry.log"
    outfile.write_bytes(TELEMETRY.read_bytes())
    _configure(tmp_path, outfile)
    chat = parse_file(TOOLUSE)
    found = gsession.read_telemetry([chat], {}, idle_seconds=300)
    assert found is not None
    tel = found[0]
    tel.responses, tel.read_from = [], None  # as stored
    later = int((chat.last_ts or 0) + 3600)
    with outfile.open("a") as fh:
        fh.write(_value(str(chat.session_id), later))  # an hour later: not read
    again = gsession.read_telemetry([chat], {str(outfile): tel}, idle_seconds=300)
    assert again is not None and again[0] is tel and tel.read_from is None
