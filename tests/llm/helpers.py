"""Small builders shared by the LLM tests."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from pydantic import BaseModel, SecretStr

from hmas.llm import Keys, LlmClient, Route, resolve_routes
from hmas.settings import LlmParams

#: A key planted in tests: it must never come out anywhere but the request's header.
PLANTED = "sk-PLANTED0secret0key0do0not0leak0123456789"


class City(BaseModel):
    """The answer the recorded JSON-schema and JSON-mode calls ask for."""

    city: str
    country: str


class Pong(BaseModel):
    """The stub's default answer."""

    verdict: str


_OPEN: list[LlmClient] = []


def run[T](coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro``, then close (in the same loop) every client ``make`` made for it."""

    async def go() -> T:
        try:
            return await coro
        finally:
            while _OPEN:
                await _OPEN.pop().aclose()

    return asyncio.run(go())


def make(params: LlmParams, keys: Keys | None = None, **kw: Any) -> LlmClient:
    """An LlmClient that the next ``run`` closes."""
    made = LlmClient(params, keys or Keys(), **kw)
    _OPEN.append(made)
    return made


def route_to(
    vendor: str, model: str | None = None, agent: str = "alpha", **vendor_settings: Any
) -> tuple[LlmParams, Route]:
    """Settings and the route sending ``agent`` to ``vendor[/model]`` (vendor settings given)."""
    params = LlmParams.model_validate(
        {
            "routing": {agent: f"{vendor}/{model}" if model else vendor},
            "vendors": {vendor: vendor_settings} if vendor_settings else {},
            "backoff_seconds": 0.0,
            "retries": 2,
        }
    )
    return params, resolve_routes(params, [agent], known=list(params.routing))[agent]


def client(params: LlmParams, vendor: str, key: str = PLANTED, **kw: Any) -> LlmClient:
    return make(params, Keys({vendor: SecretStr(key)}), **kw)
