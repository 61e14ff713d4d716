"""The candle repository: idempotent upserts, reads into candle frames, series and fetch history."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from hmas.store.candles import CandleStore
from hmas.store.engine import upgrade

HOUR = 3_600_000
T0 = 1_710_000_000_000 // HOUR * HOUR


def rows(n: int, start: int = T0, step: int = HOUR) -> list[list[float]]:
    return [
        [start + i * step, 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i, 10.0 + i] for i in range(n)
    ]


@pytest.fixture
def store(db_url: str, engine_factory: Any) -> CandleStore:
    engine = engine_factory(db_url)
    upgrade(engine)
    return CandleStore(engine)


def test_upsert_adds_once_and_never_overwrites(store: CandleStore) -> None:
    assert store.upsert("coinbase", "BTC-USD", "1h", rows(5), source="exchange") == 5
    assert store.upsert("coinbase", "BTC-USD", "1h", rows(5), source="exchange") == 0
    changed = [[r[0], 1.0, 2.0, 0.5, 1.5, 9.0] for r in rows(7)]
    assert store.upsert("coinbase", "BTC-USD", "1h", changed, source="exchange") == 2
    frame = store.frame("coinbase", "BTC-USD", "1h")
    assert len(frame) == 7
    assert frame["open"].iloc[0] == 100.0  # the stored candle kept its values
    assert frame["open"].iloc[6] == 1.0


def test_series_are_keyed_by_exchange_symbol_timeframe(store: CandleStore) -> None:
    store.upsert("coinbase", "BTC-USD", "1h", rows(3), source="exchange")
    store.upsert("sample", "BTC-USD", "1h", rows(4), source="sample")
    store.upsert("coinbase", "BTC-USD", "4h", rows(2, step=4 * HOUR), source="exchange")
    store.upsert("coinbase", "ETH-USD", "1h", rows(1), source="exchange")
    got = {(s.exchange, s.symbol, s.timeframe): (s.count, s.source) for s in store.series()}
    assert got == {
        ("coinbase", "BTC-USD", "1h"): (3, "exchange"),
        ("coinbase", "BTC-USD", "4h"): (2, "exchange"),
        ("sample", "BTC-USD", "1h"): (4, "sample"),
        ("coinbase", "ETH-USD", "1h"): (1, "exchange"),
    }
    assert [s.symbol for s in store.series("ETH-USD")] == ["ETH-USD"]


def test_frame_is_a_candle_frame(store: CandleStore) -> None:
    store.upsert("x", "BTC-USD", "1h", rows(400), source="sample")
    tail = store.frame("x", "BTC-USD", "1h", tail=300)
    assert len(tail) == 300
    assert list(tail.columns) == ["open", "high", "low", "close", "volume"]
    assert str(tail.index.dtype) == "datetime64[ns, UTC]"
    assert tail.index.name == "ts"
    assert tail.index.is_monotonic_increasing
    assert tail.index[-1] == pd.Timestamp(T0 + 399 * HOUR, unit="ms", tz="UTC")
    assert tail["close"].iloc[-1] == 100.5 + 399
    window = store.frame("x", "BTC-USD", "1h", since=T0 + HOUR, until=T0 + 3 * HOUR)
    assert len(window) == 3
    assert store.frame("x", "NOPE-USD", "1h").empty


def test_last_ts_and_timestamps(store: CandleStore) -> None:
    assert store.last_ts("x", "BTC-USD", "1h") is None
    store.upsert("x", "BTC-USD", "1h", rows(3), source="sample")
    assert store.last_ts("x", "BTC-USD", "1h") == T0 + 2 * HOUR
    assert store.timestamps("x", "BTC-USD", "1h", since=T0 + HOUR) == [T0 + HOUR, T0 + 2 * HOUR]


def test_fetch_history(store: CandleStore) -> None:
    fid = store.start_fetch(source="sample", exchange="sample", symbol="BTC-USD", timeframe="1h")
    store.upsert("sample", "BTC-USD", "1h", rows(2), source="sample", fetch_id=fid)
    store.finish_fetch(fid, status="ok", received=2, added=2)
    (run,) = store.fetches()
    assert run["id"] == fid
    assert run["status"] == "ok"
    assert run["added"] == 2
    assert run["finished_at"] is not None


def test_symbols_of_one_exchange_and_timeframe(store: CandleStore) -> None:
    store.upsert("x", "BTC-USD", "1h", rows(3), source="sample")
    store.upsert("x", "ETH-USD", "1h", rows(2), source="file")
    store.upsert("x", "SOL-USD", "4h", rows(2, step=4 * HOUR), source="sample")
    store.upsert("y", "ADA-USD", "1h", rows(2), source="exchange")
    assert store.symbols("x", "1h") == {"BTC-USD": "sample", "ETH-USD": "file"}
    assert store.symbols("x", "4h") == {"SOL-USD": "sample"}
    assert store.symbols("z", "1h") == {}


def test_exchanges_holding_a_series(store: CandleStore) -> None:
    store.upsert("sample", "BTC-USD", "1h", rows(3), source="sample")
    store.upsert("coinbase", "BTC-USD", "1h", rows(2), source="exchange")
    store.upsert("kraken", "BTC-USD", "4h", rows(2, step=4 * HOUR), source="exchange")
    assert store.exchanges_for("BTC-USD", "1h") == ["coinbase", "sample"]
    assert store.exchanges_for("BTC-USD", "4h") == ["kraken"]
    assert store.exchanges_for("ETH-USD", "1h") == []
