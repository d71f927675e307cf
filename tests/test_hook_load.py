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
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from keito_skill import hooks
from tests.sessions_kit import ROOT, skill_env

GUARD = 60.0  # seconds: only so that a broken build fails instead of hanging


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


def _background_syncs(home: Path) -> list[int]:
    """Pids of ``keito-skill sync --background`` processes working on ``home``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue  # gone, or not ours
        ours = f"KEITO_SKILL_HOME={home}".encode() in environ
        if ours and b"--background" in argv and b"sync" in argv:
            found.append(int(entry.name))
    return found


def _flock_holders(path: Path) -> set[int]:
    """Pids holding a flock on ``path``, from /proc/locks (looking takes no lock)."""
    inode = path.stat().st_ino
    holders = set()
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5].endswith(f":{inode}"):
            holders.add(int(fields[4]))
    return holders


def _until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + GUARD
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_the_background_sync_is_detached_from_the_agents_output(
    held: dict[str, int], home: Path, tmp_path: Path, keito_config_dir: Path
) -> None:
    """The agent's pipes reach EOF while the sync the hook started is still waiting for the
    lock another sync holds. Ordering, not timing: the lock is released only after EOF, so
    a sync holding the pipes would keep them open for as long as ``GUARD`` (a guard against
    hanging, not a threshold) and the test fails."""
    _take(held["sync.lock"])  # another sync runs: the hook's sync will wait for it
    env = skill_env(home, None, keito_config_dir)
    payload = {"session_id": "d1", "cwd": str(tmp_path)}
    hook = subprocess.Popen(
        [sys.executable, "-m", "keito_skill", "hook", "stop", "--agent", "codex"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        cwd=ROOT,
    )  # fmt: skip
    assert hook.stdin is not None and hook.stdout is not None and hook.stderr is not None
    out: dict[str, bytes] = {}
    readers = [
        threading.Thread(target=lambda n=n, s=s: out.__setitem__(n, s.read()), daemon=True)
        for n, s in (("stdout", hook.stdout), ("stderr", hook.stderr))
    ]
    try:
        for reader in readers:
            reader.start()
        hook.stdin.write(json.dumps(payload).encode())
        hook.stdin.close()
        until = time.monotonic() + GUARD
        for reader in readers:
            reader.join(max(0.0, until - time.monotonic()))
        assert not any(r.is_alive() for r in readers), "the pipes stayed open while locked"
        # EOF on both pipes, and the lock is still ours: the sync the hook started is alive
        # (it cannot finish without the lock) and queued behind it.
        syncs = _background_syncs(home)
        assert len(syncs) == 1, "the hook started no sync"
        _until(lambda: syncs[0] in _flock_holders(home / "sync.queue.lock"), "the sync to queue")
        assert hook.wait(GUARD) == 0
        assert out == {"stdout": b"", "stderr": b""}
    finally:
        fcntl.flock(held["sync.lock"], fcntl.LOCK_UN)  # let it run and finish
        if hook.poll() is None:
            hook.kill()
            hook.wait()
    _until(lambda: not _background_syncs(home), "the sync to finish")
