"""The one walk up to a repository's git root, shared by every module that needs it.

A repository is where ``.git`` is: a directory, or a file for worktrees and submodules
(``gitdir: <path>``). Everything that scopes work to a repository (the mapping lookup,
``init``, ``disable``/``enable``, the hook's branch and commit) walks the same way, so they
cannot disagree about which repository a directory belongs to.

Standard library only: the hook path uses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

GIT_MARKER = ".git"


def up_to_git_root(start: Path) -> Iterator[Path]:
    """``start`` and each parent, nearest first, ending with the first directory that
    holds ``.git`` (or with the filesystem root outside any checkout).

    Callers that look for something per directory (a ``.keito/config.yml``) stop at the
    git root this way: what lies above it belongs to something else.
    """
    for directory in (start, *start.parents):
        yield directory
        if (directory / GIT_MARKER).exists():
            return


def git_root(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` that holds ``.git``; None outside any
    git checkout."""
    for directory in up_to_git_root(start):
        if (directory / GIT_MARKER).exists():
            return directory
    return None
