"""Issue 17 item 11 (and issue 18's missing test): many hooks at once stay cheap.

With one sync running and another waiting, a further background sync can only exit: it
must find that out before importing anything heavy, and a hook must not even start it.
The background sync a hook starts is detached from the agent's stdout/stderr, so the hook
returns while that sync still waits. Timings (50 hooks at once) are in
``bench/hook_deadline.py``.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from keito_skill import hooks
from tests.sessions_kit import ROOT, skill_env


@pytest.fixture
def held(home: Path) -> Iterator[dict[str, int]]:
    """Open lock files of the skill home; the test takes the locks it wants."""
    home.mkdir(parents=True, exist_ok=True)
    fds = {
        name: os.open(home / name, os.O_RDWR | os.O_CREAT, 0o600)
        for name in ("sync.lock", "sync.queue.lock")
    }
    yield fds
    for fd in fds.values():
        os.close(fd)


def _take(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_no_sync_is_started_when_one_runs_and_one_waits(
    held: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[object] = []
    monkeypatch.delenv(hooks.NO_SYNC_ENV, raising=False)
    import subprocess

    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: started.append(a))
    _take(held["sync.lock"])
    hooks.start_background_sync()
    assert len(started) == 1  # one may still queue up behind the running one
    _take(held["sync.queue.lock"])
    hooks.start_background_sync()
    assert len(started) == 1  # a third would only exit


def test_a_redundant_background_sync_exits_before_importing_anything_heavy(
    held: dict[str, int], home: Path
) -> None:
    _take(held["sync.lock"])
    _take(held["sync.queue.lock"])
    env = {**os.environ, "KEITO_SKILL_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "keito_skill", "sync", "--background"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    heavy = {"click", "httpx", "pydantic", "rich", "sqlite3", "yaml"} & imported
    assert not heavy, heavy


def test_the_background_sync_is_detached_from_the_agents_output(
    held: dict[str, int], home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    _take(held["sync.lock"])  # another sync runs: the hook's sync will wait for it
    env = skill_env(home, None, keito_config_dir)
    payload = {"session_id": "d1", "cwd": str(tmp_path)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "keito_skill", "hook", "stop", "--agent", "codex"],
        input=json.dumps(payload), capture_output=True, text=True, env=env, cwd=ROOT,
        timeout=30,
    )  # fmt: skip
    took = time.monotonic() - started
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    # The pipes closed although the sync it started still waits: it does not hold them.
    assert took < 20
    waiting = False
    for _ in range(100):
        try:
            _take(held["sync.queue.lock"])
        except BlockingIOError:
            waiting = True
            break
        fcntl.flock(held["sync.queue.lock"], fcntl.LOCK_UN)
        time.sleep(0.1)
    assert waiting, "the hook started no sync"
    fcntl.flock(held["sync.lock"], fcntl.LOCK_UN)  # let it run and finish
