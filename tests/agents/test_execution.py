"""Execution auditor: fees, the causal Abdi–Ranaldo spread, slippage, grades and verdicts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hmas.agents import execution
from hmas.agents.base import AgentContext
from hmas.settings import Settings
from tests.agents.frames import hourly_index, shared_btc_candles

N = 40


def ctx(exchange: str = "binance", equity: float = 100_000.0, **params: Any) -> AgentContext:
    """A context on ``exchange`` with execution settings overridden by ``params``."""
    return AgentContext(
        settings=Settings(execution=params),
        symbol="BTC-USD",
        exchange=exchange,
        timeframe="1h",
        equity=equity,
    )


def candles(n: int = N, volume: float = 1e6, seed: int = 5) -> pd.DataFrame:
    """Random-walk candles around 100 with a 0.2% high-low range."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    return pd.DataFrame(
        {
            "open": close,
            "high": close * 1.001,
            "low": close * 0.999,
            "close": close,
            "volume": np.full(n, volume),
        },
        index=hourly_index(n),
    )


def proposals(
    features: pd.DataFrame, action: str = "BUY", stop_pct: float = 0.05, rr: float = 3.0
) -> pd.DataFrame:
    """Alpha's output with ``action`` on the last bar only (HOLD elsewhere)."""
    n = len(features)
    close = features["close"].to_numpy()
    sign = 1.0 if action == "BUY" else -1.0
    last = np.arange(n) == n - 1
    trade = last & (action != "HOLD")
    stop = close * (1 - sign * stop_pct)
    target = close * (1 + sign * stop_pct * rr)
    return pd.DataFrame(
        {
            "action": np.where(last, action, "HOLD"),
            "confidence": np.where(trade, 0.7, 0.0),
            "entry": np.where(trade, close, np.nan),
            "stop": np.where(trade, stop, np.nan),
            "target": np.where(trade, target, np.nan),
            "reward_risk": np.where(trade, rr, np.nan),
            "setup": np.where(trade, "trend_following", None),
            "abstained": np.zeros(n, dtype=bool),
            "abstain_reason": np.full(n, None, dtype=object),
        },
        index=features.index,
    )


def audit(features: pd.DataFrame, alpha: pd.DataFrame, context: AgentContext) -> Any:
    """The view of the last bar."""
    return execution.view_at(execution.run_rules(features, context.with_upstream(alpha=alpha)), -1)


def budget_order(view: Any, entry: float, stop_pct: float, rate: float = 1.0) -> float:
    """The order notional (quote) that 1 % of 100,000 of the account's equity buys when a
    stop-out pays the view's fee and spread and the 10 % gap allowance, at most 1x equity."""
    fee, half_spread = view.fee_bps / 2 / 1e4, view.spread_bps / 2 / 1e4
    stop = entry * (1 - stop_pct)
    out = (stop - 0.1 * (entry - stop)) * (1 - half_spread)
    unit = entry * (1 + half_spread) * (1 + fee) - out * (1 - fee)
    units = min(1_000.0 / (unit * rate), 100_000.0 / (entry * rate))
    return units * entry


# --- verdicts ----------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["BUY", "SELL"])
def test_pass_on_a_cheap_liquid_trade_with_a_wide_stop(action: str) -> None:
    f = candles()
    view = audit(f, proposals(f, action, stop_pct=0.05), ctx())
    assert view.verdict == "PASS", view.reasons
    assert view.reasons == []
    assert view.fee_bps == 20.0
    assert view.liquidity_grade == "A"
    assert view.total_cost_bps == pytest.approx(view.fee_bps + view.spread_bps + view.slippage_bps)
    assert view.total_cost_r == pytest.approx(view.total_cost_bps / 1e4 / 0.05)
    assert view.cost_to_target == pytest.approx(view.total_cost_r / 3.0)


def test_fail_when_the_stop_is_too_tight_for_the_costs() -> None:
    f = candles()
    view = audit(f, proposals(f, stop_pct=0.002), ctx())
    assert view.verdict == "FAIL"
    assert view.total_cost_r > 0.25
    assert any("round-trip cost" in r and "exceeds 0.25R" in r for r in view.reasons)


def test_fail_on_cost_to_target_alone() -> None:
    f = candles()
    context = ctx(max_cost_r=10.0, max_cost_to_target=0.01)
    view = audit(f, proposals(f, stop_pct=0.01, rr=2.5), context)
    assert view.verdict == "FAIL"
    assert [r for r in view.reasons if "of the reward" in r]


