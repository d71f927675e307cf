"""``keito-skill doctor``: every check, passing and failing, with the fix it prints.

Real files in a throw-away HOME, the local Keito dev server for credentials, and the real
``codex app-server`` (from the e2e cache; those tests skip with the reason without it).
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keito_skill.agents.codex.trust import list_hooks
from keito_skill.ledger import Ledger
from tests.keito_server import KeitoServer
from tests.sessions_kit import ROOT, make_repo, skill_env

pytestmark = pytest.mark.timeout(90)

VENV_BIN = Path(sys.executable).parent


class Box:
    """HOME, skill home and Keito credentials for one doctor run."""

    def __init__(self, tmp: Path, server: KeitoServer, config_dir: Path) -> None:
        self.tmp = tmp
        self.home = tmp / "home"
        self.home.mkdir()
        self.env = skill_env(tmp / "skill-home", server, config_dir)
        for name in [k for k in self.env if k.startswith(("CLAUDE_", "CODEX_"))]:
            del self.env[name]
        self.env.update(HOME=str(self.home), PATH=f"{VENV_BIN}:/usr/bin:/bin")
        self.repo = make_repo(tmp / "repo", server)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "keito_skill", *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )

    def doctor(self, *extra: str) -> tuple[int, dict[str, Any]]:
        proc = self.run("doctor", "--json", "--cwd", str(self.repo), *extra)
        assert proc.returncode in (0, 1), proc.stderr
        report = json.loads(proc.stdout)
        assert report["ok"] is (proc.returncode == 0)
        return proc.returncode, {c["name"]: c for c in report["checks"]}

    def install(self, *args: str) -> None:
        proc = self.run("install", *args)
        assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture
def box(tmp_path: Path, keito_server: KeitoServer, keito_config_dir: Path) -> Box:
    return Box(tmp_path, keito_server, keito_config_dir)


def _codex_bin() -> str:
    from tests.e2e.agents import agents_unavailable_reason, ensure_agents

    reason = agents_unavailable_reason()
    if reason is not None:
        pytest.skip(f"real codex binary unavailable: {reason}")
    return str(ensure_agents().codex)


def test_all_checks_pass_after_install_with_claude_code_only(box: Box) -> None:
    box.install("--agent", "claude-code")
    code, checks = box.doctor("--codex-bin", str(box.tmp / "no-codex"))
    assert code == 0, checks
    assert checks["keito-skill binary"]["detail"] == str(VENV_BIN / "keito-skill")
    assert checks["claude-code hooks"]["detail"].startswith("SessionStart, Stop, SessionEnd")
    assert checks["codex hooks"]["detail"] == "Codex not found here; skipped"
    assert "Demo User" not in checks["keito credentials"]["detail"]
    assert "demo@keito.invalid" in checks["keito credentials"]["detail"]
    assert checks["repo mapping"]["ok"]
    assert checks["ledger"]["detail"].startswith("0 pending, 0 sent, 0 failed")
    assert all(c["fix"] is None for c in checks.values())


def test_watch_service_checked_only_when_installed(box: Box) -> None:
    box.env["XDG_CONFIG_HOME"] = str(box.home / ".config")
    box.install("--agent", "claude-code", "--watch")
    code, checks = box.doctor("--codex-bin", str(box.tmp / "no-codex"))
    unit = box.home / ".config" / "systemd" / "user" / "keito-skill-watch.service"
    assert code == 0, checks
    assert checks["watch service"]["detail"] == f"{unit} runs {VENV_BIN / 'keito-skill'}"
    # The virtualenv it ran from was recreated elsewhere: the service would fail forever.
    gone = box.tmp / "old venv" / "bin" / "keito-skill"
    text = unit.read_text()
    unit.write_text(text.replace(str(VENV_BIN / "keito-skill"), f'"{gone}"'))
    code, checks = box.doctor("--codex-bin", str(box.tmp / "no-codex"))
    assert code == 1
    assert checks["watch service"]["detail"].endswith(f"runs {gone}, which is not there any more")
    assert str(checks["watch service"]["fix"]).startswith("keito-skill watch --install-service")
    unit.unlink()
    _, checks = box.doctor("--codex-bin", str(box.tmp / "no-codex"))
    assert "watch service" not in checks


def test_claude_hooks_from_the_plugin_count(box: Box) -> None:
    plugins = box.home / ".claude" / "plugins"
    plugins.mkdir(parents=True)
    (plugins / "installed_plugins.json").write_text(
        json.dumps({"version": 2, "plugins": {"keito@keito-skill": [{"scope": "user"}]}})
    )
    _, checks = box.doctor("--codex-bin", str(box.tmp / "no-codex"))
    assert checks["claude-code hooks"] == {
        "name": "claude-code hooks",
        "ok": True,
        "detail": "provided by the keito Claude Code plugin",
        "fix": None,
    }
    box.install("--agent", "claude-code")
    _, checks = box.doctor("--codex-bin", str(box.tmp / "no-codex"))
    assert (
        "the keito plugin is installed too: hooks run twice"
        in (checks["claude-code hooks"]["detail"])
    )


def test_every_failure_names_its_fix(box: Box) -> None:
    (box.home / ".claude").mkdir()  # Claude Code is in use, but no hooks
    box.env["KEITO_API_KEY"] = "kto_revoked_secret_77"
    unmapped = box.tmp / "elsewhere"
    unmapped.mkdir()
    (unmapped / ".git").mkdir()
    proc = box.run("doctor", "--cwd", str(unmapped))
    assert proc.returncode == 1
    assert "kto_revoked_secret_77" not in proc.stdout + proc.stderr
    assert "fix: keito-skill install --agent claude-code" in proc.stdout
    assert "fix: keito-skill auth login" in proc.stdout
    assert f"fix: keito-skill init --cwd {unmapped}" in proc.stdout
    assert proc.stdout.rstrip().endswith("Some checks failed; run the fixes above.")

    _, checks = box.doctor("--cwd", str(unmapped))
    assert not checks["keito credentials"]["ok"]
    assert "rejected" in checks["keito credentials"]["detail"]


def test_missing_credentials_and_broken_mapping(box: Box) -> None:
    for name in ("KEITO_API_KEY", "KEITO_ACCOUNT_ID", "KEITO_API_URL"):
        del box.env[name]
    config = box.repo / ".keito" / "config.yml"
    config.write_text("version: 1\nproject_id: p\ntask_id: t\nbilling:\n  duration: hourly\n")
    code, checks = box.doctor()
    assert code == 1
    assert checks["keito credentials"]["fix"] == "keito-skill auth login"
    mapping = checks["repo mapping"]
    assert mapping["detail"].startswith(f"{config}:5: billing.duration")
    assert mapping["fix"].startswith(f"fix line 5 of {config}")


def test_stale_hook_binary_and_failed_records(box: Box) -> None:
    box.install("--agent", "claude-code", "--bin", str(box.tmp / "gone" / "keito-skill"))
    with Ledger(box.tmp / "skill-home" / "ledger.sqlite3") as ledger:
        ledger.put_record("claude-code", "s1", "time_entry", "k1", "2026-11-21", {"a": 1})
        (record,) = ledger.records()
        ledger.mark_record(record.id, status="failed", last_error="422 project archived")
    code, checks = box.doctor()
    assert code == 1
    hooks = checks["claude-code hooks"]
    assert not hooks["ok"] and "gone/keito-skill, which does not exist" in hooks["detail"]
    assert hooks["fix"] == "keito-skill install --agent claude-code"
    ledger_check = checks["ledger"]
    assert not ledger_check["ok"] and "1 failed" in ledger_check["detail"]
    assert "keito-skill sync --retry-failed" in ledger_check["fix"]


def test_codex_untrusted_modified_and_disabled(box: Box) -> None:
    codex = _codex_bin()
    codex_home = box.home / ".codex"
    box.install("--agent", "codex", "--codex-bin", codex)  # no --yes, no TTY: untrusted
    code, checks = box.doctor("--codex-bin", codex)
    trust = checks["codex hooks trusted"]
    assert code == 1 and checks["codex hooks"]["ok"]
    assert "untrusted" in trust["detail"]
    assert trust["fix"] == f"keito-skill install --agent codex --yes --codex-bin {codex}"

    box.install("--agent", "codex", "--yes", "--codex-bin", codex)
    code, checks = box.doctor("--codex-bin", codex)
    assert code == 0, checks
    assert checks["codex hooks trusted"]["detail"] == "3 hooks trusted and enabled"

    # Someone edits our hook: its hash changes and Codex stops running it.
    hooks_file = codex_home / "hooks.json"
    doc = json.loads(hooks_file.read_text())
    doc["hooks"]["Stop"][0]["hooks"][0]["timeout"] = 11
    hooks_file.write_text(json.dumps(doc))
    _, checks = box.doctor("--codex-bin", codex)
    assert "stop: modified" in checks["codex hooks trusted"]["detail"]

    # Re-install restores it; then the user disables one in Codex's /hooks screen.
    box.install("--agent", "codex", "--yes", "--codex-bin", codex)
    env = {**os.environ, "HOME": str(box.home)}
    key = next(h.key for h in list_hooks(codex, codex_home, env=env) if h.event == "sessionEnd")
    config = codex_home / "config.toml"
    header = f'[hooks.state."{key}"]\n'
    assert header in config.read_text()
    config.write_text(config.read_text().replace(header, header + "enabled = false\n"))
    _, checks = box.doctor("--codex-bin", codex)
    trust = checks["codex hooks trusted"]
    assert trust["detail"] == "Codex will not run: sessionEnd: disabled"
    assert trust["fix"] == "enable keito-skill's hooks in Codex's /hooks screen"


def test_codex_hooks_without_codex_binary(box: Box) -> None:
    box.install("--agent", "codex", "--codex-bin", str(box.tmp / "none"))
    code, checks = box.doctor("--codex-bin", str(box.tmp / "none"))
    assert code == 1
    assert checks["codex hooks"]["ok"]
    trust = checks["codex hooks trusted"]
    assert not trust["ok"] and "codex not found" in trust["detail"]


# ---- Keito itself: each failure told apart, with its own fix -------------------------


def _map(box: Box, **config: Any) -> None:
    import yaml

    (box.repo / ".keito" / "config.yml").write_text(yaml.safe_dump({"version": 1, **config}))


class _NotKeito(http.server.BaseHTTPRequestHandler):
    """Any web server that is not Keito's API: HTML 404s, no X-Keito-API-Version."""

    def do_GET(self) -> None:
        body = b"<html>no such page</html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def not_keito() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotKeito)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_wrong_url_tls_and_unreachable_are_told_apart(box: Box, not_keito: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    cases = {
        f"http://{not_keito}": "no Keito API there (404 on /api/v2/users/me)",
        f"https://{not_keito}": "TLS failed",
        f"http://127.0.0.1:{free}": "cannot reach it",
    }
    for url, expected in cases.items():
        box.env["KEITO_API_URL"] = url
        code, checks = box.doctor("--codex-bin", str(box.tmp / "no-codex"))
        creds = checks["keito credentials"]
        assert code == 1 and not creds["ok"], (url, creds)
        assert expected in creds["detail"], (url, creds)
        assert "https://app.keito.ai" in creds["fix"] and "KEITO_API_URL" in creds["fix"]
        assert "keito key" not in checks  # nothing more is asked of a server that is not Keito
    box.env["KEITO_API_URL"] = "app.keito.ai"  # no scheme: said without any request
    _, checks = box.doctor("--codex-bin", str(box.tmp / "no-codex"))
    assert "needs http:// or https://" in checks["keito credentials"]["detail"]


