"""A fake model for the LLM engine's tests: the real client over an in-memory transport.

Answers come from a responder (``tests.llm.agents.responder``) given each request's body; no
socket is opened. ``Counter`` records how many requests were in flight at once.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from hmas.decision.llm_engine import LlmAnswerer, ModelFactory, resolve
from hmas.llm.client import LlmClient
from hmas.settings import Settings, load_settings
from tests.llm.stub import openai_answer

ROUTED = ("alpha", "technical", "sentiment", "macro", "execution", "rationale", "mother")


def llm_settings(base_url: str = "http://stub.invalid/v1", **extra: Any) -> Settings:
    """Every agent and the mother on the LLM engine, routed to a priced ``stub`` vendor."""
    llm = {
        "routing": dict.fromkeys(ROUTED, "stub"),
        "vendors": {
            "stub": {
                "wire": "openai",
                "base_url": base_url,
                "default_model": "stub-model",
                "key_env": "",
                "input_per_mtok": 1.0,
                "output_per_mtok": 2.0,
                "cached_input_per_mtok": 0.5,
                "structured": "json_schema",
            }
        },
        "retries": 0,
        **extra.pop("llm", {}),
    }
    decision = {"engine": "llm", **extra.pop("decision", {})}
    return load_settings(llm=llm, decision=decision, **extra)


@dataclass
class Counter:
    """Requests seen and the most in flight at once."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    most: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def fake_factory(
    settings: Settings,
    respond: Callable[[dict[str, Any]], str],
    *,
    latency: float = 0.0,
    ledger: Any = None,
    counter: Counter | None = None,
) -> ModelFactory:
    """A factory of clients whose HTTP is answered by ``respond`` after ``latency`` seconds."""
    _, keys = resolve(settings)
    seen = counter or Counter()

    async def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        with seen.lock:
            seen.bodies.append(body)
            seen.in_flight += 1
            seen.most = max(seen.most, seen.in_flight)
        try:
            await asyncio.sleep(latency)
            text = respond(body)
        finally:
            with seen.lock:
                seen.in_flight -= 1
        return httpx.Response(200, json=openai_answer(text, str(body.get("model"))))

    def factory() -> Any:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        return LlmClient(settings.llm, keys, http=http, ledger=ledger)

    return factory


def fake_answerer(
    settings: Settings,
    respond: Callable[[dict[str, Any]], str],
    *,
    latency: float = 0.0,
    deadline_s: float | None = None,
    counter: Counter | None = None,
) -> LlmAnswerer:
    """The LLM engine's answerer on the fake model (no ledger: nothing is logged)."""
    routes, _ = resolve(settings)
    return LlmAnswerer(
        settings,
        {a: r for a, r in routes.items() if a != "mother"},
        fake_factory(settings, respond, latency=latency, counter=counter),
        "test",
        None,
        deadline_s,
        routes.get("mother"),
    )
