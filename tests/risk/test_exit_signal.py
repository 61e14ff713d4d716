"""``follow_arrays(..., exit_at=)``: a market exit at a bar's open, unless an exit came first."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from hmas.risk.positions import PositionOutcome, follow_arrays

H = 3_600_000
T = 1_709_251_200_000
NAN = math.nan

Bar = tuple[float, float, float, float]


def arrays(rows: Sequence[Bar]) -> tuple[Any, Any]:
    ts = np.array([T + (i + 1) * H for i in range(len(rows))], dtype=np.int64)
    return ts, np.array(rows, dtype=np.float64)


def long(rows: Sequence[Bar], **kw: Any) -> PositionOutcome:
    ts, ohlc = arrays(rows)
    args: dict[str, Any] = {"expiry_bars": 48} | kw
    return follow_arrays("BUY", 100.0, 95.0, 110.0, 10.0, ts, ohlc, **args)


QUIET: list[Bar] = [
    (100, 101, 99, 100),
    (101, 103, 100, 102),
    (104, 105, 103, 104),
    (103, 104, 102, 103),
]


def test_the_position_exits_at_the_open_of_the_exit_row() -> None:
    out = long(QUIET, exit_at=2)
    assert out.status == "expired"
    assert (out.exit_ts, out.exit_price) == (T + 3 * H, 104.0)
    assert out.bars_held == 3  # the fill bar, the bar of the exit signal, the exit bar's open
    assert out.r_multiple == pytest.approx(0.8)
    assert out.pnl_money == pytest.approx(40.0)
    # Only the exit bar's open was held: its high of 105 is not a favourable excursion.
    assert out.mfe_r == pytest.approx(0.8)


def test_without_exit_at_the_same_position_stays_open() -> None:
    out = long(QUIET)
    assert out.status == "open"


def test_a_stop_before_the_exit_row_wins_over_the_exit() -> None:
    rows = [(100, 101, 94, 96), *QUIET[1:]]
    out = long(rows, exit_at=2)
    assert out.status == "loss"
    assert out.exit_ts == T + H
    assert out.exit_price == 95.0


def test_a_stop_on_the_exit_row_itself_comes_after_the_market_exit() -> None:
    rows = [*QUIET[:2], (104, 105, 90, 92)]
    out = long(rows, exit_at=2)
    assert out.status == "expired"
    assert out.exit_price == 104.0


def test_the_expiry_before_the_exit_row_wins() -> None:
    out = long(QUIET, exit_at=3, expiry_bars=2)
    assert out.status == "expired"
    assert (out.exit_ts, out.exit_price) == (T + 2 * H, 102.0)  # the close of the second bar


def test_fees_and_slippage_apply_on_the_market_exit() -> None:
    out = long(QUIET, exit_at=2, fee_bps=10, slippage_bps=5)
    fill, exit_ = 100 * 1.0005, 104 * 0.9995
    assert out.fill_price == pytest.approx(fill)
    assert out.exit_price == pytest.approx(exit_)
    net = exit_ - fill - 0.001 * (fill + exit_)
    assert out.pnl_money == pytest.approx(10 * net)
    # One R is the budgeted loss of a stop-out from the planned entry at the same costs.
    budget = (100 * 1.0005 - 95 * 0.9995) + 0.001 * (100 * 1.0005 + 95 * 0.9995)
    assert out.r_multiple == pytest.approx(net / budget)


def test_a_bad_exit_row_exits_at_the_next_usable_open() -> None:
    rows = [*QUIET[:2], (NAN, NAN, NAN, NAN), (103, 104, 102, 103)]
    out = long(rows, exit_at=2)
    assert out.status == "expired"
    assert (out.exit_ts, out.exit_price) == (T + 4 * H, 103.0)


def test_no_usable_row_from_the_exit_on_leaves_the_position_open() -> None:
    rows = [*QUIET[:2], (NAN, NAN, NAN, NAN)]
    out = long(rows, exit_at=2)
    assert out.status == "open"
    assert out.bars_held == 2


def test_a_short_exits_at_the_open_too() -> None:
    ts, ohlc = arrays(QUIET)
    out = follow_arrays("SELL", 100.0, 105.0, 90.0, 2.0, ts, ohlc, expiry_bars=48, exit_at=1)
    assert out.status == "expired"
    assert out.exit_price == 101.0
    assert out.r_multiple == pytest.approx(-0.2)
