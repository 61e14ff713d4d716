"""Paper positions: follow one signal over the candles after it to its outcome (docs/risk.md).

The rules, shared with the backtest (DESIGN §7):

- fill at the open of the first usable bar after the signal bar, the price cost of a side
  (half the spread and the slippage, ``hmas.risk.costs``) applied against the position;
- stop and target are checked intrabar from the fill bar on; a bar opening beyond the stop
  exits at its open (worse than the stop), a bar opening beyond the target exits at its open
  (a resting limit order fills at the better price) even if it trades back through the stop
  later, and this includes the fill bar itself; only when both levels are touched inside a
  bar that opened between them does the stop count first (the path inside a bar is unknown);
- otherwise the position expires at the close of its ``expiry_bars``-th bar, the fill bar being
  the first;
- every exit pays the price cost against the position again, and the fee is charged on both
  sides' notional: the costs per side of the one cost model (``hmas.risk.costs.SideCosts``);
- R is the risk budgeted per unit: the loss of a stop-out from the planned entry at those
  costs plus the gap allowance (``costs.risk_per_unit``), so a stop-out at the modelled costs
  is −1R less the allowance, and the P&L in R is the P&L in multiples of the budgeted risk.

A bar with a missing, non-finite or non-positive price, or an inconsistent range (high < low,
open or close outside it), is ignored: it neither fills, exits nor counts toward expiry.

``simulate`` applies these rules to many setups at once (the rationale's base rate, the
backtest); ``follow_arrays`` is its one-setup case, so the rules are written once.

numpy and pandas are imported inside the functions, so importing ``hmas.risk`` stays light.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from hmas.risk.guardian import JsonFloat

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from numpy.typing import NDArray

    from hmas.risk.costs import SideCosts

Status = Literal["open", "win", "loss", "expired"]

#: ``simulate``'s outcome codes: closed (win, loss, expired), filled but still open, unfilled.
WIN, LOSS, EXPIRED, OPEN, UNFILLED = 1, -1, 0, 2, 3
_STATUS: dict[int, Status] = {WIN: "win", LOSS: "loss", EXPIRED: "expired", OPEN: "open"}

#: Setup × bar cells looked at per chunk by ``simulate`` (bounds its memory on long histories).
_CHUNK_CELLS = 1 << 20
#: Bars of the first window ``simulate`` searches for an exit (then 4x, 16x, ... more).
_FIRST_WINDOW = 16


class PositionOutcome(BaseModel):
    """Where a paper position stands: timestamps are bar open times in epoch ms.

    ``exit_ts`` is the open time of the bar in which the position closed (its close time for an
    expiry is ``exit_ts`` + the bar length). ``r_multiple``, ``pnl_money`` and ``pnl_pct`` are net
    of fees and slippage; ``pnl_pct`` is in percent of the notional at the fill (2.5 = +2.5 %).
    ``mae_r`` / ``mfe_r`` are the largest adverse / favourable moves from the fill, in R, over the
    bars held (on the exit bar only up to the exit).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: Status
    fill_ts: int | None = None
    fill_price: JsonFloat | None = None
    exit_ts: int | None = None
    exit_price: JsonFloat | None = None
    bars_held: int = 0
    r_multiple: float | None = None
    pnl_money: float | None = None
    pnl_pct: float | None = None
    mae_r: JsonFloat = 0.0
    mfe_r: JsonFloat = 0.0

    @property
    def closed(self) -> bool:
        """True once the position has exited (win, loss or expired)."""
        return self.status != "open"


