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

The rule of the bar where a level is touched (which level counts, at what price) is written
once, ``_exit_rule``. ``simulate`` applies the rules to many setups at once, vectorised over
setups x bars (the rationale's base rate, the backtest's calibration). Following one position
at a time is the kernel ``locate`` (over ``Bars``, the usable rows compacted once: the first
touch is searched in growing windows, so a position costs the bars it is held for) and
``outcomes`` (prices, R, excursions, for many positions at once): ``follow_arrays`` is its
one-position case, and the backtest's reference strategy follows its positions with it
directly. Tests check ``simulate`` and ``follow_arrays`` against each other setup by setup.

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


def side_costs(
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


def _exit_rule(
    buy: Any, stop: Any, target: Any, opens: Any, stop_hit: Any
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """The fill rule of the bar where a stop or a target was touched: (stopped, exit level).

    A bar that opens beyond a level exits there at its open, whatever it does next; the stop
    counts first only when both are touched inside a bar that opened between them (or when
    the bar opened beyond both, on a setup whose levels are on one side). The level is the one
    hit, or the open of a bar that opened beyond it: a long's stop and a short's target exit at
    the lower of the two, the others at the higher. Arrays (one value per setup) or scalars.
    """
    import numpy as np

    with np.errstate(invalid="ignore"):
        opened_past_target = np.where(buy, opens >= target, opens <= target)
        opened_past_stop = np.where(buy, opens <= stop, opens >= stop)
    stopped = stop_hit & (opened_past_stop | ~opened_past_target)
    touched = np.where(stopped, stop, target)
    level = np.where(buy == stopped, np.minimum(opens, touched), np.maximum(opens, touched))
    return stopped, level


#: How a followed position ended (``locate``): a level touched, the expiry, a market exit at a
#: bar's open, still open at the last bar, or never filled.
HIT, EXPIRY, MARKET, HELD, NO_FILL = 0, 1, 2, 3, 4

#: The first window ``simulate``, ``first_touch`` and ``first_touches`` search, in bars (then
#: 4x longer each).
WINDOW = 16


@dataclass(frozen=True)
class Bars:
    """The usable bars of OHLC rows (``_usable``), compacted once: ``rows`` are their rows.

    Following a position over these costs only the bars it is held for (``first_touch``),
    whatever the length of the history.
    """

    rows: NDArray[np.int64]
    open: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    close: NDArray[np.float64]

    @classmethod
    def of(cls, ohlc: NDArray[np.float64], usable: NDArray[np.bool_] | None = None) -> Bars:
        import numpy as np

        mask = _usable(ohlc) if usable is None else usable
        if mask.all():  # the usual case: every row, copied by column
            o, h, lo, c = (np.array(ohlc[:, j], dtype=np.float64) for j in range(4))
            return cls(np.arange(len(ohlc), dtype=np.int64), o, h, lo, c)
        rows = np.flatnonzero(mask)
        o, h, lo, c = (np.ascontiguousarray(ohlc[rows, j]) for j in range(4))
        return cls(rows.astype(np.int64), o, h, lo, c)

    def __len__(self) -> int:
        return len(self.rows)


def first_touch(bars: Bars, start: int, end: int, buy: bool, stop: float, target: float) -> int:
    """The first bar in ``[start, end)`` whose range reaches the stop or the target, or −1.

    Searched over windows growing 4x, so it costs about the bars up to the touch. A NaN level
    never triggers.
    """
    size = WINDOW
    low, high = bars.low, bars.high
    while start < end:
        until = min(end, start + size)
        hit = _touches(low[start:until], high[start:until], buy, stop, target)
        k = int(hit.argmax())
        if hit[k]:
            return start + k
        start, size = until, size * 4
    return -1


def first_touches(
    bars: Bars,
    start: NDArray[np.int64],
    end: NDArray[np.int64],
    buy: NDArray[np.bool_],
    stop: NDArray[np.float64],
    target: NDArray[np.float64],
) -> NDArray[np.int64]:
    """``first_touch`` of many positions at once over the first window of each, ``WINDOW``
    bars from ``start`` (before ``end``): the bar touched, or −1 when none is in the window
    (``locate(..., searched=WINDOW)`` searches on from there)."""
    import numpy as np

    if not len(bars) or not len(start):
        return np.full(len(start), -1, dtype=np.int64)
    at = start[:, None] + np.arange(WINDOW)
    inside = at < end[:, None]
    at = np.minimum(at, len(bars) - 1)
    hit = (
        _touches(bars.low[at], bars.high[at], buy[:, None], stop[:, None], target[:, None]) & inside
    )
    k = hit.argmax(axis=1)
    found = hit[np.arange(len(start)), k]
    touched: NDArray[np.int64] = np.where(found, start + k, -1).astype(np.int64)
    return touched


def _touches(low: Any, high: Any, buy: Any, stop: Any, target: Any) -> NDArray[np.bool_]:
    """Bars whose range reaches the stop or the target (a NaN level never does): a long's
    low at or below its stop or its high at or above its target; mirrored for a short."""
    import numpy as np

    if isinstance(buy, bool):
        return (low <= stop) | (high >= target) if buy else (high >= stop) | (low <= target)  # type: ignore[no-any-return]
    touched: NDArray[np.bool_] = np.where(
        buy, (low <= stop) | (high >= target), (high >= stop) | (low <= target)
    )
    return touched


def locate(
    bars: Bars,
    first: int,
    horizon: int,
    buy: bool,
    stop: float,
    target: float,
    cut: int,
    *,
    touched: int = -1,
    searched: int = 0,
) -> tuple[int, int]:
    """Where a position filled at bar ``first`` ends, by the rules above: (its last bar, how).

    ``horizon`` is the bars it may be held (the fill bar is the first); ``cut`` is the bar at
    whose open a market order closes it (``len(bars)``: none). How is ``HIT`` (a level touched
    in the last bar), ``EXPIRY`` (the close of the ``horizon``-th bar), ``MARKET`` (the open of
    the ``cut`` bar), ``HELD`` (still open at the last bar) or ``NO_FILL`` (no bar to fill on
    before the cut; the last bar is then −1). ``touched`` and ``searched`` are what
    ``first_touches`` found for it: the bar touched, else −1 with the first ``searched`` bars
    from ``first`` known not to touch.
    """
    end = min(first + horizon, cut)
    if end <= first:
        return -1, NO_FILL
    k = touched
    if k < 0 and first + searched < end:
        k = first_touch(bars, first + searched, end, buy, stop, target)
    if k >= 0:
        return k, HIT
    if first + horizon <= cut:
        return first + horizon - 1, EXPIRY
    if cut < len(bars):
        return cut, MARKET
    return len(bars) - 1, HELD


@dataclass(frozen=True)
class Followed:
    """Positions followed over ``Bars`` by ``outcomes`` (one value per position).

    ``status`` holds ``simulate``'s codes (WIN, LOSS, EXPIRED, OPEN); prices include the price
    cost of each side; ``net`` is the P&L per unit after costs, ``risk`` one R per unit (NaN
    when the planned entry and the fill give none), ``r`` their ratio (NaN while open);
    ``mae`` / ``mfe`` the excursions in R (0 without an R).
    """

    status: NDArray[np.int8]
    held: NDArray[np.int64]
    fill_price: NDArray[np.float64]
    level: NDArray[np.float64]
    exit_price: NDArray[np.float64]
    net: NDArray[np.float64]
    risk: NDArray[np.float64]
    r: NDArray[np.float64]
    mae: NDArray[np.float64]
    mfe: NDArray[np.float64]


def _extremes(
    values: NDArray[np.float64],
    first: NDArray[np.int64],
    last: NDArray[np.int64],
    op: Any,
    empty: float,
) -> NDArray[np.float64]:
    """``op`` (np.maximum or np.minimum) over each ``values[first:last]`` (``empty`` if none)."""
    import numpy as np

    if len(first) == 1:
        span = values[int(first[0]) : int(last[0])]
        return np.array([op.reduce(span) if len(span) else empty])
    if not len(first):
        return np.zeros(0)
    bounds = np.empty(2 * len(first), dtype=np.int64)
    bounds[0::2], bounds[1::2] = first, last
    spans = op.reduceat(values, np.minimum(bounds, len(values) - 1))[0::2]
    return np.where(last > first, spans, empty)


def outcomes(
    bars: Bars,
    first: NDArray[np.int64],
    last: NDArray[np.int64],
    how: NDArray[np.int64],
    buy: NDArray[np.bool_],
    stop: NDArray[np.float64],
    target: NDArray[np.float64],
    entry: NDArray[np.float64],
    costs: SideCosts,
    gap_allowance: float = 0.0,
) -> Followed:
    """The outcome of each filled position ``locate`` ended (``how`` is never ``NO_FILL``).

    ``entry`` is each planned entry (the base of its R, else the fill bar's open); ``costs``
    are one side's costs per position (``side_costs``).
    """
    import numpy as np

    from hmas.risk import costs as model

    sign = np.where(buy, 1.0, -1.0)
    o, h, lo = bars.open[last], bars.high[last], bars.low[last]
    hit = how == HIT
    with np.errstate(invalid="ignore"):
        stop_hit = np.where(buy, lo <= stop, h >= stop)
    stopped, touched = _exit_rule(buy, stop, target, o, stop_hit)
    loss = hit & stopped
    status = np.where(
        hit,
        np.where(loss, LOSS, WIN),
        np.where((how == EXPIRY) | (how == MARKET), EXPIRED, OPEN),
    ).astype(np.int8)
    level = np.where(
        hit,
        touched,
        np.where(how == EXPIRY, bars.close[last], np.where(how == MARKET, o, np.nan)),
    )
    opened = bars.open[first]
    fill_price = np.asarray(model.fill_price(sign, opened, costs), dtype=np.float64)
    exit_price = np.asarray(model.exit_price(sign, level, costs), dtype=np.float64)
    net = np.asarray(model.net_per_unit(sign, fill_price, exit_price, costs), dtype=np.float64)
    # R from the planned entry, or from the fill bar's open when that gives none.
    risk: NDArray[np.float64] = np.full(len(first), np.nan)
    for base in (opened, entry):
        unit = np.asarray(model.risk_per_unit(sign, base, stop, costs, gap_allowance))
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(base) & (sign * (base - stop) > 0) & np.isfinite(unit) & (unit > 0)
        risk = np.where(ok, unit, risk)
    closed = status != OPEN
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(closed, net / risk, np.nan)

    # The excursions: every bar before the last in full, the last one as far as it was held
    # (only its open after a gap or a market exit; a stop-out's adverse side reaches the stop
    # and its favourable side only the open; a target's favourable side reaches the target).
    whole = ~hit & (how != MARKET)
    top, bottom = np.where(whole, h, o), np.where(whole, lo, o)
    stopped_inside = loss & (level != o)
    won_inside = hit & ~loss & (level != o)
    top = np.where(stopped_inside & ~buy, level, top)
    bottom = np.where(stopped_inside & buy, level, bottom)
    top = np.where(won_inside, np.where(buy, level, h), top)
    bottom = np.where(won_inside, np.where(buy, lo, level), bottom)
    high = np.maximum(_extremes(bars.high, first, last, np.maximum, -np.inf), top)
    low = np.minimum(_extremes(bars.low, first, last, np.minimum, np.inf), bottom)
    with np.errstate(invalid="ignore", divide="ignore"):
        favourable = np.where(buy, high - fill_price, fill_price - low) / risk
        adverse = np.where(buy, fill_price - low, high - fill_price) / risk
    known = np.isfinite(risk)
    return Followed(
        status=status,
        held=(last - first + 1).astype(np.int64),
        fill_price=fill_price,
        level=level,
        exit_price=exit_price,
        net=net,
        risk=risk,
        r=np.where(np.isfinite(r), r, np.nan),
        mae=np.where(known & (adverse > 0), adverse, 0.0),
        mfe=np.where(known & (favourable > 0), favourable, 0.0),
    )


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
    side = side_costs(costs, None, slippage_bps, count_setups)

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
    lo_step, width = 0, WINDOW
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
    with np.errstate(invalid="ignore"):
        stop_touched = np.where(buy[j], lo[exit_at] <= stop[j], h[exit_at] >= stop[j])
    stopped, gap = _exit_rule(buy[j], stop[j], target[j], o[exit_at], stop_touched)
    loss = closed & stopped
    win = closed & ~loss
    expired = ~closed & (n == horizon)
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

    if side not in ("BUY", "SELL"):
        raise ValueError(f"side must be BUY or SELL, not {side!r}")
    horizon = max(1, int(expiry_bars))
    cut = len(ohlc) if exit_at is None else max(0, int(exit_at))
    # The stop, target and expiry are followed on the rows before the exit signal's open.
    rows = ohlc[:cut]
    # Look at just enough rows to find ``horizon`` usable bars (bad rows are skipped).
    limit = horizon
    while True:
        usable = _usable(rows[:limit])
        if int(usable.sum()) >= horizon or limit >= len(rows):
            break
        limit *= 2
    span = rows[:limit]
    if exit_at is not None and int(usable.sum()) < horizon:
        at = _first_usable(ohlc, cut)
        if at is not None:
            # The market exit can come first: the bars before it and its own.
            usable = np.concatenate([usable, np.zeros(at + 1 - len(usable), dtype=bool)])
            usable[at] = True
            span = ohlc[: at + 1]
    bars = Bars.of(span, usable)
    cut_bar = len(bars) if exit_at is None else int(np.searchsorted(bars.rows, cut))
    buy = side == "BUY"
    last, how = locate(bars, 0, horizon, buy, stop, target, cut_bar)
    if how == NO_FILL:
        return PositionOutcome(status="open")
    followed = outcomes(
        bars,
        np.zeros(1, dtype=np.int64),
        np.array([last], dtype=np.int64),
        np.array([how], dtype=np.int64),
        np.array([buy]),
        np.array([stop], dtype=np.float64),
        np.array([target], dtype=np.float64),
        np.array([signal_entry], dtype=np.float64),
        side_costs(costs, fee_bps, slippage_bps),
        gap_allowance,
    )
    return position_outcome(followed, 0, int(ts[bars.rows[0]]), int(ts[bars.rows[last]]), size)


def position_outcome(
    followed: Followed, i: int, fill_ts: int, exit_ts: int, size: float
) -> PositionOutcome:
    """Position ``i`` of ``outcomes`` as a ``PositionOutcome`` of ``size`` units."""
    status = _STATUS[int(followed.status[i])]
    fill = float(followed.fill_price[i])
    held = int(followed.held[i])
    mae, mfe = float(followed.mae[i]), float(followed.mfe[i])
    if status == "open":
        return PositionOutcome(
            status="open", fill_ts=fill_ts, fill_price=fill, bars_held=held, mae_r=mae, mfe_r=mfe
        )
    net = float(followed.net[i])
    return PositionOutcome(
        status=status,
        fill_ts=fill_ts,
        fill_price=fill,
        exit_ts=exit_ts,
        exit_price=float(followed.exit_price[i]),
        bars_held=held,
        r_multiple=_finite_or_none(float(followed.r[i])),
        pnl_money=_finite_or_none(size * net),
        pnl_pct=_finite_or_none(100 * net / fill),
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
