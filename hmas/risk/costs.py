"""The cost model: what one side of a trade costs, and a trade's risk and reward after costs.

This is the one place that defines the cost of a side (the entry, or the exit), in basis
points of its notional (docs/risk.md, "Costs and the risk budget"):

- the **fee** (the exchange's taker fee) is charged on the side's notional;
- **half the quoted spread** and the order's **slippage** move the fill price against the
  position: a buy fills at price × (1 + c), a sell at price × (1 − c), c = spread/2 + slippage.

The execution auditor estimates the three numbers (for the round trip; ``SideCosts.from_audit``
turns them into one side's), the sizing code budgets them, the guardian checks that budget, and
the paper book (the simulator and the ledger) charges them, so a stop-out at the modelled
costs loses exactly what was budgeted.

Every function takes floats or numpy arrays (broadcast together); ``sign`` is +1 for a long
and −1 for a short. numpy is imported at module level: ``hmas.risk.positions`` imports this
module only inside its functions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

BPS = 10_000.0

Array = npt.NDArray[np.float64]
Number = float | Array


def _quiet[**P, R](fn: Callable[P, R]) -> Callable[P, R]:
    """Hostile numbers (NaN, infinities, overflow) give NaN or inf results, never warnings:
    the callers (the guardian above all) decide what an unusable number means."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return wrapper


@dataclass(frozen=True)
class SideCosts:
    """What one side of a trade costs, in bps of its notional (floats, or arrays per trade).

    ``spread_bps`` is the full quoted spread (a side pays half of it); ``fee_bps`` may be
    negative (a rebate); a negative spread or slippage counts as zero.
    """

    fee_bps: Number = 0.0
    spread_bps: Number = 0.0
    slippage_bps: Number = 0.0

    @classmethod
    def from_audit(cls, fee_bps: Number, spread_bps: Number, slippage_bps: Number) -> SideCosts:
        """One side's costs from the auditor's round trip (fee and slippage for both sides,
        the full spread): twice their ``total_bps`` is the auditor's ``total_cost_bps``."""
        return cls(
            fee_bps=np.multiply(fee_bps, 0.5),
            spread_bps=spread_bps,
            slippage_bps=np.multiply(slippage_bps, 0.5),
        )

    @property
    def price_bps(self) -> Number:
        """The part that moves the fill price against the position: half spread + slippage."""
        result: Number = np.maximum(self.spread_bps, 0.0) / 2 + np.maximum(self.slippage_bps, 0.0)
        return result

    @property
    def total_bps(self) -> Number:
        """The whole cost of the side: fee + half spread + slippage."""
        result: Number = np.add(self.fee_bps, self.price_bps)
        return result

    def as_record(self) -> dict[str, float]:
        """The three numbers as plain floats (scalar costs only)."""
        return {
            "fee_bps": float(self.fee_bps),
            "spread_bps": float(self.spread_bps),
            "slippage_bps": float(self.slippage_bps),
        }


#: No costs at all.
FREE = SideCosts()


@_quiet
def fill_price(sign: Number, price: Number, costs: SideCosts) -> Any:
    """Where an entry at ``price`` fills: the price cost against the position."""
    return np.multiply(price, 1.0 + np.multiply(sign, costs.price_bps) / BPS)


@_quiet
def exit_price(sign: Number, level: Number, costs: SideCosts) -> Any:
    """Where an exit at ``level`` fills: the price cost against the position."""
    return np.multiply(level, 1.0 - np.multiply(sign, costs.price_bps) / BPS)


@_quiet
def net_per_unit(sign: Number, filled: Number, exited: Number, costs: SideCosts) -> Any:
    """P&L per unit between a fill and an exit (both already at their filled prices), after
    the fee on each side's notional."""
    fee = np.divide(costs.fee_bps, BPS)
    gross = np.multiply(sign, np.subtract(exited, filled))
    return gross - (fee * filled + fee * exited)


@_quiet
def risk_per_unit(
    sign: Number, entry: Number, stop: Number, costs: SideCosts, gap_allowance: Number = 0.0
) -> Any:
    """The loss per unit of a stop-out: entered at ``entry``, out at the stop moved a further
    ``gap_allowance`` × |entry − stop| against the position, costs paid on both sides."""
    distance = np.abs(np.subtract(entry, stop))
    level = np.subtract(stop, np.multiply(sign, np.multiply(gap_allowance, distance)))
    filled = fill_price(sign, entry, costs)
    return -net_per_unit(sign, filled, exit_price(sign, level, costs), costs)


@_quiet
def reward_per_unit(sign: Number, entry: Number, target: Number, costs: SideCosts) -> Any:
    """The gain per unit of a trade entered at ``entry`` and out at the target, after costs."""
    filled = fill_price(sign, entry, costs)
    return net_per_unit(sign, filled, exit_price(sign, target, costs), costs)


@_quiet
def net_reward_risk(
    sign: Number,
    entry: Number,
    stop: Number,
    target: Number,
    costs: SideCosts,
    gap_allowance: Number = 0.0,
) -> Any:
    """Reward/risk after costs (the Kelly payoff): NaN where the risk is not positive."""
    risk = risk_per_unit(sign, entry, stop, costs, gap_allowance)
    reward = reward_per_unit(sign, entry, target, costs)
    return np.where(risk > 0, reward / np.where(risk > 0, risk, 1.0), np.nan)


@_quiet
def budget_units(
    equity: Number,
    fraction: Number,
    entry: Number,
    stop: Number,
    costs: SideCosts = FREE,
    *,
    gap_allowance: Number = 0.0,
    quote_rate: Number = 1.0,
    max_leverage: Number | None = None,
) -> Any:
    """Units whose stop-out loses ``fraction`` of ``equity``, capped by the notional.

    ``equity`` is in the account currency, prices in the symbol's quote currency, and
    ``quote_rate`` converts one unit of quote into the account currency. The loss of a
    stop-out is ``risk_per_unit`` (a long when the stop is below the entry): costs on both
    sides and the gap allowance included. With ``max_leverage`` the notional, units × entry ×
    rate, is at most ``max_leverage`` × equity. NaN where the size is undefined (a risk that
    is not positive, a missing price or rate).
    """
    entry, stop = np.asarray(entry, dtype=np.float64), np.asarray(stop, dtype=np.float64)
    sign = np.where(stop < entry, 1.0, -1.0)
    risk = risk_per_unit(sign, entry, stop, costs, gap_allowance) * quote_rate
    size = np.where(risk > 0, np.multiply(equity, fraction) / risk, np.nan)
    if max_leverage is not None:
        cap = np.multiply(max_leverage, equity) / (entry * quote_rate)
        size = np.where(cap > 0, np.minimum(size, cap), np.nan)
    return np.where(np.isfinite(size) & (size >= 0), size, np.nan)
