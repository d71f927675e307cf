"""Issue 17 item 14: a cloned repository cannot make us write outside it.

A committed ``.gitignore`` that is a symlink to ``~/.bashrc`` used to get our line appended
to the target by ``init``; a ``.keito`` that is a symlink to ``~/.ssh`` got ``disable`` /
``enable`` writing a config file into it. Now each is one clear error (exit 2) and the
target is untouched.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.keito_server import KeitoServer
from tests.sessions_kit import cli, skill_env


def _repo(path: Path) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


def _one_line_refusal(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "symbolic link" in proc.stderr and "Traceback" not in proc.stderr


def test_init_does_not_append_to_a_symlinked_gitignore(
    tmp_path: Path, keito_server: KeitoServer, keito_config_dir: Path
) -> None:
    bashrc = tmp_path / "home" / ".bashrc"
    bashrc.parent.mkdir()
    bashrc.write_text("export PATH=$PATH\n")
    repo = _repo(tmp_path / "repo")
    (repo / ".gitignore").symlink_to(bashrc)
    env = skill_env(tmp_path / "skill", keito_server, keito_config_dir)
    proc = cli(
        "init", "--project", keito_server.project_id, "--task", keito_server.task_id,
        "--cwd", str(repo), "--yes", env=env,
    )  # fmt: skip
    _one_line_refusal(proc)
    assert bashrc.read_text() == "export PATH=$PATH\n"
    assert not (repo / ".keito" / "config.yml").exists()  # nothing half done


@pytest.mark.parametrize("command", ["disable", "enable"])
@pytest.mark.parametrize("has_config", [False, True], ids=["empty-target", "config-in-target"])
def test_disable_and_enable_do_not_write_through_a_symlinked_keito_dir(
    command: str, has_config: bool, tmp_path: Path, keito_config_dir: Path
) -> None:
    ssh = tmp_path / "home" / ".ssh"
    ssh.mkdir(parents=True)
    (ssh / "id_ed25519").write_text("KEY\n")
    if has_config:
        (ssh / "config.yml").write_text("project_id: p\ntask_id: t\n")
    before = {p.name: p.read_text() for p in ssh.iterdir()}
    repo = _repo(tmp_path / "repo")
    (repo / ".keito").symlink_to(ssh)
    env = skill_env(tmp_path / "skill", None, keito_config_dir)
    proc = subprocess.run(
        [*cli_args(), command], env=env, cwd=repo, capture_output=True, text=True, timeout=60
    )
    _one_line_refusal(proc)
    assert {p.name: p.read_text() for p in ssh.iterdir()} == before


def cli_args() -> list[str]:
    import sys

    return [sys.executable, "-m", "keito_skill"]
