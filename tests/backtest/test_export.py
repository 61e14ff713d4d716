"""``--export DIR``: the run, its trades and its equity curve as JSON and CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from hmas.backtest import export
from hmas.backtest.run import BacktestRequest, run_backtest
from hmas.errors import UsageError
from tests.backtest.conftest import permissive


def test_the_files_hold_every_trade_and_every_bar(sample_engine: Any, tmp_path: Path) -> None:
    result = run_backtest(sample_engine, permissive(), BacktestRequest(["ETH-USD"], "1h"))
    paths = export.write(result, tmp_path / "out")
    assert [p.name for p in paths] == list(export.FILES)
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run == json.loads(json.dumps(result.as_dict()))
    trades = json.loads((tmp_path / "out" / "trades.json").read_text())
    assert trades == result.trades and len(trades) > 0
    with (tmp_path / "out" / "trades.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(export.TRADE_COLUMNS)
    assert [int(r["id"]) for r in rows] == [t["id"] for t in trades]
    assert float(rows[0]["pnl_money"]) == pytest.approx(trades[0]["pnl_money"])
    equity = json.loads((tmp_path / "out" / "equity.json").read_text())
    assert len(equity) == result.bars == 1500
    assert equity[-1]["equity"] == pytest.approx(result.metrics["final_equity"], abs=0.01)
    with (tmp_path / "out" / "equity.csv").open() as handle:
        bars = list(csv.DictReader(handle))
    assert list(bars[0]) == list(export.EQUITY_COLUMNS) and len(bars) == 1500


def test_an_export_path_that_is_a_file_or_under_no_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError) as info:
        export.check_dir(tmp_path / "file")
    assert str(info.value) == (
        f"--export {tmp_path / 'file'} is a file; give a directory (it is created if missing)"
    )
    with pytest.raises(UsageError) as info:
        export.check_dir(tmp_path / "no" / "such")
    assert str(info.value) == (
        f"--export {tmp_path / 'no' / 'such'}: the directory {tmp_path / 'no'} does not exist; "
        "create it or give another"
    )
