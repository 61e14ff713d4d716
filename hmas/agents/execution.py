"""Execution auditor: round-trip fees, spread and slippage of alpha's trade, in bps and in R.

Rules (docs/agents/execution.md): taker fees on both sides from the exchange profile; the
spread from the Abdi–Ranaldo (2017) close-high-low estimator made causal; slippage from the
square-root impact model with the order size the risk budget allows; a liquidity grade from
that order's share of the typical bar's traded notional. PASS/FAIL only when alpha trades.

The order is sized as the decision sizes it (``hmas.risk.costs.budget_units``): the account's
equity converted into the quote currency at the bar (``ctx.quote_rate``), the fee and the
spread inside the risk budget, the notional capped; the slippage, which depends on the order
size, is left out of that sizing, so the order audited is at least the one traded and its
slippage estimate an upper bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import Field

from hmas.agents.base import AgentContext, AgentView, none_if_nan
from hmas.agents.common import align_on, column_values, frame_of, labelled, true_flags
from hmas.agents.macro import log_returns
from hmas.risk.costs import SideCosts, budget_units

NAME = "execution"

Array = npt.NDArray[Any]

Grade = Literal["A", "B", "C", "D"]
Verdict = Literal["PASS", "FAIL", "N/A"]

BPS = 10_000.0

# Bit flags of the reasons for a FAIL; the frame keeps the mask, view_at writes the text.
FLAG_PRICE = 1
FLAG_CANDLE = 2
FLAG_SPREAD = 4
FLAG_VOLATILITY = 8
FLAG_VOLUME = 16
FLAG_EQUITY = 32
FLAG_COST_R = 64
FLAG_COST_TARGET = 128
FLAG_GRADE_D = 256
FLAG_RATE = 512

REQUIRED_FEATURES = ("high", "low", "close", "volume")
REQUIRED_ALPHA = ("action", "entry", "stop", "target")


class ExecutionView(AgentView):
    """What alpha's trade would cost, how liquid the market is, and the verdict."""

    agent: Literal["execution"] = "execution"
    fee_bps: float | None = None
    spread_bps: float | None = Field(None, ge=0)
    slippage_bps: float | None = Field(None, ge=0)
    # No lower bound: a configured fee rebate could make a total negative.
    total_cost_bps: float | None = None
    total_cost_r: float | None = None
    cost_to_target: float | None = None
    order_notional: float | None = Field(None, ge=0)
    volume_share: float | None = Field(None, ge=0)
    liquidity_grade: Grade | None = None
    #: The account currency per unit of the symbol's quote currency at the bar (1 when the
    #: symbol is quoted in the account currency).
    quote_rate: float | None = Field(None, gt=0)
    verdict: Verdict = "N/A"
    reasons: list[str] = Field(default_factory=list)


