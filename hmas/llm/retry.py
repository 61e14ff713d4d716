"""When to retry a failed call and how long to wait: exponential backoff with jitter,
``Retry-After`` honoured, Anthropic's ``x-should-retry`` obeyed, 400/401/404 never retried."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

#: Statuses worth another try: timeout, conflict, rate limit, server errors, Anthropic overloaded.
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def should_retry(status: int, headers: Mapping[str, str]) -> bool:
    """Retry this HTTP status? ``x-should-retry: true/false`` overrides the status table."""
    hint = (headers.get("x-should-retry") or "").strip().lower()
    if hint == "true":
        return True
    if hint == "false":
        return False
    return status in RETRY_STATUSES


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asks to wait (``retry-after-ms``, ``retry-after`` seconds or date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    import time

    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


@dataclass(frozen=True)
class Backoff:
    """Waits between attempts: ``base * 2**n``, capped, times a random factor in [0.5, 1]."""

    base: float
    cap: float
    rng: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def delay(self, retry_number: int, server_asks: float | None = None) -> float:
        """Seconds before retry ``retry_number`` (0 first): what the server asks, if it does."""
        if server_asks is not None:
            return server_asks
        jitter = 0.5 + 0.5 * float(self.rng())
        return float(min(self.cap, self.base * (2**retry_number)) * jitter)
