"""The account currency: which pair converts a quote, its rate at a bar, and the refusals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from hmas.errors import ConversionMissingError
from hmas.risk import currency
from hmas.risk.currency import Conversion
from hmas.settings import Settings
from hmas.store.candles import CandleStore
from hmas.store.engine import make_engine, upgrade

H = 3_600_000
M5 = 300_000
T = 1_709_251_200_000  # 2024-03-01T00:00Z


def hourly(closes: list[float], start: int = T) -> pd.DataFrame:
    index = pd.DatetimeIndex(
        pd.to_datetime([start + i * H for i in range(len(closes))], unit="ms", utc=True), name="ts"
    )
    c = np.asarray(closes, dtype=float)
    return pd.DataFrame(
        {"open": c, "high": c, "low": c, "close": c, "volume": np.ones(len(c))}, index=index
    )


def test_which_symbols_need_a_conversion_and_the_pairs_tried() -> None:
    s = Settings()
    assert not currency.needs_conversion("BTC-USD", s)
    assert not currency.needs_conversion("BTC-USDT", s)  # at par with USD by default
    assert currency.needs_conversion("ETH-BTC", s)
    assert currency.needs_conversion("BTC-USDT", Settings(paper={"at_par": []}))
    assert not currency.needs_conversion("ETH-BTC", Settings(paper={"account_currency": "btc"}))
    assert currency.candidates("ETH-BTC", s) == [
        ("BTC-USD", False),
        ("BTC-USDT", False),
        ("BTC-USDC", False),
        ("USD-BTC", True),
        ("USDT-BTC", True),
        ("USDC-BTC", True),
    ]


def test_the_rate_is_the_last_close_at_or_before_the_bars_close() -> None:
    pair = Conversion("BTC-USD", "x", "1h", False, hourly([100.0, 200.0, 300.0]))
    day = 86_400_000
    # 5-minute bars: the one opening at 00:55 closes at 01:00 with the first hourly candle
    # (00:00-01:00, close 100); the one opening at 01:00 still reads it (the second candle
    # closes at 02:00, after the bar); the bar closing at 02:00 reads 200.
    bars = [T - M5, T + 55 * 60_000, T + H, T + 2 * H - M5, T + 3 * H - M5]
    assert pair.rates(bars, M5, day).tolist()[1:] == [100.0, 100.0, 200.0, 300.0]
    assert np.isnan(pair.rates(bars, M5, day)[0])  # nothing closed yet
    # Too old: the last close (03:00) is more than 1 h before a bar closing at 05:00.
    assert np.isnan(pair.rates([T + 4 * H], H, H)[0])
    assert pair.rates([T + 3 * H], H, H)[0] == 300.0  # closing at 04:00: exactly 1 h old
    inverse = Conversion("USD-BTC", "x", "1h", True, hourly([0.01, 0.005]))
    assert inverse.rates([T + H], H, day).tolist() == [200.0]


@pytest.fixture
def store(tmp_path: Any) -> Any:
    engine = make_engine(f"sqlite:///{tmp_path / 's.db'}")
    upgrade(engine)
    yield CandleStore(engine)
    engine.dispose()


def put(
    store: CandleStore, exchange: str, symbol: str, timeframe: str, frame: pd.DataFrame
) -> None:
    ms = pd.DatetimeIndex(frame.index).as_unit("ms").asi8.tolist()
    rows = [[t, *v] for t, v in zip(ms, frame.to_numpy().tolist(), strict=True)]
    store.upsert(exchange, symbol, timeframe, rows, source="file")


def test_no_conversion_pair_stored_is_refused_naming_the_pair_and_the_fetch(store: Any) -> None:
    with pytest.raises(ConversionMissingError) as caught:
        currency.find(store, Settings(), "binance", "ETH-BTC", "5m")
    assert str(caught.value) == (
        "ETH-BTC is quoted in BTC but the account is in USD (paper.account_currency): no BTC-USD "
        "candles are stored to convert the equity (nor BTC-USDT, BTC-USDC, USD-BTC, USDT-BTC, "
        "USDC-BTC); fetch them, e.g. hmas fetch --symbols BTC-USD --timeframe 5m, or keep the "
        "account in BTC (HMAS_PAPER__ACCOUNT_CURRENCY=BTC)"
    )
    assert caught.value.exit_code == 2
    assert currency.find(store, Settings(), "binance", "ETH-USD", "5m") is None


def test_the_pair_stored_on_the_same_exchange_and_timeframe_is_preferred(store: Any) -> None:
    put(store, "coinbase", "BTC-USD", "1h", hourly([100.0]))
    put(store, "coinbase", "BTC-USD", "1d", hourly([100.0]))
    put(store, "binance", "BTC-USDT", "5m", hourly([100.0]))
    found = currency.find(store, Settings(), "binance", "ETH-BTC", "5m")
    # BTC-USD comes first among the pairs; of its series the shortest timeframe.
    assert found == Conversion("BTC-USD", "coinbase", "1h", False)
    put(store, "binance", "BTC-USD", "1d", hourly([100.0]))
    assert currency.find(store, Settings(), "binance", "ETH-BTC", "5m") == Conversion(
        "BTC-USD", "binance", "1d", False
    )


def test_a_rate_too_old_at_the_bar_is_refused_naming_the_pair(store: Any) -> None:
    put(store, "coinbase", "BTC-USD", "1h", hourly([100.0, 110.0]))
    s = Settings()
    assert currency.rate_at(store, s, "binance", "ETH-BTC", "1h", T + H) == 110.0
    assert currency.rate_at(store, s, "binance", "ETH-USD", "1h", T + H) == 1.0
    with pytest.raises(ConversionMissingError) as caught:
        currency.rate_at(store, s, "binance", "ETH-BTC", "1h", T + 30 * H)
    assert str(caught.value) == (
        "no BTC-USD close on coinbase 1h within 1d (paper.conversion_max_age) before the ETH-BTC "
        "1h bar closing at 2024-03-02T07:00Z, to convert its BTC into USD; fetch BTC-USD candles "
        "up to that time, e.g. hmas fetch --symbols BTC-USD --timeframe 1h --exchange coinbase"
    )
