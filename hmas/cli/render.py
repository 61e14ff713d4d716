"""All terminal output: Rich tables and progress on a terminal, plain text or JSON otherwise.

The only module of hmas that imports Rich (enforced by ruff's banned-api rule).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

    from hmas.data.fetch import FetchResult
    from hmas.data.gaps import Gap
    from hmas.store.candles import SeriesInfo

SAMPLE_NOTE = "SAMPLE DATA: synthetic offline market, not real prices"


def out() -> Console:
    """Console on stdout."""
    return Console(soft_wrap=True, highlight=False)


def err() -> Console:
    """Console on stderr, for progress, notes and logs."""
    return Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout and nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def note(message: str) -> None:
    """A one-line note on stderr."""
    err().print(message, markup=False)


def _fmt_price(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if abs(value) >= 100:
        return f"{value:,.2f}"
    if abs(value) >= 1:
        return f"{value:,.4f}"
    return f"{value:.8f}"


def _short(ms: int | None) -> str | None:
    from hmas.data.market import ms_to_datetime

    return None if ms is None else ms_to_datetime(ms).strftime("%Y-%m-%d %H:%M")


# --- fetch -------------------------------------------------------------------------------


@contextmanager
def fetch_progress(enabled: bool) -> Iterator[Any]:
    """A Rich progress bar per symbol on a terminal (stderr); a no-op callback otherwise."""
    console = err()
    if not enabled or not console.is_terminal:
        yield None
        return
    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:

        def update(symbol: str, done: int, total: int | None) -> None:
            if symbol not in tasks:
                tasks[symbol] = progress.add_task(symbol, total=total)
            progress.update(tasks[symbol], completed=done, total=max(total or 0, done))

        yield update


def fetch_summary(results: list[FetchResult]) -> None:
    """The end-of-fetch table: candles added, first/last timestamp, gaps found."""
    table = Table(title="Fetched candles")
    for col in ("symbol", "exchange", "tf", "source", "received", "added", "first", "last", "gaps"):
        table.add_column(col, justify="right" if col in ("received", "added", "gaps") else "left")
    for r in results:
        d = r.as_dict()
        gaps = f"{d['gaps']} ({d['missing_candles']} missing)" if d["gaps"] else "0"
        table.add_row(
            r.symbol,
            r.exchange,
            r.timeframe,
            "SAMPLE" if r.sample else r.source,
            str(r.received),
            str(r.added),
            _short(r.first_ts) or "-",
            _short(r.last_ts) or ("up to date" if r.up_to_date else "-"),
            gaps,
        )
    console = out()
    console.print(table)
    if any(r.sample for r in results):
        console.print(f"[yellow]{SAMPLE_NOTE}[/yellow]")


# --- candles -----------------------------------------------------------------------------


def candles_table(frame: pd.DataFrame, info: SeriesInfo) -> None:
    """The stored candles of one series."""
    import pandas as pd

    sample = info.source == "sample"
    title = f"{info.symbol} {info.timeframe} on {info.exchange}: {info.count} stored"
    table = Table(title=title + (" (SAMPLE DATA)" if sample else ""))
    for col in ("ts (UTC)", "open", "high", "low", "close", "volume"):
        table.add_column(col, justify="left" if col.startswith("ts") else "right")
    stamps = pd.DatetimeIndex(frame.index).strftime("%Y-%m-%d %H:%M")
    for ts, (o, h, low, c, v) in zip(stamps, frame.to_numpy().tolist(), strict=True):
        table.add_row(ts, *(_fmt_price(float(x)) for x in (o, h, low, c)), f"{float(v):,.4f}")
    console = out()
    console.print(table)
    if sample:
        console.print(f"[yellow]{SAMPLE_NOTE}[/yellow]")


def gaps_table(gaps: list[Gap], info: SeriesInfo) -> None:
    """The gaps of one series."""
    console = out()
    if not gaps:
        console.print(f"No gaps in {info.symbol} {info.timeframe} on {info.exchange}.")
        return
    table = Table(title=f"Gaps in {info.symbol} {info.timeframe} on {info.exchange}")
    table.add_column("first missing (UTC)")
    table.add_column("last missing (UTC)")
    table.add_column("missing", justify="right")
    for g in gaps:
        d = g.as_dict()
        table.add_row(str(d["first_missing"]), str(d["last_missing"]), str(d["missing"]))
    console.print(table)
    console.print(f"{len(gaps)} gap(s), {sum(g.missing for g in gaps)} missing candle(s).")


def series_table(series: list[SeriesInfo]) -> None:
    """Every stored series."""
    from hmas.data.market import ms_to_datetime

    table = Table(title="Stored series")
    for col in ("symbol", "exchange", "tf", "source", "candles", "first", "last"):
        table.add_column(col, justify="right" if col == "candles" else "left")
    for s in series:
        table.add_row(
            s.symbol,
            s.exchange,
            s.timeframe,
            "SAMPLE" if s.source == "sample" else s.source,
            str(s.count),
            ms_to_datetime(s.first_ts).strftime("%Y-%m-%d %H:%M"),
            ms_to_datetime(s.last_ts).strftime("%Y-%m-%d %H:%M"),
        )
    out().print(table)


# --- config and db -----------------------------------------------------------------------


def config_table(data: dict[str, Any], source: str | None) -> None:
    """Settings as a two-column table (secrets already masked)."""
    table = Table(title="hmas configuration" + (f" (file: {source})" if source else ""))
    table.add_column("setting")
    table.add_column("value")

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            table.add_row(prefix, "" if value is None else str(value))

    walk("", data)
    out().print(table)


def key_values(title: str, data: dict[str, Any]) -> None:
    """A small key/value table."""
    table = Table(title=title, show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for k, v in data.items():
        table.add_row(k, "" if v is None else str(v))
    out().print(table)
