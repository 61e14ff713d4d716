"""The one trade-outcome simulator: ``simulate`` over many setups equals ``follow_arrays``.

``follow_arrays`` (pinned bar by bar in test_positions.py) follows one position; ``simulate``
follows every setup of a history at once, in chunks. On hostile histories (gaps through the
stop and the target, NaN and inconsistent rows, both levels inside one bar, expiries, setups
on the last bars) every setup must come out exactly as its own ``follow_arrays`` call.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hmas.risk import positions
from hmas.risk.costs import SideCosts
from hmas.risk.positions import EXPIRED, LOSS, OPEN, UNFILLED, WIN, follow_arrays, simulate

H = 3_600_000
CODES = {"win": WIN, "loss": LOSS, "expired": EXPIRED, "open": OPEN}

Bar = tuple[float, float, float, float]


@st.composite
def hostile_bars(draw: st.DrawFn) -> list[Bar]:
    """A price path whose bars gap, vanish (NaN), contradict themselves or span wide ranges."""
    rows: list[Bar] = []
    price = 100.0
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.integers(0, 11))
        if kind == 0:
            rows.append((math.nan,) * 4)
            continue
        if kind == 1:
            rows.append(draw(st.sampled_from([(100.0, 90.0, 110.0, 100.0), (0.0, 1.0, 0.0, 1.0)])))
            continue
        gap = draw(st.floats(0.85, 1.15)) if kind in (2, 3) else draw(st.floats(0.99, 1.01))
        o = price * gap
        c = o * draw(st.floats(0.95, 1.05))
        wide = kind == 4  # a bar that reaches both levels
        h = max(o, c) * draw(st.floats(1.0, 1.2 if wide else 1.03))
        lo = min(o, c) * draw(st.floats(0.8 if wide else 0.97, 1.0))
        rows.append((o, h, lo, c))
        price = c
    return rows


@st.composite
def setups(draw: st.DrawFn, n: int) -> list[tuple[int, bool, float, float]]:
    """(signal row, buy, stop, target): sensible, on the wrong side, NaN, on the last rows."""
    out = []
    for _ in range(draw(st.integers(0, 25))):
        signal = draw(st.integers(-1, max(n - 1, -1)))
        buy = draw(st.booleans())
        sign = 1.0 if buy else -1.0
        risk = draw(st.floats(-0.01, 0.08))  # negative: a stop on the wrong side
        reward = draw(st.floats(-0.01, 0.15))
        stop = 100 * (1 - sign * risk)
        target = 100 * (1 + sign * reward)
        if draw(st.integers(0, 9)) == 0:
            stop, target = draw(st.sampled_from([(math.nan, target), (stop, math.nan)]))
        out.append((signal, buy, stop, target))
    return out


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    expiry=st.integers(1, 12),
    slip=st.sampled_from([0.0, 5.0, 40.0]),
    fee=st.sampled_from([0.0, 30.0, -2.0]),
    gap=st.sampled_from([0.0, 0.1]),
)
def test_every_setup_equals_its_own_follow(
    data: st.DataObject, expiry: int, slip: float, fee: float, gap: float
) -> None:
    rows = data.draw(hostile_bars())
    n = len(rows)
    trades = data.draw(setups(n))
    # Per-setup costs: each setup may pay its own spread (as the auditor estimates per bar).
    spreads = np.array([data.draw(st.sampled_from([0.0, 12.0])) for _ in trades])
    costs = SideCosts(fee_bps=fee, spread_bps=spreads, slippage_bps=slip)
    ohlc = np.array(rows, dtype=np.float64).reshape(n, 4)
    ts = np.arange(n, dtype=np.int64) * H
    with pytest.MonkeyPatch.context() as patch:
        # Tiny chunks too, so the setups are split across several chunks of one call.
        patch.setattr(positions, "_CHUNK_CELLS", data.draw(st.sampled_from([1, 7, 1 << 20])))
        sim = simulate(
            ohlc,
            np.array([t[0] for t in trades], dtype=np.int64),
            np.array([t[1] for t in trades], dtype=bool),
            np.array([t[2] for t in trades], dtype=np.float64),
            np.array([t[3] for t in trades], dtype=np.float64),
            expiry_bars=expiry,
            costs=costs,
            entry=np.full(len(trades), 100.0),
            gap_allowance=gap,
        )
    for j, (s, buy, stop, target) in enumerate(trades):
        one = follow_arrays(
            "BUY" if buy else "SELL",
            100.0,
            stop,
            target,
            1.0,
            ts[s + 1 :],
            ohlc[s + 1 :],
            expiry_bars=expiry,
            costs=SideCosts(fee_bps=fee, spread_bps=spreads[j], slippage_bps=slip),
            gap_allowance=gap,
        )
        if one.fill_ts is None:
            assert (sim.status[j], sim.fill[j], sim.exit[j], sim.held[j]) == (UNFILLED, -1, -1, 0)
            assert math.isnan(sim.fill_price[j]) and math.isnan(sim.exit_price[j])
            continue
        assert sim.status[j] == CODES[one.status]
        assert ts[sim.fill[j]] == one.fill_ts
        assert sim.fill_price[j] == one.fill_price
        assert sim.held[j] == one.bars_held
        assert sim.fill[j] > s and sim.exit[j] >= sim.fill[j]
        if one.closed:
            assert ts[sim.exit[j]] == one.exit_ts
            assert sim.exit_price[j] == one.exit_price
            # The same R, when the planned entry is on the right side of the stop.
            if (100.0 - stop) * (1 if buy else -1) > 0 and one.r_multiple is not None:
                assert sim.r_multiple[j] == pytest.approx(one.r_multiple, rel=1e-12)
        else:
            assert math.isnan(sim.exit_level[j]) and math.isnan(sim.exit_price[j])


def test_one_history_many_setups_by_hand() -> None:
    # rows: 0 signal bars; 1 NaN; 2 gaps down through a long's stop; 3 both levels in one bar;
    # 4 gaps up through a long's target; 5 quiet
    ohlc = np.array(
        [
            [100.0, 101.0, 99.0, 100.0],
            [math.nan] * 4,
            [90.0, 91.0, 89.0, 90.0],
            [90.0, 120.0, 80.0, 100.0],
            [130.0, 131.0, 129.0, 130.0],
            [130.0, 131.0, 129.0, 130.0],
        ]
    )
    sim = simulate(
        ohlc,
        np.array([0, 2, 3, 3, 4, 5]),
        np.array([True, True, True, False, True, True]),
        np.array([95.0, 85.0, 85.0, 150.0, 120.0, 120.0]),
        np.array([110.0, 110.0, 125.0, 100.0, 140.0, 140.0]),
        expiry_bars=2,
    )
    # bar 0's long skips the NaN row, fills at 90 on row 2, already below its stop: out at 90
    # bar 2's long fills at row 3's open and sees both levels there: the stop counts first
    # bar 3's long: row 4 opens above its target, out at the open (130, not 125)
    # bar 3's short (stop 150, target 100) touches neither on rows 4, 5: expired at 5's close
    # bar 4's long has one usable bar of its two: open; bar 5's long has no later bar: unfilled
    assert sim.status.tolist() == [LOSS, LOSS, WIN, EXPIRED, OPEN, UNFILLED]
    assert sim.fill.tolist() == [2, 3, 4, 4, 5, -1]
    assert sim.exit.tolist() == [2, 3, 4, 5, 5, -1]
    assert sim.held.tolist() == [1, 1, 1, 2, 1, 0]
    assert sim.exit_level[:4].tolist() == [90.0, 85.0, 130.0, 130.0]
    assert np.isnan(sim.exit_level[4:]).all()
    # R from each setup's planned entry (its signal row's close), no costs: bar 2's long risks
    # 90 - 85 = 5 and loses 5; the others exit where they filled.
    np.testing.assert_allclose(sim.r_multiple[:4], [0.0, -1.0, 0.0, 0.0], atol=1e-12)
    assert np.isnan(sim.r_multiple[4:]).all()
