"""Model prices from genai-prices (offline data), imported lazily.

genai-prices' data takes ~0.2 s to import, so nothing on the hook path imports this module.
Prices are looked up per model; a model genai-prices does not know yields None (the caller
flags it), never a guess and never a silent zero.
"""

from __future__ import annotations

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


def _provider_for(model: str) -> str | None:
    lowered = model.lower()
    for prefix, provider in _PROVIDER_HINTS:
        if lowered.startswith(prefix) or f"/{prefix}" in lowered:
            return provider
    return None


@lru_cache(maxsize=256)
def _known(model: str) -> bool:
    return price_vector(model, (1, 0, 0, 1, 0, 0)) is not None


def is_known(model: str) -> bool:
    """Whether genai-prices can price ``model``."""
    return _known(model)


def price_vector(model: str, vector: tuple[int, ...] | list[int]) -> Decimal | None:
    """USD cost of a token vector (see ``transcripts._state``) for ``model``, or None."""
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
