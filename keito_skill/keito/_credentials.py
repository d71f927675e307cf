"""Find the Keito API key and account the same way the official Keito CLI does.

A user who already ran ``keito auth login`` must not have to set anything up again,
so we read the CLI's own ``config.toml`` (``<user config dir>/keito/config.toml``,
keys ``api_key``, ``account_id``, legacy ``workspace_id``, ``api_url``) and the same
environment variables (``KEITO_API_KEY``, ``KEITO_ACCOUNT_ID`` or legacy
``KEITO_WORKSPACE_ID``, ``KEITO_API_URL``). Each value is resolved on its own:
environment first, then the file.

``KEITO_CONFIG_DIR`` overrides the directory so tests (and unusual set-ups) never touch
the real one.

The base URL defaults to the one the official CLI uses (``https://app.keito.ai``; the
``.io`` name printed in older Keito documents fails TLS), because ``keito auth login``
writes no ``api_url``: a user who only logged in with the CLI must reach the same server.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keito_skill.keito._errors import KeitoConfigError, KeitoCredentialsError

DEFAULT_API_URL = "https://app.keito.ai"
# Longer than any real base URL; a value this long is a pasted mistake, not a server.
MAX_API_URL_LENGTH = 2048
CONFIG_DIR_ENV = "KEITO_CONFIG_DIR"


@dataclass(frozen=True)
class Credentials:
    """What a client needs to talk to Keito, plus where each part came from.

    The key is excluded from ``repr`` so a logged or printed ``Credentials`` is safe.
    """

    api_key: str = field(repr=False)
    account_id: str
    api_url: str = DEFAULT_API_URL
    api_key_source: str = "argument"
    account_id_source: str = "argument"
    api_url_source: str = "default"


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """The Keito CLI's config directory (``KEITO_CONFIG_DIR`` wins when set).

    Matches the Rust CLI's ``dirs::config_dir()/keito``: ``~/.config/keito`` (or
    ``$XDG_CONFIG_HOME/keito``) on Linux, ``~/Library/Application Support/keito`` on
    macOS, ``%APPDATA%\\keito`` on Windows.
    """
    env = os.environ if env is None else env
    override = env.get(CONFIG_DIR_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs  # local import: only credential loading needs it

    return Path(platformdirs.user_config_dir("keito", appauthor=False, roaming=True))


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """Path of the CLI's ``config.toml``."""
    return config_dir(env) / "config.toml"


def read_config(path: Path) -> dict[str, Any]:
    """The parsed ``config.toml``, ``{}`` when it does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise KeitoCredentialsError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KeitoCredentialsError(f"invalid TOML in {path}: {exc}") from None


def check_api_url(url: str, origin: str = "the API URL") -> str:
    """``url`` without a trailing slash, or :class:`KeitoConfigError` saying what is wrong.

    A typo here would otherwise surface as retries ending in "connection lost"; checking
    the shape first turns it into one clear line naming where the value came from.
    """
    import httpx  # local import: the hook path never builds a client

    value = url.strip()
    fix = "set a full URL such as https://app.keito.ai"
    if len(value) > MAX_API_URL_LENGTH:
        raise KeitoConfigError(f"{origin} is {len(value)} characters long, not a URL; {fix}")
    try:
        parsed = httpx.URL(value)
    except (httpx.InvalidURL, ValueError) as exc:
        shown = f"{origin} {value[:80]!r}"
        raise KeitoConfigError(f"{shown} is not a valid URL ({exc}); {fix}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise KeitoConfigError(
            f"{origin} {value[:80]!r} needs http:// or https:// and a host; {fix}"
        )
    return value.rstrip("/")


def _first(*candidates: tuple[Any, str]) -> tuple[str | None, str]:
    for value, origin in candidates:
        if isinstance(value, str) and value.strip():
            return value.strip(), origin
    return None, "unset"


def resolve_credentials(env: Mapping[str, str] | None = None) -> dict[str, tuple[str | None, str]]:
    """Each credential value with its origin, without failing on missing ones.

    Used by ``auth status`` to report what is missing instead of just erroring.
    """
    env = os.environ if env is None else env
    path = config_path(env)
    cfg = read_config(path)
    file_origin = f"config file {path}"
    return {
        "api_key": _first(
            (env.get("KEITO_API_KEY"), "env KEITO_API_KEY"), (cfg.get("api_key"), file_origin)
        ),
        "account_id": _first(
            (env.get("KEITO_ACCOUNT_ID"), "env KEITO_ACCOUNT_ID"),
            (env.get("KEITO_WORKSPACE_ID"), "env KEITO_WORKSPACE_ID"),
            (cfg.get("account_id"), file_origin),
            (cfg.get("workspace_id"), file_origin),
        ),
        "api_url": _first(
            (env.get("KEITO_API_URL"), "env KEITO_API_URL"),
            (cfg.get("api_url"), file_origin),
            (DEFAULT_API_URL, "default"),
        ),
    }


def load_credentials(env: Mapping[str, str] | None = None) -> Credentials:
    """Credentials from the environment, else the Keito CLI's ``config.toml``.

    Raises :class:`KeitoCredentialsError` naming what is missing and how to fix it.
    """
    found = resolve_credentials(env)
    key, key_origin = found["api_key"]
    account, account_origin = found["account_id"]
    url, url_origin = found["api_url"]
    missing = [
        name
        for name, value in (
            ("API key (KEITO_API_KEY)", key),
            ("account id (KEITO_ACCOUNT_ID)", account),
        )
        if value is None
    ]
    if missing or key is None or account is None:
        raise KeitoCredentialsError(
            f"no Keito {' or '.join(missing)} found; run 'keito-skill auth login' "
            f"or set the environment variables"
        )
    where = url_origin if url_origin != "default" else "the default API URL"
    return Credentials(
        api_key=key,
        account_id=account,
        api_url=check_api_url(url or DEFAULT_API_URL, where),
        api_key_source=key_origin,
        account_id_source=account_origin,
        api_url_source=url_origin,
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # A JSON string with \uXXXX escapes is a valid TOML basic string.
        return json.dumps(value, ensure_ascii=True)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise KeitoCredentialsError(f"cannot write a {type(value).__name__} to config.toml")


def _dump_toml(data: Mapping[str, Any], prefix: str = "") -> str:
    """A tiny TOML writer for the CLI config: scalars first, then ``[tables]``."""
    lines = [
        f"{json.dumps(k)} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)
    ]
    out = "\n".join(lines) + ("\n" if lines else "")
    for k, v in data.items():
        if isinstance(v, dict):
            name = f"{prefix}{json.dumps(k)}"
            out += f"\n[{name}]\n" + _dump_toml(v, prefix=f"{name}.")
    return out


def save_credentials(
    api_key: str,
    account_id: str,
    api_url: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Path:
    """Write the credentials into the CLI's ``config.toml`` (mode 0600, dir 0700).

    Other keys already in the file (``default_output``, ``timezone``...) are kept, and
    ``workspace_id`` is written alongside ``account_id`` so older CLI versions that
    only read the legacy key keep working. The file is replaced atomically, and is
    created 0600 from the start, so the key is never world-readable, not even briefly.
    """
    path = config_path(env)
    cfg = read_config(path)
    cfg["api_key"] = api_key
    cfg["account_id"] = account_id
    cfg["workspace_id"] = account_id
    if api_url:
        cfg["api_url"] = api_url.rstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "posix":
        os.chmod(path.parent, 0o700)
    from keito_skill._files import atomic_write_text

    atomic_write_text(path, _dump_toml(cfg), mode=0o600)
    return path
