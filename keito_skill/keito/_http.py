"""One HTTP exchange with Keito: headers, timeout, retries, and error mapping.

The retry rules are where billing data gets duplicated or lost, so they are strict:

* Idempotent methods (GET, PATCH with our full-value bodies, DELETE) are retried on
  any transport failure and on 408, 429, 500, 502, 503, 504.
* POST is retried only when the server certainly did not process it: the connection
  was never established (refused, connect timeout) or the server answered 429/503.
  A read timeout or a connection dropped after the POST went out raises
  :class:`KeitoNetworkError` with ``maybe_sent=True``; the caller must look the
  record up before sending again.
* Waits grow exponentially with jitter; a ``Retry-After`` header is honoured. A hint of
  zero or less (``Retry-After: 0`` or ``-5``) is no hint: retrying at once would spend
  the whole budget in a few milliseconds, so the normal backoff applies instead.

Callers that pace several requests together (sync's workers share one rate limit) add
:class:`Hooks`: called before every attempt and with every answer, retries included.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from keito_skill.keito._credentials import check_api_url
from keito_skill.keito._errors import (
    KeitoApprovedError,
    KeitoAuthError,
    KeitoConflictError,
    KeitoError,
    KeitoForbiddenError,
    KeitoLockedError,
    KeitoNetworkError,
    KeitoNotFoundError,
    KeitoRateLimitedError,
    KeitoServerError,
    KeitoTimeoutError,
    KeitoValidationError,
)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Statuses that mean the server refused the request before doing anything with it.
POST_RETRY_STATUSES = frozenset({429, 503})
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
MAX_BACKOFF = 30.0
# A Retry-After longer than this is not waited out: the caller gets the typed error.
MAX_RETRY_AFTER = 120.0
# A change to one record: ``PATCH``/``DELETE /api/v2/<resource>/<id>``.
_RECORD_PATH = re.compile(r"^/api/v2/[a-z_]+/[^/]+$")


BeforeRequest = Callable[[], None]
OnResponse = Callable[[int, Mapping[str, str]], None]


@dataclass(frozen=True)
class Hooks:
    """What a caller wants to hear of each HTTP attempt (a retry is an attempt too).

    ``before_request()`` runs before the request goes out and may block (a pacer waits
    there); ``on_response(status, headers)`` runs with every answer, before the retry
    policy looks at it. Both run on the thread that sends; an exception in either ends
    that request (it is a bug of the caller's, not an answer from Keito).
    """

    before_request: BeforeRequest | None = None
    on_response: OnResponse | None = None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_fields(response: httpx.Response) -> tuple[str | None, str | None, Any]:
    try:
        body = response.json()
    except ValueError:
        return None, None, response.text[:500] or None
    if isinstance(body, dict):
        err, desc = body.get("error"), body.get("error_description")
        return (
            err if isinstance(err, str) else None,
            desc if isinstance(desc, str) else None,
            body,
        )
    return None, None, body


def error_for(response: httpx.Response, method: str, path: str) -> KeitoError:
    """The typed error for a non-2xx answer, carrying the server's explanation."""
    status = response.status_code
    err, desc, body = _error_fields(response)
    message = desc or err or response.reason_phrase or "HTTP error"
    kw: dict[str, Any] = {
        "status_code": status,
        "error": err,
        "error_description": desc,
        "method": method,
        "path": path,
        "body": body,
        "api_version": response.headers.get("x-keito-api-version"),
    }
    # A refused change to one existing record means that record is final (locked in a
    # closed period, or approved); the caller marks it so and goes on with the rest.
    on_record = method in ("PATCH", "DELETE") and bool(_RECORD_PATH.match(path))
    if status == 403 and "read-only" in message.lower().replace("read only", "read-only"):
        on_record = False  # the key may not write at all: nothing about this record
    if status == 401:
        return KeitoAuthError(message, **kw)
    if status == 403:
        return (KeitoLockedError if on_record else KeitoForbiddenError)(message, **kw)
    if status == 404:
        return KeitoNotFoundError(message, **kw)
    if status == 409:
        return (KeitoApprovedError if on_record else KeitoConflictError)(message, **kw)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return KeitoRateLimitedError(message, retry_after=retry_after, **kw)
    if status in (400, 422):
        return KeitoValidationError(message, **kw)
    if status >= 500:
        return KeitoServerError(message, **kw)
    return KeitoError(message, **kw)


class Transport:
    """Sends requests to one Keito account with the retry policy above."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        account_id: str,
        *,
        timeout: float,
        max_retries: int,
        backoff_base: float,
        user_agent: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key or not account_id:
            raise KeitoAuthError("an API key and an account id are required")
        base_url = check_api_url(base_url)
        self._max_retries = max(0, max_retries)
        self._backoff_base = max(0.0, backoff_base)
        self._sleep = sleep
        # Replaced whole, never changed in place: sending threads read it without a lock.
        self._hooks: tuple[Hooks, ...] = ()
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout),
            headers={
                "Authorization": f"Bearer {api_key}",
                "Keito-Account-Id": account_id,
                "User-Agent": user_agent,
                "Accept": "application/json",
            },
        )

    def close(self) -> None:
        self._client.close()

    def add_hooks(self, hooks: Hooks) -> None:
        """Call ``hooks`` around every attempt from now on (until :meth:`remove_hooks`)."""
        self._hooks = (*self._hooks, hooks)

    def remove_hooks(self, hooks: Hooks) -> None:
        """Stop calling ``hooks`` (added with :meth:`add_hooks`); unknown ones are ignored."""
        self._hooks = tuple(h for h in self._hooks if h is not hooks)

    def _backoff(self, attempt: int) -> float:
        """Exponential wait with jitter in [50%, 100%] of the step, capped."""
        step = min(MAX_BACKOFF, self._backoff_base * (2.0**attempt))
        return step * (0.5 + random.random() / 2)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Send one request, retrying per the policy; return the 2xx response or raise."""
        method = method.upper()
        idempotent = method in IDEMPOTENT
        attempt = 0
        while True:
            hooks = self._hooks
            for hook in hooks:
                if hook.before_request is not None:
                    hook.before_request()
            try:
                response = self._client.request(method, path, params=params, json=json)
            except httpx.InvalidURL as exc:
                # An id or filter no URL can carry (a mangled project id in a config):
                # that one request is wrong, not the connection; never retried.
                raise KeitoValidationError(
                    f"cannot build the request URL: {exc}", method=method, path=path[:200]
                ) from None
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # The request never reached the server: safe to resend, even a POST.
                if attempt < self._max_retries:
                    self._sleep(self._backoff(attempt))
                    attempt += 1
                    continue
                cls = (
                    KeitoNetworkError if isinstance(exc, httpx.ConnectError) else KeitoTimeoutError
                )
                # A TLS failure means the URL (or a proxy) is wrong, not that Keito is down.
                tls = "SSL" in str(exc) or "CERTIFICATE" in str(exc).upper()
                raise cls(
                    f"cannot connect to Keito: {type(exc).__name__}"
                    + (": TLS handshake failed (is the URL right?)" if tls else ""),
                    maybe_sent=False,
                    method=method,
                    path=path,
                ) from None
            except httpx.TransportError as exc:
                # Sent (or partly sent); the answer was lost or late.
                if idempotent and attempt < self._max_retries:
                    self._sleep(self._backoff(attempt))
                    attempt += 1
                    continue
                cls = (
                    KeitoTimeoutError
                    if isinstance(exc, httpx.TimeoutException)
                    else KeitoNetworkError
                )
                what = "timed out" if cls is KeitoTimeoutError else "connection lost"
                raise cls(
                    f"{what} after the request was sent ({type(exc).__name__})",
                    maybe_sent=True,
                    method=method,
                    path=path,
                ) from None

            for hook in hooks:
                if hook.on_response is not None:
                    hook.on_response(response.status_code, response.headers)
            if response.is_success:
                return response
            status = response.status_code
            retryable = status in (RETRY_STATUSES if idempotent else POST_RETRY_STATUSES)
            if method == "DELETE" and status == 404 and attempt > 0:
                # An earlier attempt of this DELETE may have succeeded before its answer
                # was lost; "already gone" is the outcome the caller asked for.
                return response
            if retryable and attempt < self._max_retries:
                wait = self._backoff(attempt)
                if status in (429, 503):
                    hinted = parse_retry_after(response.headers.get("retry-after"))
                    if hinted is not None:
                        if hinted > MAX_RETRY_AFTER:
                            raise error_for(response, method, path)
                        if hinted > 0:  # 0 or negative: keep the backoff, never a hot loop
                            wait = hinted
                self._sleep(wait)
                attempt += 1
                continue
            raise error_for(response, method, path)
