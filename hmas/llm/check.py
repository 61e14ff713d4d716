"""``hmas llm check`` as a library: where each agent routes, whether keys are present, and a
tiny call per routed vendor and model (``ping``)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hmas.errors import LlmError
from hmas.llm.client import LlmClient, cost_of, open_client
from hmas.llm.core import CallRecord, Message, Usage
from hmas.llm.deadline import Deadline
from hmas.llm.routing import KeySource, Route, key_sources, resolve_routes
from hmas.llm.vendors import Prices
from hmas.settings import LlmParams, StructuredMode

if TYPE_CHECKING:
    import httpx

PING_PROMPT = "Reply with the single word: pong"
PING_MAX_TOKENS = 32


@dataclass(frozen=True)
class RouteStatus:
    """One agent's route, its key's presence (never its value), mode and prices."""

    agent: str
    vendor: str
    model: str
    wire: str
    base_url: str
    key: KeySource
    structured: StructuredMode
    prices: Prices | None


def route_report(
    params: LlmParams,
    agents: Sequence[str],
    *,
    known: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[RouteStatus]:
    """The route of each agent; ConfigError for a routing that cannot be resolved."""
    routes = resolve_routes(params, agents, known=known)
    keys = key_sources({r.vendor.name: r.vendor for r in routes.values()}.values(), environ)
    return [
        RouteStatus(
            agent,
            r.vendor.name,
            r.model.name,
            r.vendor.wire,
            r.vendor.base_url,
            keys[r.vendor.name][0],
            r.model.structured,
            r.model.prices,
        )
        for agent, r in routes.items()
    ]


@dataclass(frozen=True)
class PingResult:
    """One tiny call: its latency, tokens and cost, or the error (one line)."""

    vendor: str
    model: str
    agents: tuple[str, ...]
    ok: bool
    latency_s: float | None
    usage: Usage
    cost_usd: float | None
    answer: str | None = None
    error: str | None = None


async def _ping_one(client: LlmClient, route: Route, agents: tuple[str, ...]) -> PingResult:
    deadline = Deadline.after(client.params.call_timeout_seconds * (client.params.retries + 1))
    records: list[CallRecord] = []
    try:
        completion = await client.complete(
            route,
            [Message("user", PING_PROMPT)],
            deadline=deadline,
            max_tokens=PING_MAX_TOKENS,
            records=records,
        )
    except LlmError as exc:
        latency = records[-1].latency_s if records else None
        return PingResult(
            route.vendor.name,
            route.model.name,
            agents,
            False,
            latency,
            Usage(),
            None,
            error=str(exc),
        )
    return PingResult(
        route.vendor.name,
        route.model.name,
        agents,
        True,
        records[-1].latency_s,
        completion.usage,
        cost_of(route, completion.usage, completion.reported_cost_usd),
        answer=(completion.text or "").strip()[:40] or None,
    )


async def ping(
    params: LlmParams,
    routes: Mapping[str, Route],
    *,
    http: httpx.AsyncClient | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[PingResult]:
    """One tiny call per routed (vendor, model), concurrently; refuses a missing key first."""
    client = open_client(params, routes, http=http, environ=environ)
    groups: dict[tuple[str, str], list[str]] = {}
    first: dict[tuple[str, str], Route] = {}
    for agent, route in routes.items():
        key = (route.vendor.name, route.model.name)
        groups.setdefault(key, []).append(agent)
        first.setdefault(key, route)
    async with client:
        return list(
            await asyncio.gather(*(_ping_one(client, first[k], tuple(groups[k])) for k in groups))
        )
