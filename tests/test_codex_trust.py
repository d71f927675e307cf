"""Unit tests of Codex hook trust: config.toml text editing and the app-server client.

The editing must leave every byte of the user's config.toml alone except the trust lines,
and refuse (rather than corrupt) when it cannot. The app-server client is exercised against
a fake ``codex`` executable speaking the same JSON-RPC, so these run without the real binary.
"""

from __future__ import annotations

import json
import stat
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from keito_skill.agents.codex.trust import (
    CodexAppServerError,
    CodexConfigEditError,
    HookInfo,
    list_hooks,
    read_hooks_listing,
    set_trusted_hashes,
    trust_hooks,
    untrusted_hooks,
    write_trusted_hashes,
)
from keito_skill.errors import KeitoSkillError

KEY = "/home/dev/.codex/hooks.json:session_start:0:0"
KEY2 = "/home/dev/.codex/hooks.json:stop:0:0"
H1 = "sha256:" + "a" * 64
H2 = "sha256:" + "b" * 64

USER_CONFIG = textwrap.dedent(
    """\
    # my codex settings — keep this comment
    model = "gpt-5-codex"   # inline comment
    approval_policy = "on-request"

    [model_providers.azure]
    name = "Azure"
    base_url = "https://example.invalid/openai"
    query_params = { api-version = "2025-04-01-preview" }

    [[profiles_list]]
    name = "a"

    [projects."/home/dev/src/acme-api"]
    trust_level = "trusted"
    """
)


def _state(text: str) -> dict[str, object]:
    return tomllib.loads(text)["hooks"]["state"]  # type: ignore[no-any-return]


def test_appends_tables_and_keeps_every_other_byte() -> None:
    out = set_trusted_hashes(USER_CONFIG, {KEY: H1, KEY2: H2})
    assert out.startswith(USER_CONFIG)
    assert out[len(USER_CONFIG) :] == (
        f'\n[hooks.state."{KEY}"]\ntrusted_hash = "{H1}"\n'
        f'\n[hooks.state."{KEY2}"]\ntrusted_hash = "{H2}"\n'
    )
    assert _state(out) == {KEY: {"trusted_hash": H1}, KEY2: {"trusted_hash": H2}}
    rest = tomllib.loads(out)
    del rest["hooks"]
    assert rest == tomllib.loads(USER_CONFIG)


def test_idempotent() -> None:
    once = set_trusted_hashes(USER_CONFIG, {KEY: H1})
    assert set_trusted_hashes(once, {KEY: H1}) == once


def test_replaces_a_stale_hash_in_place_keeping_comments_and_other_keys() -> None:
    text = USER_CONFIG + textwrap.dedent(
        f"""
        [hooks.state."{KEY}"]  # ours
        enabled = true
        trusted_hash = "{H2}"   # old
        [features]
        hooks = true
        """
    )
    out = set_trusted_hashes(text, {KEY: H1})
    assert out == text.replace(f'trusted_hash = "{H2}"   # old', f'trusted_hash = "{H1}"   # old')
    assert _state(out) == {KEY: {"enabled": True, "trusted_hash": H1}}


def test_inserts_under_an_existing_table_without_a_hash() -> None:
    text = f"[hooks.state.'{KEY}']\nenabled = true\n\n[other]\nx = 1\n"
    out = set_trusted_hashes(text, {KEY: H1})
    # In the existing table (after its keys: tomlkit appends), every other byte kept.
    assert (
        out == f"[hooks.state.'{KEY}']\nenabled = true\ntrusted_hash = \"{H1}\"\n\n[other]\nx = 1\n"
    )


def test_empty_and_missing_newline_files() -> None:
    assert set_trusted_hashes("", {KEY: H1}) == f'[hooks.state."{KEY}"]\ntrusted_hash = "{H1}"\n'
    out = set_trusted_hashes('model = "o3"', {KEY: H1})
    assert out == f'model = "o3"\n\n[hooks.state."{KEY}"]\ntrusted_hash = "{H1}"\n'


