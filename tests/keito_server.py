"""Run the local Keito server as a real subprocess for tests, and drive its admin API.

Tests talk to it over loopback HTTP exactly as they would to Keito, so nothing in the
client's transport is mocked. Usage::

    with KeitoServer.start(tmp_path) as server:
        client = KeitoClient(server.url, server.api_key, server.account_id)
        server.add_fault(status=503, count=2)
        ...
        assert server.count(method="POST", path="/api/v2/time_entries") == 1
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from keito_skill.devserver import (
    DEMO_CATEGORY_ID,
    DEMO_CLIENT_ID,
    DEMO_PROJECT_ID,
    DEMO_TASK_ID,
    LISTENING_PREFIX,
)

ROOT = Path(__file__).resolve().parent.parent
TEST_API_KEY = "kto_test_0123456789abcdef"
TEST_ACCOUNT_ID = "acct_test"


class KeitoServer:
    """A ``keito-skill dev-server --port 0`` subprocess and helpers for its admin API."""

    project_id = DEMO_PROJECT_ID
    task_id = DEMO_TASK_ID
    client_id = DEMO_CLIENT_ID
    category_id = DEMO_CATEGORY_ID

    def __init__(
        self, proc: subprocess.Popen[str], url: str, api_key: str | None, account_id: str | None
    ) -> None:
        self.proc = proc
        self.url = url
        self.api_key = api_key or TEST_API_KEY
        self.account_id = account_id or TEST_ACCOUNT_ID
        self.admin = httpx.Client(base_url=url, timeout=10.0)

    @classmethod
    def start(
        cls,
        tmp_dir: Path,
        *,
        api_key: str | None = TEST_API_KEY,
        account_id: str | None = TEST_ACCOUNT_ID,
        timeout: float = 20.0,
    ) -> KeitoServer:
        """Start the server on a free loopback port and wait until it answers."""
        tmp_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "keito_skill",
            "dev-server",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--db",
            str(tmp_dir / "keito.sqlite3"),
        ]
        if api_key:
            cmd += ["--api-key", api_key]
        if account_id:
            cmd += ["--account-id", account_id]
        stderr = (tmp_dir / "keito-server.stderr").open("w")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT, env=env
        )
        stderr.close()
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        url = None
        while url is None:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                proc.kill()
                log = (tmp_dir / "keito-server.stderr").read_text()
                raise RuntimeError(f"Keito dev server did not start:\n{log}")
            if line.startswith(LISTENING_PREFIX):
                url = line[len(LISTENING_PREFIX) :].strip()
        server = cls(proc, url, api_key, account_id)
        server.wait_ready(deadline)
        return server

    def wait_ready(self, deadline: float) -> None:
        while True:
            try:
                if self.admin.get("/_admin/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("Keito dev server never became healthy")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the subprocess (SIGTERM, then SIGKILL after 5 s)."""
        self.admin.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> KeitoServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- admin API ------------------------------------------------------------------

    def reset(self) -> None:
        """Drop all entries, expenses, faults and the request log; re-seed."""
        self.admin.post("/_admin/reset").raise_for_status()

    def seed(self, **lists: Any) -> dict[str, list[str]]:
        """Add ``clients``, ``tasks``, ``projects``, ``expense_categories``, ``api_keys``
        (see keito_skill/devserver/_seed.py); returns the ids, per list. Undone by reset."""
        response = self.admin.post("/_admin/seed", json=lists)
        response.raise_for_status()
        return dict(response.json())

    def configure(self, **settings: Any) -> dict[str, Any]:
        """``embed_tasks``, ``expense_categories_endpoint``, ``rate_limit``; reset undoes."""
        response = self.admin.post("/_admin/settings", json=settings)
        response.raise_for_status()
        return dict(response.json())

    def add_fault(self, **fault: Any) -> int:
        """Queue a fault: ``status``, ``count``, ``retry_after``, ``latency``, ``drop``
        (``"before"``/``"after"``), and matchers ``method`` / ``path`` (prefix)."""
        response = self.admin.post("/_admin/faults", json=fault)
        response.raise_for_status()
        return int(response.json()["faults"][0])

    def faults(self) -> list[dict[str, Any]]:
        return list(self.admin.get("/_admin/faults").json()["faults"])

    def clear_faults(self) -> None:
        self.admin.delete("/_admin/faults").raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        """The log of ``/api/`` requests: method, path, query, status, fault."""
        return list(self.admin.get("/_admin/requests").json()["requests"])

    def clear_requests(self) -> None:
        self.admin.delete("/_admin/requests").raise_for_status()

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """How many logged API requests match ``method`` and ``path`` (exact)."""
        return sum(
            1
            for r in self.requests()
            if (method is None or r["method"] == method) and (path is None or r["path"] == path)
        )

    def lock(self, entry_id: str) -> None:
        """Lock a time entry (Keito: a closed period): a PATCH or DELETE then gets 403."""
        self.admin.post(f"/_admin/time_entries/{entry_id}/lock").raise_for_status()

    def approve(self, entry_id: str) -> None:
        """Approve a time entry: a PATCH or DELETE then gets 409."""
        self.admin.post(f"/_admin/time_entries/{entry_id}/approve").raise_for_status()

    def settings(self, **settings: Any) -> dict[str, Any]:
        """Account rules: ``rounding`` (``up_15``...), ``can_edit_time_billability``,
        ``accounts`` (more account ids to serve); undone by :meth:`reset`."""
        response = self.admin.post("/_admin/rules", json=settings)
        response.raise_for_status()
        return dict(response.json())

    def add_project(self, project_id: str, task_id: str, name: str | None = None) -> None:
        """Another project with its own task, besides the seeded one."""
        body = {"id": project_id, "task_id": task_id, "name": name}
        self.admin.post("/_admin/projects", json=body).raise_for_status()

    def api(self) -> httpx.Client:
        """A bare authenticated httpx client, for asserting raw wire behaviour."""
        headers = {"Authorization": f"Bearer {self.api_key}", "Keito-Account-Id": self.account_id}
        return httpx.Client(base_url=self.url, timeout=10.0, headers=headers)
