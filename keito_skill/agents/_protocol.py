"""What every agent adapter provides: the one interface the rest of the package uses.

An adapter is the single place that knows one coding agent: where its files are (one
resolver for parse, backfill, watch, install and doctor), how to read its transcripts, how
to install, trust and remove its hooks, what its hook events need, which environment
variables it sets or reads, and its display name. Nothing outside ``keito_skill/agents/``
names an agent; it asks :func:`keito_skill.agents.adapter` instead.

Importing an adapter must stay cheap (the hook path does it): an agent package's
``__init__`` holds the adapter object and imports its parser, installer and doctor
modules inside the methods that need them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from keito_skill.agents._records import AgentChange, Check, InstallContext
    from keito_skill.transcripts._state import ParseState

__all__ = ["Adapter", "Parser"]


class Parser(Protocol):
    """Folds one transcript's decoded lines into a :class:`ParseState`.

    ``quick`` may take a raw line (``buf[start:end]``) without decoding it and return True
    when it did; lines shorter than ``quick_min`` are never offered to it.
    """

    quick_min: int

    def feed(self, obj: dict[str, Any]) -> None: ...

    def quick(self, buf: bytearray, start: int, end: int) -> bool: ...


class Adapter(Protocol):
    """One coding agent. Registered in :data:`keito_skill.agents.ADAPTERS`.

    Identity
        ``name`` is the key everywhere: the ledger's ``agent`` column, ``--agent`` values,
        the hook command's ``--agent`` argument. ``label`` is shown to people (a time
        entry's notes). ``dir_option`` names the CLI option overriding :meth:`roots`
        (``--<dir_option>``, repeatable); ``bin_option``, when not None, the option naming
        the agent's own executable for install/uninstall/doctor (``--<bin_option>``).
    Environment
        ``env_vars``: variables that move the agent's files (carried into the watch
        service). ``session_env``: variables the agent sets for the commands it runs that
        name the running session (``pause``/``resume`` without an id), in order of trust.
    """

    name: str
    label: str
    dir_option: str
    dir_help: str
    bin_option: str | None
    env_vars: tuple[str, ...]
    session_env: tuple[str, ...]

    # -- where its files are ------------------------------------------------------------

    def roots(self, env: Mapping[str, str] | None = None) -> list[Path]:
        """The agent's directories (defaults, from ``env`` or ``os.environ``); the first
        is the one install writes to and doctor checks (:meth:`home`)."""
        ...

    def home(self, env: Mapping[str, str] | None = None) -> Path:
        """The directory holding the agent's settings/hooks: ``roots(env)[0]``."""
        ...

    def transcript_files(
        self, roots: list[Path] | None = None
    ) -> Iterator[tuple[Path, list[Path]]]:
        """Every session under ``roots`` (default :meth:`roots`) as ``(main, side files)``."""
        ...

    def watch_dirs(self, root: Path) -> list[Path]:
        """The directories under ``root`` (a root or a transcripts dir) that watch follows."""
        ...

    def locate(self, path: Path, watched: Path) -> Path | None:
        """The main transcript a changed ``path`` under the watched dir belongs to, or None."""
        ...

    def main_file(self, path: Path) -> Path:
        """The session file ``path`` belongs to (itself unless it is a side file)."""
        ...

    def side_files(self, main: Path) -> list[Path]:
        """Files beside ``main`` that belong to the same session (subagents)."""
        ...

    def session_id_for(self, path: Path) -> str:
        """The session id the agent's hooks report for the transcript at ``path``."""
        ...

    # -- reading transcripts ------------------------------------------------------------

    def looks_like(self, obj: dict[str, Any]) -> bool:
        """Whether a decoded transcript line has this agent's shape."""
        ...

    def owns_name(self, path: Path) -> bool:
        """Whether the file name alone says this agent wrote it (no line recognised)."""
        ...

    def parser(self, state: ParseState) -> Parser:
        """A parser folding this agent's lines into ``state``."""
        ...

    def begin_read(self, state: ParseState, path: Path) -> None:
        """Set up ``state`` before a read of ``path`` (e.g. an id the file name implies)."""
        ...

    def end_read(self, state: ParseState, path: Path) -> None:
        """Complete ``state`` after a read of ``path`` (e.g. a session id from the name)."""
        ...

    def agent_cost(self, states: list[ParseState]) -> dict[str, float] | None:
        """The agent's own cost per model, when its transcript carries one that reconciles."""
        ...

    # -- hooks ----------------------------------------------------------------------------

    def hook_deadline(self, event: str) -> float | None:
        """The hook's whole budget in seconds for ``event`` (session-start, stop,
        session-end) when the agent allows less than the default; None for the default."""
        ...

    def install(self, ctx: InstallContext) -> AgentChange:
        """Install the skill and merge our hooks into the agent's hooks file (idempotent)."""
        ...

    def after_install(self, ctx: InstallContext) -> bool | None:
        """What the agent needs once the files are in place for the hooks to run (Codex:
        trust, with the user's consent), talking through ``ctx.say``. True: done; None:
        not attempted (no consent, agent not installed: not an error); False: failed."""
        ...

    def uninstall(self, ctx: InstallContext) -> AgentChange:
        """Remove our hooks (only ours), our skill directory and anything install added."""
        ...

    def hook_files(self) -> list[Path]:
        """Every file that may hold hooks for this agent (ours, and the official Keito
        skill's, which may sit in the agent's default place whatever the environment)."""
        ...

    def doctor(self, agent_bin: str | None = None) -> list[Check]:
        """Checks that this agent will run our hooks (skipped when it is not installed)."""
        ...
