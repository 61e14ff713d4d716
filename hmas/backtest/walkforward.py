"""Walk-forward: the range in N consecutive windows, each decided on base rates frozen at its
start, so what the decision learns from history comes only from the bars before the window.

The decision learns one thing from history: the rationale's base rates (the measured outcomes
of comparable setups, which give the mother's probability and EV). In an ordinary backtest
they are already causal (each bar counts setups resolved before it). A walk-forward window
``k`` starting at ``t_k`` runs with ``rationale.base_rate_cutoff = t_k``: on every bar of the
window the base rate of a setup's group is the one known before ``t_k`` (setups opened at
most ``rationale.base_rate_lookback`` before ``t_k`` and resolved on a bar opening before it),
frozen for the whole window (``hmas.agents.rationale``; the same code path as live, where the
setting does the same). Each window is a backtest of its own bars on a fresh paper account,
all on candles read once (``hmas.backtest.compare.load_once``).

Pooled figures: trades, approvals and wins summed; the expectancy over every closed trade of
every window (mean and 95% bootstrap interval); the Brier score over every resolved proposal
(the windows' scores weighted by their counts: exact, a Brier score is a mean) against the
constant forecast of the pooled rate; the return of the windows chained (each window's
return compounded on the last), and the maximum drawdown of that chained curve.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hmas.errors import UsageError
from hmas.stats import mean_ci

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.backtest.data import Series
    from hmas.backtest.engine import Progress
    from hmas.backtest.run import BacktestRequest, BacktestResult
    from hmas.settings import Settings


def bounds(series: Sequence[Series], n: int) -> list[tuple[int, int]]:
    """``n`` consecutive windows ``[start, end)`` (ms) of equal length over the simulated bars
    of ``series``, on bar boundaries; UsageError when ``n`` < 2 or a window holds no bar of a
    symbol."""
    import numpy as np
    import pandas as pd

    from hmas.backtest.data import iso
    from hmas.market import timeframe_ms

    if n < 2:
        raise UsageError(f"--walk-forward needs at least 2 windows, got {n}")
    step = timeframe_ms(series[0].timeframe)
    start = min(s.first for s in series)
    end = max(s.last for s in series) + step
    total = (end - start) // step
    if total < n:
        raise UsageError(
            f"--walk-forward {n}: the range holds {total} bar slots, fewer than {n} windows; "
            "give fewer windows or a longer range"
        )
    cuts = [start + (k * total // n) * step for k in range(n)] + [end]
    out = list(itertools.pairwise(cuts))
    for s in series:
        ms = pd.DatetimeIndex(s.inputs.candles.index).as_unit("ms").asi8
        for k, (lo, hi) in enumerate(out, 1):
            inside = int(np.searchsorted(ms, hi, "left") - np.searchsorted(ms, max(lo, s.first)))
            if inside < 1:
                raise UsageError(
                    f"--walk-forward {n}: window {k} ({iso(lo)} to {iso(hi)}) holds no "
                    f"{s.symbol} bar; give fewer windows or a range without that gap"
                )
    return out


def cut(series: Series, lo: int, hi: int) -> Series:
    """The series with its simulated bars cut to ``[lo, hi)`` (the candles before stay)."""
    import numpy as np
    import pandas as pd

    from hmas.backtest.data import Series
    from hmas.decision.history import span

    index = pd.DatetimeIndex(series.inputs.candles.index)
    ms = index.as_unit("ms").asi8
    first = int(np.searchsorted(ms, max(lo, series.first), "left"))
    stop = int(np.searchsorted(ms, hi, "left"))
    return Series(
        symbol=series.symbol,
        exchange=series.exchange,
        timeframe=series.timeframe,
        source=series.source,
        inputs=span(series.inputs, index[0], index[stop - 1]),
        first=int(ms[first]),
        last=int(ms[stop - 1]),
        bars=stop - first,
        warmup_bars=first,
    )


def _figures(result: BacktestResult) -> dict[str, Any]:
    m = result.metrics
    proposals = (m.get("calibration") or {}).get("proposals") or {}
    return {
        "trades": m.get("trades"),
        "closed_trades": m.get("closed_trades"),
        "approvals": m.get("candidates"),
        "wins": m.get("wins"),
        "win_rate": m.get("win_rate"),
        "expectancy_r": m.get("expectancy_r"),
        "proposals": proposals.get("proposals"),
        "resolved_proposals": proposals.get("count"),
        "brier": proposals.get("brier"),
        "brier_constant": proposals.get("brier_constant"),
        "total_return": m.get("total_return"),
        "max_drawdown": m.get("max_drawdown"),
    }


@dataclass
class Window:
    """One test window and its run."""

    number: int
    start: int
    end: int
    result: BacktestResult

    def as_dict(self) -> dict[str, Any]:
        from hmas.backtest.data import iso

        return {
            "window": self.number,
            "start": iso(self.start),
            "end": iso(self.end),
            "base_rate_cutoff": iso(self.start),
            "bars": self.result.bars,
            "id": self.result.id,
            "config_hash": self.result.config_hash,
            **_figures(self.result),
        }


def pooled(windows: Sequence[Window]) -> dict[str, Any]:
    """The windows' out-of-sample figures pooled (module docstring)."""
    import numpy as np

    from hmas.backtest.ablation import closed_r

    figures = [_figures(w.result) for w in windows]

    def total(key: str) -> int:
        return sum(int(f[key] or 0) for f in figures)

    closed = total("closed_trades")
    # (count, Brier, realised rate) of each window's resolved proposals.
    scored = []
    for w in windows:
        table = (w.result.metrics.get("calibration") or {}).get("proposals") or {}
        if table.get("brier") is not None and table.get("count"):
            scored.append((int(table["count"]), table["brier"], table["base_rate"]))
    count = sum(c for c, _, _ in scored)
    brier = brier_constant = None
    if count:
        brier = sum(c * b for c, b, _ in scored) / count
        rate = sum(c * r for c, _, r in scored) / count
        brier_constant = rate * (1 - rate)
    # The windows chained: each starts from the equity the one before ended with.
    factor = 1.0
    peak = 1.0
    worst = 0.0
    finite = True
    for w in windows:
        start = float(w.result.metrics.get("starting_equity") or 0.0)
        path = np.asarray(w.result.curve.equity, dtype=np.float64) / start * factor
        if not np.isfinite(path).all():
            finite = False
            break
        running = np.maximum.accumulate(np.concatenate([[peak], path]))
        worst = max(worst, float(np.max(1 - np.concatenate([[peak], path]) / running)))
        peak = float(running[-1])
        factor = float(path[-1]) if len(path) else factor
    expectancy = mean_ci([r for w in windows for r in closed_r(w.result)])
    return {
        "windows": len(windows),
        "bars": sum(w.result.bars for w in windows),
        "trades": total("trades"),
        "closed_trades": closed,
        "approvals": total("approvals"),
        "wins": total("wins"),
        "win_rate": round(total("wins") / closed, 4) if closed else None,
        "expectancy_r": expectancy.as_dict(),
        "proposals": total("proposals"),
        "resolved_proposals": count,
        "brier": brier,
        "brier_constant": brier_constant,
        "total_return": round(factor - 1, 6) if finite else None,
        "max_drawdown": round(worst, 6) if finite else None,
        "unknown": {}
        if finite
        else {"total_return": "an equity curve is not finite", "max_drawdown": "idem"},
    }


