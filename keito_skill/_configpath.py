"""Where a repo's ``.keito/config.yml`` is, found without loading it.

Apart from :mod:`keito_skill.mapping` (which validates a config with pydantic, a tenth of
a second to import): ``report`` and ``status`` look a config up for every repository the
ledger knows, and most sessions have none, so the lookup alone must not cost the import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from keito_skill._repo import up_to_git_root

CONFIG_DIR: Final = ".keito"
CONFIG_NAME: Final = "config.yml"


def _home() -> Path | None:
    try:
        return Path.home().resolve()
    except (RuntimeError, OSError):  # no HOME and no passwd entry
        return None


def find_config(cwd: str | Path) -> Path | None:
    """The ``.keito/config.yml`` that applies to a session started in ``cwd``, if any.

    Looks in ``cwd`` and each parent, stopping after the first directory that contains
    ``.git`` (a directory, or a file for worktrees and submodules): a config above the
    git root belongs to something else. Outside any git checkout the walk stops at the
    user's home (inclusive) or the filesystem root. A ``cwd`` that no longer exists (the
    session may have deleted it) is walked from its nearest existing parent.
    """
    start = Path(cwd).expanduser()
    try:
        start = start.resolve()
    except OSError:
        start = start.absolute()
    while not start.is_dir() and start.parent != start:
        start = start.parent
    home = _home()
    for directory in up_to_git_root(start):
        candidate = directory / CONFIG_DIR / CONFIG_NAME
        if candidate.is_file():
            return candidate
        if directory == home:
            return None
    return None
