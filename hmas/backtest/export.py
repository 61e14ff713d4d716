"""``--export DIR``: a run's trades and equity curve as JSON and CSV, and the run itself.

Files written (each replaced if present): ``run.json`` (everything ``--json`` prints),
``trades.json`` and ``trades.csv`` (one row per trade), ``equity.json`` and ``equity.csv``
(one row per bar: equity marked to market at the close, drawdown, positions held).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hmas.errors import UsageError

if TYPE_CHECKING:
    from hmas.backtest.run import BacktestResult

FILES = ("run.json", "trades.json", "trades.csv", "equity.json", "equity.csv")
TRADE_COLUMNS = (
    "id",
    "symbol",
    "side",
    "signal_time",
    "entry",
    "stop",
    "target",
    "size",
    "equity_before",
    "fill_time",
    "fill_price",
    "exit_time",
    "exit_price",
    "status",
    "exit_reason",
    "bars_held",
    "r_multiple",
    "pnl_money",
    "pnl_pct",
    "mae_r",
    "mfe_r",
    "fee_bps",
    "slippage_bps",
    "fees",
    "slippage",
    "p_win",
    "expected_value_r",
    "reward_risk",
    "signal_ts",
    "fill_ts",
    "exit_ts",
)
EQUITY_COLUMNS = ("time", "ts", "equity", "drawdown", "positions")


def check_dir(path: Path) -> Path:
    """The export directory, usable or a ``UsageError`` (checked before a run starts)."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"--export {path} is a file; give a directory (it is created if missing)")
    parent = path if path.exists() else path.parent
    if not parent.exists():
        raise UsageError(
            f"--export {path}: the directory {parent} does not exist; create it or give another"
        )
    return path


def equity_rows(result: BacktestResult) -> list[dict[str, Any]]:
    """The curve bar by bar (the bars' open times; equity at their close)."""
    from hmas.backtest.data import iso

    curve = result.curve
    return [
        {
            "time": iso(int(ts)),
            "ts": int(ts),
            "equity": round(float(eq), 6),
            "drawdown": round(float(dd), 8),
            "positions": int(n),
        }
        for ts, eq, dd, n in zip(
            curve.ts.tolist(),
            curve.equity.tolist(),
            curve.drawdown.tolist(),
            curve.exposure.tolist(),
            strict=True,
        )
    ]


def _csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})


def write(result: BacktestResult, directory: Path) -> list[Path]:
    """Write the run's files into ``directory`` (created if missing); return their paths."""
    check_dir(directory)
    try:
        directory.mkdir(exist_ok=True)
        paths = [directory / name for name in FILES]
        equity = equity_rows(result)
        paths[0].write_text(json.dumps(result.as_dict(), indent=2) + "\n", encoding="utf-8")
        paths[1].write_text(json.dumps(result.trades, indent=2) + "\n", encoding="utf-8")
        _csv(paths[2], TRADE_COLUMNS, result.trades)
        paths[3].write_text(json.dumps(equity) + "\n", encoding="utf-8")
        _csv(paths[4], EQUITY_COLUMNS, equity)
    except OSError as exc:
        raise UsageError(
            f"--export {directory}: cannot write there ({exc.strerror or exc}); "
            "give a writable directory"
        ) from None
    return paths
