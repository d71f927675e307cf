"""``report`` reads the repo config only where there is one: without any, it does not
import the pydantic config module (a tenth of a second of every run, issue 19)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.corpus import generate
from keito_skill.backfill import BackfillOptions, run_backfill
from keito_skill.ledger import Ledger
from tests.sessions_kit import make_repo

pytestmark = pytest.mark.usefixtures("utc")

_PROBE = """
import json, sys
from keito_skill.ledger import Ledger
from keito_skill.report import report_rows
with Ledger() as ledger:
    rows = report_rows(ledger, by="model", since=None, until=None)
print(json.dumps([bool(rows), "pydantic" in sys.modules, "keito_skill.mapping" in sys.modules]))
"""


@pytest.mark.parametrize("with_config", [False, True])
def test_report_imports_the_config_module_only_for_a_repo_with_a_config(
    with_config: bool, home: Path, tmp_path: Path
) -> None:
    where = tmp_path / "repo"
    if with_config:
        make_repo(where, None, project_id="p", task_id="t")
    else:
        (where / ".git").mkdir(parents=True)
    corpus = generate(tmp_path / "corpus", size_bytes=200_000, seed=3, cwds=[str(where)])
    roots = {"claude-code": [corpus.claude_dir], "codex": [corpus.codex_dir]}
    with Ledger() as ledger:  # stores each session's summary
        assert run_backfill(BackfillOptions(roots=roots, workers=1), ledger).errors == []
    env = {**os.environ, "KEITO_SKILL_HOME": str(home)}
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(probe.stdout) == [True, with_config, with_config]
