"""The reference strategy in hmas's engine beside backtesting.py, on the same real bars.

Both run in this process on the real Coinbase BTC/USD hourly file (``../shared/data``): hmas's
``run_backtest(strategy="reference")`` on a store holding the file (its range read, indicators,
the walk on the paper book, the metrics; no store write), and backtesting.py's
``FractionalBacktest`` of the same strategy (``tests/backtest/test_reference.py`` shows their
trades are identical). Each is timed warm, min / median / max of several runs, alternating,
and the ratio of the medians printed (DESIGN §9: at least 20x faster than backtesting.py).
vectorbt is not a dependency of hmas's environments, so its figure is not measured here.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import report

ROOT = Path(__file__).resolve().parent.parent
BTC_FILE = ROOT.parent / "shared" / "data" / "ohlcv" / "coinbase_btc_usd_1h.csv"
RUNS = 5


def _hmas(tmp: Path) -> tuple[Callable[[], object], Any]:
    from hmas.backtest.run import BacktestRequest, run_backtest
    from hmas.data.files import read_ohlcv_file
    from hmas.market import index_to_ms
    from hmas.settings import load_settings
    from hmas.store import open_store
    from hmas.store.candles import CandleStore

    settings = load_settings(db_url=f"sqlite:///{tmp / 'ref.db'}")
    engine = open_store(settings)
    frame = read_ohlcv_file(BTC_FILE, symbol="BTC-USD", timeframe="1h")
    rows = [
        [t, *v] for t, v in zip(index_to_ms(frame.index), frame.to_numpy().tolist(), strict=True)
    ]
    CandleStore(engine).upsert("coinbase", "BTC-USD", "1h", rows, source="file")
    request = BacktestRequest(["BTC-USD"], "1h", strategy="reference")
    return lambda: run_backtest(engine, settings, request, store=False), (engine, frame, settings)


def _backtesting_py(frame: Any, fee: float, cash: float) -> Callable[[], object] | None:
    """backtesting.py's run of the strategy, as the test that compares the trades runs it."""
    try:
        import backtesting  # noqa: F401
    except ImportError:
        return None
    from tests.backtest.test_reference import backtesting_py_trades

    def run() -> object:
        # Its progress bar (tqdm, on stderr) is not part of the figure's output.
        with contextlib.redirect_stderr(io.StringIO()):
            return backtesting_py_trades(frame, fee, cash)

    return run


def _times(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _fmt(samples: list[float]) -> str:
    return (
        f"{min(samples) * 1000:.0f} / {statistics.median(samples) * 1000:.0f} / "
        f"{max(samples) * 1000:.0f} ms"
    )


def main() -> None:
    if not BTC_FILE.exists():
        print(f"(skipped: {BTC_FILE} is absent)")
        return
    from hmas.backtest.strategy import taker_bps

    with tempfile.TemporaryDirectory() as tmp:
        ours, (engine, frame, settings) = _hmas(Path(tmp))
        fee = taker_bps(settings, "coinbase") / 10_000
        theirs = _backtesting_py(frame, fee, settings.paper.starting_equity)
        ours()  # warm: imports, TA-Lib, the first read of the store
        if theirs is not None:
            theirs()
        hmas_s: list[float] = []
        bt_s: list[float] = []
        for _ in range(RUNS):
            hmas_s.append(_times(ours))
            if theirs is not None:
                bt_s.append(_times(theirs))
        engine.dispose()
    bars = f"{len(frame):,} real BTC hourly bars"
    report(f"reference strategy in hmas, {bars} (min/med/max)", _fmt(hmas_s))
    if not bt_s:
        print("(backtesting.py is not installed: install the dev group to compare)")
        return
    report("the same in backtesting.py (min/med/max)", _fmt(bt_s))
    ratio = statistics.median(bt_s) / statistics.median(hmas_s)
    report("backtesting.py / hmas (medians)", f"{ratio:.1f}x", ">= 20x", ratio >= 20)
    print("(vectorbt is not installed in hmas's environments: not measured)")


if __name__ == "__main__":
    main()
