"""Kelly sizing on payoffs after costs, capped by the risk per trade and the notional."""

from __future__ import annotations

import numpy as np
import pytest

from hmas.decision.sizing import kelly_fraction, risk_fraction, units
from hmas.risk.costs import SideCosts, net_reward_risk, risk_per_unit


def test_kelly_fraction() -> None:
    p = np.array([0.6, 0.25, 0.5])
    b = np.array([3.0, 2.0, np.nan])
    np.testing.assert_allclose(kelly_fraction(p, b), [0.6 - 0.4 / 3, 0.25 - 0.75 / 2, 0.0])


def test_risk_fraction_is_capped_and_never_negative() -> None:
    p = np.array([0.9, 0.2, 0.55])
    b = np.array([3.0, 2.5, 2.5])
    got = risk_fraction(p, b, kelly=0.25, cap=0.01)
    assert got[0] == 0.01  # 0.25 x 0.867 capped at 1%
    assert got[1] == 0.0  # negative edge
    np.testing.assert_allclose(got[2], min(0.25 * (0.55 - 0.45 / 2.5), 0.01))


def test_units_guard_zero_and_nan_prices() -> None:
    size = units(
        100_000.0,
        np.array([0.01, 0.01, 0.01]),
        np.array([100.0, 100.0, np.nan]),
        np.array([95.0, 100.0, 90.0]),
    )
    assert size[0] == 200.0  # 1,000 at risk / 5 per unit
    assert np.isnan(size[1]) and np.isnan(size[2])


# --- costs inside the risk budget --------------------------------------------------------------

COSTS = SideCosts(fee_bps=60.0, spread_bps=8.0, slippage_bps=3.0)  # coinbase taker, per side


def test_a_stop_out_at_the_modelled_costs_loses_exactly_the_configured_risk() -> None:
    from hmas.risk.positions import follow
    from tests.risk.test_positions import T, candles

    size = units(100_000.0, np.array([0.01]), np.array([100.0]), np.array([99.0]), costs=COSTS)[0]
    # Gross, the stop is 1 away; after 0.6 % fees and 7 bps of price cost a side it is ~2.3.
    assert 400 < size < 450  # the gross sizing would have bought 1,000 units
    path = [(100, 100.5, 99.5, 99.8), (99.8, 99.9, 98.5, 98.7)]
    out = follow("BUY", 100.0, 99.0, 103.0, size, T, candles(path), expiry_bars=48, costs=COSTS)
    assert out.status == "loss"
    assert out.pnl_money == pytest.approx(-1_000.0, rel=1e-12)
    assert out.r_multiple == pytest.approx(-1.0, rel=1e-12)


def test_the_gap_allowance_covers_a_stop_out_that_far_beyond_the_stop() -> None:
    from hmas.risk.positions import follow
    from tests.risk.test_positions import T, candles

    fraction, entry, stop = np.array([0.01]), np.array([100.0]), np.array([99.0])
    size = units(100_000.0, fraction, entry, stop, costs=COSTS, gap_allowance=0.25)[0]
    at_stop = [(100, 100.5, 99.5, 99.8), (99.8, 99.9, 98.5, 98.7)]
    gapped = [(100, 100.5, 99.5, 99.8), (98.75, 98.8, 98.5, 98.7)]  # opens 0.25 R past
    kw = {"expiry_bars": 48, "costs": COSTS, "gap_allowance": 0.25}
    out = follow("BUY", 100.0, 99.0, 103.0, size, T, candles(at_stop), **kw)  # type: ignore[arg-type]
    assert out.pnl_money is not None and -1_000.0 < out.pnl_money < -800.0
    worst = follow("BUY", 100.0, 99.0, 103.0, size, T, candles(gapped), **kw)  # type: ignore[arg-type]
    assert worst.pnl_money == pytest.approx(-1_000.0, rel=1e-12)
    # A short's mirror.
    short = units(100_000.0, fraction, entry, np.array([101.0]), costs=COSTS, gap_allowance=0.25)
    assert short[0] * risk_per_unit(-1.0, 100.0, 101.0, COSTS, 0.25) == pytest.approx(1_000.0)


def test_the_notional_is_capped_at_the_leverage_times_equity() -> None:
    entry, stop = np.array([100.0, 100.0]), np.array([99.9, 90.0])
    size = units(100_000.0, np.array([0.01, 0.01]), entry, stop, max_leverage=1.0)
    # 0.1 away: 10,000 units (10x equity) uncapped; capped at 1,000 (1x). 10 away: 100.
    np.testing.assert_allclose(size, [1_000.0, 100.0])
    levered = units(100_000.0, np.array([0.01]), entry[:1], stop[:1], max_leverage=3.0)
    np.testing.assert_allclose(levered, [3_000.0])


def test_a_quote_in_another_currency_is_sized_from_the_converted_equity() -> None:
    # ETH/BTC at 0.05 BTC, stop 0.049: a USD 100,000 account, BTC at 20,000 USD.
    entry, stop = np.array([0.05]), np.array([0.049])
    read_as_btc = units(100_000.0, np.array([0.01]), entry, stop)
    assert read_as_btc[0] == pytest.approx(1_000_000.0)  # the equity read in BTC: absurd
    size = units(100_000.0, np.array([0.01]), entry, stop, quote_rate=20_000.0, max_leverage=1.0)
    assert size[0] == pytest.approx(50.0)  # 1,000 USD at risk / (0.001 BTC x 20,000 USD)
    assert size[0] * 0.05 * 20_000 == pytest.approx(50_000.0)  # half the equity in notional


def test_kelly_reads_the_payoff_after_costs() -> None:
    gross = np.array([2.5])
    net = net_reward_risk(1.0, 100.0, 99.0, 102.5, COSTS)
    assert 0 < net < 1  # 2.5 gross; the round trip costs ~1.3 of the 1 of risk
    p = np.array([0.45])
    assert risk_fraction(p, gross, kelly=0.25, cap=0.01)[0] > 0
    assert risk_fraction(p, np.array([net]), kelly=0.25, cap=0.01)[0] == 0.0
