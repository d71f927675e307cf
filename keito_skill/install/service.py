"""Running ``keito-skill watch`` as a user service: a systemd user unit or a launchd agent.

The watcher only helps if it is always running, so it belongs to the user's service
manager, which starts it at login and restarts it if it dies. The service runs the
absolute path of this very installation (a service has no shell ``PATH`` or virtualenv),
and carries the variables set at install time that say where things are (``KEITO_SKILL_HOME``,
each agent's own (``Adapter.env_vars``), ``KEITO_CONFIG_DIR``, ``KEITO_API_URL``, the
account id) so it watches and sends what the user's shell would. Never secrets: the API key stays in
the Keito CLI config the service reads (:func:`notes` says when it is only in the shell).
"""

from __future__ import annotations

import os
import plistlib
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from keito_skill import agents
from keito_skill._files import atomic_write_text
from keito_skill.ledger import skill_home

LABEL = "io.keito.skill.watch"
SYSTEMD_UNIT = "keito-skill-watch.service"
KINDS = ("systemd", "launchd")
CARRIED_ENV = (
    "KEITO_SKILL_HOME",
    *(name for adapter in agents.adapters() for name in adapter.env_vars),
    "KEITO_CONFIG_DIR",
    "KEITO_API_URL",
    "KEITO_ACCOUNT_ID",
    "KEITO_WORKSPACE_ID",
)


def default_kind() -> str:
    """launchd on macOS, systemd elsewhere."""
    return "launchd" if sys.platform == "darwin" else "systemd"


def command() -> list[str]:
    """The absolute command that runs keito-skill from this installation."""
    beside = Path(sys.executable).parent / "keito-skill"
    if beside.exists():
        return [str(beside.absolute())]
    found = shutil.which("keito-skill")
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "keito_skill"]


def service_path(kind: str) -> Path:
    """Where the user's service manager looks for the definition."""
    if kind == "systemd":
        xdg = os.environ.get("XDG_CONFIG_HOME", "").strip()
        base = Path(xdg) if xdg else Path.home() / ".config"
        return base / "systemd" / "user" / SYSTEMD_UNIT
    if kind == "launchd":
        return Path.home() / "Library" / "LaunchAgents" / f"{LABEL}.plist"
    raise ValueError(f"unknown service kind {kind!r} (expected one of {', '.join(KINDS)})")


def _environment() -> dict[str, str]:
    return {name: os.environ[name] for name in CARRIED_ENV if os.environ.get(name, "").strip()}


def _systemd_quote(arg: str) -> str:
    if arg and all(c.isalnum() or c in "/._-=:," for c in arg):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"'


def render(kind: str, *, extra_args: list[str] | None = None) -> str:
    """The service definition's text for ``kind`` (``systemd`` or ``launchd``)."""
    argv = [*command(), "watch", *(extra_args or [])]
    env = _environment()
    if kind == "systemd":
        lines = [
            "[Unit]",
            "Description=keito-skill watch: record agent sessions the hooks missed",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=simple",
            "ExecStart=" + " ".join(_systemd_quote(a) for a in argv),
            *(f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in sorted(env.items())),
            "Restart=on-failure",
            "RestartSec=10",
            "KillSignal=SIGTERM",
            "TimeoutStopSec=30",
            "",
            "[Install]",
            "WantedBy=default.target",
            "",
        ]
        return "\n".join(lines)
    if kind == "launchd":
        logs = skill_home() / "logs"
        plist: dict[str, object] = {
            "Label": LABEL,
            "ProgramArguments": argv,
            "RunAtLoad": True,
            "KeepAlive": {"SuccessfulExit": False},
            "ProcessType": "Background",
            "StandardOutPath": str(logs / "watch.out.log"),
            "StandardErrorPath": str(logs / "watch.err.log"),
        }
        if env:
            plist["EnvironmentVariables"] = env
        return plistlib.dumps(plist, sort_keys=False).decode()
    raise ValueError(f"unknown service kind {kind!r} (expected one of {', '.join(KINDS)})")


def install(kind: str, *, extra_args: list[str] | None = None) -> Path:
    """Write the definition to :func:`service_path` (atomically) and return the path.

    Starting it is left to the user (:func:`start_hint`): enabling a service is a choice
    about their machine, and the command differs per platform.
    """
    path = service_path(kind)
    text = render(kind, extra_args=extra_args)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "launchd":
        (skill_home() / "logs").mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return path


def start_hint(kind: str, path: Path) -> str:
    if kind == "systemd":
        return f"systemctl --user daemon-reload && systemctl --user enable --now {SYSTEMD_UNIT}"
    return f"launchctl load -w {path}"


def uninstall(kind: str) -> tuple[Path, bool] | None:
    """Stop and remove our service, if one was installed: ``(its path, stopped)``.

    A watcher left running after ``uninstall`` would go on recording sessions (and fail
    every few seconds once the package is gone). The service manager is asked to stop and
    disable it first; ``stopped`` is False when it could not be asked (no user session
    bus, no ``systemctl``/``launchctl``), and the caller says how to do it by hand.
    """
    path = service_path(kind)
    if not path.is_file():
        return None
    if kind == "systemd":
        argv = ["systemctl", "--user", "disable", "--now", SYSTEMD_UNIT]
    else:
        argv = ["launchctl", "unload", "-w", str(path)]
    stopped = False
    if shutil.which(argv[0]):
        try:
            done = subprocess.run(
                argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=20, check=False
            )
        except (OSError, subprocess.SubprocessError):
            pass
        else:
            stopped = done.returncode == 0
    path.unlink(missing_ok=True)
    if kind == "systemd":
        wanted = path.parent / "default.target.wants" / SYSTEMD_UNIT
        if wanted.is_symlink():
            wanted.unlink()
    return path, stopped


def stop_hint(kind: str) -> str:
    """How to stop a watcher still running from a service definition now removed."""
    if kind == "systemd":
        return f"systemctl --user stop {SYSTEMD_UNIT} && systemctl --user daemon-reload"
    return f"launchctl remove {LABEL}"


def installed_program(kind: str) -> str | None:
    """The program the installed service runs, or None when no service (or an unreadable
    one) is installed: what ``doctor`` checks still exists after a virtualenv moved."""
    path = service_path(kind)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if kind == "launchd":
        try:
            argv = plistlib.loads(data).get("ProgramArguments") or []
        except (plistlib.InvalidFileException, ValueError, AttributeError):
            return None
        return str(argv[0]) if argv else None
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("ExecStart="):
            try:
                return shlex.split(line.removeprefix("ExecStart="))[0]
            except (ValueError, IndexError):
                return None
    return None


def notes() -> list[str]:
    """What the service will not see that this shell does: an API key set only in the
    environment (never written into a service file), so the watcher could not send."""
    from keito_skill.keito import resolve_credentials

    if not os.environ.get("KEITO_API_KEY", "").strip():
        return []
    without = {k: v for k, v in os.environ.items() if k != "KEITO_API_KEY"}
    if resolve_credentials(without)["api_key"][0] is not None:
        return []
    return [
        "KEITO_API_KEY is set only in this shell, and a key is never written into a service "
        "file: run 'keito-skill auth login' so the watcher can send to Keito "
        "(until then it records locally)"
    ]
