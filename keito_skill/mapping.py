"""Which Keito project and task a repository's agent sessions are billed to.

Each repository carries a ``.keito/config.yml``. The file format is the one the existing
Keito skill already writes (``version, workspace_id, client_id, project_id, project_name,
task_id, task_name, agent_tracking{...}, metadata{...}``), so a repository set up with that
skill works here unchanged; keito-skill adds ``expense_category_id``, ``billing{...}`` and
``notes{...}``, all optional with defaults.

Design choices, and why:

* The file is found by walking up from the session's cwd, but never past the git root: a
  mapping that belongs to an enclosing checkout (or to a parent directory of many
  checkouts) must not silently bill another repository's work.
* Unknown keys are ignored but reported as warnings, so a file written by a newer
  keito-skill (or the Keito skill) still loads, and a typo is still visible.
* A broken file is a :class:`ConfigProblem` naming the file and the 1-based line at fault,
  because the person fixing it is looking at that file in an editor.
* A key left empty (``billing:`` with nothing under it) means its default: hand-edited
  files often contain such stubs and refusing them would help nobody.

The hooks never import this module (they only record; sync decides what to bill). Sync,
``status``, ``watch`` and ``backfill`` read a config per repository, so reading uses
PyYAML's C loader when present; ruamel.yaml, which keeps comments, is imported only to
edit a file (``init``, ``disable``, ``enable``).
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from math import ceil as _ceil
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from keito_skill._configpath import CONFIG_DIR, CONFIG_NAME, find_config
from keito_skill._files import atomic_write_text
from keito_skill._safeio import read_small
from keito_skill._words import counted
from keito_skill.errors import ConfigError

__all__ = [
    "CONFIG_RELPATH",
    "ENTRY_SOURCE",
    "AgentTracking",
    "Billing",
    "ConfigProblem",
    "Notes",
    "RepoConfig",
    "RepoMapping",
    "find_config",
    "load_config",
    "resolve",
    "set_enabled",
    "write_config",
]

CONFIG_RELPATH: Final = f"{CONFIG_DIR}/{CONFIG_NAME}"
"""Where the file lives relative to the repository root (also the .gitignore pattern)."""

ENTRY_SOURCE: Final = "agent"
"""The default ``source`` of the entries we create (``agent_tracking.source`` overrides it,
as in the official skill)."""

CONFIG_VERSION: Final = 1
_YEAR_SECONDS: Final = 366 * 24 * 3600

# The C loader is ~10x faster; the pure-Python one gives the same nodes and marks.
_Loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)
_Dumper: type[yaml.SafeDumper] | type[yaml.CSafeDumper] = getattr(
    yaml, "CSafeDumper", yaml.SafeDumper
)

_HEADER = (
    "# Keito mapping for this repository, read by keito-skill.\n"
    "# Personal (workspace and project ids), so it is listed in .gitignore.\n"
)


# ---- models -------------------------------------------------------------------------


class _Section(BaseModel):
    """Shared behaviour of every part of the file.

    ``extra="ignore"``: unknown keys must not fail a newer file; :func:`load_config`
    reports them as warnings instead. A ``None`` for a field whose default is not ``None``
    (an empty ``key:`` in YAML) is dropped so the default applies.
    """

    model_config = ConfigDict(
        extra="ignore",
        str_strip_whitespace=True,
        # YAML reads an unquoted ``project_id: 12345`` or ``project_name: 2024`` as a
        # number; ids and names are strings, so take the number's text.
        coerce_numbers_to_str=True,
        validate_assignment=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _empty_means_default(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {
            key: value
            for key, value in data.items()
            if not (
                value is None
                and isinstance(key, str)
                and key in cls.model_fields
                and cls.model_fields[key].get_default(call_default_factory=True) is not None
            )
        }


class AgentTracking(_Section):
    """The Keito skill's ``agent_tracking`` block: whether and how sessions become entries.

    ``source`` is accepted with any value Keito knows (``web``, ``cli``, ``api``,
    ``agent``) and is the ``source`` of the entries and expenses sent (default ``agent``),
    as in the official skill.
    """

    enabled: bool = True
    source: Literal["web", "cli", "api", "agent"] = "agent"
    draft: bool = False
    # Bounded (a year) so an absurd value is a config error, not an overflow downstream.
    min_duration_seconds: int = Field(default=0, ge=0, le=_YEAR_SECONDS)
    max_duration_seconds: int | None = Field(default=None, gt=0, le=_YEAR_SECONDS)
    redact_notes: bool = False

    @model_validator(mode="after")
    def _min_not_above_max(self) -> AgentTracking:
        if (
            self.max_duration_seconds is not None
            and self.min_duration_seconds > self.max_duration_seconds
        ):
            raise PydanticCustomError(
                "duration_range",
                "min_duration_seconds ({min}) is above max_duration_seconds ({max})",
                {"min": self.min_duration_seconds, "max": self.max_duration_seconds},
            )
        return self


class Billing(_Section):
    """How a session's time is measured and billed (keito-skill only).

    ``active`` counts time between transcript events, cutting gaps longer than
    ``idle_minutes``; ``wall`` bills first-to-last event. The idle cut-off is at least a
    minute because anything shorter would split ordinary thinking pauses.
    """

    duration: Literal["active", "wall"] = "active"
    idle_minutes: int = Field(default=5, ge=1, le=1440)  # at most a day
    # Sent only when set: otherwise the project's and task's default applies (and keys
    # of members who may not set it are not refused).
    billable: bool | None = None
    # ``session``: one time entry per session-day. ``day``: one per repository, project,
    # task and day for all its sessions (an account that rounds every entry up bills
    # many short sessions as one).
    granularity: Literal["session", "day"] = "session"
    # The account's time rounding (``up_15``: up to the next quarter hour), for
    # ``report`` and ``status``; Keito applies it, we never round hours up ourselves.
    rounding: Annotated[str, Field(pattern=r"^(none|(up|nearest)_\d{1,3})$")] | None = None

    def rounding_step(self) -> float | None:
        """The rounding step in hours, or None (no rounding configured)."""
        if not self.rounding or self.rounding == "none":
            return None
        return int(self.rounding.split("_")[1]) / 60.0 or None

    def rounded_hours(self, hours: float) -> float:
        """What an account with :attr:`rounding` stores for an entry of ``hours``."""
        step = self.rounding_step()
        if step is None or hours <= 0:
            return round(hours, 2)
        steps = hours / step
        up = str(self.rounding).startswith("up")
        return round((_ceil(steps - 1e-9) if up else round(steps)) * step, 2)


class Notes(_Section):
    """What goes into a time entry's notes (keito-skill only).

    The default, ``summary``, carries no free text (prompts, tool calls, models): clients
    read notes in Keito. ``last_message`` and ``first_prompt`` send what was written, with
    anything that looks like a secret redacted (:mod:`keito_skill.redact`).
    """

    mode: Literal["last_message", "first_prompt", "summary", "redacted"] = "summary"


def _metadata_value(value: Any) -> Any:
    # Keito metadata is JSON scalars. YAML turns an unquoted 2024-05-01 into a date,
    # which the author almost certainly meant as text, so keep it as ISO text; reject
    # lists and mappings with one clear message instead of one error per union member.
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        raise PydanticCustomError("metadata_int", "integer out of range (64-bit at most)")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise PydanticCustomError(
        "metadata_value", "must be a string, number, boolean or null, not a list or mapping"
    )


MetadataValue = Annotated[str | int | float | bool | None, BeforeValidator(_metadata_value)]


class RepoConfig(_Section):
    """The whole ``.keito/config.yml``.

    Field order is the order :func:`write_config` writes, which keeps the Keito skill's
    keys first so a diff against a file it wrote stays small.
    """

    version: int = Field(default=CONFIG_VERSION, ge=1, le=1000)
    workspace_id: str | None = None
    client_id: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    task_id: str | None = None
    task_name: str | None = None
    # No default: category ids are opaque per account; without one, expenses wait.
    expense_category_id: str | None = None
    agent_tracking: AgentTracking = Field(default_factory=AgentTracking)
    billing: Billing = Field(default_factory=Billing)
    notes: Notes = Field(default_factory=Notes)
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)

    @property
    def idle_seconds(self) -> int:
        """``billing.idle_minutes`` in seconds, the unit the transcript parser uses."""
        return self.billing.idle_minutes * 60

    @property
    def is_mapped(self) -> bool:
        """Whether entries can be created: Keito needs both a project and a task."""
        return bool(self.project_id) and bool(self.task_id)

    def billed_seconds(self, active: float, wall: float) -> tuple[float, str | None]:
        """Seconds to bill for one session-day and, when it must not be sent yet, why."""
        seconds = wall if self.billing.duration == "wall" else active
        tracking = self.agent_tracking
        if tracking.max_duration_seconds is not None:
            seconds = min(seconds, float(tracking.max_duration_seconds))
        if seconds < tracking.min_duration_seconds:
            return seconds, f"below min_duration_seconds ({tracking.min_duration_seconds}s)"
        return seconds, None


# ---- errors and results -------------------------------------------------------------


class ConfigProblem(ConfigError):
    """A ``.keito/config.yml`` that cannot be used, with the line to look at.

    ``str()`` reads ``<path>:<line>: <message>`` (or ``<path>: <message>`` when no line
    applies), the form editors and terminals turn into a jump-to-line link.
    """

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple[type[ConfigProblem], tuple[Path, int | None, str]]:
        # Exceptions pickle as cls(*args); ours takes three arguments, not one string.
        return (type(self), (self.path, self.line, self.message))


@dataclass(frozen=True)
class RepoMapping:
    """A loaded config: where it came from, what it says, and what was ignored in it.

    (Not ``Mapping``: that name is ``collections.abc.Mapping`` everywhere else.)
    """

    config_path: Path
    repo_root: Path
    config: RepoConfig
    warnings: tuple[str, ...] = ()


# ---- finding: find_config is in keito_skill._configpath (no pydantic there) ---------


# ---- loading ------------------------------------------------------------------------


_MAX_CONFIG_BYTES = 1 << 20  # a config is a few hundred bytes; a repository may lie


def _read(path: Path) -> str:
    """The config's text: a regular file only (a FIFO would hang us), at most 1 MiB."""
    try:
        return read_small(path, _MAX_CONFIG_BYTES).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigProblem(path, None, f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise ConfigProblem(path, None, f"cannot read: {exc.strerror or exc}") from None


def _compose(
    path: Path, text: str, loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = _Loader
) -> tuple[yaml.Node | None, Any]:
    """Parse once, keeping both the node tree (for line numbers) and the plain data."""
    parser = loader(text)
    try:
        node = parser.get_single_node()
        data = parser.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        detail = exc.problem or exc.context or "cannot parse"
        if exc.context and exc.problem:
            detail = f"{exc.problem} ({exc.context})"
        raise ConfigProblem(path, line, f"invalid YAML: {detail}") from None
    except yaml.YAMLError as exc:
        raise ConfigProblem(path, None, f"invalid YAML: {exc}") from None
    finally:
        parser.dispose()
    return node, data


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _entry(node: yaml.MappingNode, key: object) -> tuple[yaml.Node, yaml.Node] | None:
    """The last ``key: value`` pair named ``key`` (the last one wins, as when loading)."""
    for key_node, value_node in reversed(node.value):
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(key):
            return key_node, value_node
    return None


def _line_at(root: yaml.Node, loc: tuple[int | str, ...]) -> int | None:
    """The line of the deepest node along a pydantic error location.

    For a mapping step this is the key's line, which is where the reader should look
    (for a block value, the value starts on a later line).
    """
    node, line = root, None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            hit = _entry(node, part)
            if hit is None:
                break
            line, node = _line(hit[0]), hit[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                break
            node = node.value[part]
            line = _line(node)
        else:
            break
    return line


def _section_model(field_annotation: Any) -> type[BaseModel] | None:
    try:
        if issubclass(field_annotation, BaseModel):
            return field_annotation  # type: ignore[no-any-return]
    except TypeError:  # not a class: dict[str, ...], str | None and the like
        pass
    return None


def _key_warnings(
    path: Path, node: yaml.Node, model: type[BaseModel] | None, prefix: str
) -> list[str]:
    """Unknown keys (where the model is known) and duplicate keys (anywhere)."""
    found: list[str] = []
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found += _key_warnings(path, item, None, f"{prefix}[{index}]")
        return found
    if not isinstance(node, yaml.MappingNode):
        return found
    seen: set[str] = set()
    for key_node, value_node in node.value:
        where = f"{path}:{_line(key_node)}"
        if not isinstance(key_node, yaml.ScalarNode):
            if model is not None:
                found.append(f"{where}: ignored a key that is not a plain name under {prefix}")
            continue
        name = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
        if key_node.value in seen:
            found.append(f"{where}: duplicate key {name!r}; this later value is used")
        seen.add(key_node.value)
        sub_model: type[BaseModel] | None = None
        if model is not None:
            field = model.model_fields.get(key_node.value)
            if field is None:
                found.append(f"{where}: unknown key {name!r} ignored")
                continue
            sub_model = _section_model(field.annotation)
        found += _key_warnings(path, value_node, sub_model, name)
    return found


def _validation_problem(path: Path, root: yaml.Node, exc: ValidationError) -> ConfigProblem:
    located = [(_line_at(root, tuple(err["loc"])), err) for err in exc.errors()]
    # Report the problem nearest the top of the file: that is where the reader starts.
    located.sort(key=lambda pair: pair[0] if pair[0] is not None else 1 << 30)
    line, first = located[0]
    where = ".".join(str(part) for part in first["loc"])
    message = f"{where}: {first['msg']}" if where else str(first["msg"])
    if len(located) > 1:
        message += f" (and {counted(len(located) - 1, 'more problem')})"
    return ConfigProblem(path, line, message)


def load_config(path: Path) -> RepoMapping:
    """Read and validate one config file.

    Raises :class:`ConfigProblem` for an unreadable, empty or non-mapping file, a YAML
    syntax error (line of the parser's mark) or a value that fails validation (line of
    the offending key, found by following the error's location through the YAML nodes).
    """
    path = Path(path)
    node, data = _compose(path, _read(path))
    if node is None:
        raise ConfigProblem(path, None, "file is empty; expected at least project_id and task_id")
    if not isinstance(node, yaml.MappingNode) or not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "null"
        raise ConfigProblem(
            path, _line(node), f"top level must be a mapping of keys to values, not a {kind}"
        )
    try:
        config = RepoConfig.model_validate(data)
    except ValidationError as exc:
        raise _validation_problem(path, node, exc) from None
    warnings = _key_warnings(path, node, RepoConfig, "")
    if config.version > CONFIG_VERSION:
        warnings.append(
            f"{path}:{_line_at(node, ('version',))}: version {config.version} is newer than "
            f"this keito-skill understands ({CONFIG_VERSION}); settings it does not know "
            "are ignored"
        )
    return RepoMapping(
        config_path=path,
        repo_root=path.parent.parent,
        config=config,
        warnings=tuple(warnings),
    )


def resolve(cwd: str | Path | None) -> RepoMapping | None:
    """The mapping for a session in ``cwd`` (the process cwd when ``None``); ``None`` if none."""
    path = find_config(Path.cwd() if cwd is None else cwd)
    return load_config(path) if path is not None else None


# ---- writing ------------------------------------------------------------------------


class OutsideRepository(ConfigError):
    """A path we were about to write leads out of the repository through a symlink."""


def _inside_repo(repo_root: Path, path: Path) -> Path:
    """``path`` if writing it stays inside ``repo_root``, else :class:`OutsideRepository`.

    A cloned repository is not trusted: a committed ``.gitignore`` or ``.keito`` may be a
    symlink to ``~/.bashrc`` or ``~/.ssh``. Every component from the repository down is
    resolved, and the result must still be inside the repository; the file itself must
    not be a symlink (an atomic replace would only replace the link, but an append would
    follow it).
    """
    root = repo_root.resolve()
    try:
        real_parent = path.parent.resolve()
    except OSError as exc:
        raise OutsideRepository(f"{path}: {exc.strerror or exc}") from None
    if path.is_symlink() or not real_parent.is_relative_to(root):
        target = os.path.realpath(path)
        raise OutsideRepository(
            f"not writing {path}: it leads out of the repository through a symbolic link"
            f" (to {target}); replace the link with a real file or directory"
        )
    return path


def _without_nones(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}


def _dump(data: dict[str, Any]) -> str:
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True
    )


# .gitignore lines that already keep the config out of git.
_IGNORED_BY: Final = frozenset(
    prefix + pattern
    for prefix in ("", "/")
    for pattern in (CONFIG_RELPATH, CONFIG_DIR, f"{CONFIG_DIR}/", f"{CONFIG_DIR}/*")
)


def _ignore_in_git(repo_root: Path) -> None:
    """Add the config to ``.gitignore`` unless a line there already covers it."""
    gitignore = _inside_repo(repo_root, repo_root / ".gitignore")
    try:
        existing = gitignore.read_text(encoding="utf-8")
    except FileNotFoundError:
        existing = ""
    if any(line.strip() in _IGNORED_BY for line in existing.splitlines()):
        return
    separator = "" if not existing or existing.endswith("\n") else "\n"
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    with os.fdopen(os.open(gitignore, flags, 0o644), "a", encoding="utf-8") as handle:
        handle.write(f"{separator}{CONFIG_RELPATH}\n")


def _written(config: RepoConfig) -> dict[str, Any]:
    """What :func:`write_config` writes: every setting, unset ones (``None``) left out."""
    data = config.model_dump(mode="json")
    for section in ("agent_tracking", "billing", "notes"):
        data[section] = _without_nones(data[section])
    metadata = data.pop("metadata")
    data = _without_nones(data)
    if metadata:
        data["metadata"] = metadata
    return data


def _merge(target: dict[str, Any], data: dict[str, Any], model: type[BaseModel] | None) -> None:
    """Make ``target`` (the user's file, as ruamel loaded it) say ``data``, in place.

    Values already equal are not touched (their quoting and comments stay); changed ones
    are replaced where they are; missing ones are appended. A setting of ``model`` that
    ``data`` leaves out (an id now unset) is removed; keys ``model`` does not know are the
    user's (or a newer keito-skill's) and stay. ``model`` None: a free mapping
    (``metadata``), which ``data`` states whole.
    """
    for key, value in data.items():
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            field = model.model_fields.get(key) if model is not None else None
            _merge(current, value, _section_model(field.annotation) if field else None)
        elif key not in target or current != value or type(current) is not type(value):
            target[key] = value
    for key in list(target):
        if key not in data and (model is None or key in model.model_fields):
            del target[key]


def _edited_config(path: Path, config: RepoConfig, data: dict[str, Any]) -> str | None:
    """The existing file changed to say ``config``, its comments and layout kept; None when
    that cannot be done. Checked after the edit: the text must read back as exactly
    ``config`` (as :func:`load_config` reads it), else it is not used."""
    from keito_skill._yamledit import round_trip

    try:
        text = _read(path)
    except ConfigProblem:
        return None
    edited = round_trip(text, lambda document: _merge(document, data, RepoConfig))
    if edited is None:
        return None
    try:
        _, loaded = _compose(path, edited)
        if isinstance(loaded, dict) and RepoConfig.model_validate(loaded) == config:
            return edited
    except (ConfigProblem, ValidationError):
        pass
    return None


def write_config(repo_root: Path, config: RepoConfig) -> Path:
    """Write ``<repo_root>/.keito/config.yml`` and keep it out of git; returns its path.

    Every setting is written, defaults included, so the file documents what can be
    changed; unset ids (``None``) are left out rather than written as ``null``. A new
    file follows the model's field order. An existing file is edited in place (ruamel.yaml,
    :mod:`keito_skill._yamledit`): the user's comments, key order, layout and keys we do
    not know survive, and settings it lacks are appended; if the edited text would not
    read back as exactly ``config``, the file is rewritten instead. The write is atomic
    (temporary file + ``os.replace``).
    """
    repo_root = Path(repo_root)
    data = _written(config)
    path = _inside_repo(repo_root, repo_root / CONFIG_DIR / CONFIG_NAME)
    _inside_repo(repo_root, repo_root / ".gitignore")  # refused before anything is written
    edited = _edited_config(path, config, data) if path.is_file() else None
    atomic_write_text(path, edited if edited is not None else _HEADER + _dump(data))
    _ignore_in_git(repo_root)
    return path


# ---- set_enabled --------------------------------------------------------------------


def _edited_in_place(text: str, root: yaml.MappingNode, enabled: bool) -> str | None:
    """``text`` with only the ``enabled`` value changed or added; ``None`` if not simple.

    Needs the pure-Python loader's marks (character offsets into ``text``).
    """
    value = "true" if enabled else "false"
    newline = "\r\n" if "\r\n" in text else "\n"
    section = _entry(root, "agent_tracking")
    if section is None:
        if root.flow_style or not root.value:
            return None
        body = text if not text or text.endswith(("\n", "\r")) else text + newline
        return f"{body}agent_tracking:{newline}  enabled: {value}{newline}"
    block = section[1]
    if not isinstance(block, yaml.MappingNode):
        return None
    hit = _entry(block, "enabled")
    if hit is not None:
        start, end = hit[1].start_mark.index, hit[1].end_mark.index
        if not isinstance(hit[1], yaml.ScalarNode) or end <= start:
            return None
        return text[:start] + value + text[end:]
    if block.flow_style or not block.value:
        return None
    first_key = block.value[0][0]
    line_start = text.rfind("\n", 0, first_key.start_mark.index) + 1
    indent = text[line_start : first_key.start_mark.index]
    if indent.strip():
        return None
    return f"{text[:line_start]}{indent}enabled: {value}{newline}{text[line_start:]}"


def set_enabled(path: Path, enabled: bool) -> None:
    """Set ``agent_tracking.enabled`` (``keito-skill disable`` / ``enable``).

    Tries a targeted text edit first: only the ``enabled`` value changes (or one line is
    added), so comments, order and quoting survive byte for byte. Otherwise (flow-style
    blocks, an empty ``agent_tracking:``, anchors and the like) ruamel.yaml edits the file
    keeping comments, order and layout. Each edit is accepted only if the edited file
    parses to exactly the expected data; if neither is, the file is rewritten from its
    parsed data: keys, values and order are kept, **comments and formatting are lost**.
    The rest of the file is not validated, so a file broken elsewhere can still be
    disabled; a YAML syntax error or a non-mapping ``agent_tracking`` is a
    :class:`ConfigProblem`.
    """
    path = _inside_repo(Path(path).parent.parent, Path(path))
    text = _read(path)
    node, data = _compose(path, text, yaml.SafeLoader)
    if node is None or not isinstance(node, yaml.MappingNode) or not isinstance(data, dict):
        line = _line(node) if node is not None else None
        raise ConfigProblem(path, line, "top level must be a mapping of keys to values")
    section = data.get("agent_tracking")
    if section is None:
        section = {}
    elif not isinstance(section, dict):
        raise ConfigProblem(
            path, _line_at(node, ("agent_tracking",)), "agent_tracking must be a mapping"
        )
    expected = {**data, "agent_tracking": {**section, "enabled": enabled}}

    def enable(document: dict[str, Any]) -> None:
        if isinstance(document.get("agent_tracking"), dict):
            document["agent_tracking"]["enabled"] = enabled
        else:  # absent or empty
            document["agent_tracking"] = {"enabled": enabled}

    edited = _edited_in_place(text, node, enabled)
    if not _reads_as(edited, expected):
        from keito_skill._yamledit import round_trip

        edited = round_trip(text, enable)
    if edited is not None and _reads_as(edited, expected):
        atomic_write_text(path, edited)
        return
    atomic_write_text(path, _dump(expected))


def _reads_as(text: str | None, expected: dict[str, Any]) -> bool:
    """The check after an edit: ``text`` parses to exactly ``expected``."""
    if text is None:
        return False
    try:
        return bool(yaml.load(text, Loader=_Loader) == expected)
    except yaml.YAMLError:
        return False