def test_crlf_files_stay_crlf() -> None:
    text = 'model = "o3"\r\n[tui]\r\nnotifications = true\r\n'
    out = set_trusted_hashes(text, {KEY: H1})
    assert out.startswith(text) and "\n" not in out.replace("\r\n", "")
    assert _state(out) == {KEY: {"trusted_hash": H1}}


def test_keys_needing_escapes() -> None:
    key = 'C:\\Users\\dev\\.codex\\hooks.json:stop:0:0 "quoted"'
    out = set_trusted_hashes("", {key: H1})
    assert _state(out) == {key: {"trusted_hash": H1}}


def test_header_lookalike_inside_multiline_string_is_not_touched() -> None:
    text = textwrap.dedent(
        f'''\
        developer_instructions = """
        [hooks.state."{KEY}"]
        trusted_hash = "not a real table"
        """
        '''
    )
    out = set_trusted_hashes(text, {KEY: H1})
    assert (
        tomllib.loads(out)["developer_instructions"]
        == tomllib.loads(text)["developer_instructions"]
    )
    assert _state(out) == {KEY: {"trusted_hash": H1}}


def test_refuses_inline_tables_it_cannot_edit() -> None:
    text = f'[hooks]\nstate = {{ "{KEY}" = {{ trusted_hash = "{H2}" }} }}\n'
    with pytest.raises(CodexConfigEditError):
        set_trusted_hashes(text, {KEY: H1})


def test_refuses_invalid_toml() -> None:
    with pytest.raises(CodexConfigEditError) as info:
        set_trusted_hashes("model = \n", {KEY: H1})
    assert isinstance(info.value, KeitoSkillError)


def test_write_is_atomic_with_backup_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(USER_CONFIG)
    path.chmod(0o640)
    assert write_trusted_hashes(path, {KEY: H1}) == [KEY]
    assert (tmp_path / "config.toml.keito-skill.bak").read_text() == USER_CONFIG
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert _state(path.read_text()) == {KEY: {"trusted_hash": H1}}
    mtime = path.stat().st_mtime_ns
    assert write_trusted_hashes(path, {KEY: H1}) == []
    assert path.stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_write_creates_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "codex" / "config.toml"
    assert write_trusted_hashes(path, {KEY: H1}) == [KEY]
    assert not path.with_name("config.toml.keito-skill.bak").exists()
    assert _state(path.read_text()) == {KEY: {"trusted_hash": H1}}


# ------------------------------------------------------------------------------------------
# app-server client against a fake codex
# ------------------------------------------------------------------------------------------

FAKE_CODEX = """\
#!{python}
import json, os, sys, tomllib
assert sys.argv[1:] == ["app-server"], sys.argv
home = os.environ["CODEX_HOME"]
mode = os.environ.get("FAKE_MODE", "ok")
hooks = [
    ("{k1}", "sessionStart", "{h1}", "keito-skill hook session-start"),
    ("{k2}", "stop", "{h2}", "keito-skill hook stop"),
]
def status(key, digest):
    try:
        with open(os.path.join(home, "config.toml"), "rb") as fh:
            state = tomllib.load(fh).get("hooks", {{}}).get("state", {{}})
    except FileNotFoundError:
        state = {{}}
    have = state.get(key, {{}}).get("trusted_hash")
    return "untrusted" if have is None else ("trusted" if have == digest else "modified")
print(json.dumps({{"method": "configWarning", "params": {{"summary": "noise"}}}}), flush=True)
for line in sys.stdin:
    msg = json.loads(line)
    if msg.get("method") == "initialize":
        print(json.dumps({{"id": msg["id"], "result": {{"codexHome": home}}}}), flush=True)
    elif msg.get("method") == "hooks/list":
        if mode == "error":
            print(json.dumps({{"id": msg["id"], "error": {{"code": -32600, "message": "nope"}}}}),
                  flush=True)
            continue
        if mode == "hang":
            continue
        data = [{{"cwd": c, "warnings": [], "errors": [], "hooks": [
            {{"key": k, "eventName": e, "handlerType": "command", "command": cmd,
              "currentHash": h, "trustStatus": status(k, h), "enabled": True,
              "isManaged": False, "source": "user", "sourcePath": home + "/hooks.json",
              "displayOrder": i, "timeoutSec": 30, "matcher": None}}
            for i, (k, e, h, cmd) in enumerate(hooks)]}} for c in msg["params"]["cwds"] or ["/"]]
        print(json.dumps({{"id": msg["id"], "result": {{"data": data}}}}), flush=True)
"""


