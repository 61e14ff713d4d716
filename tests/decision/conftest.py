"""Fixtures for the decision tests: candle histories and stores holding them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from hmas.data.sample import SampleMarket
from hmas.decision.pipeline import MarketInputs
from hmas.market import index_to_ms
from hmas.settings import Settings, load_settings
from hmas.store.candles import CandleStore
from hmas.store.engine import upgrade

HOUR = 3_600_000
#: A fixed "now" for the sample market: 2026-01-01 00:00 UTC.
NOW = 1_767_225_600_000
BARS = 1500


def sample_frame(symbol: str, bars: int = BARS) -> pd.DataFrame:
    """Deterministic hourly sample candles ending before NOW."""
    market = SampleMarket(now_ms=lambda: NOW)
    return market.candles(symbol, "1h", NOW - bars * HOUR, NOW)


def permissive(**extra: Any) -> Settings:
    """Settings under which any proposal with a setup passes the mother (to exercise approvals)."""
    base: dict[str, Any] = {
        "mother": {"min_expected_value_r": -100.0, "min_consensus": 0.0, "min_confidence": 0.0},
        "execution": {"max_cost_r": 100.0, "max_cost_to_target": 100.0},
        "macro": {"high_vol_pct": 1.0},
    }
    for key, value in extra.items():
        base[key] = {**base.get(key, {}), **value}
    return load_settings(**base)


@pytest.fixture
def sample_inputs() -> MarketInputs:
    """BTC-USD with ETH-USD as the universe, from the sample market."""
    btc, eth = sample_frame("BTC-USD"), sample_frame("ETH-USD")
    return MarketInputs("sample", "ETH-USD", "1h", eth, "sample", btc, {"BTC-USD": btc})


def real_btc(shared: Path) -> pd.DataFrame:
    """The real Coinbase BTC/USD hourly history (oldest first)."""
    from hmas.data.files import read_ohlcv_file

    return read_ohlcv_file(
        shared / "ohlcv" / "coinbase_btc_usd_1h.csv", symbol="BTC-USD", timeframe="1h"
    )


@pytest.fixture
def sample_store(db_url: str, engine_factory: Any) -> Any:
    """A migrated store holding BTC-USD and ETH-USD sample candles."""
    engine = engine_factory(db_url)
    upgrade(engine)
    store = CandleStore(engine)
    for symbol in ("BTC-USD", "ETH-USD"):
        frame = sample_frame(symbol)
        rows = [
            [t, *v]
            for t, v in zip(index_to_ms(frame.index), frame.to_numpy().tolist(), strict=True)
        ]
        store.upsert("sample", symbol, "1h", rows, source="sample")
    return engine


def setup_bars(inputs: MarketInputs, settings: Settings, limit: int = 5) -> list[int]:
    """Bars (epoch ms) where alpha proposes a trade, from the vectorised pipeline."""
    from hmas.decision.pipeline import compute

    out = compute(inputs, settings)
    alpha = out.frames["alpha"]
    mask = (alpha["action"] != "HOLD").to_numpy() & ~alpha["abstained"].to_numpy(dtype=bool)
    ms = index_to_ms(alpha.index)
    return [ms[i] for i in range(len(ms)) if mask[i] and i > 300][:limit]
