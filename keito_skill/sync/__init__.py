"""Sync: ledger → Keito. Safe to run any number of times, from anywhere, at once.

``run_sync`` materialises what the hooks recorded into records (no network), then sends
what is pending. Without credentials it stops after the first step: everything stays
recorded locally and a later ``sync`` sends it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any

from keito_skill._misses import drain as drain_missed
from keito_skill.billing import RepoConfigs
from keito_skill.ledger import Ledger
from keito_skill.sync._configs import mark_changed_repos
from keito_skill.sync._daily import rebuild_days
from keito_skill.sync._lock import sync_lock
from keito_skill.sync._materialize import materialize, park_failed, summary_of
from keito_skill.sync._open import open_client
from keito_skill.sync._send import Progress, SendReport, send_pending

__all__ = ["Progress", "SyncReport", "materialize_all", "open_client", "run_sync", "summary_of"]

_PASSES = 5


@dataclass
class SyncReport:
    ran: bool = True
    offline: str | None = None
    sessions: dict[str, int] = field(default_factory=dict)
    sent: SendReport = field(default_factory=SendReport)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def materialize_all(ledger: Ledger, report: SyncReport | None = None) -> None:
    """Materialise every session that changed or might map now (mapping fixed later), and
    every session of a repo whose config now routes its records elsewhere."""
    home = ledger.path.parent
    mark_changed_repos(ledger, home)
    touched: set[tuple[str, str]] = set()  # (repo config, day) of day-granularity entries
    try:
        _materialize_passes(ledger, report, touched)
        rebuild_days(ledger, touched)
    finally:
        mark_changed_repos(ledger, home, mark=False)  # what the records now follow


def _materialize_passes(
    ledger: Ledger, report: SyncReport | None, touched: set[tuple[str, str]]
) -> None:
    for _ in range(_PASSES):
        rows = ledger.sessions_to_materialize()
        changed = False
        configs = RepoConfigs()  # repo configs looked up in this pass, by cwd
        for row in rows:
            try:
                status = materialize(ledger, row, configs, touched)
            except sqlite3.Error:
                raise  # the ledger itself, not this session: nothing to set aside
            except Exception as error:  # one session must not stop all the others
                status = park_failed(ledger, row, error)
            if status == "changed":
                changed = True
                continue
            if report is not None:
                report.sessions[status] = report.sessions.get(status, 0) + 1
        if not changed:
            return


def run_sync(
    ledger: Ledger,
    client: Any | None,
    *,
    offline_reason: str | None = None,
    wait: float = 120.0,
    retry_failed: bool = False,
    background: bool = False,
    progress: Progress | None = None,
) -> SyncReport:
    """Materialise and send. ``client`` is a ``KeitoClient`` or None (offline).

    ``progress(settled, total)``: see :func:`~keito_skill.sync._send.send_pending`.
    """
    report = SyncReport()
    home = ledger.path.parent
    with sync_lock(home, wait=wait, queue_up=background) as mine:
        if not mine:
            report.ran = False
            return report
        drain_missed(ledger)  # hook calls a full or read-only disk refused, recorded now
        if retry_failed:
            ledger.retry_failed()  # rebuilt from the current config first
        for _ in range(_PASSES):
            materialize_all(ledger, report)
            if client is None:
                report.offline = offline_reason or "no Keito credentials"
                return report
            send_pending(ledger, client, report.sent, progress=progress)
            if report.sent.aborted:
                ledger.log_event("error", "sync", report.sent.aborted)
                return report
            # Again only if a hook wrote meanwhile. (Ended sessions that cannot be sent keep
            # close_pending: asking for those too made every sync run all its passes.)
            if not ledger.has_dirty_sessions():
                return report
    return report
