"""The billing policy: what a session is billed to, or why it is not billed.

One decision, asked by everyone who needs it: ``sync`` (materialising records), ``backfill``
(its idle threshold and dry-run table), ``watch`` (its idle threshold), ``status`` and
``report`` (a repo's billing rules) and ``doctor`` (the mapping check). It used to be made
twice, in sync and in backfill, and the two had drifted (different wording, and an
unreadable config was "broken" in one and a crash in the other); an over-billed client is
the worst bug this package can have, so there is one place to get it right.

A session started in ``cwd`` is billed by the ``.keito/config.yml`` found from there up to
its git root. In order:

* a config that cannot be read or validated: ``broken`` (the line at fault; never guessed
  around, never overridden);
* a config that says ``agent_tracking.enabled: false``: ``disabled``;
* no config, or one without both project and task: ``unmapped``, unless ``backfill
  --project/--task`` gave the session an override: ``override`` (billed to that project
  and task, with the rest of the repo's config if there is one);
* otherwise ``mapped``.

A session the ledger saw while its repository was disabled stays ``disabled`` whatever the
config says now (:func:`decide_for`): only ``backfill --include-disabled`` clears that.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from keito_skill.errors import ConfigError
from keito_skill.transcripts import DEFAULT_IDLE_SECONDS

if TYPE_CHECKING:
    from keito_skill.ledger import SessionRow
    from keito_skill.mapping import Billing, ConfigProblem, RepoConfig, RepoMapping

MAPPED, OVERRIDE, UNMAPPED = "mapped", "override", "unmapped"
BROKEN, DISABLED = "broken", "disabled"
# The ledger's ``mapping_detail`` of a session billed through its override.
OVERRIDE_DETAIL = "override (backfill --project/--task)"


def repo_config(cwd: str | Path | None) -> RepoMapping | ConfigProblem | None:
    """The repo config that applies in ``cwd``: loaded, the problem with it, or None.

    The one place a config's errors are handled: every :class:`ConfigError` and every
    ``OSError`` (a directory that cannot be searched, a file that cannot be read) becomes
    a :class:`~keito_skill.mapping.ConfigProblem` naming the file, so every caller sees a
    broken config the same way and none of them crashes on one.
    """
    from keito_skill._configpath import find_config

    if not cwd:
        return None
    try:
        path = find_config(cwd)
    except OSError:
        path = Path(cwd)  # let loading name what cannot be read, as it always did
    if path is None:
        return None  # no config: the pydantic module is not even imported
    from keito_skill.mapping import ConfigProblem, resolve

    try:
        return resolve(cwd)
    except ConfigProblem as problem:
        return problem
    except ConfigError as error:
        return ConfigProblem(Path(cwd), None, str(error))
    except OSError as error:
        where = Path(error.filename) if error.filename else Path(cwd)
        return ConfigProblem(where, None, f"cannot read: {error.strerror or error}")


class RepoConfigs:
    """:func:`repo_config` remembered by cwd: thousands of sessions share a handful of
    repositories, and one pass (a sync, a report) reads each config once."""

    def __init__(self) -> None:
        self._found: dict[str | None, RepoMapping | ConfigProblem | None] = {}

    def get(self, cwd: str | None) -> RepoMapping | ConfigProblem | None:
        if cwd not in self._found:
            self._found[cwd] = repo_config(cwd)
        return self._found[cwd]

    def billing(self, cwd: str | None) -> Billing | None:
        """The repo's ``billing`` rules, or None (no config, or a broken one)."""
        found = self.get(cwd)
        if found is None:
            return None  # without importing the pydantic module
        from keito_skill.mapping import RepoMapping

        return found.config.billing if isinstance(found, RepoMapping) else None


