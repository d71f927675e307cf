"""Finding the skill files we ship (``SKILL.md`` + ``skill/``) and copying them to an agent.

The same files must be found from a source checkout (editable install, where they sit at
the repository root next to ``pyproject.toml``) and from an installed wheel, which carries
them as data files under ``<prefix>/share/keito-skill/`` (see ``pyproject.toml``). Both
layouts are the same tree, so the copy logic does not care which one it got.

An installed skill directory looks like the repository's own skill (``SKILL.md``,
``skill/scripts/...``), so the paths SKILL.md mentions work both for a plugin install and
for ``keito-skill install``. Some agents additionally read ``agents/<vendor>.yaml`` at the
skill root, so for them (``agent_metadata``) ``skill/agents/`` is also copied there. A
marker file identifies the directory as ours: ``uninstall`` never deletes a ``keito``
skill someone else wrote.

The hook wrapper (``skill/scripts/keito-hook``, used by the agent plugin, which does not
pip-install us) finds the ``keito-skill`` executable on PATH, in ``~/.local/bin``,
or at the path :func:`record_bin` wrote at install time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import site
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Final

from keito_skill import __version__
from keito_skill._files import atomic_write_text
from keito_skill.errors import KeitoSkillError
from keito_skill.install import _created
from keito_skill.ledger import skill_home

__all__ = [
    "BIN_RECORD",
    "MARKER",
    "SKILL_NAME",
    "BundleError",
    "find_bundle",
    "install_skill",
    "is_our_skill",
    "record_bin",
    "remove_skill",
    "resolve_bin",
]

SKILL_NAME: Final = "keito"
MARKER: Final = ".installed-by-keito-skill"
#: File under :func:`~keito_skill.ledger.skill_home` holding the absolute path of the
#: ``keito-skill`` executable, for the plugin's hook wrapper.
BIN_RECORD: Final = "keito-skill-bin"
_SHARE: Final = Path("share") / "keito-skill"


class BundleError(KeitoSkillError):
    """The skill files cannot be found or copied."""


def _is_bundle(root: Path) -> bool:
    return (root / "SKILL.md").is_file() and (root / "skill").is_dir()


def _candidates() -> list[Path]:
    package = Path(__file__).resolve().parent.parent  # .../keito_skill
    found = [package.parent]  # source checkout: the repository root
    prefixes = [
        sys.prefix,
        sys.base_prefix,
        sysconfig.get_path("data"),
        getattr(site, "USER_BASE", None) or "",
    ]
    found += [Path(prefix) / _SHARE for prefix in prefixes if prefix]
    return found


def find_bundle() -> Path:
    """The directory holding ``SKILL.md`` and ``skill/`` (checkout first, then data files)."""
    for root in _candidates():
        if _is_bundle(root):
            return root
    searched = ", ".join(str(c) for c in _candidates())
    raise BundleError(f"skill files (SKILL.md, skill/) not found; looked in {searched}")


def resolve_bin(override: str | Path | None = None) -> Path:
    """The absolute path of the ``keito-skill`` executable hook commands should run.

    ``override`` (``--bin``) wins; then PATH; then the script next to this interpreter
    (a venv or pipx install that is not on PATH). Absolute so hooks work whatever PATH the
    agent gives them.
    """
    if override:
        return Path(override).expanduser().absolute()
    found = shutil.which("keito-skill")
    if found:
        return Path(found).absolute()
    return Path(sys.executable).parent / "keito-skill"


def record_bin(path: Path) -> Path:
    """Remember ``path`` for the plugin hook wrapper; returns the record file."""
    record = skill_home() / BIN_RECORD
    atomic_write_text(record, f"{path}\n", mode=0o600)  # 0600 like the skill home's files
    return record


def is_our_skill(directory: Path) -> bool:
    """Whether ``directory`` is a skill keito-skill installed (so we may replace or delete it)."""
    return (directory / MARKER).is_file()


def _copy_tree(bundle: Path, target: Path, agent_metadata: bool) -> None:
    target.mkdir(parents=True)
    shutil.copy2(bundle / "SKILL.md", target / "SKILL.md")
    shutil.copytree(
        bundle / "skill", target / "skill", ignore=shutil.ignore_patterns("__pycache__")
    )
    if agent_metadata and (bundle / "skill" / "agents").is_dir():
        shutil.copytree(bundle / "skill" / "agents", target / "agents")
    # Data files in a wheel may lose their mode: scripts must stay runnable.
    scripts = target / "skill" / "scripts"
    if scripts.is_dir():
        for script in scripts.iterdir():
            if script.is_file():
                script.chmod(0o755)
    (target / MARKER).write_text(f"keito-skill {__version__}\n", encoding="utf-8")


def install_skill(skills_dir: Path, *, agent_metadata: bool, bundle: Path | None = None) -> Path:
    """Copy the skill to ``<skills_dir>/keito``, replacing an earlier copy of ours.

    The new copy is built beside the old one and swapped in with renames, so an agent
    never sees a half-copied skill. A ``keito`` directory we did not install is an error.
    """
    bundle = bundle or find_bundle()
    dest = skills_dir / SKILL_NAME
    if dest.exists() and not is_our_skill(dest):
        raise BundleError(f"{dest} exists and was not installed by keito-skill; move it away")
    if not skills_dir.exists():
        skills_dir.mkdir(parents=True)
        _created.remember(skills_dir)  # uninstall removes it again if nothing else is there
    staging = Path(tempfile.mkdtemp(prefix=f".{SKILL_NAME}.new-", dir=skills_dir))
    old = skills_dir / f".{SKILL_NAME}.old-{os.getpid()}"
    try:
        _copy_tree(bundle, staging / SKILL_NAME, agent_metadata)
        if dest.exists():
            os.replace(dest, old)
        os.replace(staging / SKILL_NAME, dest)
    except OSError as exc:
        raise BundleError(f"cannot install the skill into {dest}: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return dest


def remove_skill(skills_dir: Path) -> Path | None:
    """Delete ``<skills_dir>/keito`` if we installed it; returns the path removed."""
    dest = skills_dir / SKILL_NAME
    if not is_our_skill(dest):
        return None
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(dest)
    _created.remove_if_empty_dir(skills_dir)
    return dest
