"""The report's PNGs (matplotlib, Agg): equity, drawdown, reliability, LLM costs.

Each figure is drawn from the report's dict (``analyst.build``), in the backtest plot's
colours, and returned as PNG bytes; a figure with nothing to draw is skipped with the reason
(``figures`` returns the reasons apart), never drawn empty.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from matplotlib.figure import Figure

GREEN, RED, GREY, BLUE = "#1a9850", "#d73027", "#7f7f7f", "#2c7bb6"
NAMES = ("equity", "drawdown", "reliability", "costs")
DPI = 100


def _figure(width: float, height: float) -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def _title(report: dict[str, Any], what: str) -> str:
    p = report["period"]
    span = f"{(p['since'] or 'start')[:16]} to {(p['until'] or 'now')[:16]}"
    sym = f" {p['symbol']}" if p["symbol"] else ""
    sample = "  [SAMPLE DATA]" if report["performance"]["sample_data_signals"] else ""
    return f"{what}{sym}, {span}{sample}"


def _dates(points: list[dict[str, Any]]) -> Any:
    import numpy as np

    return np.array([p["ts"] for p in points], dtype="datetime64[ms]")


def _date_axis(ax: Any) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    ax.set_xlabel("UTC")
    ax.grid(alpha=0.25)


def equity(report: dict[str, Any]) -> bytes:
    """Realised paper equity after each close, against the period's starting equity."""
    from matplotlib.ticker import FuncFormatter

    eq = report["equity"]
    points = eq["points"]
    fig = _figure(11, 3.6)
    ax = fig.subplots()
    dates = _dates(points)
    values = [p["equity"] for p in points]
    start = eq["period_start_equity"]
    ax.step(dates, values, where="post", color=BLUE, linewidth=1.4, label="realised equity")
    ax.scatter(dates[1:], values[1:], s=12, color=BLUE, zorder=3)
    ax.axhline(start, color=GREY, linewidth=0.8, linestyle="--", label=f"start {start:,.0f}")
    ax.fill_between(dates, values, start, step="post", color=BLUE, alpha=0.08, linewidth=0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    ax.set_ylabel(f"equity ({eq['engine']} account)")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.set_title(_title(report, "Paper equity (realised)"), fontsize=11, loc="left")
    _date_axis(ax)
    return _png(fig)


def drawdown(report: dict[str, Any]) -> bytes:
    """The realised equity's fall from its running peak, in percent."""
    eq = report["equity"]
    points = eq["points"]
    fig = _figure(11, 2.4)
    ax = fig.subplots()
    dates = _dates(points)
    dd = [-100 * p["drawdown"] for p in points]
    ax.fill_between(dates, dd, 0, step="post", color=RED, alpha=0.35, linewidth=0)
    ax.step(dates, dd, where="post", color=RED, linewidth=0.8)
    worst = min(range(len(dd)), key=lambda i: dd[i])
    if dd[worst] < 0:
        ax.annotate(
            f"max {-dd[worst]:.2f}%",
            (dates[worst], dd[worst]),
            xytext=(-6, 4),
            textcoords="offset points",
            ha="right",
            fontsize=8,
            color=RED,
        )
    ax.set_ylabel("drawdown %")
    ax.set_title(_title(report, "Drawdown from the running peak"), fontsize=11, loc="left")
    _date_axis(ax)
    return _png(fig)


def reliability(report: dict[str, Any]) -> bytes:
    """Stated p_win, confidence and quality by bucket against the realised win rate."""
    fig = _figure(6.2, 5.6)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color=GREY, linewidth=0.8, linestyle="--", label="perfect calibration")
    colours = {"p_win": BLUE, "confidence": GREEN, "quality": "#fdae61"}
    for measure, colour in colours.items():
        table = report["calibration"][measure]
        full = [b for b in table["buckets"] if b["count"]]
        if not full:
            continue
        xs = [b["stated_mean"] for b in full]
        ys = [b["realised_rate"] for b in full]
        sizes = [20 + 12 * b["count"] for b in full]
        brier = table["brier"]
        scale = table.get("scale", 1.0)
        name = measure if scale == 1.0 else f"{measure}/{scale:g}"
        label = f"{name} (n={table['count']}, Brier {brier:.3f})"
        ax.plot(xs, ys, color=colour, linewidth=1.0, alpha=0.8)
        ax.scatter(xs, ys, s=sizes, color=colour, alpha=0.7, label=label, zorder=3)
        for x, y, b in zip(xs, ys, full, strict=True):
            ax.annotate(
                str(b["count"]),
                (x, y),
                xytext=(4, -10),
                textcoords="offset points",
                fontsize=7,
                color=colour,
            )
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("stated (bucket mean)")
    ax.set_ylabel("realised win rate (target hit first)")
    ax.grid(alpha=0.25)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.set_title(_title(report, "Reliability"), fontsize=11, loc="left")
    return _png(fig)


def costs(report: dict[str, Any]) -> bytes:
    """LLM spend per UTC day, with the call count."""
    days = report["costs"]["by_day"]
    fig = _figure(11, 3.0)
    ax = fig.subplots()
    labels = [d["day"] for d in days]
    ax.bar(labels, [d["cost_usd"] for d in days], color=BLUE, alpha=0.8)
    for i, d in enumerate(days):
        ax.annotate(
            f"{d['calls']} call{'' if d['calls'] == 1 else 's'}",
            (i, d["cost_usd"]),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            fontsize=7,
            color=GREY,
        )
    ax.set_ylabel("USD")
    ax.grid(alpha=0.25, axis="y")
    if len(labels) > 12:
        ax.set_xticks(range(0, len(labels), max(1, len(labels) // 12)))
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    ax.set_title(_title(report, "LLM spend per UTC day"), fontsize=11, loc="left")
    return _png(fig)


def skipped(report: dict[str, Any]) -> dict[str, str]:
    """Each figure with nothing to draw, and why."""
    out: dict[str, str] = {}
    if not report["equity"]["points"]:
        reason = report["equity"]["unknown"].get("equity") or "no position closed in the period"
        out["equity"] = out["drawdown"] = reason
    if not any(report["calibration"][m]["count"] for m in report["calibration"]):
        out["reliability"] = "no closed trade with a stated probability in the period"
    if not report["costs"]["by_day"]:
        out["costs"] = "no LLM call in the period"
    return out


def figures(report: dict[str, Any]) -> tuple[dict[str, bytes], dict[str, str]]:
    """``({name: png}, {name: why skipped})`` for every figure of ``NAMES``."""
    import matplotlib

    matplotlib.use("Agg")
    draw = {"equity": equity, "drawdown": drawdown, "reliability": reliability, "costs": costs}
    skip = skipped(report)
    return {n: draw[n](report) for n in NAMES if n not in skip}, skip


def check_dir(directory: Path) -> Path:
    """``--png DIR``, created if missing; ``UsageError`` when it is a file or cannot be made."""
    from hmas.report.artifacts import prepare

    return prepare(directory, "--png")


def write(pngs: dict[str, bytes], directory: Path) -> dict[str, str]:
    """Write ``<name>.png`` per figure into ``directory``; their paths."""
    from hmas.errors import UsageError
    from hmas.files import write_atomic

    paths = {}
    for name, data in pngs.items():
        path = directory / f"{name}.png"
        try:
            write_atomic(path, data)
        except OSError as exc:
            raise UsageError(
                f"--png {directory}: cannot write {path.name} ({exc.strerror or exc}); "
                "give a writable directory"
            ) from None
        paths[name] = str(path)
    return paths