def test_bad_key_and_wrong_account(box: Box, keito_server: KeitoServer) -> None:
    box.env["KEITO_API_KEY"] = "kto_wrong"
    _, checks = box.doctor("--codex-bin", str(box.tmp / "no-codex"))
    assert "Keito refused the API key (401" in checks["keito credentials"]["detail"]
    assert checks["keito credentials"]["fix"].startswith("keito-skill auth login")
    box.env["KEITO_API_KEY"] = keito_server.api_key
    box.env["KEITO_ACCOUNT_ID"] = "acct_someone_else"
    _, checks = box.doctor("--codex-bin", str(box.tmp / "no-codex"))
    creds = checks["keito credentials"]
    assert "the key works but not for account acct_someone_else (403" in creds["detail"]
    assert "--account-id" in creds["fix"]


def test_read_only_key_is_found_without_writing(box: Box, keito_server: KeitoServer) -> None:
    keito_server.seed(api_keys=[{"key": "kto_personal_sync", "kind": "read_only"}])
    box.env["KEITO_API_KEY"] = "kto_personal_sync"
    keito_server.clear_requests()
    code, checks = box.doctor("--codex-bin", str(box.tmp / "no-codex"))
    assert code == 1 and checks["keito credentials"]["ok"]
    key = checks["keito key"]
    assert not key["ok"] and "read-only key" in key["detail"]
    assert "full-access (or member) API key" in key["fix"]
    assert {r["method"] for r in keito_server.requests()} == {"GET"}  # nothing written


