"""Every figure of a backtest, from its trades and its equity curve (docs/backtest.md).

The equity curve is marked to market at every bar's close of the union of the symbols' bars:
the book's realised equity (a closed trade counts at the close of its exit bar) plus each open
position's value at that close net of its entry fee (a symbol without a bar there keeps its
last close). Returns, Sharpe, Sortino and Calmar read the curve at each UTC day's last bar
(crypto trades every day: 365 days a year). A figure that cannot be measured is ``None`` and
its reason is in ``unknown``: the JSON never holds NaN or infinity.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hmas.backtest.data import iso, iso_many
from hmas.stats import calibration, mean_cis

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from hmas.backtest.engine import Simulation, Trade
    from hmas.backtest.strategy import Plan

DAY_MS = 86_400_000
DAYS_PER_YEAR = 365.0


@dataclass
class EquityCurve:
    """Equity marked to market at each bar's close (``ts``: the bars' open times, ms)."""

    ts: NDArray[np.int64]
    equity: NDArray[np.float64]
    #: Drawdown from the running peak (starting equity included), as a fraction (0.05 = 5 %).
    drawdown: NDArray[np.float64]
    #: Positions held over each bar (from the fill bar to the exit bar).
    exposure: NDArray[np.int64]
    bar_ms: int


def equity_curve(plans: Sequence[Plan], trades: Sequence[Trade], start: float) -> EquityCurve:
    """The mark-to-market equity curve of the trades over the plans' bars."""
    import numpy as np

    from hmas.market import timeframe_ms

    bar_ms = timeframe_ms(plans[0].series.timeframe)
    ts = plans[0].ts
    if len(plans) > 1 or not bool((np.diff(ts) > 0).all()):
        ts = np.unique(np.concatenate([p.ts for p in plans]))
    n = len(ts)
    realised = np.zeros(n)
    unrealised = np.zeros(n)
    held: NDArray[np.int64] = np.zeros(n, dtype=np.int64)
    closes: dict[str, NDArray[np.float64]] = {}
    for plan in plans:
        at = np.arange(n) if plan.ts is ts else np.searchsorted(ts, plan.ts)
        close = np.full(n, np.nan)
        close[at] = plan.ohlc[:, 3]
        # Forward-fill a symbol's last close over the bars it lacks.
        seen = np.where(np.isfinite(close), np.arange(n), 0)
        np.maximum.accumulate(seen, out=seen)
        closes[plan.series.symbol] = close[seen]
    filled = [t for t in trades if t.fill_ts is not None and t.fill_price is not None]
    if filled:
        # Every trade at once; ``np.add.at`` adds in trade order, as one trade after the
        # other would.
        names = list(closes)
        marks_of = np.stack([closes[name] for name in names])
        fields = ("symbol", "status", "fill_ts", "exit_ts", "pnl_money", "fill_price", "size")
        symbol, status, fill_ts, exit_ts, pnl_money, fill_price, units = zip(
            *map(operator.attrgetter(*fields), filled), strict=True
        )
        owner_symbol = np.array([names.index(name) for name in symbol], dtype=np.int64)
        closed = np.array(status, dtype=object) != "open"
        begin = np.searchsorted(ts, np.array(fill_ts, dtype=np.int64))
        exits = np.array([x if x is not None else 0 for x in exit_ts], dtype=np.int64)
        end = np.where(closed, np.searchsorted(ts, np.where(closed, exits, 0)), n)
        delta = np.zeros(n + 1, dtype=np.int64)
        np.add.at(delta, begin, 1)
        np.add.at(delta, np.maximum(begin, np.minimum(end + 1, n)), -1)
        held = np.cumsum(delta[:n])
        pnl = np.array([np.nan if x is None else x for x in pnl_money], dtype=np.float64)
        booked = closed & np.array([x is not None for x in pnl_money], dtype=bool)
        np.add.at(realised, end[booked], pnl[booked])
        fill = np.array(fill_price, dtype=np.float64)
        size = np.array(units, dtype=np.float64)
        exposure = np.array([t.sign for t in filled], dtype=np.float64) * size
        fee = np.array([max(t.fee_bps, 0.0) for t in filled], dtype=np.float64)
        entry_fee = fee / 10_000 * fill * size
        # Each trade's bars from its fill to its exit (exclusive), one after the other.
        lengths = end - begin
        owner = np.repeat(np.arange(len(filled)), lengths)
        offsets = np.repeat(begin - (np.cumsum(lengths) - lengths), lengths)
        bar = np.arange(len(owner)) + offsets
        marks = marks_of[owner_symbol[owner], bar]
        with np.errstate(invalid="ignore", over="ignore"):
            value = exposure[owner] * (marks - fill[owner]) - entry_fee[owner]
        np.add.at(unrealised, bar, np.where(np.isfinite(value), value, 0.0))
    equity = start + np.cumsum(realised) + unrealised
    peak = np.maximum.accumulate(np.maximum(equity, start))
    drawdown = np.where(peak > 0, 1 - equity / peak, 0.0)
    return EquityCurve(ts, equity, drawdown, held, bar_ms)