@pytest.fixture
def fake_codex(tmp_path: Path) -> Path:
    script = tmp_path / "codex"
    script.write_text(FAKE_CODEX.format(python=sys.executable, k1=KEY, k2=KEY2, h1=H1, h2=H2))
    script.chmod(0o755)
    return script


def test_list_and_trust_with_fake_app_server(tmp_path: Path, fake_codex: Path) -> None:
    home = tmp_path / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text(USER_CONFIG)
    hooks = list_hooks(str(fake_codex), home, cwd=tmp_path)
    assert [(h.key, h.event, h.current_hash, h.trust_status) for h in hooks] == [
        (KEY, "sessionStart", H1, "untrusted"),
        (KEY2, "stop", H2, "untrusted"),
    ]
    assert all(isinstance(h, HookInfo) and not h.trusted for h in hooks)
    assert hooks[0].command == "keito-skill hook session-start"

    written = trust_hooks(str(fake_codex), home, lambda h: h.event == "stop", cwd=tmp_path)
    assert written == [KEY2]
    assert [h.key for h in untrusted_hooks(str(fake_codex), home, cwd=tmp_path)] == [KEY]
    assert (home / "config.toml").read_text().startswith(USER_CONFIG)
    assert trust_hooks(str(fake_codex), home, lambda h: h.event == "stop", cwd=tmp_path) == []


def test_app_server_error_and_timeout(
    tmp_path: Path, fake_codex: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MODE", "error")
    with pytest.raises(CodexAppServerError, match="nope"):
        read_hooks_listing(str(fake_codex), tmp_path)
    monkeypatch.setenv("FAKE_MODE", "hang")
    with pytest.raises(CodexAppServerError, match="in time"):
        read_hooks_listing(str(fake_codex), tmp_path, timeout=1)
    with pytest.raises(CodexAppServerError, match="cannot run"):
        list_hooks(str(tmp_path / "missing-codex"), tmp_path)


def test_hook_info_from_wire_keeps_unknown_fields() -> None:
    raw = json.loads(
        '{"key":"k","eventName":"sessionEnd","handlerType":"command","command":"c",'
        '"currentHash":"sha256:x","trustStatus":"managed","enabled":true,"isManaged":true,'
        '"source":"mdm","sourcePath":"/etc/codex/hooks.json","timeoutSec":1,"newField":1}'
    )
    info = HookInfo.from_wire(raw, "/w")
    assert info.trusted and info.is_managed and info.timeout_sec == 1
    assert info.raw["newField"] == 1


def test_forgetting_trust_removes_only_our_tables_and_keeps_comments(tmp_path: Path) -> None:
    from keito_skill.agents.codex.install import forget_trust

    path = tmp_path / "config.toml"
    theirs = f'[hooks.state."{KEY2}"]  # someone else\'s\ntrusted_hash = "{H2}"\n'
    path.write_text(set_trusted_hashes(USER_CONFIG + "\n" + theirs, {KEY: H1}))
    assert forget_trust(path, [KEY, "not-there"]) == [KEY]
    assert path.read_text() == USER_CONFIG + "\n" + theirs
    assert forget_trust(path, [KEY2]) == [KEY2]
    assert path.read_text().rstrip("\n") == USER_CONFIG.rstrip("\n")
    assert forget_trust(path, [KEY2]) == []
