"""Position sizing: fractional Kelly on the payoffs after costs, capped by the risk per trade.

The risk of a trade is what a stop-out loses after costs on both sides and the gap allowance
(``hmas.risk.costs``); Kelly reads the reward/risk after the same costs; the notional is
capped at ``risk.max_leverage`` × equity. Equity is in the account currency, prices in the
symbol's quote currency, converted at ``quote_rate`` (docs/risk.md).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hmas.risk.costs import FREE, SideCosts, budget_units

Array = npt.NDArray[np.float64]


def kelly_fraction(p_win: Array, reward_risk: Array) -> Array:
    """Full Kelly fraction f* = p - (1 - p) / b for a bet paying b:1 (0 where undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        f = p_win - (1.0 - p_win) / reward_risk
    return np.where(np.isfinite(f), f, 0.0)


def risk_fraction(p_win: Array, reward_risk: Array, *, kelly: float, cap: float) -> Array:
    """Share of equity put at risk: ``kelly`` x f*, never above ``cap``, never below 0.

    ``reward_risk`` is the payoff after costs (``costs.net_reward_risk``): a trade whose
    costs eat its reward has no edge to bet on.
    """
    return np.clip(kelly * kelly_fraction(p_win, reward_risk), 0.0, cap)


def units(
    equity: float,
    fraction: Array,
    entry: Array,
    stop: Array,
    *,
    costs: SideCosts = FREE,
    gap_allowance: float = 0.0,
    quote_rate: Array | float = 1.0,
    max_leverage: float | None = None,
) -> Array:
    """Units to trade so that a stop-out at ``costs`` loses ``fraction`` of equity (NaN where
    undefined), the notional capped at ``max_leverage`` × equity (``costs.budget_units``)."""
    size: Array = budget_units(
        equity,
        fraction,
        entry,
        stop,
        costs,
        gap_allowance=gap_allowance,
        quote_rate=quote_rate,
        max_leverage=max_leverage,
    )
    return size