@dataclass
class WalkForward:
    """The windows, each run on base rates frozen at its start, and the pooled figures."""

    windows: list[Window]
    data_hash: str
    series: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "data_hash": self.data_hash,
            "series": self.series,
            "base_rates": "frozen at each window's start: setups opened within "
            "rationale.base_rate_lookback before it and resolved before it",
            "windows": [w.as_dict() for w in self.windows],
            "pooled": pooled(self.windows),
        }


def walk_forward(
    engine: Engine,
    settings: Settings,
    request: BacktestRequest,
    n: int,
    *,
    progress: Progress | None = None,
    store: bool = True,
) -> WalkForward:
    """Split the range into ``n`` windows and run each on base rates frozen at its start."""
    from hmas.backtest.compare import Candidate, changed, load_once
    from hmas.backtest.data import data_hash
    from hmas.backtest.run import backtest_series, preflight

    if request.strategy != "rules":
        raise UsageError(
            "--walk-forward re-estimates the rules' base rates per window; the reference "
            "strategy has none: use --strategy rules"
        )
    if settings.uses_llm():
        raise UsageError("--walk-forward runs on the rules engine only; drop --engine llm")
    if n < 2:
        raise UsageError(f"--walk-forward needs at least 2 windows, got {n}")
    preflight(settings, request)
    series = load_once(engine, [Candidate("walk-forward", settings)], request)
    cuts = bounds(series, n)
    windows = []
    for k, (lo, hi) in enumerate(cuts, 1):
        frozen = changed(
            settings, "rationale", base_rate_cutoff=datetime.fromtimestamp(lo / 1000, tz=UTC)
        )
        part = [cut(s, lo, hi) for s in series]
        result = backtest_series(part, frozen, request, progress=progress)
        if store:
            from hmas.backtest.runs import save_run

            result.id = save_run(engine, result)
        windows.append(Window(k, lo, hi, result))
    return WalkForward(windows, data_hash(series), [s.as_dict() for s in series])