def test_project_task_and_category_missing_unknown_or_archived(
    box: Box, keito_server: KeitoServer
) -> None:
    ids = keito_server.seed(
        tasks=[{"name": "Old", "is_active": False}],
        projects=[{"name": "Closed", "is_active": False}],
        expense_categories=[{"name": "Retired", "is_active": False}],
    )
    (old_task,) = ids["tasks"]
    (closed,) = ids["projects"]
    (retired,) = ids["expense_categories"]
    keito_server.seed(
        projects=[{"id": keito_server.project_id, "name": "Demo Project", "tasks": [old_task]}]
    )
    nocodex = ("--codex-bin", str(box.tmp / "no-codex"))

    _map(box, project_id="prj_gone", task_id=keito_server.task_id)
    _, checks = box.doctor(*nocodex)
    assert "unknown project prj_gone" in checks["keito project"]["detail"]
    assert checks["keito project"]["fix"].startswith("keito-skill init")
    assert not checks["expense category"]["ok"]  # and no category in this config
    assert "expenses wait" in checks["expense category"]["detail"]
    assert "web app" in checks["expense category"]["fix"]

    _map(box, project_id=closed, task_id=keito_server.task_id)
    _, checks = box.doctor(*nocodex)
    assert "is archived (inactive)" in checks["keito project"]["detail"]

    _map(
        box,
        project_id=keito_server.project_id,
        task_id="tsk_gone",
        expense_category_id=keito_server.category_id,
    )
    _, checks = box.doctor(*nocodex)
    assert checks["keito project"]["ok"]
    assert "unknown task tsk_gone" in checks["keito task"]["detail"]
    category = checks["expense category"]
    assert category["ok"] and "offers no category listing" in category["detail"]

    # Tasks from /tasks when the projects do not embed them: the same verdicts.
    keito_server.configure(embed_tasks=False, expense_categories_endpoint=True)
    _map(
        box,
        project_id=keito_server.project_id,
        task_id=old_task,
        expense_category_id="cat_llm_usage",
    )
    _, checks = box.doctor(*nocodex)
    assert (
        "task Old" in checks["keito task"]["detail"]
        and "archived" in checks["keito task"]["detail"]
    )
    assert "unknown expense category cat_llm_usage" in checks["expense category"]["detail"]
    assert keito_server.category_id in checks["expense category"]["detail"]

    _map(
        box,
        project_id=keito_server.project_id,
        task_id=keito_server.task_id,
        expense_category_id=retired,
    )
    _, checks = box.doctor(*nocodex)
    assert checks["keito task"]["ok"]
    assert "Retired" in checks["expense category"]["detail"]
    assert not checks["expense category"]["ok"]


def test_official_keito_hooks_are_a_failing_check(box: Box) -> None:
    box.install("--agent", "claude-code")
    settings = box.home / ".claude" / "settings.json"
    doc = json.loads(settings.read_text())
    script = box.home / ".claude/skills/keito-time-track/hooks/session-end.sh"
    doc["hooks"]["Stop"].append(
        {"hooks": [{"type": "command", "command": f"KEITO_AGENT_TYPE=claude-code '{script}'"}]}
    )
    settings.write_text(json.dumps(doc))
    code, checks = box.doctor("--codex-bin", str(box.tmp / "no-codex"))
    official = checks["official keito hooks"]
    assert code == 1 and not official["ok"]
    assert "same session" in official["detail"] and str(settings) in official["detail"]
    assert official["fix"].startswith("keito-skill install --yes")
    box.install("--agent", "claude-code", "--yes")
    code, checks = box.doctor("--codex-bin", str(box.tmp / "no-codex"))
    assert code == 0, checks
    assert checks["official keito hooks"]["ok"]
