"""Who is calling: the kinds of API key a real Keito account hands out.

Real accounts have more than one kind of key, and each refuses different things. A
double that accepts everything from everyone would let the client (and ``doctor``) be
wrong about them and still pass, so the server knows three kinds:

* ``full``: an admin's key; reads and writes everything of the account.
* ``member``: a team member's key; ``/clients`` answers 403 and ``/projects`` lists
  only the projects assigned to that member.
* ``read_only``: the personal sync key; it reads entries, but writing time entries
  or expenses and reading ``/tasks`` answer 403.

Keys are registered over ``POST /_admin/seed``; any other accepted key is ``full``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from threading import Lock

KINDS = ("full", "member", "read_only")
# Requests per key and minute reported in the X-RateLimit-* headers. Enforced (429 with
# Retry-After) only when a test sets a limit, so large syncs are never slowed down here.
DEFAULT_RATE_LIMIT = 1000
RATE_WINDOW = 60.0


@dataclass(frozen=True)
class Caller:
    """An authenticated request's account and key kind (``projects``: a member's)."""

    account: str
    key: str
    kind: str = "full"
    projects: frozenset[str] | None = None

    @property
    def read_only(self) -> bool:
        return self.kind == "read_only"

    @property
    def member(self) -> bool:
        return self.kind == "member"

    def sees(self, project_id: str) -> bool:
        """Whether this key may see (and book on) the project."""
        return self.projects is None or project_id in self.projects


def key_row_to_caller(account: str, key: str, row: dict[str, object] | None) -> Caller:
    """The caller for ``key``: its registered kind, else a full-access key."""
    if row is None:
        return Caller(account, key)
    raw = row.get("project_ids")
    projects = frozenset(json.loads(raw)) if isinstance(raw, str) else None
    kind = str(row.get("kind") or "full")
    return Caller(account, key, kind, projects if kind == "member" else None)


class RateWindow:
    """Fixed one-minute windows per key, for the ``X-RateLimit-*`` headers (and 429s)."""

    def __init__(self) -> None:
        self._lock = Lock()
        self._windows: dict[str, tuple[float, int]] = {}
        self.limit = DEFAULT_RATE_LIMIT
        self.enforce = False

    def hit(self, key: str) -> tuple[int, int, int, bool]:
        """Count one request: ``(limit, remaining, seconds until the window resets, over)``
        where ``over`` says an enforced limit was already spent before this request."""
        now = time.monotonic()
        with self._lock:
            start, used = self._windows.get(key, (now, 0))
            if now - start >= RATE_WINDOW:
                start, used = now, 0
            used += 1
            self._windows[key] = (start, used)
        reset = max(1, round(start + RATE_WINDOW - now))
        return self.limit, max(0, self.limit - used), reset, self.enforce and used > self.limit

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
            self.limit = DEFAULT_RATE_LIMIT
            self.enforce = False