def test_fail_on_tiny_volume_with_grade_d_and_heavy_slippage() -> None:
    f = candles(volume=1.0)  # ~100 dollars a bar against a ~20,000 dollar order
    liquid = audit(f.assign(volume=1e6), proposals(f), ctx())
    view = audit(f, proposals(f), ctx())
    assert view.liquidity_grade == "D"
    assert view.verdict == "FAIL"
    assert view.volume_share is not None and view.volume_share > 0.02
    assert view.slippage_bps > 10 * liquid.slippage_bps
    assert any(r.startswith("liquidity grade D") for r in view.reasons)


@pytest.mark.parametrize(
    ("volume", "grade"),
    [(1e6, "A"), (1e5, "B"), (2e4, "C"), (5e3, "D")],
)
def test_liquidity_grades_by_order_share(volume: float, grade: str) -> None:
    # Order: 1,000 risk / (5% stop + 10% gap allowance + costs) = ~17,700 dollars; a bar
    # trades ~100 · volume dollars.
    f = candles(volume=volume)
    view = audit(f, proposals(f), ctx())
    assert view.liquidity_grade == grade
    assert view.order_notional == pytest.approx(budget_order(view, f["close"].iloc[-1], 0.05))
    assert 17_000 < view.order_notional < 18_000
    assert view.quote_rate == 1.0


@pytest.mark.parametrize(
    ("exchange", "fee"), [("coinbase", 120.0), ("Kraken", 80.0), ("nowhere", 20.0)]
)
def test_round_trip_taker_fees_by_exchange_with_a_default(exchange: str, fee: float) -> None:
    f = candles()
    view = audit(f, proposals(f), ctx(exchange))
    assert view.fee_bps == fee


def test_unknown_exchange_uses_the_configured_default() -> None:
    f = candles()
    assert audit(f, proposals(f), ctx("nowhere", default_taker_bps=7.5)).fee_bps == 15.0


def test_hold_and_abstained_alpha_give_na() -> None:
    f = candles()
    hold = audit(f, proposals(f, "HOLD"), ctx())
    assert (hold.verdict, hold.liquidity_grade, hold.total_cost_r) == ("N/A", None, None)
    assert hold.fee_bps == 20.0 and hold.spread_bps is not None
    alpha = proposals(f)
    alpha.loc[alpha.index[-1], "abstained"] = True
    assert audit(f, alpha, ctx()).verdict == "N/A"


@pytest.mark.parametrize(
    "broken",
    [
        {"entry": 0.0},
        {"stop": np.nan},
        {"target": -1.0},
        {"stop": "entry"},  # stop equal to entry: no risk to measure costs in
        {"target": "stop"},  # target on the stop's side
    ],
)
def test_bad_prices_fail_with_data_quality(broken: dict[str, Any]) -> None:
    f = candles()
    alpha = proposals(f)
    last = alpha.index[-1]
    for key, value in broken.items():
        alpha.loc[last, key] = alpha.loc[last, value] if isinstance(value, str) else value
    view = audit(f, alpha, ctx())
    assert view.verdict == "FAIL"
    assert view.reasons[0].startswith("data quality: entry, stop or target")
    assert view.total_cost_r is None


def test_zero_volume_and_bad_candle_fail_with_data_quality() -> None:
    f = candles(volume=0.0)
    view = audit(f, proposals(f), ctx())
    assert (view.verdict, view.liquidity_grade) == ("FAIL", "D")
    assert "data quality: no traded volume over the last 20 bars" in view.reasons
    f = candles()
    f.iloc[-1, f.columns.get_loc("close")] = 0.0
    view = audit(f, proposals(f.assign(close=candles()["close"])), ctx())
    assert view.verdict == "FAIL"
    assert "data quality: missing or non-positive price on this bar" in view.reasons


def test_non_positive_equity_fails_closed() -> None:
    f = candles()
    view = audit(f, proposals(f), ctx(equity=0.0))
    assert view.verdict == "FAIL"
    assert "data quality: equity or risk per trade is not positive" in view.reasons


# --- estimators --------------------------------------------------------------------------


