"""The LLM call log: reservations against the budgets (across processes), the cache, costs."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from typing import Any

import pytest

from hmas.errors import BudgetExceededError
from hmas.store.engine import make_engine, upgrade
from hmas.store.llm_calls import (
    Budget,
    attach,
    cached_answers,
    cost_report,
    finish,
    reserve,
    spent_in,
    spent_on,
)


def fields(batch: str = "b1", estimate: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {
        "batch": batch,
        "agent": "alpha",
        "vendor": "stub",
        "model": "stub-model",
        "prompt": {"messages": []},
        "estimate_usd": estimate,
        **extra,
    }


@pytest.fixture
def store(db_url: str, engine_factory: Any) -> Any:
    engine = engine_factory(db_url)
    upgrade(engine)
    return engine


def test_a_pending_call_counts_its_estimate_then_its_cost(store: Any) -> None:
    call = reserve(store, fields(estimate=0.5), Budget(10, 10))
    assert spent_on(store) == pytest.approx(0.5)
    finish(store, call, {"status": "ok", "cost_usd": 0.01, "response": "{}"})
    assert spent_on(store) == pytest.approx(0.01)
    assert spent_in(store, "b1") == pytest.approx(0.01)


def test_a_call_past_the_daily_budget_is_not_made(store: Any) -> None:
    budget = Budget(daily_usd=1.5, signal_usd=100)
    reserve(store, fields(estimate=1.0), budget)
    with pytest.raises(
        BudgetExceededError, match=r"daily LLM budget is spent: \$1\.0000 of \$1\.50"
    ):
        reserve(store, fields(batch="b2", estimate=1.0), budget)
    assert BudgetExceededError.exit_code == 3
    assert spent_on(store) == pytest.approx(1.0)  # the refused call left no row


def test_the_per_signal_cap_counts_the_batch_only(store: Any) -> None:
    budget = Budget(daily_usd=100, signal_usd=1.5)
    reserve(store, fields("sig-a", 1.0), budget)
    with pytest.raises(BudgetExceededError, match="per-signal LLM cap"):
        reserve(store, fields("sig-a", 1.0), budget)
    reserve(store, fields("sig-b", 1.0), budget)  # another signal has its own cap


def test_yesterdays_spend_is_not_todays(store: Any) -> None:
    budget = Budget(daily_usd=1.0, signal_usd=100)
    yesterday = datetime(2026, 1, 1, 23, 59, tzinfo=UTC)
    reserve(store, fields(estimate=1.0), budget, now=yesterday)
    reserve(store, fields(estimate=1.0), budget, now=datetime(2026, 1, 2, 0, 1, tzinfo=UTC))
    assert spent_on(store, "2026-01-01") == pytest.approx(1.0)


def test_the_cache_prefers_the_batch_then_the_newest(store: Any) -> None:
    for batch, text in (("old", "A"), ("mine", "B"), ("new", "C")):
        call = reserve(store, fields(batch, 0.0, cache_key="k"), None)
        finish(store, call, {"status": "ok", "response": text, "cost_usd": 0.0})
    refused = reserve(store, fields("x", 0.0, cache_key="k"), None)
    finish(store, refused, {"status": "error", "response": "D"})
    assert cached_answers(store, "k") == ["C", "B", "A"]
    assert cached_answers(store, "k", batch="mine") == ["B", "C", "A"]
    assert cached_answers(store, "other") == []


def test_costs_by_day_agent_vendor_model(store: Any) -> None:
    for agent, cost in (("alpha", 0.25), ("macro", 0.5), ("alpha", None)):
        call = reserve(store, fields(agent=agent), None)
        finish(store, call, {"status": "ok", "cost_usd": cost, "input_tokens": 10})
    report = cost_report(store)
    assert report["total_usd"] == pytest.approx(0.75) and report["calls"] == 3
    by_agent = {r["agent"]: r for r in report["by_agent"]}
    assert by_agent["alpha"]["cost_usd"] == pytest.approx(0.25)
    assert by_agent["alpha"]["unpriced_calls"] == 1
    assert (
        report["by_model"][0] | {"vendor": "stub", "model": "stub-model"} == report["by_model"][0]
    )


def test_attach_ties_calls_and_sets_the_signals_cost(store: Any) -> None:
    call = reserve(store, fields("b9", 0.0), None)
    finish(store, call, {"status": "ok", "cost_usd": 0.125})
    assert attach(store, "b9") == pytest.approx(0.125)
    assert attach(store, "none") is None


def _spend(url: str, batch: str, tries: int, queue: Any) -> None:
    engine = make_engine(url)
    made = 0
    for _ in range(tries):
        try:
            reserve(engine, fields(batch, 0.1), Budget(daily_usd=1.0, signal_usd=100))
            made += 1
        except BudgetExceededError:
            pass
    engine.dispose()
    queue.put(made)


def test_two_processes_never_spend_past_the_budget_together(store: Any, db_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_spend, args=(db_url, f"p{n}", 8, queue)) for n in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    made = [queue.get(timeout=10) for _ in workers]
    assert sum(made) == 10  # $1.00 of $0.10 reservations: exactly ten, split between the two
    assert spent_on(store) == pytest.approx(1.0)
