"""Credentials shared with the official Keito CLI, and ``keito-skill auth login|status``.

Every test points ``KEITO_CONFIG_DIR`` at a temporary directory (``keito_config_dir``),
so the real ``~/.config/keito`` is never read or written.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from keito_skill.cli import cli
from keito_skill.keito import (
    DEFAULT_API_URL,
    KeitoClient,
    KeitoCredentialsError,
    config_path,
    load_credentials,
)
from tests.keito_server import KeitoServer
from tests.test_keito_client import free_port

SECRET = "kto_secret_never_printed_42"


def write_config(config_dir: Path, text: str) -> Path:
    config_dir.mkdir(parents=True, exist_ok=True)
    path = config_dir / "config.toml"
    path.write_text(text)
    return path


# -- load_credentials -----------------------------------------------------------------


def test_reads_the_keito_cli_config(keito_config_dir: Path) -> None:
    write_config(
        keito_config_dir,
        f'api_key = "{SECRET}"\naccount_id = "co_1"\napi_url = "http://x.test/"\n'
        'default_output = "json"\n',
    )
    creds = load_credentials()
    assert (creds.api_key, creds.account_id, creds.api_url) == (SECRET, "co_1", "http://x.test")
    assert creds.api_key_source.startswith("config file")
    assert SECRET not in repr(creds)


def test_environment_wins_per_value(
    keito_config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(keito_config_dir, 'api_key = "file_key"\naccount_id = "co_file"\n')
    monkeypatch.setenv("KEITO_API_KEY", "env_key")
    creds = load_credentials()
    assert (creds.api_key, creds.api_key_source) == ("env_key", "env KEITO_API_KEY")
    assert creds.account_id == "co_file"  # not in the environment: from the file
    assert creds.api_url == DEFAULT_API_URL
    monkeypatch.setenv("KEITO_ACCOUNT_ID", "co_env")
    monkeypatch.setenv("KEITO_API_URL", "http://127.0.0.1:9")
    creds = load_credentials()
    assert (creds.account_id, creds.api_url) == ("co_env", "http://127.0.0.1:9")


def test_legacy_workspace_id(keito_config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(keito_config_dir, 'api_key = "k"\nworkspace_id = "ws_legacy"\n')
    assert load_credentials().account_id == "ws_legacy"
    monkeypatch.setenv("KEITO_WORKSPACE_ID", "ws_env")
    assert load_credentials().account_id == "ws_env"
    monkeypatch.setenv("KEITO_ACCOUNT_ID", "co_env")
    assert load_credentials().account_id == "co_env"


def test_missing_credentials_explain_the_fix(keito_config_dir: Path) -> None:
    with pytest.raises(KeitoCredentialsError, match="auth login"):
        load_credentials()
    write_config(keito_config_dir, 'api_key = "k"\n')
    with pytest.raises(KeitoCredentialsError, match="account id"):
        load_credentials()


@pytest.mark.skipif(sys.platform != "linux", reason="XDG layout is Linux-only")
def test_default_dir_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEITO_CONFIG_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config_path() == tmp_path / "keito" / "config.toml"


def test_from_credentials_builds_a_working_client(
    keito_config_dir: Path, keito_server: KeitoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEITO_API_KEY", keito_server.api_key)
    monkeypatch.setenv("KEITO_ACCOUNT_ID", keito_server.account_id)
    monkeypatch.setenv("KEITO_API_URL", keito_server.url)
    with KeitoClient.from_credentials(load_credentials()) as client:
        assert client.me().id == "usr_demo"


# -- auth login -----------------------------------------------------------------------


def test_login_writes_a_private_config(keito_config_dir: Path) -> None:
    write_config(keito_config_dir, 'default_output = "json"\ntimezone = "Europe/London"\n')
    result = CliRunner().invoke(cli, ["auth", "login", "--no-verify"], input=f"{SECRET}\nco_123\n")
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    path = keito_config_dir / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keito_config_dir.stat().st_mode) == 0o700
    data = tomllib.loads(path.read_text())
    assert data == {
        "default_output": "json",
        "timezone": "Europe/London",
        "api_key": SECRET,
        "account_id": "co_123",
        "workspace_id": "co_123",  # older CLI versions read only this key
    }
    assert load_credentials().api_key == SECRET


def test_login_verifies_against_the_server(
    keito_config_dir: Path, keito_server: KeitoServer
) -> None:
    args = ["auth", "login", "--account-id", keito_server.account_id, "--api-url", keito_server.url]
    result = CliRunner().invoke(cli, args, input=f"{keito_server.api_key}\n")
    assert result.exit_code == 0, result.output
    assert "Logged in as demo@keito.invalid" in result.output
    assert keito_server.api_key not in result.output
    creds = load_credentials()
    assert (creds.api_url, creds.account_id) == (keito_server.url, keito_server.account_id)


def test_login_rejects_a_bad_key_and_saves_nothing(
    keito_config_dir: Path, keito_server: KeitoServer
) -> None:
    args = ["auth", "login", "--account-id", keito_server.account_id, "--api-url", keito_server.url]
    result = CliRunner().invoke(cli, args, input=f"{SECRET}\n")
    assert result.exit_code == 2
    assert "credentials not saved" in result.output
    assert SECRET not in result.output
    assert not (keito_config_dir / "config.toml").exists()


def test_login_from_a_pipe_checks_against_keito_api_url(
    keito_config_dir: Path, keito_server: KeitoServer
) -> None:
    """``echo $KEY | keito-skill auth login`` with KEITO_API_URL set (the dev-server set-up):
    checked against that URL, no terminal-echo warning, and the URL is saved with the key:
    hooks and the watch service do not see this shell's environment."""
    env = {**os.environ, "KEITO_API_URL": keito_server.url}
    done = subprocess.run(
        [sys.executable, "-m", "keito_skill", "auth", "login"],
        input=f"{keito_server.api_key}\n{keito_server.account_id}\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Logged in as demo@keito.invalid")  # no prompt text
    assert "echo" not in done.stderr.lower()
    assert keito_server.api_key not in done.stdout + done.stderr
    data = tomllib.loads((keito_config_dir / "config.toml").read_text())
    assert data["account_id"] == keito_server.account_id
    assert data["api_url"] == keito_server.url


