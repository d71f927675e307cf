"""The Keito client a sync sends with, from the user's credentials."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keito_skill.keito import KeitoClient


def open_client(*, max_retries: int = 4) -> tuple[KeitoClient | None, str | None]:
    """A Keito client from the user's credentials, or None with the reason (a sync then
    records everything locally and says why nothing was sent)."""
    from keito_skill.keito import KeitoClient, KeitoCredentialsError, load_credentials

    try:
        creds = load_credentials()
    except KeitoCredentialsError as exc:
        return None, str(exc)
    return KeitoClient.from_credentials(creds, max_retries=max_retries), None
