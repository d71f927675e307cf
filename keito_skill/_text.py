"""Text that every encoder accepts.

Agents are JavaScript and Rust programs, and a JavaScript string can hold half of a
surrogate pair (an emoji cut in two), which ``JSON.stringify`` writes as an escape such as
``\\ud83d``. Python's JSON module reads that into a ``str`` nothing downstream can encode:
not SQLite, not orjson, not pydantic, not an HTTP body to Keito. Such halves are replaced
by U+FFFD where text enters (transcript lines, and ledgers written before this was done).
"""

from __future__ import annotations

import re

TYPE_CHECKING = False  # mypy takes it for typing's; importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from typing import Any

# A \uD800-\uDFFF escape in JSON: half of a surrogate pair, unless its other half follows.
_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")
_ESCAPE_TEXT = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # the JSON module has joined whole pairs


def may_hold_half_pairs(raw: str | bytes | bytearray) -> bool:
    """True when the JSON text ``raw`` escapes a surrogate: only then is there anything for
    :func:`whole_characters` to mend (whole pairs are escaped too, and left as they are)."""
    if isinstance(raw, str):
        return _ESCAPE_TEXT.search(raw) is not None
    return _ESCAPE_BYTES.search(raw) is not None


def whole_characters(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {whole_characters(k): whole_characters(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_characters(v) for v in value]
    return value
