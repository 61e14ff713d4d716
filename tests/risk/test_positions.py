"""Paper positions: fills, intrabar exits, gaps, expiry, shorts, excursions, costs, bad bars."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hmas.risk.costs import SideCosts
from hmas.risk.positions import PositionOutcome, follow

H = 3_600_000
T = 1_709_251_200_000  # the signal bar: 2024-03-01T00:00Z
NAN = math.nan

Bar = tuple[float, float, float, float]


def candles(rows: Sequence[Bar], start: int = T + H) -> pd.DataFrame:
    """A candle frame of (open, high, low, close) rows, hourly from ``start`` (ms)."""
    stamps = [start + i * H for i in range(len(rows))]
    index = pd.DatetimeIndex(pd.to_datetime(stamps, unit="ms", utc=True), name="ts")
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=index, dtype=float)
    frame["volume"] = 1.0
    return frame


def long(rows: Sequence[Bar], **kw: Any) -> PositionOutcome:
    args: dict[str, Any] = {"expiry_bars": 48} | kw
    return follow("BUY", 100.0, 95.0, 110.0, 10.0, T, candles(rows), **args)


def short(rows: Sequence[Bar], **kw: Any) -> PositionOutcome:
    args: dict[str, Any] = {"expiry_bars": 48} | kw
    return follow("SELL", 100.0, 105.0, 90.0, 10.0, T, candles(rows), **args)


def test_win_at_the_target() -> None:
    out = long([(100, 103, 99, 102), (102, 111, 101, 108)])
    assert out.status == "win"
    assert (out.fill_ts, out.fill_price) == (T + H, 100.0)
    assert (out.exit_ts, out.exit_price) == (T + 2 * H, 110.0)
    assert out.bars_held == 2
    assert out.r_multiple == pytest.approx(2.0)
    assert out.pnl_money == pytest.approx(100.0)
    assert out.pnl_pct == pytest.approx(10.0)
    assert out.mae_r == pytest.approx(0.2)
    assert out.mfe_r == pytest.approx(2.0)  # the exit bar counts up to the target only
    assert out.closed


def test_loss_at_the_stop() -> None:
    out = long([(100, 101, 96, 97), (97, 98, 94, 95)])
    assert out.status == "loss"
    assert (out.exit_ts, out.exit_price) == (T + 2 * H, 95.0)
    assert out.r_multiple == pytest.approx(-1.0)
    assert out.pnl_money == pytest.approx(-50.0)
    assert out.mae_r == pytest.approx(1.0)  # not the 94 low: the position was out at 95
    assert out.mfe_r == pytest.approx(0.2)


def test_stop_and_target_in_one_bar_counts_as_a_loss() -> None:
    out = long([(100, 112, 94, 105)])
    assert out.status == "loss"
    assert out.exit_price == 95.0
    assert out.bars_held == 1
    assert out.r_multiple == pytest.approx(-1.0)
    assert out.mfe_r == 0.0  # stop first: the high came after the exit


def test_gap_through_the_stop_exits_at_the_open() -> None:
    out = long([(100, 101, 99, 100), (92, 93, 90, 91)])
    assert out.status == "loss"
    assert out.exit_price == 92.0
    assert out.r_multiple == pytest.approx(-1.6)
    assert out.mae_r == pytest.approx(1.6)


def test_gap_through_the_target_exits_at_the_open() -> None:
    out = long([(100, 101, 99, 100), (113, 115, 112, 114)])
    assert out.status == "win"
    assert out.exit_price == 113.0
    assert out.r_multiple == pytest.approx(2.6)


def test_a_bar_opening_past_the_target_wins_at_its_open_even_if_it_reaches_the_stop() -> None:
    # Long, target 110, stop 95: the bar opens at 112 (the resting limit fills there) and
    # later trades down through the stop. The exit is the open: +12 per 5 of risk.
    out = long([(100, 101, 99, 100), (112, 113, 94, 96)])
    assert out.status == "win"
    assert (out.exit_ts, out.exit_price) == (T + 2 * H, 112.0)
    assert out.r_multiple == pytest.approx(2.4)
    assert out.mfe_r == pytest.approx(2.4) and out.mae_r == pytest.approx(0.2)
    # The short's mirror: target 90, stop 105, a bar opening at 88 that rallies to 106.
    mirrored = short([(100, 101, 99, 100), (88, 106, 87, 104)])
    assert (mirrored.status, mirrored.exit_price) == ("win", 88.0)
    assert mirrored.r_multiple == pytest.approx(2.4)


def test_a_bar_opening_past_the_stop_loses_at_its_open_even_if_it_reaches_the_target() -> None:
    out = long([(100, 101, 99, 100), (93, 111, 92, 110)])
    assert (out.status, out.exit_price) == ("loss", 93.0)
    assert out.r_multiple == pytest.approx(-1.4)
    mirrored = short([(100, 101, 99, 100), (107, 108, 89, 90)])
    assert (mirrored.status, mirrored.exit_price) == ("loss", 107.0)
    assert mirrored.r_multiple == pytest.approx(-1.4)


def test_stop_first_only_inside_a_bar_that_opened_between_the_levels() -> None:
    # Opened at 100, between 95 and 110, touched both: the stop counts first.
    inside = long([(100, 112, 94, 105)])
    assert (inside.status, inside.exit_price) == ("loss", 95.0)
    # Opened exactly at the target: beyond it (a limit at 110 fills at 110), so a win.
    at_target = long([(100, 101, 99, 100), (110, 111, 94, 96)])
    assert (at_target.status, at_target.exit_price) == ("win", 110.0)
    # Opened exactly at the stop: a loss at the stop, whatever the bar does next.
    at_stop = long([(100, 101, 99, 100), (95, 111, 94, 110)])
    assert (at_stop.status, at_stop.exit_price) == ("loss", 95.0)


def test_fill_bar_opening_past_the_stop_is_stopped_at_its_open() -> None:
    out = long([(94, 96, 93, 95)])
    assert out.status == "loss"
    assert out.fill_price == out.exit_price == 94.0
    # The fill is past the stop, so R falls back to the planned 5 per unit.
    assert out.r_multiple == pytest.approx(0.0)


def test_expiry_at_the_close_of_the_last_bar() -> None:
    path = [(100, 104, 98, 103), (103, 106, 97, 101), (101, 102, 99, 100.5), (100, 109, 96, 99)]
    out = follow("BUY", 100.0, 90.0, 120.0, 2.0, T, candles(path), expiry_bars=3)
    assert out.status == "expired"
    assert out.bars_held == 3
    assert (out.exit_ts, out.exit_price) == (T + 3 * H, 100.5)
    assert out.r_multiple == pytest.approx(0.05)
    assert out.pnl_money == pytest.approx(1.0)
    assert out.mae_r == pytest.approx(0.3)  # 97 low, 10 per R
    assert out.mfe_r == pytest.approx(0.6)  # 106 high


def test_open_until_expiry_or_exit() -> None:
    out = long([(100, 104, 98, 103), (103, 106, 97, 101)])
    assert out.status == "open" and not out.closed
    assert (out.fill_ts, out.fill_price, out.bars_held) == (T + H, 100.0, 2)
    assert out.exit_ts is None and out.exit_price is None
    assert out.r_multiple is None and out.pnl_money is None and out.pnl_pct is None
    assert out.mae_r == pytest.approx(0.6) and out.mfe_r == pytest.approx(1.2)


def test_open_and_unfilled_without_later_bars() -> None:
    empty = candles([])
    out = follow("BUY", 100.0, 95.0, 110.0, 1.0, T, empty, expiry_bars=5)
    assert out == PositionOutcome(status="open")
    assert out.fill_ts is None and out.fill_price is None
    # Bars at or before the signal bar are not "later".
    past = candles([(100, 120, 80, 100), (100, 120, 80, 100), (100, 101, 99, 100)], start=T - H)
    assert follow("BUY", 100.0, 95.0, 110.0, 1.0, T, past, expiry_bars=5).fill_ts == T + H
    only_past = candles([(100, 120, 80, 100)], start=T)
    assert follow("BUY", 100.0, 95.0, 110.0, 1.0, T, only_past, expiry_bars=5).status == "open"


def test_short_side_is_mirrored() -> None:
    win = short([(100, 101, 97, 98), (98, 99, 89, 92)])
    assert win.status == "win"
    assert win.exit_price == 90.0
    assert win.r_multiple == pytest.approx(2.0)
    assert win.pnl_money == pytest.approx(100.0)
    assert win.mae_r == pytest.approx(0.2) and win.mfe_r == pytest.approx(2.0)
    loss = short([(100, 103, 99, 102), (102, 106, 101, 104)])
    assert loss.status == "loss"
    assert loss.exit_price == 105.0
    assert loss.r_multiple == pytest.approx(-1.0)
    assert loss.mae_r == pytest.approx(1.0)
    gap = short([(108, 109, 107, 108)])
    assert (gap.status, gap.exit_price) == ("loss", 108.0)
    both = short([(100, 106, 89, 95)])
    assert both.status == "loss"


def test_fees_and_slippage_reduce_the_result() -> None:
    path = [(100, 103, 99, 102), (102, 111, 101, 108)]
    plain = long(path)
    fees = long(path, fee_bps=10)
    # 0.1 % of 100 on entry and of 110 on exit: 0.21 per unit. R is the budgeted risk per
    # unit: the stop-out from 100 to 95 paying 0.1 % on 100 and on 95.
    assert fees.pnl_money == pytest.approx(10 * (10 - 0.21))
    assert fees.r_multiple == pytest.approx((10 - 0.21) / (5 + 0.195))
    assert fees.pnl_money is not None and plain.pnl_money is not None
    assert fees.pnl_money < plain.pnl_money
    slipped = long(path, slippage_bps=10)
    assert slipped.fill_price == pytest.approx(100.1)
    assert slipped.exit_price == pytest.approx(110 * 0.999)
    assert slipped.r_multiple == pytest.approx((109.89 - 100.1) / (100.1 - 95 * 0.999))
    assert long(path, slippage_bps=NAN) == plain  # a cost that is no number counts as zero
    rebate = long(path, fee_bps=-5)  # a negative fee is a rebate
    assert rebate.pnl_money == pytest.approx(10 * (10 + 0.105))
    short_slipped = short([(100, 101, 97, 98), (98, 99, 89, 92)], slippage_bps=10)
    assert short_slipped.fill_price == pytest.approx(99.9)
    assert short_slipped.exit_price == pytest.approx(90.09)


def test_the_spread_costs_half_on_each_side() -> None:
    path = [(100, 103, 99, 102), (102, 111, 101, 108)]
    spread = long(path, costs=SideCosts(spread_bps=20))
    same = long(path, costs=SideCosts(slippage_bps=10))
    assert (spread.fill_price, spread.exit_price) == (same.fill_price, same.exit_price)
    assert spread.r_multiple == same.r_multiple
    with pytest.raises(ValueError, match="not both"):
        long(path, costs=SideCosts(fee_bps=1), fee_bps=1)


def test_r_is_the_budgeted_risk_so_a_stop_out_at_the_modelled_costs_is_minus_one() -> None:
    costs = SideCosts(fee_bps=60, spread_bps=8, slippage_bps=3)
    out = long([(100, 101, 96, 97), (97, 98, 94, 95)], costs=costs)
    assert out.status == "loss"
    assert out.r_multiple == pytest.approx(-1.0, abs=1e-12)
    # With a gap allowance the budget covers a stop-out that far beyond the stop.
    allowed = long([(100, 101, 96, 97), (97, 98, 94, 95)], costs=costs, gap_allowance=0.1)
    assert allowed.r_multiple is not None and -1 < allowed.r_multiple < -0.9
    gapped = long([(100, 101, 96, 97), (94.5, 95, 94, 94.5)], costs=costs, gap_allowance=0.1)
    assert gapped.exit_price == pytest.approx(94.5 * (1 - 7e-4))
    assert gapped.r_multiple == pytest.approx(-1.0, abs=1e-12)


def test_bad_bars_are_ignored() -> None:
    path: list[Bar] = [
        (NAN, NAN, NAN, NAN),  # no fill here
        (100, 101, 99, 100),
        (100, 100, 80, NAN),  # would stop out; ignored
        (100, 90, 110, 100),  # high < low; ignored
        (100, 101, 99, 100.5),
    ]
    out = long(path, expiry_bars=2)
    assert out.status == "expired"
    assert out.fill_ts == T + 2 * H
    assert out.exit_ts == T + 5 * H
    assert out.bars_held == 2
    assert long([(NAN, NAN, NAN, NAN)] * 3) == PositionOutcome(status="open")


def test_nonsense_position_never_raises() -> None:
    path = [(100, 103, 99, 102), (102, 111, 101, 108)]
    out = follow("BUY", NAN, NAN, NAN, NAN, T, candles(path), expiry_bars=0)
    assert out.status == "expired" and out.bars_held == 1
    assert out.r_multiple is None and out.pnl_money is None
    assert (out.mae_r, out.mfe_r) == (0.0, 0.0)
    with pytest.raises(ValueError, match="side must be BUY or SELL"):
        follow("HOLD", 1.0, 1.0, 1.0, 1.0, T, candles(path), expiry_bars=1)  # type: ignore[arg-type]


def test_outcome_round_trips_through_strict_json() -> None:
    out = long([(100, 101, 96, 97), (97, 98, 94, 95)], fee_bps=1e308)
    blob = json.dumps(out.model_dump(mode="json"), allow_nan=False)
    assert PositionOutcome.model_validate_json(blob) == out


# --- property: the vectorised walk equals a plain bar-by-bar simulation ---------------------


def reference(
    side: str, entry: float, stop: float, target: float, rows: Sequence[Bar], expiry: int
) -> tuple[str, int | None, float | None]:
    """(status, exit row among the usable bars, raw exit price) by walking the bars."""
    usable = [
        r
        for r in rows
        if all(math.isfinite(v) for v in r)
        and 0 < r[2] <= min(r[0], r[3]) <= max(r[0], r[3]) <= r[1]
    ]
    for i, (o, h, lo, c) in enumerate(usable[:expiry]):
        if side == "BUY":
            if o >= target:
                return "win", i, o
            if lo <= stop:
                return "loss", i, min(o, stop)
            if h >= target:
                return "win", i, max(o, target)
        else:
            if o <= target:
                return "win", i, o
            if h >= stop:
                return "loss", i, max(o, stop)
            if lo <= target:
                return "win", i, min(o, target)
        if i == expiry - 1:
            return "expired", i, c
    return "open", None, None


@st.composite
def paths(draw: st.DrawFn) -> list[Bar]:
    rows: list[Bar] = []
    price = 100.0
    # Up to 100 bars: past the first two windows ``simulate`` searches (16 bars, then 64).
    for _ in range(draw(st.integers(0, 100))):
        if draw(st.integers(0, 9)) == 0:
            rows.append(draw(st.sampled_from([(NAN,) * 4, (100.0, 90.0, 110.0, 100.0)])))
            continue
        o = price * draw(st.floats(0.9, 1.1))
        c = o * draw(st.floats(0.9, 1.1))
        h = max(o, c) * draw(st.floats(1.0, 1.08))
        lo = min(o, c) * draw(st.floats(0.92, 1.0))
        rows.append((o, h, lo, c))
        price = c
    return rows


@settings(max_examples=300, deadline=None)
@given(
    paths(),
    st.sampled_from(["BUY", "SELL"]),
    st.floats(0.01, 0.2),
    st.floats(0.5, 5),
    st.integers(1, 100),
)
def test_matches_a_bar_by_bar_walk(
    rows: list[Bar], side: str, risk: float, reward: float, expiry: int
) -> None:
    sign = 1 if side == "BUY" else -1
    stop, target = 100 * (1 - sign * risk), 100 * (1 + sign * risk * reward)
    out = follow(side, 100.0, stop, target, 3.0, T, candles(rows), expiry_bars=expiry)  # type: ignore[arg-type]
    status, row, raw = reference(side, 100.0, stop, target, rows, expiry)
    assert out.status == status
    assert out.mae_r >= 0 and out.mfe_r >= 0
    assert out.bars_held <= expiry
    if row is not None:
        assert out.bars_held == row + 1
        assert out.exit_price == pytest.approx(raw)
        assert out.exit_ts is not None and out.fill_ts is not None
        assert out.exit_ts >= out.fill_ts
        assert out.r_multiple is not None
        # R is the planned risk per unit (no costs here): |100 - stop|.
        assert out.fill_price is not None and out.exit_price is not None
        moved = sign * (out.exit_price - out.fill_price)
        assert out.r_multiple == pytest.approx(moved / abs(100 - stop))
        if status == "loss" and sign * (out.fill_price - stop) > 0:
            assert out.r_multiple < 0 or out.fill_price == out.exit_price
        if status == "win" and sign * (target - out.fill_price) > 0:
            assert out.r_multiple > 0
    assert np.isfinite(out.mae_r) and np.isfinite(out.mfe_r)
