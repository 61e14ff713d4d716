"""Kelly sizing, capped by the risk per trade."""

from __future__ import annotations

import numpy as np

from hmas.decision.sizing import kelly_fraction, risk_fraction, units


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