def direct_abdi_ranaldo(frame: pd.DataFrame, window: int) -> np.ndarray:
    """The causal estimator written out bar by bar from the paper's formula."""
    c = np.log(frame["close"].to_numpy())
    eta = (np.log(frame["high"].to_numpy()) + np.log(frame["low"].to_numpy())) / 2
    out = np.full(len(c), np.nan)
    for t in range(window, len(c)):
        terms = [
            (c[u - 1] - eta[u - 1]) * (c[u - 1] - eta[u]) for u in range(t - window + 1, t + 1)
        ]
        s2 = 4 * np.mean(terms)
        out[t] = np.sqrt(max(s2, 0.0))
    return out


def test_spread_estimator_matches_the_formula_on_real_btc(shared_data: Path) -> None:
    btc = shared_btc_candles().iloc[:3000]
    got = execution.abdi_ranaldo_spread(
        btc["high"].to_numpy(), btc["low"].to_numpy(), btc["close"].to_numpy(), 20
    )
    expected = direct_abdi_ranaldo(btc, 20)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12, equal_nan=True)
    assert np.isnan(got[:20]).all()
    assert (got[20:] >= 0).all()
    # Hourly BTC on Coinbase in 2017: a few basis points, never absurd.
    assert 0 < np.nanmedian(got) * 1e4 < 50


def test_spread_estimator_recovers_a_simulated_spread() -> None:
    # Efficient log price as a random walk, 200 trades a bar at bid or ask: the estimator
    # should find the quoted spread (Abdi & Ranaldo 2017, section 2 simulations).
    rng = np.random.default_rng(0)
    bars, steps, spread = 2000, 200, 0.002
    mid = np.cumsum(rng.normal(0, 0.0005, bars * steps)).reshape(bars, steps)
    trades = mid + rng.choice([-spread / 2, spread / 2], size=mid.shape)
    high, low, close = (np.exp(x) for x in (trades.max(1), trades.min(1), trades[:, -1]))
    estimate = execution.abdi_ranaldo_spread(high, low, close, bars - 1)[-1]
    assert estimate == pytest.approx(spread, rel=0.2)


def test_spread_of_a_flat_market_is_zero_and_negative_estimates_floor_at_zero() -> None:
    flat = np.full(30, 100.0)
    assert execution.abdi_ranaldo_spread(flat, flat, flat, 10)[-1] == 0.0
    # Closes always at the high after a rise: the covariance term is negative.
    close = 100 * np.exp(np.arange(30) * 0.01)
    spread = execution.abdi_ranaldo_spread(close, close * 0.99, close, 10)
    assert spread[-1] == 0.0


def test_slippage_is_the_square_root_impact_of_the_risk_budget_order() -> None:
    f = candles()
    view = audit(f, proposals(f), ctx(impact_coefficient=2.0))
    r = np.diff(np.log(f["close"].to_numpy()))[-20:]
    sigma = r.std(ddof=1)
    order = budget_order(view, f["close"].iloc[-1], 0.05)
    avg = (f["close"] * f["volume"]).iloc[-20:].mean()
    assert view.slippage_bps == pytest.approx(2 * 1e4 * 2.0 * sigma * np.sqrt(order / avg))
    assert view.volume_share == pytest.approx(order / avg)


# --- causality, hostile input, the real pipeline -----------------------------------------