def abdi_ranaldo_spread(high: Array, low: Array, close: Array, window: int) -> Array:
    """Causal Abdi–Ranaldo (2017) proportional spread per bar; NaN until ``window`` valid pairs.

    s² = 4·mean over the window of (c_{t−1} − η_{t−1})(c_{t−1} − η_t), with c = log close and
    η = (log high + log low)/2: the paper's pair (t, t+1) shifted back one bar so that bar t
    reads nothing later than t. A negative mean is set to 0, as the authors do.
    """
    n = len(close)
    prices = np.stack([high, low, close]) if n else np.empty((3, 0))
    ok = np.isfinite(prices) & (prices > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(np.where(ok, prices, np.nan))
    eta = (logs[0] + logs[1]) / 2
    log_close = logs[2]
    term = np.full(n, np.nan)
    if n > 1:
        term[1:] = (log_close[:-1] - eta[:-1]) * (log_close[:-1] - eta[1:])
    mean = pd.Series(term).rolling(window, min_periods=window).mean()
    s2 = 4.0 * mean.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        spread: Array = np.sqrt(np.where(s2 > 0, s2, np.where(np.isfinite(s2), 0.0, np.nan)))
    return spread


def bar_volatility(close: Array, window: int) -> Array:
    """σ per bar: rolling standard deviation (ddof 1) of log returns over ``window`` bars."""
    std = pd.Series(log_returns(close)).rolling(window, min_periods=window).std()
    return std.to_numpy(dtype="float64", na_value=np.nan)


def round_trip_fee_bps(ctx: AgentContext) -> float:
    """Taker fee on entry and on exit, from the exchange profile or the default."""
    params = ctx.settings.execution
    return 2.0 * float(params.taker_bps.get(ctx.exchange.lower(), params.default_taker_bps))


def _finite(values: Array) -> Array:
    """NaN wherever ``values`` is not finite, so no inf reaches a view."""
    return np.where(np.isfinite(values), values, np.nan)


def _abstain_all(index: pd.Index, reason: str) -> pd.DataFrame:
    """A frame of abstained rows with no numbers."""
    n = len(index)
    nan = np.full(n, np.nan)
    return frame_of(
        {
            "fee_bps": nan,
            "spread_bps": nan,
            "slippage_bps": nan,
            "total_cost_bps": nan,
            "total_cost_r": nan,
            "cost_to_target": nan,
            "order_notional": nan,
            "volume_share": nan,
            "liquidity_grade": np.full(n, None, dtype=object),
            "quote_rate": nan,
            "verdict": np.full(n, "N/A", dtype=object),
            "fail_flags": np.zeros(n, dtype="int64"),
            "abstained": np.ones(n, dtype=bool),
            "abstain_reason": np.full(n, reason, dtype=object),
        },
        index,
    )


def run_rules(features: pd.DataFrame, ctx: AgentContext) -> pd.DataFrame:
    """Costs, liquidity grade and verdict of alpha's proposal (``ctx.upstream``) on every bar."""
    alpha = ctx.upstream.get("alpha")
    params = ctx.settings.execution
    index = features.index
    missing = [c for c in REQUIRED_FEATURES if c not in features.columns]
    if missing:
        return _abstain_all(index, f"data quality: missing column(s) {', '.join(missing)}")
    proposals = align_on(alpha, index) if isinstance(alpha, pd.DataFrame) else None
    if proposals is None:
        return _abstain_all(index, "data quality: no alpha output to audit")
    missing = [c for c in REQUIRED_ALPHA if c not in proposals.columns]
    if missing:
        return _abstain_all(index, f"data quality: alpha output lacks {', '.join(missing)}")

    high, low, close, volume = (column_values(features, c, index) for c in REQUIRED_FEATURES)
    entry, stop, target = (column_values(proposals, c, index) for c in ("entry", "stop", "target"))
    action = proposals["action"].to_numpy(dtype=object)
    is_buy, is_sell = action == "BUY", action == "SELL"
    alpha_abstained = true_flags(proposals, "abstained", len(index))
    trade = (is_buy | is_sell) & ~alpha_abstained

    fee = round_trip_fee_bps(ctx)
    spread_bps = abdi_ranaldo_spread(high, low, close, params.spread_window) * BPS
    sigma = bar_volatility(close, params.vol_window)
    risk = ctx.settings.risk
    equity_ok = bool(np.isfinite(ctx.equity) and ctx.equity > 0)
    rate = np.ones(len(index)) if ctx.quote_rate is None else np.asarray(ctx.quote_rate, float)
    with np.errstate(invalid="ignore"):
        rate_ok = np.isfinite(rate) & (rate > 0)

    with np.errstate(all="ignore"):
        candle_ok = np.isfinite(close) & (close > 0) & (high > 0) & (low > 0)
        bar_notional = np.where(candle_ok & (volume >= 0), close * volume, np.nan)
        avg_notional = (
            pd.Series(bar_notional)
            .rolling(params.volume_window, min_periods=params.volume_window)
            .mean()
            .to_numpy(dtype="float64", na_value=np.nan)
        )
        volume_ok = avg_notional > 0
        positive = (entry > 0) & (stop > 0) & (target > 0)
        sided = np.where(
            is_buy, (stop < entry) & (entry < target), (target < entry) & (entry < stop)
        )
        price_ok = positive & sided
        distance = np.where(price_ok, np.abs(entry - stop), np.nan)
        reward = np.where(price_ok, np.abs(target - entry), np.nan)
        # The order the risk budget allows, as the decision sizes it before the slippage.
        units = budget_units(
            ctx.equity,
            risk.risk_per_trade,
            entry,
            stop,
            SideCosts.from_audit(fee, spread_bps, 0.0),
            gap_allowance=risk.gap_allowance,
            quote_rate=np.where(rate_ok, rate, np.nan),
            max_leverage=risk.max_leverage,
        )
        order_notional = (
            _finite(np.where(price_ok, units * entry, np.nan))
            if equity_ok
            else np.full_like(distance, np.nan)
        )
        raw_share = np.where(volume_ok, order_notional / avg_notional, np.nan)
        share = _finite(raw_share)
        slippage_bps = _finite(2.0 * BPS * params.impact_coefficient * sigma * np.sqrt(share))
        total_bps = fee + spread_bps + slippage_bps
        cost_r = _finite(total_bps / BPS * entry / distance)
        cost_to_target = _finite(total_bps / BPS * entry / reward)
        sized = np.isfinite(order_notional)
        is_a = raw_share < params.grade_a_share
        is_b = raw_share < params.grade_b_share
        is_c = raw_share < params.grade_c_share
        flags = (
            np.where(~price_ok, FLAG_PRICE, 0)
            | np.where(~candle_ok, FLAG_CANDLE, 0)
            | np.where(np.isnan(spread_bps), FLAG_SPREAD, 0)
            | np.where(np.isnan(sigma), FLAG_VOLATILITY, 0)
            | np.where(~volume_ok, FLAG_VOLUME, 0)
            | np.where(equity_ok, 0, FLAG_EQUITY)
            | np.where(rate_ok, 0, FLAG_RATE)
            | np.where(cost_r > params.max_cost_r, FLAG_COST_R, 0)
            | np.where(cost_to_target > params.max_cost_to_target, FLAG_COST_TARGET, 0)
            | np.where(volume_ok & sized & ~is_c, FLAG_GRADE_D, 0)
        ).astype("int64")
    # A grade needs an order size; no traded volume at all (share undefined) grades D.
    graded = trade & sized
    grade = labelled(
        [~graded, volume_ok & is_a, volume_ok & is_b, volume_ok & is_c], [None, "A", "B", "C"], "D"
    )
    flags = np.where(trade, flags, 0)
    out = frame_of(
        {
            "fee_bps": np.full(len(index), fee),
            "spread_bps": spread_bps,
            "slippage_bps": np.where(trade, slippage_bps, np.nan),
            "total_cost_bps": np.where(trade, total_bps, np.nan),
            "total_cost_r": np.where(trade, cost_r, np.nan),
            "cost_to_target": np.where(trade, cost_to_target, np.nan),
            "order_notional": np.where(trade, order_notional, np.nan),
            "volume_share": np.where(trade, share, np.nan),
            "liquidity_grade": grade,
            "quote_rate": np.where(rate_ok, rate, np.nan),
            "verdict": labelled([~trade, flags == 0], ["N/A", "PASS"], "FAIL"),
            "fail_flags": flags,
            "abstained": np.zeros(len(index), dtype=bool),
            "abstain_reason": np.full(len(index), None, dtype=object),
        },
        index,
    )
    out.attrs["execution_limits"] = {
        "max_cost_r": params.max_cost_r,
        "max_cost_to_target": params.max_cost_to_target,
        "grade_c_share": params.grade_c_share,
        "spread_window": params.spread_window,
        "vol_window": params.vol_window,
        "volume_window": params.volume_window,
    }
    return out


def _fmt(value: Any, spec: str) -> str:
    """``value`` formatted, or ``n/a`` when it is missing."""
    value = none_if_nan(value)
    return "n/a" if value is None else format(value, spec)


def _reasons(row: pd.Series, limits: dict[str, Any]) -> list[str]:
    """The reasons behind a FAIL, in flag order, with the numbers that triggered them."""
    flags = int(none_if_nan(row.get("fail_flags")) or 0)
    texts = {
        FLAG_PRICE: "data quality: entry, stop or target missing, zero or on the wrong side",
        FLAG_CANDLE: "data quality: missing or non-positive price on this bar",
        FLAG_SPREAD: "data quality: spread estimate unavailable "
        f"(needs {limits.get('spread_window', 'n/a')} valid bars)",
        FLAG_VOLATILITY: "data quality: volatility unavailable "
        f"(needs {limits.get('vol_window', 'n/a')} valid bars)",
        FLAG_VOLUME: "data quality: no traded volume over the last "
        f"{limits.get('volume_window', 'n/a')} bars",
        FLAG_EQUITY: "data quality: equity or risk per trade is not positive",
        FLAG_RATE: "data quality: no rate converting the quote currency into the account "
        "currency at this bar",
        FLAG_COST_R: f"round-trip cost {_fmt(row.get('total_cost_r'), '.3f')}R exceeds "
        f"{limits.get('max_cost_r', 'the limit')}R",
        FLAG_COST_TARGET: f"cost is {_fmt(row.get('cost_to_target'), '.3f')} of the reward, "
        f"above {limits.get('max_cost_to_target', 'the limit')}",
        FLAG_GRADE_D: f"liquidity grade D: order is {_fmt(row.get('volume_share'), '.2%')} of "
        f"the average bar's traded notional (D from {limits.get('grade_c_share', 'n/a')})",
    }
    return [text for flag, text in texts.items() if flags & flag]


def view_at(out: pd.DataFrame, i: int, views: Mapping[str, Any] | None = None) -> ExecutionView:
    """The execution view of row ``i`` (positional; ``-1`` is the last bar) of ``run_rules``.

    Scalar fields come from their same-named columns (``AgentView.from_row``); the reasons are
    built here from the row and the limits the frame carries.
    """
    series = out.iloc[i]
    row = {str(k): v for k, v in series.items()}
    limits: dict[str, Any] = dict(out.attrs.get("execution_limits", {}))
    return ExecutionView.from_row(
        row, abstained=bool(row.get("abstained", False)), reasons=_reasons(series, limits)
    )
