"""``--plot FILE``: a PNG of the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hmas.backtest import plot
from hmas.backtest.run import BacktestRequest, run_backtest
from hmas.errors import UsageError
from tests.backtest.conftest import permissive


def test_a_png_is_written(sample_engine: Any, tmp_path: Path) -> None:
    request = BacktestRequest(["BTC-USD", "ETH-USD"], "1h")
    result = run_backtest(sample_engine, permissive(), request, store=False)
    path = plot.write(result, tmp_path / "run.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000  # three panels and a chart per symbol, not an empty canvas


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("run.jpg", "--plot {p} must name a .png file, e.g. --plot backtest.png"),
        (
            "missing/run.png",
            "--plot {p}: the directory {d} does not exist; create it or give another",
        ),
    ],
)
def test_a_bad_plot_path_is_refused(tmp_path: Path, name: str, message: str) -> None:
    path = tmp_path / name
    with pytest.raises(UsageError) as info:
        plot.check_file(path)
    assert str(info.value) == message.format(p=path, d=path.parent)
