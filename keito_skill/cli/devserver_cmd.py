"""``keito-skill dev-server``: run the local Keito-compatible server.

For trying keito-skill without a Keito account and for tests, which start it with
``--port 0`` and read the real URL from the ``listening on`` line.
"""

from __future__ import annotations

import click


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
    default=":memory:",
    show_default=True,
    help="SQLite file to keep data in (default: in memory, lost on exit).",
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
    db_path: str,
    api_key: str | None,
    account_id: str | None,
    log_level: str,
) -> None:
    """Run a local Keito-compatible API server (SQLite-backed, with fault injection)."""
    from keito_skill.devserver import run

    run(host, port, db_path=db_path, api_key=api_key, account_id=account_id, log_level=log_level)