def _number(value: float | None, digits: int | None = None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits) if digits is not None else float(value)


class Figures:
    """A metrics mapping that records why a figure is ``None``."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.unknown: dict[str, str] = {}

    def put(self, name: str, value: float | None, reason: str, digits: int | None = None) -> None:
        number = _number(value, digits)
        self.values[name] = number
        if number is None:
            self.unknown[name] = reason


def _daily(curve: EquityCurve) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The curve at each UTC day's last bar: (day start in ms, equity)."""
    import numpy as np

    close_ts = curve.ts + curve.bar_ms
    day = (close_ts - 1) // DAY_MS  # a bar closing at midnight belongs to the day it ends
    last = np.flatnonzero(np.diff(day) != 0)
    last = np.append(last, len(day) - 1)
    return day[last] * DAY_MS, curve.equity[last]


def _drawdown_duration(curve: EquityCurve, start: float) -> tuple[int, int | None, int | None]:
    """The longest time under water: (bars, peak bar index or None, recovery bar or None)."""
    import numpy as np

    equity = curve.equity
    peak = np.maximum.accumulate(np.maximum(equity, start))
    under = np.concatenate([[False], equity < peak, [False]])
    change = np.diff(under.astype(np.int8))
    starts, ends = np.flatnonzero(change == 1), np.flatnonzero(change == -1)
    if not len(starts):
        return 0, None, None
    best = int(np.argmax(ends - starts))  # the first of the longest runs
    recovered = int(ends[best]) if ends[best] < len(equity) else None
    return int(ends[best] - starts[best]), int(starts[best]), recovered


