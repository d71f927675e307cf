"""orjson, unless this process is a hook.

orjson decodes transcript lines and the ledger's checkpoints two to three times faster than
the JSON module, which matters when a backfill reads a gigabyte. But importing it takes
~12 ms (it loads dataclasses, inspect, uuid and zoneinfo at start-up): a fifth of a whole
hook call, and more than all the JSON one hook call handles. So the hook entry point calls
:func:`skip_in_this_process` before anything else is imported, and the modules that would
use orjson fall back to the JSON module, which they keep for what orjson refuses anyway:
both give the same values.
"""

from __future__ import annotations

from types import ModuleType

_skip = False


def skip_in_this_process() -> None:
    """Use the JSON module alone from now on (for modules imported after this call)."""
    global _skip
    _skip = True


def load() -> ModuleType | None:
    """The orjson module, or None in a hook process or where it is not installed."""
    if _skip:
        return None
    try:
        import orjson
    except ImportError:  # pragma: no cover - a declared dependency, but not on every platform
        return None
    return orjson