def _usable(ohlc: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Rows with finite positive prices and a consistent range."""
    import numpy as np

    o, h, lo, c = ohlc.T
    with np.errstate(invalid="ignore"):
        mask: NDArray[np.bool_] = (
            np.isfinite(ohlc).all(axis=1)
            & (lo > 0)
            & (h >= lo)
            & (o >= lo)
            & (o <= h)
            & (c >= lo)
            & (c <= h)
        )
    return mask


def _side_costs(
    costs: SideCosts | None, fee_bps: float | None, slippage_bps: float | None, n: int = 1
) -> SideCosts:
    """The costs of a call, one per setup: ``costs`` or the shorthand fee and slippage per side.

    A cost that is not a finite number counts as zero (as does a negative spread or
    slippage); a negative fee is a rebate.
    """
    import numpy as np

    from hmas.risk.costs import SideCosts

    if costs is not None and (fee_bps is not None or slippage_bps is not None):
        raise ValueError("give costs or fee_bps/slippage_bps, not both")
    if costs is None:
        costs = SideCosts(fee_bps=fee_bps or 0.0, slippage_bps=slippage_bps or 0.0)

    def clean(value: Any) -> NDArray[np.float64]:
        array = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,))
        return np.where(np.isfinite(array), array, 0.0)

    return SideCosts(
        fee_bps=clean(costs.fee_bps),
        spread_bps=clean(costs.spread_bps),
        slippage_bps=clean(costs.slippage_bps),
    )


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _first(mask: NDArray[np.bool_]) -> int:
    """Index of the first True, or ``len(mask)`` when there is none."""
    return int(mask.argmax()) if mask.any() else len(mask)


@dataclass(frozen=True)
class Simulated:
    """Where each setup of ``simulate`` went; row indices refer to its ``ohlc`` rows.

    ``fill`` is the fill bar (−1: unfilled), ``exit`` the exit bar (for an open position the
    last bar seen; −1: unfilled), ``held`` the usable bars held (the fill bar is the first).
    ``exit_level`` is the price the rules exit at (the stop, the target, a gapped open or the
    expiry close), ``fill_price`` / ``exit_price`` include the price cost of each side; prices
    are NaN where there is none. ``r_multiple`` is each closed setup's P&L per unit after
    costs in R (the risk per unit budgeted from its planned entry); NaN while open or when its
    risk is not positive.
    """

    status: NDArray[np.int8]
    fill: NDArray[np.int64]
    exit: NDArray[np.int64]
    held: NDArray[np.int64]
    fill_price: NDArray[np.float64]
    exit_level: NDArray[np.float64]
    exit_price: NDArray[np.float64]
    r_multiple: NDArray[np.float64]

    @property
    def closed(self) -> NDArray[np.bool_]:
        """Setups that exited (win, loss or expired)."""
        return closed_codes(self.status)


def simulate(
    ohlc: NDArray[np.float64],
    signal: NDArray[np.int64],
    buy: NDArray[np.bool_],
    stop: NDArray[np.float64],
    target: NDArray[np.float64],
    *,
    expiry_bars: int,
    costs: SideCosts | None = None,
    slippage_bps: float | None = None,
    entry: NDArray[np.float64] | None = None,
    gap_allowance: float = 0.0,
    usable: NDArray[np.bool_] | None = None,
) -> Simulated:
    """Follow every setup (signal row, side, stop, target) over ``ohlc`` rows by the rules above.

    ``signal`` is each setup's signal row (−1: before the first row); its position fills on the
    first usable row after it. ``costs`` (floats, or arrays with one value per setup) are
    charged on each side; ``slippage_bps`` is a shorthand for slippage alone. ``entry`` is each
    setup's planned entry, the base of its R (default: the signal row's close, or the fill
    bar's open for a setup before the first row); ``gap_allowance`` is part of that R as in
    the sizing. Vectorised over setups × bars, in windows of bars that grow fourfold and chunks
    of ``_CHUNK_CELLS`` cells; ``usable``
    may pass ``ohlc``'s usable rows when the caller has them.
    """
    import numpy as np

    from hmas.risk import costs as model

    signal = np.asarray(signal, dtype=np.int64)
    buy = np.asarray(buy, dtype=bool)
    stop = np.asarray(stop, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    count_setups = len(signal)
    horizon = max(1, int(expiry_bars))
    rows = np.flatnonzero(_usable(ohlc) if usable is None else usable)
    o, h, lo, c = (ohlc[rows, j] for j in range(4))
    # Setup j's bars are the usable rows first[j] .. first[j] + count[j] - 1.
    first = np.searchsorted(rows, signal, side="right")
    count = np.minimum(len(rows) - first, horizon)
    sign = np.where(buy, 1.0, -1.0)
    side = _side_costs(costs, None, slippage_bps, count_setups)

    status = np.full(count_setups, UNFILLED, dtype=np.int8)
    at = np.zeros(count_setups, dtype=np.int64)  # position in ``rows`` of the exit bar
    held = np.zeros(count_setups, dtype=np.int64)
    level = np.full(count_setups, np.nan)
    filled = np.flatnonzero(count > 0)
    # The first bar that touches a level: searched in windows that grow fourfold (most setups
    # exit within a few bars; a 48-hour expiry is 2,880 one-minute bars), each window only
    # over the setups still open, each chunk of it at most ``_CHUNK_CELLS`` cells.
    hit_at = np.full(count_setups, -1, dtype=np.int64)
    pending = filled
    lo_step, width = 0, _FIRST_WINDOW
    while len(pending) and lo_step < horizon:
        hi_step = min(horizon, lo_step + width)
        steps = np.arange(lo_step, hi_step)
        per_chunk = max(1, _CHUNK_CELLS // len(steps))
        for start in range(0, len(pending), per_chunk):
            j = pending[start : start + per_chunk]
            inside = steps < count[j, None]
            pos = np.minimum(first[j, None] + steps, len(rows) - 1)
            longs, s, t = buy[j, None], stop[j, None], target[j, None]
            highs, lows = h[pos], lo[pos]
            # NaN stop or target compare False: that exit simply never triggers.
            with np.errstate(invalid="ignore"):
                hit = (
                    np.where(longs, lows <= s, highs >= s) | np.where(longs, highs >= t, lows <= t)
                ) & inside
            found = hit.any(axis=1)
            hit_at[j[found]] = lo_step + hit[found].argmax(axis=1)
        pending = pending[(hit_at[pending] < 0) & (count[pending] > hi_step)]
        lo_step, width = hi_step, width * 4
    j = filled
    n = count[j]
    closed = hit_at[j] >= 0
    k = np.where(closed, hit_at[j], n - 1)  # the exit bar, or the last bar seen
    exit_at = first[j] + k
    opens = o[exit_at]
    with np.errstate(invalid="ignore"):
        opened_past_target = np.where(buy[j], opens >= target[j], opens <= target[j])
        opened_past_stop = np.where(buy[j], opens <= stop[j], opens >= stop[j])
        bar_high, bar_low = h[exit_at], lo[exit_at]
        stop_touched = np.where(buy[j], bar_low <= stop[j], bar_high >= stop[j])
    # A bar that opens beyond a level exits there at its open, whatever it does next; the
    # stop counts first only when both are touched inside a bar that opened between them
    # (or when the bar opened beyond both, on a setup whose levels are on one side).
    loss = closed & stop_touched & (opened_past_stop | ~opened_past_target)
    win = closed & ~loss
    expired = ~closed & (n == horizon)
    # The level hit, or the open of a bar that opened beyond it: a long's stop and a
    # short's target exit at the lower of the two, the others at the higher.
    touched = np.where(loss, stop[j], target[j])
    gap = np.where(buy[j] == loss, np.minimum(opens, touched), np.maximum(opens, touched))
    level[j] = np.where(closed, gap, np.where(expired, c[exit_at], np.nan))
    status[j] = np.where(loss, LOSS, np.where(win, WIN, np.where(expired, EXPIRED, OPEN)))
    at[j], held[j] = exit_at, k + 1

    fill_bar, exit_bar = np.full(count_setups, -1), np.full(count_setups, -1)
    opened = np.full(count_setups, np.nan)
    fill_bar[filled], exit_bar[filled] = rows[first[filled]], rows[at[filled]]
    opened[filled] = o[first[filled]]
    fill_price = model.fill_price(sign, opened, side)
    exit_price = model.exit_price(sign, level, side)
    planned: NDArray[np.float64] = opened.copy()
    if entry is None:
        known = (signal >= 0) & (signal < len(ohlc))
        planned[known] = ohlc[signal[known], 3]
    else:
        planned = np.broadcast_to(np.asarray(entry, dtype=np.float64), (count_setups,))
    with np.errstate(invalid="ignore", divide="ignore"):
        # R from the planned entry, or from the fill bar's open when that gives none.
        risk_unit: NDArray[np.float64] = np.full(count_setups, np.nan)
        for base in (opened, planned):
            unit = model.risk_per_unit(sign, base, stop, side, gap_allowance)
            usable_base = (sign * (base - stop) > 0) & (unit > 0)
            risk_unit = np.where(usable_base, unit, risk_unit)
        net = model.net_per_unit(sign, fill_price, exit_price, side)
        r = np.where(closed_codes(status) & (risk_unit > 0), net / risk_unit, np.nan)
    return Simulated(
        status=status,
        fill=fill_bar,
        exit=exit_bar,
        held=held,
        fill_price=fill_price,
        exit_level=level,
        exit_price=exit_price,
        r_multiple=np.where(np.isfinite(r), r, np.nan),
    )


def closed_codes(status: NDArray[np.int8]) -> NDArray[np.bool_]:
    """Which of ``simulate``'s outcome codes are closed (win, loss or expired)."""
    result: NDArray[np.bool_] = status < OPEN  # WIN, LOSS and EXPIRED are below OPEN
    return result


def follow(
    side: Literal["BUY", "SELL"],
    signal_entry: float,
    stop: float,
    target: float,
    size: float,
    signal_bar_ts: int,
    candles: pd.DataFrame,
    *,
    expiry_bars: int,
    costs: SideCosts | None = None,
    gap_allowance: float = 0.0,
    fee_bps: float | None = None,
    slippage_bps: float | None = None,
) -> PositionOutcome:
    """Follow a position opened after bar ``signal_bar_ts`` (ms) over ``candles`` known so far.

    ``candles`` is a candle frame; bars at or before the signal bar are ignored, so passing the
    whole history is safe. With no usable later bar the position is ``open`` and unfilled.
    ``costs`` are the costs per side (``fee_bps`` / ``slippage_bps``: shorthands for a fee or a
    slippage alone); ``gap_allowance`` is the one the position was sized with (part of its R).
    """
    import numpy as np
    import pandas as pd

    if side not in ("BUY", "SELL"):
        raise ValueError(f"side must be BUY or SELL, not {side!r}")
    ts: NDArray[np.int64] = pd.DatetimeIndex(candles.index).as_unit("ms").asi8.astype(np.int64)
    rows = candles
    if len(ts) > 1 and not bool((np.diff(ts) > 0).all()):
        order = np.argsort(ts, kind="stable")
        ts, rows = ts[order], candles.iloc[order]
    start = int(np.searchsorted(ts, signal_bar_ts, side="right"))
    ohlc = rows.iloc[start:][["open", "high", "low", "close"]].to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    return follow_arrays(
        side,
        signal_entry,
        stop,
        target,
        size,
        ts[start:],
        ohlc,
        expiry_bars=expiry_bars,
        costs=costs,
        gap_allowance=gap_allowance,
        fee_bps=fee_bps,
        slippage_bps=slippage_bps,
    )


def follow_arrays(
    side: Literal["BUY", "SELL"],
    signal_entry: float,
    stop: float,
    target: float,
    size: float,
    ts: NDArray[np.int64],
    ohlc: NDArray[np.float64],
    *,
    expiry_bars: int,
    costs: SideCosts | None = None,
    gap_allowance: float = 0.0,
    fee_bps: float | None = None,
    slippage_bps: float | None = None,
    exit_at: int | None = None,
) -> PositionOutcome:
    """``follow`` on arrays: ``ts`` (ms) and ``ohlc`` rows of the bars after the signal, in order.

    The backtest calls this with views into arrays built once per history, so following a trade
    costs only the bars it is held for.

    ``exit_at`` is the row at whose open a market order closes the position (an exit signal on
    the bar before it) when neither the stop, the target nor the expiry came first: it exits at
    that open (the first usable one from that row on), slippage against the position, and is
    booked as ``expired`` (neither a win nor a loss).
    """
    import numpy as np

    from hmas.risk import costs as model

    if side not in ("BUY", "SELL"):
        raise ValueError(f"side must be BUY or SELL, not {side!r}")
    horizon = max(1, int(expiry_bars))
    # The stop, target and expiry are followed on the rows before the exit signal's open.
    rows = ohlc if exit_at is None else ohlc[: max(0, int(exit_at))]
    # Look at just enough rows to find ``horizon`` usable bars (bad rows are skipped).
    limit = horizon
    while True:
        usable = _usable(rows[:limit])
        if int(usable.sum()) >= horizon or limit >= len(rows):
            break
        limit *= 2
    buy = side == "BUY"
    charged = _side_costs(costs, fee_bps, slippage_bps)
    sim = simulate(
        rows[:limit],
        np.array([-1]),
        np.array([buy]),
        np.array([stop], dtype=np.float64),
        np.array([target], dtype=np.float64),
        expiry_bars=horizon,
        costs=charged,
        usable=usable,
    )
    if sim.status[0] == UNFILLED:
        return PositionOutcome(status="open")
    status = _STATUS[int(sim.status[0])]
    o, h, lo = rows[:limit][usable][:horizon, :3].T
    sign = 1.0 if buy else -1.0
    fill, raw, k = float(sim.fill_price[0]), float(sim.exit_level[0]), int(sim.held[0]) - 1
    fill_ts = int(ts[sim.fill[0]])
    exit_row, exit_price = int(sim.exit[0]), float(sim.exit_price[0])
    if status == "open" and exit_at is not None:
        at = _first_usable(ohlc, max(0, int(exit_at)))
        if at is not None:
            # The market exit: only the exit bar's open was held.
            status, raw, exit_row = "expired", float(ohlc[at, 0]), at
            o, h, lo = (np.append(a[: k + 1], raw) for a in (o, h, lo))
            k += 1
            exit_price = float(np.asarray(model.exit_price(sign, raw, charged)).reshape(-1)[0])

    risk_unit = _risk_unit(sign, signal_entry, float(o[0]), stop, charged, gap_allowance)
    mae, mfe = _excursions(sign, fill, o, h, lo, k, status, raw, risk_unit)
    if status == "open":
        return PositionOutcome(
            status="open",
            fill_ts=fill_ts,
            fill_price=fill,
            bars_held=k + 1,
            mae_r=mae,
            mfe_r=mfe,
        )

    net_unit = float(model.net_per_unit(sign, fill, exit_price, charged)[0])
    r_multiple = net_unit / risk_unit if risk_unit is not None else math.nan
    return PositionOutcome(
        status=status,
        fill_ts=fill_ts,
        fill_price=fill,
        exit_ts=int(ts[exit_row]),
        exit_price=exit_price,
        bars_held=k + 1,
        r_multiple=_finite_or_none(r_multiple),
        pnl_money=_finite_or_none(size * net_unit),
        pnl_pct=_finite_or_none(100 * net_unit / fill),
        mae_r=mae,
        mfe_r=mfe,
    )


def _first_usable(ohlc: NDArray[np.float64], start: int) -> int | None:
    """The first usable row at or after ``start`` (None when there is none)."""
    size = 8
    while start < len(ohlc):
        found = _usable(ohlc[start : start + size])
        if found.any():
            return start + int(found.argmax())
        start, size = start + size, size * 2
    return None


def _risk_unit(
    sign: float,
    signal_entry: float,
    fill_open: float,
    stop: float,
    costs: SideCosts,
    gap_allowance: float,
) -> float | None:
    """One R per unit: the budgeted loss of a stop-out from the planned entry (after costs and
    the gap allowance), or from the fill bar's open when the planned entry gives none."""
    from hmas.risk.costs import risk_per_unit

    for entry in (signal_entry, fill_open):
        if not (math.isfinite(entry) and sign * (entry - stop) > 0):
            continue
        unit = float(risk_per_unit(sign, entry, stop, costs, gap_allowance)[0])
        if math.isfinite(unit) and unit > 0:
            return unit
    return None


def _excursions(
    sign: float,
    fill: float,
    o: NDArray[np.float64],
    h: NDArray[np.float64],
    lo: NDArray[np.float64],
    k: int,
    status: Status,
    raw: float,
    risk_unit: float | None,
) -> tuple[float, float]:
    """(MAE, MFE) in R over bars 0..k, the exit bar counted only up to the exit."""
    if risk_unit is None:
        return 0.0, 0.0
    hi, low = h[: k + 1].copy(), lo[: k + 1].copy()
    # "up" is the favourable direction for a BUY; mirrored for a SELL.
    up, down = (hi, low) if sign > 0 else (low, hi)
    if status in ("win", "loss") and raw == o[k]:
        # Gap exit at the open: nothing after the open was held.
        hi[k] = low[k] = o[k]
    elif status == "loss":
        # Stop first: the adverse move ends at the stop, the favourable one is only the open.
        down[k], up[k] = raw, o[k]
    elif status == "win":
        up[k] = raw
    favourable = sign * (float(up.max() if sign > 0 else up.min()) - fill)
    adverse = sign * (fill - float(down.min() if sign > 0 else down.max()))
    return max(0.0, adverse / risk_unit), max(0.0, favourable / risk_unit)