def test_login_keeps_the_saved_account_when_none_is_given(keito_config_dir: Path) -> None:
    write_config(keito_config_dir, 'api_key = "old"\naccount_id = "co_9"\n')
    result = CliRunner().invoke(cli, ["auth", "login", "--no-verify"], input=f"{SECRET}\n")
    assert result.exit_code == 0, result.output
    assert "(account co_9," in result.output
    assert load_credentials().api_key == SECRET and load_credentials().account_id == "co_9"


def test_login_with_keito_unreachable_says_so_in_one_line(keito_config_dir: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    args = ["auth", "login", "--account-id", "co_1", "--api-url", url]
    result = CliRunner().invoke(cli, args, input=f"{SECRET}\n")
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    error = result.output.strip().splitlines()[-1]
    assert error.startswith("keito-skill: error: credentials not saved: could not check them")
    assert "--no-verify" in error and "rejected" not in error
    assert SECRET not in result.output
    assert not (keito_config_dir / "config.toml").exists()


# -- auth status ----------------------------------------------------------------------


def test_status_when_not_configured(keito_config_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["auth", "status"])
    assert result.exit_code == 1
    assert "NOT configured" in result.output and "auth login" in result.output


def test_status_json_never_prints_the_key(
    keito_config_dir: Path, keito_server: KeitoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(keito_config_dir, f'account_id = "{keito_server.account_id}"\n')
    monkeypatch.setenv("KEITO_API_KEY", keito_server.api_key)
    monkeypatch.setenv("KEITO_API_URL", keito_server.url)
    result = CliRunner().invoke(cli, ["auth", "status", "--json", "--verify"])
    assert result.exit_code == 0, result.output
    assert keito_server.api_key not in result.output
    report = json.loads(result.output)
    assert report["configured"] is True
    assert report["api_key"] == {"set": True, "source": "env KEITO_API_KEY"}
    assert report["account_id"]["value"] == keito_server.account_id
    assert report["account_id"]["source"].startswith("config file")
    assert report["verified"]["ok"] is True and report["verified"]["email"] == "demo@keito.invalid"

    human = CliRunner().invoke(cli, ["auth", "status"])
    assert human.exit_code == 0
    assert "set (from env KEITO_API_KEY)" in human.output
    assert keito_server.api_key not in human.output


def test_status_verify_reports_rejection(
    keito_config_dir: Path, keito_server: KeitoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEITO_API_KEY", SECRET)
    monkeypatch.setenv("KEITO_ACCOUNT_ID", keito_server.account_id)
    monkeypatch.setenv("KEITO_API_URL", keito_server.url)
    result = CliRunner().invoke(cli, ["auth", "status", "--json", "--verify"])
    assert result.exit_code == 1
    assert SECRET not in result.output
    assert json.loads(result.output)["verified"]["ok"] is False


def test_broken_config_is_a_one_line_error(keito_config_dir: Path) -> None:
    write_config(keito_config_dir, "api_key = \n")
    result = CliRunner().invoke(cli, ["auth", "status"])
    assert result.exit_code == 2
    assert result.output.startswith("keito-skill: error: invalid TOML")


# -- base URL -------------------------------------------------------------------------


def test_default_base_url_is_the_one_keitos_cli_uses(keito_config_dir: Path) -> None:
    """Keito's CLI defaults to app.keito.ai (app.keito.io fails TLS) and its ``keito auth
    login`` writes no ``api_url``: with only its config, we must reach the same server."""
    write_config(
        keito_config_dir, 'api_key = "kto_x"\naccount_id = "co_1"\nworkspace_id = "co_1"\n'
    )
    creds = load_credentials()
    assert creds.api_url == "https://app.keito.ai" == DEFAULT_API_URL
    assert creds.api_url_source == "default"


@pytest.mark.parametrize(
    "url", ["app.keito.ai", "http://[::1", "https://" + "x" * 3000 + ".test", "ftp://host.test"]
)
def test_a_broken_keito_api_url_is_one_line_and_exit_2(
    keito_config_dir: Path, tmp_path: Path, url: str
) -> None:
    """Said at once, naming the variable, instead of four retries ending in
    "connection lost"."""
    write_config(keito_config_dir, 'api_key = "kto_x"\naccount_id = "co_1"\n')
    env = {
        **os.environ,
        "KEITO_API_URL": url,
        "KEITO_CONFIG_DIR": str(keito_config_dir),
        "KEITO_SKILL_HOME": str(tmp_path / "skill-home"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "keito_skill", "sync"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("keito-skill: error: env KEITO_API_URL")
    assert "https://app.keito.ai" in lines[0] and len(lines[0]) < 300


def test_login_saves_a_url_given_by_flag_and_checks_it_first(
    keito_config_dir: Path, keito_server: KeitoServer
) -> None:
    bad = ["auth", "login", "--account-id", "co_1", "--api-url", "keito.example"]
    refused = CliRunner().invoke(cli, bad, input=f"{SECRET}\n")
    assert refused.exit_code == 2 and "needs http:// or https://" in refused.output
    assert not (keito_config_dir / "config.toml").exists()
    args = ["auth", "login", "--account-id", keito_server.account_id, "--api-url", keito_server.url]
    keito_server.clear_requests()
    assert CliRunner().invoke(cli, args, input=f"{keito_server.api_key}\n").exit_code == 0
    assert [(r["method"], r["path"]) for r in keito_server.requests()] == [
        ("GET", "/api/v2/users/me")
    ]
    saved = tomllib.loads((keito_config_dir / "config.toml").read_text())
    assert saved["api_url"] == keito_server.url
