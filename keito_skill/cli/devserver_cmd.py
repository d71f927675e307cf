"""``keito-skill dev-server``: run the local Keito-compatible server.

For trying keito-skill without a Keito account and for tests, which start it with
``--port 0`` and read the real URL from the ``listening on`` line. Its data lives in a
file under ``KEITO_SKILL_HOME`` by default, so what a demo sent is still there after a
restart; ``--db :memory:`` keeps nothing.

Starlette and uvicorn are an optional extra (``keito-skill[dev-server]``): the hooks'
package does not need a web server.
"""

from __future__ import annotations

import importlib
import sqlite3
from pathlib import Path

import click

from keito_skill.errors import KeitoSkillError

EXTRA_HINT = "the dev server needs starlette and uvicorn: pip install 'keito-skill[dev-server]'"


class DevServerError(KeitoSkillError):
    """The server cannot start: the extra is missing, the port is taken, the file unusable."""


def default_db() -> Path:
    from keito_skill.ledger import skill_home

    return skill_home() / "dev-server.sqlite3"


def _check_extra() -> None:
    for module in ("starlette", "uvicorn"):
        try:
            importlib.import_module(module)
        except ImportError:
            raise DevServerError(EXTRA_HINT) from None


@click.command("dev-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port; 0 picks a free one (the real URL is printed).",
)
@click.option(
    "--db",
    "db_path",
    default=None,
    help="SQLite file to keep data in (default: dev-server.sqlite3 under KEITO_SKILL_HOME;"
    " ':memory:' keeps nothing).",
)
@click.option("--api-key", default=None, help="Accept only this API key (default: any).")
@click.option("--account-id", default=None, help="Accept only this account id (default: any).")
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def dev_server(
    host: str,
    port: int,
    db_path: str | None,
    api_key: str | None,
    account_id: str | None,
    log_level: str,
) -> None:
    """Run a local Keito-compatible API server (SQLite-backed, with fault injection)."""
    _check_extra()
    from keito_skill.devserver import run

    if db_path is None:
        path = default_db()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DevServerError(f"cannot create {path.parent}: {exc.strerror}") from None
        db_path = str(path)
    try:
        run(
            host,
            port,
            db_path=db_path,
            api_key=api_key,
            account_id=account_id,
            log_level=log_level,
        )
    except sqlite3.Error as exc:
        raise DevServerError(
            f"cannot use {db_path} as the dev server's database: {exc}; pass another --db"
        ) from None
    except OSError as exc:
        raise DevServerError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; pass another --port"
            " (0 picks a free one)"
        ) from None
