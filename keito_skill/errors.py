"""Typed errors shared by every layer.

Commands turn a :class:`KeitoSkillError` into a one-line message and exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class KeitoSkillError(Exception):
    """Base class of every error this package raises on purpose."""

    exit_code = 2


class TranscriptError(KeitoSkillError):
    """A transcript path that cannot be opened or is not a known agent's transcript."""


class ConfigError(KeitoSkillError):
    """A broken ``.keito/config.yml`` or skill setting."""


class LedgerError(KeitoSkillError):
    """The local ledger cannot be opened: a damaged file, no permission, a full disk."""

    def __init__(self, path: object, reason: str, fix: str | None = None) -> None:
        self.path = path
        self.reason = reason
        self.fix = fix or (
            f"if the file is damaged, move {path} aside: keito-skill starts a new one, and"
            " 'keito-skill backfill' records the sessions again from the transcripts"
            " (Keito is not sent anything twice)"
        )
        super().__init__(
            f"cannot use the ledger {path}: {reason}. {self.fix[0].upper()}{self.fix[1:]}"
        )
