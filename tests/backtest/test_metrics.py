"""Every figure of a run, computed by hand on two trades over two days of hourly bars."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest

from hmas.backtest import metrics
from hmas.backtest.engine import Simulation, Trade
from hmas.risk.book import PaperBook
from hmas.settings import load_settings

H = 3_600_000
T0 = 1_709_251_200_000  # 2024-03-01T00:00Z
START = 1000.0


@dataclass
class FakeSeries:
    symbol: str = "BTC-USD"
    exchange: str = "sample"
    timeframe: str = "1h"
    bars: int = 48


@dataclass
class FakePlan:
    series: FakeSeries
    ts: Any
    ohlc: Any


def plan() -> FakePlan:
    close = np.full(48, 100.0)
    close[2:5] = [102, 104, 98]
    close[30:33] = [99, 97, 96]
    ohlc = np.column_stack([close, close + 1, close - 1, close])
    ohlc[2, 0] = ohlc[30, 0] = 100.0  # the fills
    ts = T0 + H * np.arange(48, dtype=np.int64)
    return FakePlan(FakeSeries(), ts, ohlc)


def trade(n: int, fill_bar: int, exit_bar: int, exit_price: float, status: str, r: float) -> Trade:
    pnl = 10 * (exit_price - 100.0)
    return Trade(
        id=n,
        symbol="BTC-USD",
        side="BUY",
        signal_ts=T0 + (fill_bar - 1) * H,
        entry=100.0,
        stop=95.0,
        target=110.0,
        size=10.0,
        equity_before=START,
        status=status,
        exit_reason="target" if status == "win" else "stop",
        fill_ts=T0 + fill_bar * H,
        fill_price=100.0,
        exit_ts=T0 + exit_bar * H,
        exit_price=exit_price,
        bars_held=exit_bar - fill_bar + 1,
        r_multiple=r,
        pnl_money=pnl,
        pnl_pct=pnl / 10,
        mae_r=0.0,
        mfe_r=0.0,
        fee_bps=0.0,
        slippage_bps=0.0,
        fees=0.0,
        slippage=0.0,
        p_win=0.4 if status == "win" else 0.3,
        expected_value_r=None,
        reward_risk=2.0,
    )


TRADES = [trade(1, 2, 5, 110.0, "win", 2.0), trade(2, 30, 33, 95.0, "loss", -1.0)]


def simulation(trades: list[Trade]) -> Simulation:
    book = PaperBook.fresh("rules", load_settings(paper={"starting_equity": START}).paper)
    equity = START + sum(t.pnl_money or 0 for t in trades if t.closed)
    book = book.model_copy(update={"account": book.account.model_copy(update={"equity": equity})})
    return Simulation(trades=trades, book=book, candidates=5, refusals=Counter({"cooldown": 3}))


def test_the_equity_curve_is_marked_to_market_at_each_close() -> None:
    curve = metrics.equity_curve([plan()], TRADES, START)  # type: ignore[list-item]
    expected = np.full(48, 1100.0)
    expected[:2] = 1000
    expected[2:5] = [1020, 1040, 980]  # 10 units x (close - 100)
    expected[30:48] = [1090, 1070, 1060] + [1050] * 15
    np.testing.assert_allclose(curve.equity, expected)
    assert curve.drawdown.max() == pytest.approx(60 / 1040)
    assert curve.exposure.tolist() == [0, 0, 1, 1, 1, 1] + [0] * 24 + [1] * 4 + [0] * 14


def test_every_figure_by_hand() -> None:
    p = plan()
    curve = metrics.equity_curve([p], TRADES, START)  # type: ignore[list-item]
    m = metrics.compute([p], simulation(TRADES), curve, START)  # type: ignore[list-item]
    assert (m["trades"], m["wins"], m["losses"], m["expired"]) == (2, 1, 1, 0)
    assert (m["win_rate"], m["loss_rate"], m["expiry_rate"]) == (0.5, 0.5, 0.0)
    assert m["final_equity"] == 1050.0 and m["total_return"] == 0.05
    assert m["span_days"] == 2.0
    assert m["annualised_return"] == pytest.approx(1.05 ** (365 / 2) - 1, rel=1e-6)
    daily = np.array([0.1, 1050 / 1100 - 1])  # the equity at each day's last close
    sharpe = daily.mean() / daily.std(ddof=1) * math.sqrt(365)
    sortino = daily.mean() / math.sqrt(np.mean(np.minimum(daily, 0) ** 2)) * math.sqrt(365)
    assert m["sharpe"] == pytest.approx(sharpe, abs=1e-4)
    assert m["sortino"] == pytest.approx(sortino, abs=1e-4)
    assert m["max_drawdown"] == pytest.approx(60 / 1040, abs=1e-6)
    assert m["calmar"] == pytest.approx((1.05 ** (365 / 2) - 1) / (60 / 1040), rel=1e-4)
    # Under water from bar 30 (the second trade) to the end: 18 bars, not recovered.
    assert m["max_drawdown_duration_bars"] == 18
    assert m["max_drawdown_from"] == "2024-03-02T06:00Z"
    assert m["max_drawdown_recovered"] is None
    assert m["unknown"]["max_drawdown_recovered"] == "not recovered by the last bar"
    assert m["profit_factor"] == 2.0
    assert m["expectancy_r"]["mean"] == 0.5 and m["expectancy_r"]["count"] == 2
    assert m["expectancy_r"]["ci_low"] <= 0.5 <= m["expectancy_r"]["ci_high"]
    assert m["average_pnl"]["mean"] == 25.0
    assert (m["average_win_r"], m["average_loss_r"]) == (2.0, -1.0)
    assert m["exposure"] == pytest.approx(8 / 48, abs=1e-6)
    assert m["refusals"] == {"cooldown": 3} and m["candidates"] == 5
    assert m["monthly_returns"] == [{"month": "2024-03", "return": 0.05, "equity": 1050.0}]
    assert m["equity_daily"] == [
        {"date": "2024-03-01", "equity": 1100.0},
        {"date": "2024-03-02", "equity": 1050.0},
    ]
    (row,) = m["per_symbol"]
    assert (row["trades"], row["wins"], row["pnl"], row["return_contribution"]) == (
        2,
        1,
        50.0,
        0.05,
    )
    table = m["calibration"]["trades"]
    assert table["count"] == 2 and table["base_rate"] == 0.5
    assert table["brier"] == pytest.approx(((0.4 - 1) ** 2 + 0.3**2) / 2)
    json.dumps(m, allow_nan=False)


def test_figures_that_cannot_be_measured_are_null_with_a_reason() -> None:
    p = plan()
    only_win = [TRADES[0]]
    curve = metrics.equity_curve([p], only_win, START)  # type: ignore[list-item]
    m = metrics.compute([p], simulation(only_win), curve, START)  # type: ignore[list-item]
    assert m["profit_factor"] is None and m["unknown"]["profit_factor"] == "no losing trade"
    assert m["average_loss_r"] is None and m["unknown"]["average_loss_r"] == "no losing trade"
    assert m["expectancy_r"]["ci_low"] is None
    assert m["unknown"]["expectancy_r.ci"] == "one trade gives no interval"
    json.dumps(m, allow_nan=False)


def test_a_ruined_account_has_no_annualised_return() -> None:
    p = plan()
    ruin = [replace(TRADES[1], pnl_money=-START, r_multiple=-20.0)]
    curve = metrics.equity_curve([p], ruin, START)  # type: ignore[list-item]
    m = metrics.compute([p], simulation(ruin), curve, START)  # type: ignore[list-item]
    assert m["final_equity"] == 0.0
    assert m["annualised_return"] is None
    assert m["unknown"]["annualised_return"] == "the equity reached zero"
    assert m["calmar"] is None and m["unknown"]["calmar"] == "no annualised return"
    json.dumps(m, allow_nan=False)


def test_an_open_trade_is_marked_to_the_last_close() -> None:
    p = plan()
    still = replace(TRADES[1], status="open", exit_ts=None, exit_price=None, pnl_money=None)
    curve = metrics.equity_curve([p], [TRADES[0], still], START)  # type: ignore[list-item]
    assert curve.equity[-1] == 1100.0 + 10 * (100.0 - 100.0)
    assert curve.equity[32] == 1100.0 + 10 * (96.0 - 100.0)
    assert curve.exposure[-1] == 1
