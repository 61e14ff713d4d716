"""The call ledger: where every call is reserved (budgets) and recorded, and the cache is read.

:class:`~hmas.llm.client.LlmClient` is the one place calls are made; given a ledger it asks it
to ``reserve`` each call before making it (a ledger refuses a call past a budget by raising
:class:`~hmas.errors.BudgetExceededError`: the call is not made), hands it every
:class:`~hmas.llm.core.CallRecord` as the call ends, and reads earlier answers to the same
(vendor, model, prompt, schema) from it. The store's ledger (``hmas.decision.llm_engine``)
writes the ``llm_call`` table; tests use an in-memory one.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Protocol

from hmas.llm.core import AnswerFormat, CallRecord, Prompt, Usage
from hmas.llm.routing import Route


class CallLedger(Protocol):
    """What the client needs from a call log."""

    #: Answer from earlier calls when they match (``llm.cache``); False forces fresh calls.
    use_cache: bool

    def reserve(
        self,
        route: Route,
        request: dict[str, Any],
        estimate_usd: float | None,
        cache_key: str | None,
    ) -> Any:
        """Before a call: a ticket for its record; BudgetExceededError if it must not be made."""

    def record(self, ticket: Any, record: CallRecord) -> None:
        """After a call (``ticket`` None: a call that was never reserved)."""

    def cached(self, cache_key: str) -> list[str]:
        """Raw answers logged for ``cache_key``, the preferred first."""


def cache_key(route: Route, prompt: Prompt, fmt: AnswerFormat) -> str:
    """The hash of (vendor, model, prompt, schema): equal keys ask the same question."""
    blob = json.dumps(
        {
            "vendor": route.vendor.name,
            "model": route.model.name,
            "system": prompt.system,
            "user": prompt.user,
            "schema": fmt.schema,
            "mode": fmt.mode,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode()).hexdigest()


#: Characters per token assumed by the worst-case estimate (real text averages ~4).
CHARS_PER_TOKEN = 3


def estimate_cost(route: Route, request: dict[str, Any], max_tokens: int) -> float | None:
    """The most a call may cost: its request at 3 characters a token, all ``max_tokens``
    answered, nothing from the provider's cache (None: the model has no price)."""
    prices = route.model.prices
    if prices is None:
        return None
    size = len(json.dumps(request, separators=(",", ":")))
    usage = Usage(input_tokens=math.ceil(size / CHARS_PER_TOKEN), output_tokens=max_tokens)
    return prices.cost(usage)
