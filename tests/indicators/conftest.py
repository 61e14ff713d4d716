"""Candle frames for the indicator tests: the committed 300-hour fixture and the real BTC file."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"
BTC_HOURLY = SHARED_DATA / "ohlcv" / "coinbase_btc_usd_1h.csv"
FIXTURE_300 = ROOT / "tests" / "data" / "btc_usd_1h_300.csv"


def require_btc_hourly() -> Path:
    """The real Coinbase BTC/USD hourly file; skips the test when ../shared/data is absent."""
    if not BTC_HOURLY.is_file():
        pytest.skip(f"needs the reference file {BTC_HOURLY} (../shared/data is absent in a clone)")
    return BTC_HOURLY


@cache
def _read_btc_hourly(path: Path) -> pd.DataFrame:
    # CryptoDataDownload layout: a banner line, newest first, dates like "2019-10-17 09-AM".
    raw = pd.read_csv(path, skiprows=1)
    ts = pd.to_datetime(raw["date"], format="%Y-%m-%d %I-%p", utc=True)
    frame = pd.DataFrame(
        {
            "open": raw["open"],
            "high": raw["high"],
            "low": raw["low"],
            "close": raw["close"],
            "volume": raw["volume_btc"],
        }
    ).astype(np.float64)
    frame.index = pd.DatetimeIndex(ts, name="ts").as_unit("ns")
    return frame.sort_index()


@cache
def _read_fixture(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path)
    frame = raw[["open", "high", "low", "close", "volume"]].astype(np.float64)
    frame.index = pd.DatetimeIndex(pd.to_datetime(raw["ts"], utc=True), name="ts").as_unit("ns")
    return frame


@pytest.fixture
def btc_hourly() -> pd.DataFrame:
    """All 20,111 real hourly candles, oldest first (a fresh copy per test)."""
    return _read_btc_hourly(require_btc_hourly()).copy()


@pytest.fixture
def btc_300() -> pd.DataFrame:
    """The committed fixture: the 300 oldest of those candles (a fresh copy per test)."""
    return _read_fixture(FIXTURE_300).copy()


def candle_frame(
    close: np.ndarray | list[float],
    *,
    spread: float = 0.01,
    volume: np.ndarray | list[float] | float = 1.0,
    start: str = "2024-01-01",
    freq: str = "1h",
) -> pd.DataFrame:
    """A candle frame around ``close``: open = previous close, high/low ``spread`` apart."""
    c = np.asarray(close, dtype=np.float64)
    with np.errstate(all="ignore"):
        o = np.concatenate([c[:1], c[:-1]])
        high = np.fmax(o, c) * (1 + spread)
        low = np.fmin(o, c) * (1 - spread)
    vol = np.broadcast_to(np.asarray(volume, dtype=np.float64), c.shape).copy()
    index = pd.date_range(start, periods=len(c), freq=freq, tz="UTC", name="ts", unit="ns")
    return pd.DataFrame(
        {"open": o, "high": high, "low": low, "close": c, "volume": vol}, index=index
    )


def random_walk(n: int, seed: int = 7, start_price: float = 30_000.0) -> pd.DataFrame:
    """A reproducible geometric random walk of ``n`` hourly candles."""
    rng = np.random.default_rng(seed)
    close = start_price * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    volume = rng.lognormal(3.0, 0.6, n)
    return candle_frame(close, spread=0.004, volume=volume)
