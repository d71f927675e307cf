"""One billing policy (keito_skill.billing): sync and backfill take the same decision."""

from __future__ import annotations

from pathlib import Path

import pytest

from keito_skill.backfill import policy_for
from keito_skill.billing import decide
from keito_skill.ledger import Ledger
from keito_skill.recorder import record
from keito_skill.sync import run_sync
from tests.sessions_kit import copy_session

pytestmark = pytest.mark.usefixtures("utc")


def test_a_repo_whose_config_cannot_be_looked_up_is_broken_for_sync_and_backfill(
    ledger: Ledger, tmp_path: Path
) -> None:
    """Looking for the config raised an OSError (here: a directory name too long to look
    up). Backfill called the session broken; sync crashed on it and parked it as "could not
    be processed ... please report this". Now both say broken, with the same cause."""
    cwd = str(tmp_path / ("a" * 300))
    session_id, path = copy_session("codex", tmp_path / "transcripts")
    record(ledger, "codex", session_id, path, cwd=cwd, end_reason="exit")
    report = run_sync(ledger, None)
    row = ledger.session("codex", session_id)
    assert row is not None and row.mapping_status == "broken"
    assert report.sessions == {"broken": 1}
    detail = row.mapping_detail or ""
    assert "cannot read" in detail and "please report" not in detail, detail
    backfill_sees = policy_for(cwd)
    assert (backfill_sees.status, backfill_sees.detail) == ("broken", detail)


def test_a_disabled_repo_without_project_is_disabled_not_unmapped(tmp_path: Path) -> None:
    """``enabled: false`` wins over a missing project/task, as sync always decided (backfill
    called such a session unmapped); with an override it is still disabled."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".keito").mkdir()
    config = repo / ".keito" / "config.yml"
    config.write_text("agent_tracking:\n  enabled: false\nbilling:\n  idle_minutes: 20\n")
    for override in ((None, None), ("prj_x", "tsk_x")):
        decision = decide(str(repo), *override)
        assert (decision.status, decision.detail) == ("disabled", f"{config}: tracking disabled")
        assert not decision.billable and decision.mapping is None
        assert decision.idle_seconds == 20 * 60  # the repo's, as watch always used


def test_an_override_bills_with_the_repo_settings_and_says_so(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".keito").mkdir()
    (repo / ".keito" / "config.yml").write_text("billing:\n  idle_minutes: 7\n")
    unmapped = decide(str(repo))
    assert unmapped.status == "unmapped" and unmapped.detail.endswith("no project/task")
    assert unmapped.idle_seconds == 7 * 60
    decision = decide(str(repo), "prj_x", "tsk_x")
    assert decision.status == "override" and decision.billable
    assert decision.detail == "override (backfill --project/--task)"
    assert (decision.project_id, decision.task_id) == ("prj_x", "tsk_x")
    assert decision.idle_seconds == 7 * 60 and decision.repo == str(repo)
    outside = decide(str(tmp_path / "nowhere"))
    assert (outside.status, outside.detail) == ("unmapped", "no .keito/config.yml")


@pytest.mark.parametrize(
    ("active", "wall"), [(0.0, 0.0), (12.5, 90.0), (3600.0, 3600.0), (1e9, 2e9), (7.0, 3.0)]
)
def test_without_a_config_billed_seconds_are_the_default_configs(
    active: float, wall: float
) -> None:
    """A session without a config is shown with the defaults' billed time, worked out
    without the pydantic module: it must be exactly what a default config says."""
    from keito_skill.billing import billed_seconds
    from keito_skill.mapping import RepoConfig

    assert billed_seconds(None, active, wall) == RepoConfig().billed_seconds(active, wall)


def test_a_session_without_a_config_is_decided_without_the_config_module(tmp_path: Path) -> None:
    """Deciding an unmapped session (most of a first backfill) needs no pydantic import."""
    import subprocess
    import sys

    probe = (
        "import sys; from keito_skill.billing import decide, billed_seconds;"
        f"d = decide({str(tmp_path)!r}); billed_seconds(d.config, 1.0, 2.0);"
        "print(d.status, 'keito_skill.mapping' in sys.modules, 'pydantic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["unmapped", "False", "False"]