def random_alpha(features: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Random BUY/SELL proposals on about a tenth of the bars."""
    rng = np.random.default_rng(seed)
    n = len(features)
    close = features["close"].to_numpy()
    side = rng.choice([0, 1, -1], size=n, p=[0.8, 0.1, 0.1])
    stop = close * (1 - side * rng.uniform(0.002, 0.05, n))
    target = close * (1 + side * rng.uniform(0.005, 0.1, n))
    trade = side != 0
    return pd.DataFrame(
        {
            "action": np.select([side > 0, side < 0], ["BUY", "SELL"], "HOLD"),
            "entry": np.where(trade, close, np.nan),
            "stop": np.where(trade, stop, np.nan),
            "target": np.where(trade, target, np.nan),
            "setup": np.where(trade, "mean_reversion", None),
            "abstained": np.zeros(n, dtype=bool),
        },
        index=features.index,
    )


def hostile() -> dict[str, pd.DataFrame]:
    """Feature frames no agent should raise on."""
    base = candles()
    nan = base.copy()
    nan.loc[:, :] = np.nan
    zeros = base.copy()
    zeros.loc[:, :] = 0.0
    mixed = base.copy()
    mixed.iloc[::3, :] = np.nan
    mixed.iloc[1::4, 1] = -5.0
    mixed.iloc[2, 4] = np.inf
    huge = base.copy()
    huge["volume"] = 1e-300
    return {
        "empty": base.iloc[:0],
        "one row": base.iloc[:1],
        "all NaN": nan,
        "zeros": zeros,
        "constant": base.assign(open=1.0, high=1.0, low=1.0, close=1.0),
        "mixed": mixed,
        "tiny volume": huge,
        "no volume column": base.drop(columns=["volume"]),
    }


@pytest.mark.parametrize("name", list(hostile()))
@pytest.mark.parametrize("alpha_kind", ["trades", "none", "no columns", "misaligned"])
def test_hostile_input_never_raises(name: str, alpha_kind: str) -> None:
    f = hostile()[name]
    good = random_alpha(candles(), 1).assign(action="BUY", entry=100.0, stop=95.0, target=110.0)
    alpha: Any = {
        "trades": good.iloc[: len(f)],
        "none": None,
        "no columns": pd.DataFrame(index=f.index),
        "misaligned": good.iloc[::-1].iloc[:7],
    }[alpha_kind]
    out = execution.run_rules(f, ctx().with_upstream(alpha=alpha))
    assert len(out) == len(f)
    assert not np.isinf(out.select_dtypes("number").to_numpy(dtype=float)).any()
    for i in range(len(out)):
        view = execution.view_at(out, i)
        if view.abstained:
            assert view.abstain_reason is not None
            assert view.abstain_reason.startswith("data quality: ")
        if view.verdict == "FAIL":
            assert view.reasons


def test_with_real_features_and_alpha(shared_data: Path) -> None:
    from hmas.agents import alpha as alpha_agent
    from hmas.indicators.features import compute_features

    f = compute_features(shared_btc_candles().iloc[-3000:])
    context = ctx("coinbase")
    proposed = alpha_agent.run_rules(f, context)
    out = execution.run_rules(f, context.with_upstream(alpha=proposed))
    trades = proposed["action"].isin(["BUY", "SELL"]) & ~proposed["abstained"]
    assert (out["verdict"] != "N/A").equals(trades)
    assert trades.any()
    risk = (proposed["entry"] - proposed["stop"]).abs()
    fee_only_r = 120 / 1e4 * proposed["entry"] / risk
    assert (out.loc[trades, "total_cost_r"] >= fee_only_r[trades] - 1e-12).all()
    over = trades & (out["total_cost_r"] > 0.25)
    assert (out.loc[over, "verdict"] == "FAIL").all()
    for i in np.flatnonzero(trades.to_numpy())[:20]:
        view = execution.view_at(out, int(i))
        assert view.verdict in ("PASS", "FAIL")
        assert view.total_cost_r is not None


def test_a_configured_fee_rebate_gives_a_valid_view() -> None:
    f = candles()
    view = audit(f, proposals(f), ctx("maker-land", default_taker_bps=0.0, max_cost_r=1.0))
    assert view.fee_bps == 0.0
    rebate = Settings(execution={"taker_bps": {"rebate": -5.0}})
    context = AgentContext(settings=rebate, symbol="BTC-USD", exchange="rebate", timeframe="1h")
    assert audit(f, proposals(f), context).fee_bps == -10.0


def test_the_order_is_sized_from_the_equity_converted_into_the_quote_currency() -> None:
    # An ETH/BTC-like market at ~100 (quote units), the account in USD, 1 quote unit = 20,000 USD.
    f = candles()
    n = len(f)
    rate = np.full(n, 20_000.0)
    context = replace(ctx(), quote_rate=rate)
    view = audit(f, proposals(f), context)
    assert view.quote_rate == 20_000.0
    assert view.order_notional == pytest.approx(
        budget_order(view, f["close"].iloc[-1], 0.05, rate=20_000.0)
    )
    assert view.order_notional == pytest.approx(
        audit(f, proposals(f), ctx()).order_notional / 20_000
    )
    # Without a rate at the bar the auditor fails the trade, naming why.
    rate[-1] = np.nan
    missing = audit(f, proposals(f), replace(ctx(), quote_rate=rate))
    assert missing.verdict == "FAIL" and missing.quote_rate is None
    assert "data quality: no rate converting the quote currency into the account currency" in (
        " ".join(missing.reasons)
    )
