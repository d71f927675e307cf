"""The key's own Keito user, remembered between syncs, so listings can be narrowed to it.

A full-access key lists the whole team's entries; our look-ups only ever want the key's
own. ``/users/me`` is asked once per key and account and kept in a small file beside the
ledger (``users.json``), so a sync does not pay an extra call each time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

from keito_skill._files import atomic_write_text
from keito_skill._safeio import PRIVATE_FILE, read_json_object
from keito_skill.keito import (
    KeitoClient,
    KeitoNotFoundError,
    KeitoValidationError,
)

_FILE = "users.json"


def _key(client: KeitoClient) -> str:
    """Which key and account: a digest, never the key itself."""
    digest = hashlib.sha256(client.identity().encode()).hexdigest()[:24]
    return digest


def known_user(client: KeitoClient, home: Path) -> str | None:
    """Set ``client.user_id`` from the file, else from ``/users/me`` (then remembered).
    An outage or a bad key raises, as any other request of the pass would."""
    path = home / _FILE
    cache = read_json_object(path)
    key = _key(client)
    if isinstance(cache.get(key), str):
        client.user_id = cache[key]
        return client.user_id
    try:
        found: str | None = client.me().id
    except (KeitoNotFoundError, KeitoValidationError):
        return None  # not narrowed: slower, still correct (a refusal or outage: the caller's)
    client.user_id = found
    if found is not None:
        cache[key] = found
        with contextlib.suppress(OSError):  # asked again next time: slower, not wrong
            atomic_write_text(path, json.dumps(cache), new_mode=PRIVATE_FILE)
    return found
