"""Typed errors for every way a Keito call can fail.

Callers branch on the *kind* of failure (retry later, fix the credentials, look the
record up before re-sending), so each HTTP outcome gets its own class. Messages carry
the server's ``error``/``error_description`` but never the API key: these errors end
up in logs and on the terminal.
"""

from __future__ import annotations

from typing import Any

from keito_skill.errors import KeitoSkillError


class KeitoError(KeitoSkillError):
    """Base class of every Keito API failure.

    ``status_code`` is ``None`` when no HTTP answer was received (network errors, or
    validation done locally before sending).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error: str | None = None,
        error_description: str | None = None,
        method: str | None = None,
        path: str | None = None,
        body: Any = None,
        api_version: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.error = error
        self.error_description = error_description
        self.method = method
        self.path = path
        self.body = body
        # Keito marks every answer with X-Keito-API-Version; an error without it came
        # from something else at that URL (a proxy, a web page): the URL is wrong.
        self.api_version = api_version

    def __str__(self) -> str:
        where = f"{self.method} {self.path}: " if self.method and self.path else ""
        code = f"[{self.status_code}] " if self.status_code is not None else ""
        return f"{where}{code}{self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class KeitoAuthError(KeitoError):
    """401: the API key or account header is missing, wrong or revoked."""


class KeitoForbiddenError(KeitoError):
    """403: authenticated, but this key may not touch that account or record."""


class KeitoNotFoundError(KeitoError):
    """404: the record (or the project/task it points at) does not exist."""


class KeitoConflictError(KeitoError):
    """409: the request clashes with the record's state (running timer, approved entry)."""


class KeitoLockedError(KeitoForbiddenError):
    """403 on a change to one record (PATCH/DELETE ``/time_entries/{id}``): it is locked.

    Keito locks entries of closed or invoiced periods; such a record is final. A 403
    that says the key is read-only stays a plain :class:`KeitoForbiddenError`: then no
    record can change, and none of them is final.
    """


class KeitoApprovedError(KeitoConflictError):
    """409 on a change to one record (PATCH/DELETE ``/time_entries/{id}``): it is approved.

    An approved entry is final; the change must go into a new record instead.
    """


class KeitoValidationError(KeitoError):
    """400/422, or a body rejected locally before sending (``status_code is None``).

    ``error_description`` holds the server's explanation, e.g. ``spent_date is required``.
    """


class MetadataTooLargeError(KeitoValidationError):
    """Metadata cannot be made to fit 4 KB without dropping a key the caller must keep."""


class KeitoRateLimitedError(KeitoError):
    """429 after the retry budget was spent; ``retry_after`` is the server's hint in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class KeitoServerError(KeitoError):
    """5xx (or an unparseable answer) after the retry budget was spent."""


class KeitoNetworkError(KeitoError):
    """No usable HTTP answer: refused, reset, dropped or timed out.

    ``maybe_sent`` is the important bit for writes. ``False`` means the server certainly
    never saw the request (connection refused, connect timeout), so sending again is
    safe. ``True`` means it may have been processed and only the answer was lost:
    look the record up before sending a non-idempotent request again.
    """

    def __init__(self, message: str, *, maybe_sent: bool, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.maybe_sent = maybe_sent


class KeitoTimeoutError(KeitoNetworkError):
    """The call did not complete within the client's timeout."""


class KeitoCredentialsError(KeitoError):
    """No usable API key / account id in the environment or the Keito CLI config."""


class KeitoConfigError(KeitoError):
    """A set-up value that cannot work (a base URL without scheme, unparseable, too long).

    Not a :class:`KeitoCredentialsError`: missing credentials mean "keep recording
    locally", while a broken setting must be said at once and fixed.
    """
