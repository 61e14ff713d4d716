"""LLM costs of a period and the stored backtest runs side by side."""

from __future__ import annotations

from typing import Any

from hmas.report.costs import costs
from hmas.report.period import Period, parse_period, rows
from hmas.report.runs import comparison

from .conftest import ms


def test_costs_by_hand(book: Any) -> None:
    everything = costs(book, Period(), rows(book, Period()))
    assert (everything["total_usd"], everything["calls"]) == (0.06, 3)
    assert everything["cost_per_approved_signal_usd"] == 0.012  # 0.06 over 5 approvals
    btc = Period(symbol="BTC-USD")
    assert costs(book, btc, rows(book, btc))["total_usd"] == 0.04
    march2 = parse_period("2024-03-02", "2024-03-03", None, now_ms=ms("2026-01-01T00:00"))
    day = costs(book, march2, rows(book, march2))
    assert [d["day"] for d in day["by_day"]] == ["2024-03-02"]
    # Signals 2 (0.03), 7 (0.02), 3 (none) over the approvals 2 and 3.
    assert day["cost_per_approved_signal_usd"] == 0.025


def test_cost_per_approved_signal_unknown_without_approvals(book: Any) -> None:
    eth = Period(symbol="ETH-USD")
    data = costs(book, eth, rows(book, eth))
    assert data["cost_per_approved_signal_usd"] is None
    assert data["unknown"] == {"cost_per_approved_signal_usd": "no approved signal in the period"}


def test_backtest_runs_side_by_side(book: Any) -> None:
    runs = comparison(book)
    assert [r["strategy"] for r in runs["runs"]] == ["reference", "rules"]
    rules = runs["runs"][1]
    assert (rules["expectancy_r"], rules["expectancy_r_ci_low"], rules["brier"]) == (
        -0.2,
        -0.5,
        0.2,
    )
    assert runs["runs"][0]["brier"] is None
    assert [r["symbols"] for r in comparison(book, symbol="ETH-USD")["runs"]] == [["ETH-USD"]]
