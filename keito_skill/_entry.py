"""The console entry point: hooks skip click entirely, everything else gets the full CLI.

``keito-skill hook ...`` runs inside the agent's hooks on every prompt; importing click and
the command registry would cost it time for nothing. So would a background sync that
finds one sync running and another waiting: it exits before importing anything.
"""

from __future__ import annotations

import contextlib
import os
import sys


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["hook"] and not {"-h", "--help"} & set(argv):
        from keito_skill._orjson import skip_in_this_process

        skip_in_this_process()  # ~12 ms of import for a few kilobytes of JSON
        from keito_skill.hooks import main as hook_main

        code = 0
        try:
            code = hook_main(argv[1:])
        finally:
            # The hook has closed what it wrote (the ledger, its log) and started what
            # outlives it detached. All a normal exit adds is tearing down every module
            # and object: ~4 ms of CPU in every prompt of every agent. (An agent may start
            # it with stdout or stderr closed: then Python has no stream there at all.)
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    if stream is not None:
                        stream.flush()
            os._exit(code)
    if argv == ["sync", "--background"]:
        # Started by a hook: when one sync runs and another waits, this one would only
        # exit after ~0.4 s of imports. Find that out first, with the standard library.
        from keito_skill._queue import claim
        from keito_skill._safeio import skill_home

        if not claim(skill_home()):
            sys.exit(0)  # one already waits: it will send what this one would have
        with contextlib.suppress(OSError):
            os.nice(10)  # background work: the agents' hooks (and the agents) come first
        import time

        # Hooks come in bursts (50 at once when many agents stop together): holding the
        # queue, this sync lets them finish writing before it competes for the ledger.
        time.sleep(0.5)
    from keito_skill.cli import main as cli_main

    cli_main()
