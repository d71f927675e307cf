"""Model prices from genai-prices (offline data), imported lazily.

genai-prices' data takes ~0.2 s to import, so nothing on the hook path imports this module.
Prices are looked up per model; a model genai-prices does not know yields None (the caller
flags it), never a guess and never a silent zero.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from decimal import Decimal
from functools import lru_cache
from typing import Any

from keito_skill.transcripts._state import (
    CACHE_READ,
    CACHE_WRITE,
    CACHE_WRITE_1H,
    INPUT,
    OUTPUT,
)

_PROVIDER_HINTS = (
    ("claude", "anthropic"),
    ("gpt", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("codex", "openai"),
    ("gemini", "google"),
)


# How model ids are written by the routes in front of a model: a gateway's prefix
# (``openrouter/``, ``anthropic/``, Bedrock's ``converse/``), a Bedrock region and vendor
# (``us.anthropic.``), a Bedrock version (``-v1:0``), a Vertex date (``@20250929``), a
# date stamp on an alias (``-2025-11-13``, ``-20251113``).
_BEDROCK_HEAD = re.compile(r"^(?:(?:us|eu|apac|jp|au|ca|global|us-gov)\.)?(?:anthropic|openai)\.")
_BEDROCK_TAIL = re.compile(r"-v\d+(?::\d+)?$|:\d+$")
_DATE_TAIL = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8})$")


def _candidates(model: str) -> list[str]:
    """Ids to look ``model`` up by, most specific first: as written, then stripped of what
    routes add, then also of a date stamp (genai-prices knows most models by alias)."""
    found = [model]
    name = model.strip().lower().rsplit("/", 1)[-1]
    name = _BEDROCK_TAIL.sub("", _BEDROCK_HEAD.sub("", name)).split("@", 1)[0]
    found.append(name)
    undated = _DATE_TAIL.sub("", name)
    found.append(undated)
    dotted = re.sub(r"(\d)-(\d)(?=-|$)", r"\1.\2", undated)  # gpt-5-1-codex: gpt-5.1-codex
    found.append(dotted)
    return list(dict.fromkeys(c for c in found if c))


@lru_cache(maxsize=256)
def price_id(model: str) -> str | None:
    """The id genai-prices prices ``model`` under (``model`` itself when it knows it), or
    None. Used only to find a price: records and reports keep the id as written."""
    for candidate in _candidates(model):
        if _base_rates(candidate) is not None:
            return candidate
    return None


def _provider_for(model: str) -> str | None:
    lowered = model.lower()
    for prefix, provider in _PROVIDER_HINTS:
        if lowered.startswith(prefix) or f"/{prefix}" in lowered:
            return provider
    return None


def _calc(model: str, vector: tuple[int, ...] | list[int]) -> Decimal | None:
    """genai-prices' price for one request of this size, or None for an unknown model."""
    try:
        from genai_prices import Usage, calc_price
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    cache_write = vector[CACHE_WRITE]
    kwargs: dict[str, Any] = {
        # genai-prices takes *total* input and subtracts the cached parts itself.
        "input_tokens": vector[INPUT] + cache_write + vector[CACHE_READ],
        "cache_write_tokens": cache_write,
        "cache_read_tokens": vector[CACHE_READ],
        "output_tokens": vector[OUTPUT],
    }
    if vector[CACHE_WRITE_1H]:
        kwargs["cache_write_1h_tokens"] = min(vector[CACHE_WRITE_1H], cache_write)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            price = calc_price(Usage(**kwargs), model_ref=model, provider_id=_provider_for(model))
    except (LookupError, ValueError, TypeError, KeyError):
        return None
    total = price.total_price
    return total if isinstance(total, Decimal) else Decimal(str(total))


def load() -> None:
    """Import the price data now (a parser worker does it before its first session)."""
    with contextlib.suppress(ImportError):  # a declared dependency, but never fatal here
        import genai_prices  # noqa: F401


_UNIT = 1000


def _rates(model: str) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal] | None:
    """Base-tier USD per token of ``model`` (found by :func:`price_id`)."""
    found = price_id(model)
    return _base_rates(found) if found is not None else None


@lru_cache(maxsize=256)
def _base_rates(model: str) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal] | None:
    """Base-tier USD per token: input, cache write (5 min), cache write (1 h), cache read,
    output. Measured on small requests, so no long-context tier applies."""
    units = (
        (_UNIT, 0, 0, 0, 0, 0),
        (0, _UNIT, 0, 0, 0, 0),
        (0, _UNIT, 0, 0, 0, _UNIT),
        (0, 0, _UNIT, 0, 0, 0),
        (0, 0, 0, _UNIT, 0, 0),
    )
    prices = [_calc(model, unit) for unit in units]
    if any(p is None for p in prices):
        return None
    r_in, r_cw, r_cw1h, r_cr, r_out = (p / _UNIT for p in prices if p is not None)
    return r_in, r_cw, r_cw1h, r_cr, r_out


def price_vector(
    model: str,
    vector: tuple[int, ...] | list[int],
    long: tuple[int, ...] | list[int] | None = None,
) -> Decimal | None:
    """USD cost of a token vector (see ``transcripts._state``) for ``model``, or None.

    Prices are per request, but a session's usage is a sum of many requests, so it cannot be
    priced as one request (that would put a session of many small requests on a
    long-context tier). The usage is priced linearly at the base tier, except ``long``: the
    part used by requests that were over the long-context boundary on their own, priced
    by genai-prices as such.
    """
    rates = _rates(model)
    if rates is None:
        return None
    base = [v - (long[i] if long else 0) for i, v in enumerate(vector)]
    r_in, r_cw, r_cw1h, r_cr, r_out = rates
    one_hour = min(base[CACHE_WRITE_1H], base[CACHE_WRITE])
    cost = (
        base[INPUT] * r_in
        + (base[CACHE_WRITE] - one_hour) * r_cw
        + one_hour * r_cw1h
        + base[CACHE_READ] * r_cr
        + base[OUTPUT] * r_out
    )
    if long and any(long):
        long_price = _calc(price_id(model) or model, long)
        if long_price is None:
            return None
        cost += long_price
    return cost
