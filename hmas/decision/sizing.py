"""Position sizing: fractional Kelly, capped by the risk per trade."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


def kelly_fraction(p_win: Array, reward_risk: Array) -> Array:
    """Full Kelly fraction f* = p - (1 - p) / b for a bet paying b:1 (0 where undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        f = p_win - (1.0 - p_win) / reward_risk
    return np.where(np.isfinite(f), f, 0.0)


def risk_fraction(p_win: Array, reward_risk: Array, *, kelly: float, cap: float) -> Array:
    """Share of equity put at risk: ``kelly`` x f*, never above ``cap``, never below 0."""
    return np.clip(kelly * kelly_fraction(p_win, reward_risk), 0.0, cap)


def units(equity: float, fraction: Array, entry: Array, stop: Array) -> Array:
    """Units to trade so that a stop-out loses ``fraction`` of equity (NaN where undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        risk_per_unit = np.abs(entry - stop)
        size = equity * fraction / risk_per_unit
    return np.where(np.isfinite(size) & (risk_per_unit > 0), size, np.nan)
