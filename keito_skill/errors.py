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
