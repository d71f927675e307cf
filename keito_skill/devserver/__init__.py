"""A local, Keito-compatible server for tests and demos.

No real Keito is reachable from CI, and a mocked transport proves nothing about the
wire. So the client is tested over real HTTP against this server: Starlette under
uvicorn, SQLite storage, the v2 endpoints the client uses, the documented validation,
and an admin API for fault injection (``/_admin/faults``) and request counting
(``/_admin/requests``).
"""

from __future__ import annotations

import socket
import sys
from typing import TextIO

from keito_skill.devserver._app import create_app
from keito_skill.devserver._store import (
    DEMO_CATEGORY_ID,
    DEMO_CLIENT_ID,
    DEMO_PROJECT_ID,
    DEMO_TASK_ID,
    DEMO_USER_ID,
)

__all__ = [
    "DEMO_CATEGORY_ID",
    "DEMO_CLIENT_ID",
    "DEMO_PROJECT_ID",
    "DEMO_TASK_ID",
    "DEMO_USER_ID",
    "LISTENING_PREFIX",
    "create_app",
    "run",
]

# Tests parse this line to learn the port when started with --port 0.
LISTENING_PREFIX = "Keito dev server listening on "


def run(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    db_path: str = ":memory:",  # the command passes a file under KEITO_SKILL_HOME
    api_key: str | None = None,
    account_id: str | None = None,
    log_level: str = "warning",
    out: TextIO | None = None,
) -> None:
    """Serve until interrupted. ``port=0`` picks a free port; the real URL is printed.

    The socket is bound and listening *before* the URL is printed, so a client that
    connects as soon as it reads the line is queued, never refused.
    """
    import uvicorn  # local import: only the server needs it

    out = out or sys.stdout
    # The socket first: a port in use must not leave a half-made database behind.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Without it every answer waits for the client's delayed ACK (~40 ms a request).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
        app = create_app(db_path, api_key=api_key, account_id=account_id)
    except BaseException:
        sock.close()
        raise
    real_port = sock.getsockname()[1]
    url_host = f"[{host}]" if family == socket.AF_INET6 else host
    auth = (
        "only the configured key/account" if api_key or account_id else "any non-empty key/account"
    )
    print(
        f"Seeded: client {DEMO_CLIENT_ID}, project {DEMO_PROJECT_ID}, task {DEMO_TASK_ID},"
        f" expense category {DEMO_CATEGORY_ID}, user {DEMO_USER_ID}",
        file=out,
    )
    kept = "in memory (lost on exit)" if db_path == ":memory:" else db_path
    print(f"Auth: accepting {auth}; data: {kept}", file=out)
    print(f"{LISTENING_PREFIX}http://{url_host}:{real_port}", file=out, flush=True)
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
