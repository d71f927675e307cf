"""Record the Gemini CLI fixtures in ``tests/fixtures/gemini-cli-0.61.0`` from the real binary.

Run ``python -m tests.e2e.record_gemini_fixtures [OUT_DIR]`` (npm and the registry needed
once, then offline). Two sessions run in one sandbox against one
:class:`~.gemini_stub.GeminiStubServer`, with local telemetry on (one outfile for both, as a
user's would be) and a logging hook on SessionStart, AfterAgent and SessionEnd:

* ``simple``: one prompt answered with text (a routing request and one main answer);
* ``tooluse-resumed``: a prompt answered with a ``list_directory`` call then text, then
  ``--resume`` of the same session with a second such prompt, a minute later: the resumed
  process first writes a second, history-only file for the session
  (``session-tooluse-resumed-start.jsonl``), then appends to the first one.

The telemetry outfile keeps every usage record and one sample of every other kind.
Home and project paths are rewritten to ``/home/dev`` and ``/home/dev/src/acme-api`` (the
chat header's ``projectHash`` recomputed to match), and strings longer than
:data:`KEEP` characters (but the session context, which names the workspace) are cut to
their start plus ``<N characters elided>``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .gemini_agent import GeminiSandbox, ensure_gemini, gemini_logging_hook_command
from .gemini_stub import GeminiStubServer

KEEP = 120
HOME = "/home/dev"
PROJECT = "/home/dev/src/acme-api"
OUT = Path(__file__).resolve().parents[1] / "fixtures" / "gemini-cli-0.61.0"
EVENTS = ("SessionStart", "AfterAgent", "SessionEnd")


class _Rewriter:
    def __init__(self, box: GeminiSandbox) -> None:
        self.pairs = [(str(box.project), PROJECT), (str(box.home), HOME)]
        self.hashes = {
            hashlib.sha256(str(box.project).encode()).hexdigest(): hashlib.sha256(
                PROJECT.encode()
            ).hexdigest()
        }

    def text(self, s: str) -> str:
        for old, new in self.pairs:
            s = s.replace(old, new)
        s = self.hashes.get(s, s)
        if len(s) > KEEP and not s.startswith("<session_context>"):
            s = f"{s[:KEEP]}<{len(s) - KEEP} characters elided>"
        return s

    def value(self, v: Any) -> Any:
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, dict):
            return {self.text(k) if isinstance(k, str) else k: self.value(x) for k, x in v.items()}
        return v


def _compact(obj: Any) -> str:
    """JSON as JavaScript's ``JSON.stringify`` writes it (the CLI's own line format)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _jsonl(path: Path) -> list[Any]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _objects(text: str) -> list[Any]:
    """The concatenated pretty-printed JSON values of a telemetry outfile."""
    decoder = json.JSONDecoder()
    out, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        obj, i = decoder.raw_decode(text, i)
        out.append(obj)


def _kind(obj: Any) -> str:
    if isinstance(obj, dict) and "scopeMetrics" in obj:
        return "metrics"
    if isinstance(obj, dict) and "_spanContext" in obj:
        return "span"
    attributes = obj.get("attributes") if isinstance(obj, dict) else None
    return str((attributes or {}).get("event.name"))


def _short_lists(v: Any) -> Any:
    if isinstance(v, list):
        return [_short_lists(x) for x in v[:2]]
    if isinstance(v, dict):
        return {k: _short_lists(x) for k, x in v.items()}
    return v


def _telemetry_sample(objs: list[Any]) -> list[Any]:
    """Every usage record (``api_response``, ``api_error``) as written; of every other kind
    only the first, its lists cut to two items (spans and metrics are most of the bytes)."""
    seen: set[str] = set()
    kept = []
    for obj in objs:
        kind = _kind(obj)
        if kind in {"gemini_cli.api_response", "gemini_cli.api_error"}:
            kept.append(obj)
        elif kind not in seen:
            seen.add(kind)
            kept.append(_short_lists(obj))
    return kept


def record(out: Path) -> None:
    bins = ensure_gemini()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="keito-gemini-rec-") as tmp:
        root = Path(tmp)
        truth = root / "usage-truth.jsonl"
        with GeminiStubServer(truth, text_only={2}) as stub:
            box = GeminiSandbox(root / "sb", bins, stub, project_name="acme-api")
            log = root / "hooks.jsonl"
            command = gemini_logging_hook_command(root / "bin", log)
            telemetry = root / "telemetry.log"
            box.write_settings(
                dict.fromkeys(EVENTS, command),
                extra={
                    "telemetry": {
                        "enabled": True,
                        "target": "local",
                        "outfile": str(telemetry),
                        "logPrompts": False,
                    }
                },
            )
            runs: list[tuple[str, Any]] = []
            simple = box.run("What does auth.py do?").check()
            runs.append(("simple", simple))
            first = box.run("Review the authentication module").check()
            runs.append(("tooluse-resumed", first))
            # Resume in a later minute: the CLI then starts a second file for the session
            # (named after the new minute) before it goes back to the first one.
            time.sleep(61 - time.gmtime().tm_sec)
            second = box.run("Now check the tests", resume=first.session_id).check()
            runs.append(("tooluse-resumed", second))
            rw = _Rewriter(box)
            names = {simple.session_id: "simple", first.session_id: "tooluse-resumed"}
            written: set[str] = set()
            for chat in box.chat_files():  # by name: the session's first file first
                name = names[_jsonl(chat)[0]["sessionId"]]
                if name in written:
                    name += "-start"
                written.add(name)
                lines = [_compact(rw.value(o)) for o in _jsonl(chat)]
                (out / f"session-{name}.jsonl").write_text("\n".join(lines) + "\n")
            served = _jsonl(truth)
            cuts = [2, 5, 8]  # responses per run: router + answer, router + tool + answer x2
            assert len(served) == cuts[-1], served
            with (out / "usage-truth.jsonl").open("w") as fh:
                for row in served:
                    run = next(i for i, c in enumerate(cuts) if row["n"] <= c)
                    row["session_id"] = runs[run][1].session_id
                    row["role"] = "utility_router" if row["kind"] == "json" else "main"
                    fh.write(json.dumps(row) + "\n")
            with (out / "hook-payloads.jsonl").open("w") as fh:
                for rec in _jsonl(log):
                    fh.write(_compact(rw.value(rec["payload"])) + "\n")
            first_env = _jsonl(log)[0]["env"]
            (out / "hook-env.json").write_text(json.dumps(rw.value(first_env), indent=2) + "\n")
            with (out / "cli-output.jsonl").open("w") as fh:
                for name, run in runs:
                    fh.write(json.dumps({"session": name, "result": run.result}) + "\n")
            objs = [rw.value(o) for o in _telemetry_sample(_objects(telemetry.read_text()))]
            (out / "telemetry.log").write_text(
                "".join(json.dumps(o, indent=2, ensure_ascii=False) + "\n" for o in objs)
            )
    print(f"recorded into {out}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    if target.exists() and target == OUT:
        shutil.rmtree(target)
    record(target)
