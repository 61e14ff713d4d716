"""Paper positions: follow one signal over the candles after it to its outcome (docs/risk.md).

The rules, shared with the backtest (DESIGN §7):

- fill at the open of the first usable bar after the signal bar, slippage applied adversely;
- stop and target are checked intrabar from the fill bar on; when both lie inside one bar the
  stop counts first; a bar opening beyond the stop exits at its open (worse than the stop), a
  bar opening beyond the target exits at its open (a resting limit order fills at the better
  price), and this includes the fill bar itself;
- otherwise the position expires at the close of its ``expiry_bars``-th bar, the fill bar being
  the first;
- every exit pays slippage adversely again and fees are charged on both sides.

A bar with a missing, non-finite or non-positive price, or an inconsistent range (high < low,
open or close outside it), is ignored: it neither fills, exits nor counts toward expiry.

``simulate`` applies these rules to many setups at once (the rationale's base rate, the
backtest); ``follow_arrays`` is its one-setup case, so the rules are written once.

numpy and pandas are imported inside the functions, so importing ``hmas.risk`` stays light.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from hmas.risk.guardian import JsonFloat

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from numpy.typing import NDArray

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


def _cost(bps: float) -> float:
    """A cost in bps as a fraction; negative or non-finite costs count as zero."""
    return bps / 10_000 if math.isfinite(bps) and bps > 0 else 0.0


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
    expiry close), ``fill_price`` / ``exit_price`` include slippage; prices are NaN where there
    is none.
    """

    status: NDArray[np.int8]
    fill: NDArray[np.int64]
    exit: NDArray[np.int64]
    held: NDArray[np.int64]
    fill_price: NDArray[np.float64]
    exit_level: NDArray[np.float64]
    exit_price: NDArray[np.float64]

    @property
    def closed(self) -> NDArray[np.bool_]:
        """Setups that exited (win, loss or expired)."""
        result: NDArray[np.bool_] = self.status < OPEN  # WIN, LOSS and EXPIRED are below OPEN
        return result


def simulate(
    ohlc: NDArray[np.float64],
    signal: NDArray[np.int64],
    buy: NDArray[np.bool_],
    stop: NDArray[np.float64],
    target: NDArray[np.float64],
    *,
    expiry_bars: int,
    slippage_bps: float = 0.0,
    usable: NDArray[np.bool_] | None = None,
) -> Simulated:
    """Follow every setup (signal row, side, stop, target) over ``ohlc`` rows by the rules above.

    ``signal`` is each setup's signal row (−1: before the first row); its position fills on the
    first usable row after it. Vectorised over setups × bars, in chunks of ``_CHUNK_CELLS``
    cells; ``usable`` may pass ``ohlc``'s usable rows when the caller has them.
    """
    import numpy as np

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
    slip = _cost(slippage_bps)

    status = np.full(count_setups, UNFILLED, dtype=np.int8)
    at = np.zeros(count_setups, dtype=np.int64)  # position in ``rows`` of the exit bar
    held = np.zeros(count_setups, dtype=np.int64)
    level = np.full(count_setups, np.nan)
    steps = np.arange(horizon)
    filled = np.flatnonzero(count > 0)
    per_chunk = max(1, _CHUNK_CELLS // horizon)
    for start in range(0, len(filled), per_chunk):
        j = filled[start : start + per_chunk]
        n = count[j]
        inside = steps < n[:, None]
        pos = np.minimum(first[j, None] + steps, len(rows) - 1)
        longs, s, t = buy[j, None], stop[j, None], target[j, None]
        highs, lows = h[pos], lo[pos]
        # NaN stop or target compare False: that exit simply never triggers.
        with np.errstate(invalid="ignore"):
            stop_hit = np.where(longs, lows <= s, highs >= s) & inside
            target_hit = np.where(longs, highs >= t, lows <= t) & inside
        hit = stop_hit | target_hit
        closed = hit.any(axis=1)
        k = np.where(closed, hit.argmax(axis=1), n - 1)  # the exit bar, or the last bar seen
        # Both in one bar: the stop counts first.
        loss = closed & stop_hit[np.arange(len(j)), k]
        win = closed & ~loss
        expired = ~closed & (n == horizon)
        exit_at = first[j] + k
        # The level hit, or the open of a bar that opened beyond it: a long's stop and a
        # short's target exit at the lower of the two, the others at the higher.
        touched = np.where(loss, stop[j], target[j])
        opens = o[exit_at]
        gap = np.where(buy[j] == loss, np.minimum(opens, touched), np.maximum(opens, touched))
        level[j] = np.where(closed, gap, np.where(expired, c[exit_at], np.nan))
        status[j] = np.where(loss, LOSS, np.where(win, WIN, np.where(expired, EXPIRED, OPEN)))
        at[j], held[j] = exit_at, k + 1

    fill_bar, exit_bar = np.full(count_setups, -1), np.full(count_setups, -1)
    fill_price = np.full(count_setups, np.nan)
    fill_bar[filled], exit_bar[filled] = rows[first[filled]], rows[at[filled]]
    fill_price[filled] = o[first[filled]] * (1 + sign[filled] * slip)
    return Simulated(
        status=status,
        fill=fill_bar,
        exit=exit_bar,
        held=held,
        fill_price=fill_price,
        exit_level=level,
        exit_price=level * (1 - sign * slip),
    )


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
    fee_bps: float = 0.0,
    slippage_bps: float = 0.0,
) -> PositionOutcome:
    """Follow a position opened after bar ``signal_bar_ts`` (ms) over ``candles`` known so far.

    ``candles`` is a candle frame; bars at or before the signal bar are ignored, so passing the
    whole history is safe. With no usable later bar the position is ``open`` and unfilled.
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
    fee_bps: float = 0.0,
    slippage_bps: float = 0.0,
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
    sim = simulate(
        rows[:limit],
        np.array([-1]),
        np.array([buy]),
        np.array([stop], dtype=np.float64),
        np.array([target], dtype=np.float64),
        expiry_bars=horizon,
        slippage_bps=slippage_bps,
        usable=usable,
    )
    if sim.status[0] == UNFILLED:
        return PositionOutcome(status="open")
    status = _STATUS[int(sim.status[0])]
    o, h, lo = rows[:limit][usable][:horizon, :3].T
    sign = 1.0 if buy else -1.0
    fee = _cost(fee_bps)
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
            exit_price = raw * (1 - sign * _cost(slippage_bps))

    risk_unit = _risk_unit(sign, fill, stop, signal_entry)
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

    net_unit = sign * (exit_price - fill) - fee * (fill + exit_price)
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


def _risk_unit(sign: float, fill: float, stop: float, signal_entry: float) -> float | None:
    """One R per unit: |fill - stop|, or the planned |entry - stop| if the fill is past the stop."""
    actual = sign * (fill - stop)
    if math.isfinite(actual) and actual > 0:
        return actual
    planned = abs(signal_entry - stop)
    if math.isfinite(planned) and planned > 0:
        return planned
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
