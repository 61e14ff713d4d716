"""Fixtures for the backtest tests: stores holding sample or real candles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from hmas.market import index_to_ms
from hmas.settings import Settings, load_settings
from hmas.store.candles import CandleStore
from hmas.store.engine import upgrade
from tests.decision.conftest import sample_frame


def store_frame(
    engine: Any, exchange: str, symbol: str, timeframe: str, frame: pd.DataFrame
) -> None:
    """Store a candle frame under ``exchange``."""
    rows = [
        [t, *v] for t, v in zip(index_to_ms(frame.index), frame.to_numpy().tolist(), strict=True)
    ]
    source = "sample" if exchange == "sample" else "file"
    CandleStore(engine).upsert(exchange, symbol, timeframe, rows, source=source)


def permissive(**extra: Any) -> Settings:
    """Settings under which the mother approves any well-formed proposal (to exercise trades)."""
    base: dict[str, Any] = {
        "mother": {"min_expected_value_r": -100.0, "min_consensus": 0.0, "min_confidence": 0.0},
        "execution": {"max_cost_r": 100.0, "max_cost_to_target": 100.0},
        "macro": {"high_vol_pct": 1.0},
    }
    for key, value in extra.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    return load_settings(**base)


@pytest.fixture
def sample_engine(tmp_path: Path, engine_factory: Any) -> Any:
    """A migrated SQLite store holding 1,500 hourly sample bars of BTC-USD and ETH-USD."""
    engine = engine_factory(f"sqlite:///{tmp_path / 'bt.db'}")
    upgrade(engine)
    for symbol in ("BTC-USD", "ETH-USD"):
        store_frame(engine, "sample", symbol, "1h", sample_frame(symbol))
    return engine


def real_btc(shared: Path) -> pd.DataFrame:
    """The real Coinbase BTC/USD hourly history (oldest first), as ``hmas fetch`` reads it."""
    from hmas.data.files import read_ohlcv_file

    return read_ohlcv_file(
        shared / "ohlcv" / "coinbase_btc_usd_1h.csv", symbol="BTC-USD", timeframe="1h"
    )


@pytest.fixture
def btc_engine(shared_data: Path, tmp_path: Path, engine_factory: Any) -> Any:
    """A migrated SQLite store holding the real BTC hourly file under ``coinbase``."""
    engine = engine_factory(f"sqlite:///{tmp_path / 'btc.db'}")
    upgrade(engine)
    store_frame(engine, "coinbase", "BTC-USD", "1h", real_btc(shared_data))
    return engine
