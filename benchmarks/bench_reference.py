"""The reference strategy in hmas's engine beside vectorbt and backtesting.py, on the same bars.

Two data sets: the real Coinbase BTC/USD hourly file (``../shared/data``, when it is there) and
525,600 one-minute sample bars of BTC-USD. On each, in this process, warm, alternating, ``RUNS``
times (min / median / max):

- **hmas, engine**: ``backtest_series`` on the candles already read: the strategy's features
  (TA-Lib through ``hmas.indicators``), the walk by the paper position rules, every metric and
  the trade records. This is what the two libraries below are given: bars in memory.
- **hmas, from the store**: ``run_backtest(strategy="reference", store=False)``, which reads
  the candles from the store first (what ``hmas backtest --strategy reference`` runs, without
  storing the run).
- **vectorbt**: TA-Lib's RSI, Bollinger and ATR on the arrays, the signals, and
  ``Portfolio.from_signals`` with the same stop and target, its trade records and total return
  (``vectorbt_reference``; where its semantics differ is in its docstring).
- **backtesting.py**: ``FractionalBacktest`` of the strategy as ``tests/backtest/
  test_reference.py`` runs it (its trades are hmas's, trade for trade, on the real file).

Targets (issue 8, DESIGN §9): hmas's engine within 2x of vectorbt's time and at least 20x
faster than backtesting.py, as ratios of the medians. vectorbt is in the ``bench`` dependency
group, backtesting.py in ``dev``: ``nox -s bench`` installs both.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import report

ROOT = Path(__file__).resolve().parent.parent
BTC_FILE = ROOT.parent / "shared" / "data" / "ohlcv" / "coinbase_btc_usd_1h.csv"
MINUTES = 525_600
RUNS = 5
#: backtesting.py takes seconds a run on the minute bars: fewer repeats there.
SLOW_RUNS = 3


def vectorbt_reference(frame: Any, fee: float, cash: float) -> Any:
    """The reference strategy in vectorbt: ``Portfolio.from_signals`` (None if not installed).

    As faithful as ``from_signals`` allows: the signal of bar t orders at the open of bar t+1
    (signals shifted one bar, ``price=open``); the stop and target are the levels of the
    signal's close and ATR, given as fractions of the fill price; the exit signal's market
    order fills at the next open; the fee per side. Where it differs from hmas and
    backtesting.py: it checks the stop and the target from the bar after the fill, not in the
    fill bar itself (so a position stopped out in its fill bar lives on); and it sizes 95 % of
    the cash at the fill price, not 95 % of the equity at the signal's close.
    """
    import numpy as np
    import talib
    import vectorbt as vbt

    o, h, lo, c = (frame[name].to_numpy() for name in ("open", "high", "low", "close"))
    rsi = talib.RSI(c, 14)
    lower = talib.BBANDS(c, 20, 2.0, 2.0)[2]
    atr = talib.ATR(h, lo, c, 14)
    with np.errstate(invalid="ignore"):
        entry = (rsi < 30) & (c < lower) & (atr > 0)
        exit_ = rsi > 70
    n = len(c)
    entries, exits = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    entries[1:], exits[1:] = entry[:-1], exit_[:-1]
    stop, target = np.full(n, np.nan), np.full(n, np.nan)
    stop[1:], target[1:] = c[:-1] - 2 * atr[:-1], c[:-1] + 3 * atr[:-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        sl_stop, tp_stop = (o - stop) / o, (target - o) / o
    return vbt.Portfolio.from_signals(
        c,
        entries,
        exits,
        price=o,
        open=o,
        high=h,
        low=lo,
        sl_stop=sl_stop,
        tp_stop=tp_stop,
        stop_entry_price="price",
        size=0.95,
        size_type="percent",
        fees=fee,
        init_cash=cash,
    )


def _vectorbt(frame: Any, fee: float, cash: float) -> Callable[[], object] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import vectorbt  # noqa: F401
    except ImportError:
        return None

    def run() -> object:
        pf = vectorbt_reference(frame, fee, cash)
        return pf.trades.records, pf.total_return()

    return run


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


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _fmt(samples: list[float]) -> str:
    return (
        f"{min(samples) * 1000:.0f} / {statistics.median(samples) * 1000:.0f} / "
        f"{max(samples) * 1000:.0f} ms"
    )


def _store(tmp: Path, name: str) -> tuple[Any, Any]:
    from hmas.settings import load_settings
    from hmas.store import open_store

    settings = load_settings(db_url=f"sqlite:///{tmp / f'{name}.db'}")
    return settings, open_store(settings)


def _btc_hourly(tmp: Path) -> tuple[Any, Any, str, str]:
    from hmas.data.files import read_ohlcv_file
    from hmas.market import index_to_ms
    from hmas.store.candles import CandleStore

    settings, engine = _store(tmp, "btc")
    frame = read_ohlcv_file(BTC_FILE, symbol="BTC-USD", timeframe="1h")
    rows = [
        [t, *v] for t, v in zip(index_to_ms(frame.index), frame.to_numpy().tolist(), strict=True)
    ]
    CandleStore(engine).upsert("coinbase", "BTC-USD", "1h", rows, source="file")
    return settings, engine, "coinbase", "1h"


def _sample_minutes(tmp: Path) -> tuple[Any, Any, str, str]:
    from hmas.data.fetch import FetchRequest, fetch_candles
    from hmas.store.candles import CandleStore

    settings, engine = _store(tmp, "minutes")
    request = FetchRequest(symbols=["BTC-USD"], timeframe="1m", source="sample", limit=MINUTES)
    fetch_candles(CandleStore(engine), settings, request)
    return settings, engine, "sample", "1m"


def _compare(label: str, settings: Any, engine: Any, exchange: str, timeframe: str) -> None:
    from hmas.backtest.data import Range, load_series
    from hmas.backtest.run import BacktestRequest, backtest_series, run_backtest
    from hmas.backtest.strategy import taker_bps
    from hmas.stats import mean_cis

    request = BacktestRequest(["BTC-USD"], timeframe, exchange=exchange, strategy="reference")
    series = load_series(engine, settings, ["BTC-USD"], timeframe, Range(), exchange=exchange)
    frame = series[0].inputs.candles
    fee = taker_bps(settings, exchange) / 10_000
    cash = settings.paper.starting_equity
    runs: dict[str, Callable[[], object] | None] = {
        "hmas, engine": lambda: backtest_series(series, settings, request),
        "hmas, from the store": lambda: run_backtest(engine, settings, request, store=False),
        "vectorbt": _vectorbt(frame, fee, cash),
        "backtesting.py": _backtesting_py(frame, fee, cash),
    }
    present = {name: fn for name, fn in runs.items() if fn is not None}
    for fn in present.values():
        fn()  # warm: imports, numba's compilation, TA-Lib, the first read of the store
    samples: dict[str, list[float]] = {name: [] for name in present}
    for i in range(RUNS):
        for name, fn in present.items():
            if name == "backtesting.py" and i >= SLOW_RUNS:
                continue
            samples[name].append(_time(fn))
    ours = backtest_series(series, settings, request)
    print(f"{label}: {len(frame):,} bars, {len(ours.trades):,} hmas trades", flush=True)
    for name, times in samples.items():
        report(f"  {name} (min/med/max)", _fmt(times))
    # The part of the engine's time that is the bootstrap of the two 95% intervals (the
    # expectancy in R and the average P&L: 10,000 resamples of the closed trades).
    closed = [t for t in ours.simulation.trades if t.closed]
    r = [t.r_multiple for t in closed if t.r_multiple is not None]
    pnl = [t.pnl_money for t in closed if t.pnl_money is not None]
    intervals = [_time(lambda: mean_cis([r, pnl])) for _ in range(RUNS)]
    report("    of which the bootstrap intervals (min/med/max)", _fmt(intervals))
    engine_s = statistics.median(samples["hmas, engine"])
    store_s = statistics.median(samples["hmas, from the store"])
    if "vectorbt" in samples:
        vbt_s = statistics.median(samples["vectorbt"])
        ratio = engine_s / vbt_s
        report("  hmas engine / vectorbt (medians)", f"{ratio:.2f}x", "<= 2x", ratio <= 2)
        report("  hmas from the store / vectorbt (medians)", f"{store_s / vbt_s:.2f}x")
    else:
        print("  (vectorbt is not installed: install the bench group to compare)")
    if "backtesting.py" in samples:
        bt_s = statistics.median(samples["backtesting.py"])
        ratio = bt_s / engine_s
        report("  backtesting.py / hmas engine (medians)", f"{ratio:.1f}x", ">= 20x", ratio >= 20)
        report("  backtesting.py / hmas from the store (medians)", f"{bt_s / store_s:.1f}x")
    else:
        print("  (backtesting.py is not installed: install the dev group to compare)")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if BTC_FILE.exists():
            settings, engine, exchange, tf = _btc_hourly(Path(tmp))
            _compare("real BTC hourly file", settings, engine, exchange, tf)
            engine.dispose()
        else:
            print(f"(skipped the real BTC hourly file: {BTC_FILE} is absent)")
        settings, engine, exchange, tf = _sample_minutes(Path(tmp))
        _compare("one-minute sample bars", settings, engine, exchange, tf)
        engine.dispose()


if __name__ == "__main__":
    main()