@dataclass(frozen=True)
class Decision:
    """How a session is billed: ``status`` (``mapped``, ``override``, ``unmapped``,
    ``broken`` or ``disabled``), ``detail`` (the config it follows, or why it is not
    billed), and, when billable, the config to bill with (``mapping``)."""

    status: str
    detail: str
    repo: str | None  # the repository root (the cwd when there is no config)
    idle_seconds: int  # the repo's idle threshold (the default without a config)
    mapping: RepoMapping | None = None  # set only when billable

    @property
    def billable(self) -> bool:
        return self.status in (MAPPED, OVERRIDE)

    @property
    def config(self) -> RepoConfig | None:
        return self.mapping.config if self.mapping is not None else None

    @property
    def project_id(self) -> str | None:
        return self.mapping.config.project_id if self.mapping is not None else None

    @property
    def task_id(self) -> str | None:
        return self.mapping.config.task_id if self.mapping is not None else None


def billed_seconds(
    config: RepoConfig | None, active: float, wall: float
) -> tuple[float, str | None]:
    """Seconds to bill for one session-day and, when it must not be sent yet, why
    (:meth:`RepoConfig.billed_seconds`). Without a config: the defaults' answer (the
    active time, nothing held), given without importing the pydantic module for it."""
    if config is None:
        return active, None
    return config.billed_seconds(active, wall)


def decide(
    cwd: str | None,
    override_project_id: str | None = None,
    override_task_id: str | None = None,
    *,
    configs: RepoConfigs | None = None,
) -> Decision:
    """The :class:`Decision` for a session started in ``cwd``; ``override_*``: the project
    and task ``backfill --project/--task`` gave it (used only without a mapping of its own).
    """
    found = configs.get(cwd) if configs is not None else repo_config(cwd)
    if found is None and not (override_project_id and override_task_id):
        # no config and no override: decided without importing the pydantic module
        # (~0.15 s; a backfill's main process and each worker would pay it)
        return Decision(UNMAPPED, "no .keito/config.yml", cwd, DEFAULT_IDLE_SECONDS)
    from keito_skill.mapping import ConfigProblem, RepoConfig, RepoMapping

    if isinstance(found, ConfigProblem):
        return Decision(BROKEN, str(found), cwd, DEFAULT_IDLE_SECONDS)
    repo = str(found.repo_root) if found is not None else cwd
    idle = found.config.idle_seconds if found is not None else DEFAULT_IDLE_SECONDS
    if found is not None and not found.config.agent_tracking.enabled:
        return Decision(DISABLED, f"{found.config_path}: tracking disabled", repo, idle)
    if found is not None and found.config.is_mapped:
        return Decision(MAPPED, str(found.config_path), repo, idle, found)
    if not (override_project_id and override_task_id):
        detail = f"{found.config_path}: no project/task" if found else "no .keito/config.yml"
        return Decision(UNMAPPED, detail, repo, idle)
    # Only a session without a usable mapping takes the override: a repo's own config always
    # wins, and a broken one is reported rather than papered over. Everything else (billing,
    # notes, metadata) comes from the repo's config when there is one.
    base = found.config if found is not None else RepoConfig()
    ids = {"project_id": override_project_id, "task_id": override_task_id}
    config = base.model_copy(update=ids)
    root = found.repo_root if found is not None else Path(cwd or ".")
    mapping = RepoMapping(config_path=root / ".keito" / "config.yml", repo_root=root, config=config)
    return Decision(OVERRIDE, OVERRIDE_DETAIL, repo, config.idle_seconds, mapping)


def decide_for(row: SessionRow, configs: RepoConfigs | None = None) -> Decision:
    """The decision for a recorded session: its repo's, with the override stored on it;
    one seen while its repository was disabled stays disabled (never billed, also after
    ``enable``; see :mod:`keito_skill.sync._disabled`)."""
    if row.mapping_status == DISABLED:
        detail = row.mapping_detail or "tracking disabled"
        return Decision(DISABLED, detail, row.cwd, DEFAULT_IDLE_SECONDS)
    return decide(row.cwd, row.override_project_id, row.override_task_id, configs=configs)
