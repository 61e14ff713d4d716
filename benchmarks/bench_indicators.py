"""``compute_features`` on 300 candles (one signal) and on a year of 1-minute candles (a backtest).

``uv run python benchmarks/bench_indicators.py``; the candles are a seeded random walk.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from benchmarks.common import median_ms
from hmas.indicators import compute_features

MINUTES_PER_YEAR = 525_600


def synthetic_minutes(n: int, seed: int = 20240101) -> pd.DataFrame:
    """A candle frame of ``n`` one-minute BTC-like candles: a random walk at ~60% a year."""
    rng = np.random.default_rng(seed)
    log_ret = rng.normal(0.0, 0.0008, n)
    close = 30_000.0 * np.exp(np.cumsum(log_ret))
    open_ = np.concatenate([[30_000.0], close[:-1]])
    wick = np.abs(rng.normal(0.0, 0.0004, (2, n)))
    high = np.maximum(open_, close) * (1 + wick[0])
    low = np.minimum(open_, close) * (1 - wick[1])
    volume = rng.lognormal(1.0, 0.8, n)
    index = pd.date_range("2024-01-01", periods=n, freq="1min", tz="UTC", name="ts", unit="ns")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )


def main() -> None:
    year = synthetic_minutes(MINUTES_PER_YEAR)
    recent = year.iloc[-300:].copy()
    start = time.perf_counter()
    compute_features(recent)  # the first call imports TA-Lib
    first = (time.perf_counter() - start) * 1000
    print(f"features, first call in a process (imports TA-Lib): {first:.0f} ms", flush=True)
    med = median_ms(lambda: compute_features(recent), runs=50, warmup=3)
    print(f"features, 300 candles: {med:.2f} ms (median of 50)", flush=True)
    med = median_ms(lambda: compute_features(year), runs=7, warmup=1)
    print(f"features, {MINUTES_PER_YEAR:,} candles: {med:.1f} ms (median of 7)", flush=True)


if __name__ == "__main__":
    main()
