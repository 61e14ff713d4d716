"""``--plot FILE``: a PNG of a run: each symbol's price with its trades, the equity, the drawdown.

Long series are drawn as a band per pixel column (the bucket's low to high) under the close,
so a year of minutes reads like a chart, not a smear. Entries are triangles at the fill (up:
long, down: short), exits are dots joined to their entry, green for a profit and red for a
loss; the equity is marked to market at every close, the drawdown is from the running peak.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hmas.errors import UsageError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from hmas.backtest.run import BacktestResult

#: Price panels drawn at most (the others are named in the title).
MAX_SYMBOLS = 4
#: Points per line before long series are drawn as bands.
MAX_POINTS = 3000
GREEN, RED, GREY, BLUE = "#1a9850", "#d73027", "#7f7f7f", "#2c7bb6"


def check_file(path: Path) -> Path:
    """The PNG to write, usable or a ``UsageError`` (checked before a run starts)."""
    if path.suffix.lower() != ".png":
        raise UsageError(f"--plot {path} must name a .png file, e.g. --plot backtest.png")
    if path.is_dir():
        raise UsageError(f"--plot {path} is a directory; give a file name ending in .png")
    if not path.parent.exists():
        raise UsageError(
            f"--plot {path}: the directory {path.parent} does not exist; create it or give another"
        )
    return path


def _dates(ms: NDArray[np.int64]) -> NDArray[Any]:
    return ms.astype("datetime64[ms]")


def _bands(
    ts: NDArray[np.int64], ohlc: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(times, lows, highs, closes) in at most ``MAX_POINTS`` buckets."""
    import numpy as np

    n = len(ts)
    size = max(1, -(-n // MAX_POINTS))
    if size == 1:
        return ts, ohlc[:, 2], ohlc[:, 1], ohlc[:, 3]
    edges = np.arange(0, n, size)
    low = np.fmin.reduceat(ohlc[:, 2], edges)
    high = np.fmax.reduceat(ohlc[:, 1], edges)
    last = np.minimum(edges + size - 1, n - 1)
    return ts[last], low, high, ohlc[last, 3]


def _fmt_pct(value: Any) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def write(result: BacktestResult, path: Path) -> Path:
    """Draw the run into ``path`` (a PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import FuncFormatter

    from hmas.backtest.data import iso

    check_file(path)
    thousands = FuncFormatter(lambda value, _pos: f"{value:,.0f}")
    plans = result.plans[:MAX_SYMBOLS]
    m = result.metrics
    curve = result.curve
    heights = [3.0] * len(plans) + [2.2, 1.3]
    fig, axes = plt.subplots(
        len(heights),
        1,
        figsize=(13, sum(heights) + 1.2),
        sharex=True,
        gridspec_kw={"height_ratios": heights, "hspace": 0.08},
    )
    try:
        sample = " [SAMPLE DATA: synthetic market]" if result.sample_data else ""
        more = len(result.plans) - len(plans)
        extra = f" (+{more} more symbols not drawn)" if more > 0 else ""
        sharpe = m.get("sharpe")
        fig.suptitle(
            f"hmas backtest {result.id or ''}: {result.strategy} on "
            f"{', '.join(result.symbols)} {result.timeframe}{extra}, "
            f"{iso(result.start_ts)[:10]} to {iso(result.end_ts)[:10]}{sample}\n"
            f"return {_fmt_pct(m.get('total_return'))}  ·  max drawdown "
            f"{_fmt_pct(m.get('max_drawdown'))}  ·  Sharpe "
            f"{'n/a' if sharpe is None else f'{sharpe:.2f}'}  ·  {m['trades']} trades, "
            f"win rate {_fmt_pct(m.get('win_rate'))}",
            fontsize=12,
            x=0.01,
            ha="left",
        )
        for ax, plan in zip(axes, plans, strict=False):
            t, low, high, close = _bands(plan.ts, plan.ohlc)
            dates = _dates(t)
            if len(t) < len(plan.ts):
                ax.fill_between(dates, low, high, color=GREY, alpha=0.25, linewidth=0)
            ax.plot(dates, close, color="#333333", linewidth=0.7)
            ax.set_ylabel(f"{plan.series.symbol}\nprice")
            mine = [x for x in result.simulation.trades if x.symbol == plan.series.symbol]
            for trade in mine:
                if trade.fill_ts is None or trade.fill_price is None:
                    continue
                won = (trade.pnl_money or 0.0) > 0
                colour = GREEN if won else RED
                marker = "^" if trade.side == "BUY" else "v"
                start = _dates(np.array([trade.fill_ts]))[0]
                ax.scatter([start], [trade.fill_price], marker=marker, s=36, color=BLUE, zorder=3)
                if trade.exit_ts is not None and trade.exit_price is not None:
                    end = _dates(np.array([trade.exit_ts]))[0]
                    ax.plot(
                        [start, end],
                        [trade.fill_price, trade.exit_price],
                        color=colour,
                        linewidth=1.2,
                        zorder=2,
                    )
                    ax.scatter([end], [trade.exit_price], s=22, color=colour, zorder=3)
            ax.grid(alpha=0.25)
            ax.yaxis.set_major_formatter(thousands)
            sides = {t.side for t in mine}
            if "BUY" in sides:
                ax.scatter([], [], marker="^", color=BLUE, label="entry, long")
            if "SELL" in sides:
                ax.scatter([], [], marker="v", color=BLUE, label="entry, short")
            if mine:
                ax.plot([], [], color=GREEN, marker="o", markersize=4, label="exit, profit")
                ax.plot([], [], color=RED, marker="o", markersize=4, label="exit, loss")
            else:
                ax.plot([], [], color="none", label="no trade")
            ax.legend(loc="upper left", fontsize=8, ncols=4, frameon=False)
        equity_ax, dd_ax = axes[-2], axes[-1]
        dates = _dates(curve.ts + curve.bar_ms)
        start_equity = float(m.get("starting_equity") or curve.equity[0])
        equity_ax.plot(dates, curve.equity, color=BLUE, linewidth=1.0)
        equity_ax.axhline(start_equity, color=GREY, linewidth=0.8, linestyle="--")
        equity_ax.fill_between(
            dates,
            curve.equity,
            start_equity,
            where=curve.equity >= start_equity,
            color=GREEN,
            alpha=0.12,
            linewidth=0,
        )
        equity_ax.fill_between(
            dates,
            curve.equity,
            start_equity,
            where=curve.equity < start_equity,
            color=RED,
            alpha=0.12,
            linewidth=0,
        )
        # The yardstick: the first symbol bought and held with the starting equity.
        first = result.plans[0]
        at = np.searchsorted(first.ts, curve.ts).clip(0, len(first.ts) - 1)
        held = start_equity * first.ohlc[at, 3] / first.ohlc[0, 0]
        equity_ax.plot(
            dates, held, color=GREY, linewidth=0.8, label=f"buy & hold {first.series.symbol}"
        )
        equity_ax.plot([], [], color=BLUE, label="strategy (marked to market)")
        equity_ax.legend(loc="upper left", fontsize=8, ncols=2, frameon=False)
        equity_ax.set_ylabel("equity")
        equity_ax.yaxis.set_major_formatter(thousands)
        equity_ax.grid(alpha=0.25)
        dd_ax.fill_between(dates, -100 * curve.drawdown, 0, color=RED, alpha=0.35, linewidth=0)
        if len(curve.drawdown) and curve.drawdown.max() > 0:
            worst = int(curve.drawdown.argmax())
            dd_ax.annotate(
                f"max {100 * curve.drawdown[worst]:.1f}%",
                (dates[worst], -100 * curve.drawdown[worst]),
                xytext=(6, 4),
                textcoords="offset points",
                fontsize=8,
                color=RED,
            )
        limit = (result.config.get("risk") or {}).get("max_drawdown")
        if result.strategy == "rules" and isinstance(limit, float | int):
            dd_ax.axhline(-100 * limit, color=GREY, linewidth=0.8, linestyle="--")
            dd_ax.annotate(
                f"guardian's limit {100 * limit:g}%",
                (dates[0], -100 * limit),
                xytext=(2, 3),
                textcoords="offset points",
                fontsize=8,
                color=GREY,
            )
        dd_ax.set_ylabel("drawdown %")
        dd_ax.grid(alpha=0.25)
        locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
        dd_ax.xaxis.set_major_locator(locator)
        formatter = mdates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
        dd_ax.xaxis.set_major_formatter(formatter)
        dd_ax.set_xlabel("UTC")
        fig.savefig(path, dpi=110, bbox_inches="tight")
    except OSError as exc:
        raise UsageError(
            f"--plot {path}: cannot write there ({exc.strerror or exc}); give a writable path"
        ) from None
    finally:
        plt.close(fig)
    return path
