"""Peak memory of a backfill: the whole process tree (the command and its parser workers).

Two figures per run:

* ``peak_tree_rss_mb``: the sum of the RSS of the process and all its descendants,
  sampled every 10 ms from ``/proc`` (what the machine actually has to hold at once);
* ``max_rss_mb``: ``getrusage(RUSAGE_CHILDREN).ru_maxrss``, the largest single process
  (main or a worker) over the run, as ``/usr/bin/time -v`` would report it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from bench._common import backfill
from bench.corpus import Corpus


def measure(corpus: Corpus, work: Path) -> dict[str, Any]:
    shutil.rmtree(work, ignore_errors=True)
    out: dict[str, Any] = {"corpus_bytes": corpus.bytes}
    for name, flags in (("record", ["--no-sync"]), ("dry_run", ["--dry-run"])):
        result = backfill(corpus, work / f"home-{name}", *flags, sample_rss=True)
        summary = json.loads(result.stdout)["summary"]
        out[name] = {
            "seconds": round(result.seconds, 2),
            "peak_tree_rss_mb": result.peak_tree_rss_mb,
            "max_rss_mb": result.max_rss_mb,
            "workers": summary.get("workers"),
            "bytes_read": summary.get("bytes_read"),
        }
    return out


if __name__ == "__main__":  # pragma: no cover - manual use
    import sys

    from bench._common import CACHE, size_bytes
    from bench._common import corpus as get_corpus

    made = get_corpus(size_bytes(sys.argv[1] if len(sys.argv) > 1 else "30M"))
    print(json.dumps(measure(made, CACHE / "work-memory"), indent=2))