def compute(
    plans: Sequence[Plan],
    sim: Simulation,
    curve: EquityCurve,
    start_equity: float,
    *,
    proposals: dict[str, Any] | None = None,
    agreement: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every metric of a run as JSON-able data (numbers or None, reasons in ``unknown``)."""
    import numpy as np

    trades = sim.trades
    closed = [t for t in trades if t.closed]
    wins = [t for t in closed if t.status == "win"]
    losses = [t for t in closed if t.status == "loss"]
    expired = [t for t in closed if t.status == "expired"]
    f = Figures()
    v = f.values
    v["trades"] = len(trades)
    v["closed_trades"] = len(closed)
    v["open_trades"] = len(trades) - len(closed)
    v["wins"], v["losses"], v["expired"] = len(wins), len(losses), len(expired)
    none_closed = "no closed trade"
    for name, group in (("win_rate", wins), ("loss_rate", losses), ("expiry_rate", expired)):
        f.put(name, len(group) / len(closed) if closed else None, none_closed, 4)
    final = float(curve.equity[-1])
    v["starting_equity"] = start_equity
    f.put("final_equity", final, "the equity curve is not finite", 2)
    f.put("realised_equity", sim.realised_equity, "the book's equity is not finite", 2)
    total = final / start_equity - 1
    f.put("total_return", total, "the equity curve is not finite", 6)
    span_ms = int(curve.ts[-1] + curve.bar_ms - curve.ts[0])
    years = span_ms / (DAYS_PER_YEAR * DAY_MS)
    v["span_days"] = round(span_ms / DAY_MS, 4)
    annual = None
    if final <= 0:
        reason = "the equity reached zero"
    else:
        annual = (final / start_equity) ** (1 / years) - 1
        reason = "the annualised return overflows (too short a span)"
    f.put("annualised_return", annual, reason, 6)

    days, daily_equity = _daily(curve)
    returns = np.diff(np.concatenate([[start_equity], daily_equity])) / np.concatenate(
        [[start_equity], daily_equity[:-1]]
    )
    v["days"] = len(returns)
    sharpe = sortino = None
    reason_sharpe = reason_sortino = "fewer than 2 days of returns"
    if len(returns) >= 2:
        sd = float(returns.std(ddof=1))
        mean = float(returns.mean())
        reason_sharpe = "the daily returns do not vary"
        if sd > 0:
            sharpe = mean / sd * math.sqrt(DAYS_PER_YEAR)
        downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)))
        reason_sortino = "no losing day"
        if downside > 0:
            sortino = mean / downside * math.sqrt(DAYS_PER_YEAR)
    f.put("sharpe", sharpe, reason_sharpe, 4)
    f.put("sortino", sortino, reason_sortino, 4)

    max_dd = float(curve.drawdown.max()) if len(curve.drawdown) else 0.0
    f.put("max_drawdown", max_dd, "the equity curve is not finite", 6)
    calmar = None
    reason_calmar = "no drawdown"
    if annual is None:
        reason_calmar = "no annualised return"
    elif max_dd > 0:
        calmar = annual / max_dd
    f.put("calmar", calmar, reason_calmar, 4)
    bars, peak_at, recovered_at = _drawdown_duration(curve, start_equity)
    v["max_drawdown_duration_bars"] = bars
    v["max_drawdown_duration_days"] = round(bars * curve.bar_ms / DAY_MS, 4)
    v["max_drawdown_from"] = None if peak_at is None else iso(int(curve.ts[peak_at]))
    v["max_drawdown_recovered"] = None if recovered_at is None else iso(int(curve.ts[recovered_at]))
    if bars and recovered_at is None:
        f.unknown["max_drawdown_recovered"] = "not recovered by the last bar"

    pnl = np.array([t.pnl_money for t in closed if t.pnl_money is not None], dtype=np.float64)
    gross_win = float(pnl[pnl > 0].sum())
    gross_loss = float(-pnl[pnl < 0].sum())
    f.put(
        "profit_factor",
        gross_win / gross_loss if gross_loss > 0 else None,
        "no losing trade" if closed else none_closed,
        4,
    )
    r = [t.r_multiple for t in closed if t.r_multiple is not None]
    # One bootstrap draw for both when they count as many trades (each as its own mean_ci).
    expectancy, average_pnl = mean_cis([r, pnl])
    v["expectancy_r"] = _ci(expectancy.as_dict(), f, "expectancy_r")
    v["average_pnl"] = _ci(average_pnl.as_dict(), f, "average_pnl")
    f.put("average_win_r", _mean([t.r_multiple for t in wins]), "no winning trade", 4)
    f.put("average_loss_r", _mean([t.r_multiple for t in losses]), "no losing trade", 4)
    f.put("average_bars_held", _mean([float(t.bars_held) for t in closed]), none_closed, 2)
    v["exposure"] = round(float((curve.exposure > 0).mean()), 6) if len(curve.exposure) else 0.0
    v["fees_paid"] = round(sum(t.fees for t in trades), 2)
    v["slippage_paid"] = round(sum(t.slippage for t in trades), 2)
    v["candidates"] = sim.candidates
    v["refused"] = sum(sim.refused_per_symbol.values())
    v["refusals"] = dict(sorted(sim.refusals.items()))
    v["unfilled_orders"] = sim.unfilled
    v["per_symbol"] = [_per_symbol(plan, trades, sim, start_equity) for plan in plans]
    v["monthly_returns"] = _monthly(curve, start_equity)
    v["equity_daily"] = [
        {"date": d[:10], "equity": round(e, 2)}
        for d, e in zip(iso_many(days.tolist()), daily_equity.tolist(), strict=True)
    ]
    v["calibration"] = {"trades": _calibration([t for t in closed], f, "calibration.trades")}
    if proposals is not None:
        v["calibration"]["proposals"] = proposals
    if agreement is not None:
        v["agreement"] = agreement
    v["unknown"] = f.unknown
    return v


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [x for x in values if x is not None and math.isfinite(x)]
    return sum(kept) / len(kept) if kept else None


def _ci(data: dict[str, Any], f: Figures, name: str) -> dict[str, Any]:
    if data["mean"] is None:
        f.unknown[name] = "no closed trade"
    elif data["ci_low"] is None:
        f.unknown[f"{name}.ci"] = "one trade gives no interval"
    return {k: (round(x, 6) if isinstance(x, float) else x) for k, x in data.items()}


def _calibration(trades: Sequence[Trade], f: Figures, name: str) -> dict[str, Any]:
    """Stated win probability against the realised target-first rate of closed trades."""
    stated = [t.p_win for t in trades if t.p_win is not None]
    won = [1.0 if t.status == "win" else 0.0 for t in trades if t.p_win is not None]
    table = calibration(stated, won).as_dict()
    if not stated:
        f.unknown[name] = "no closed trade with a stated win probability"
    return table


def _per_symbol(
    plan: Plan, trades: Sequence[Trade], sim: Simulation, start: float
) -> dict[str, Any]:
    mine = [t for t in trades if t.symbol == plan.series.symbol]
    closed = [t for t in mine if t.closed]
    wins = sum(1 for t in closed if t.status == "win")
    pnl = sum(t.pnl_money or 0.0 for t in closed)
    avg_r = _mean([t.r_multiple for t in closed])
    return {
        "symbol": plan.series.symbol,
        "exchange": plan.series.exchange,
        "bars": plan.series.bars,
        "trades": len(mine),
        "closed": len(closed),
        "wins": wins,
        "win_rate": round(wins / len(closed), 4) if closed else None,
        "average_r": None if avg_r is None else round(avg_r, 4),
        "pnl": round(pnl, 2),
        "return_contribution": round(pnl / start, 6),
        "fees": round(sum(t.fees for t in mine), 2),
        "refused": sim.refused_per_symbol.get(plan.series.symbol, 0),
    }


def _monthly(curve: EquityCurve, start: float) -> list[dict[str, Any]]:
    """The return of each calendar month (UTC) from the equity at the months' last bars."""
    import numpy as np

    close = (curve.ts + curve.bar_ms - 1).astype("datetime64[ms]")
    months = close.astype("datetime64[M]")
    last = np.append(np.flatnonzero(months[1:] != months[:-1]), len(months) - 1)
    names = np.datetime_as_string(months[last], unit="M").tolist()
    out = []
    before = start
    for i, month in zip(last.tolist(), names, strict=True):
        value = float(curve.equity[i])
        change = value / before - 1 if before > 0 else None
        out.append(
            {
                "month": month,
                "return": None if change is None else round(change, 6),
                "equity": round(value, 2),
            }
        )
        before = value
    return out
