"""Store figures: candle upsert rate into SQLite, latest 300 candles into a DataFrame."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.common import median_ms, report
from hmas.store.candles import CandleStore
from hmas.store.engine import make_engine, upgrade

MINUTE = 60_000
T0 = 1_700_000_000_000 // MINUTE * MINUTE


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)
        store = CandleStore(engine)
        n = 200_000
        rows = [
            [
                T0 + i * MINUTE,
                100.0 + i % 7,
                101.0 + i % 7,
                99.0 + i % 7,
                100.5 + i % 7,
                1.0 + i % 5,
            ]
            for i in range(n)
        ]
        start = time.perf_counter()
        added = store.upsert("bench", "BTC-USD", "1m", rows, source="sample")
        elapsed = time.perf_counter() - start
        assert added == n
        rate = n / elapsed
        report(
            f"candle upsert into SQLite ({n:,} new rows, one call)",
            f"{rate:,.0f} rows/s",
            ">= 100,000 rows/s",
            rate >= 100_000,
        )
        start = time.perf_counter()
        store.upsert("bench", "BTC-USD", "1m", rows, source="sample")
        again = n / (time.perf_counter() - start)
        report(f"re-upsert of the same {n:,} rows (all skipped)", f"{again:,.0f} rows/s")
        med = median_ms(lambda: store.frame("bench", "BTC-USD", "1m", tail=300), runs=200, warmup=5)
        report(
            "latest 300 candles from the store into a DataFrame",
            f"{med:.3f} ms",
            "<= 2 ms",
            med <= 2,
        )
        engine.dispose()


if __name__ == "__main__":
    main()
