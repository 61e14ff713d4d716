"""Feature frames for the agent tests: hand-made neutral frames and real features of candles."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hmas.agents.base import AgentContext
from hmas.settings import Settings

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "btc_usd_1h_300.csv"
SHARED_BTC = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "ohlcv" / "coinbase_btc_usd_1h.csv"
)

FEATURE_COLUMNS = [
    *("open", "high", "low", "close", "volume", "sma_200", "ema_20", "ema_50", "rsi_14"),
    *("bb_lower", "bb_mid", "bb_upper", "bb_width", "atr_14", "macd", "macd_signal", "macd_hist"),
    *("adx_14", "plus_di_14", "minus_di_14", "volume_z", "realized_vol", "donchian_high_20"),
    *("donchian_low_20", "swing_high", "swing_low", "swing_high_ts", "swing_low_ts"),
]

# A quiet market around 100: no setup fires, every level is defined, ATR is 2.
NEUTRAL: dict[str, float] = {
    "open": 100.0,
    "high": 101.0,
    "low": 99.0,
    "close": 100.0,
    "volume": 10.0,
    "sma_200": 100.0,
    "ema_20": 100.0,
    "ema_50": 100.0,
    "rsi_14": 50.0,
    "bb_lower": 96.0,
    "bb_mid": 100.0,
    "bb_upper": 104.0,
    "bb_width": 0.08,
    "atr_14": 2.0,
    "macd": 0.0,
    "macd_signal": 0.0,
    "macd_hist": 0.0,
    "adx_14": 20.0,
    "plus_di_14": 20.0,
    "minus_di_14": 20.0,
    "volume_z": 0.0,
    "realized_vol": 0.5,
    "donchian_high_20": 105.0,
    "donchian_low_20": 95.0,
    "swing_high": 106.0,
    "swing_low": 94.0,
}


def hourly_index(n: int, start: str = "2024-03-01") -> pd.DatetimeIndex:
    """``n`` hourly UTC timestamps named ``ts``."""
    return pd.date_range(start, periods=n, freq="h", tz="UTC", name="ts")


def neutral_features(n: int = 5, **last: Any) -> pd.DataFrame:
    """A neutral feature frame of ``n`` bars whose last row takes the values in ``last``."""
    index = hourly_index(n)
    frame = pd.DataFrame({k: np.full(n, v) for k, v in NEUTRAL.items()}, index=index)
    first = index[0] if n else pd.NaT
    frame["swing_high_ts"] = pd.Series(first, index=index, dtype=index.dtype)
    frame["swing_low_ts"] = pd.Series(first, index=index, dtype=index.dtype)
    frame = frame[FEATURE_COLUMNS]
    for key, value in last.items():
        frame.loc[frame.index[-1], key] = value
    return frame


def context(settings: Settings | None = None, **kwargs: Any) -> AgentContext:
    """An agent context for BTC-USD 1h."""
    return AgentContext(
        settings=settings or Settings(),
        symbol="BTC-USD",
        exchange="coinbase",
        timeframe="1h",
        **kwargs,
    )


def random_candles(seed: int, n: int = 600) -> pd.DataFrame:
    """A random-walk candle frame with regime changes (trends and ranges), valid OHLCV."""
    rng = np.random.default_rng(seed)
    drift = np.repeat(rng.normal(0, 0.002, n // 50 + 1), 50)[:n]
    ret = drift + rng.normal(0, 0.008, n)
    close = 100 * np.exp(np.cumsum(ret))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(rng.normal(0, 0.005, n)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread * rng.uniform(0.2, 1.0, n)
    volume = rng.lognormal(3, 0.5, n)
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume},
        index=hourly_index(n),
    )


@cache
def random_features(seed: int, n: int = 600) -> pd.DataFrame:
    """``compute_features`` of ``random_candles(seed, n)`` (cached: shared by many tests)."""
    from hmas.indicators.features import compute_features

    return compute_features(random_candles(seed, n))


def fixture_candles() -> pd.DataFrame:
    """The committed 300-bar BTC slice (tests/data/btc_usd_1h_300.csv)."""
    frame = pd.read_csv(FIXTURE)
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("ts"), utc=True), name="ts")
    return frame.astype("float64")


def shared_btc_candles() -> pd.DataFrame:
    """The real Coinbase BTC/USD hourly history, oldest first, volume in BTC."""
    raw = pd.read_csv(SHARED_BTC, skiprows=1)
    ts = pd.to_datetime(raw["date"], format="%Y-%m-%d %I-%p", utc=True)
    frame = pd.DataFrame(
        {
            "open": raw["open"],
            "high": raw["high"],
            "low": raw["low"],
            "close": raw["close"],
            "volume": raw["volume_btc"],
        }
    )
    frame.index = pd.DatetimeIndex(ts, name="ts")
    return frame.sort_index().astype("float64")


# --- hostile frames (hypothesis) ------------------------------------------------------------

_NUMERIC = [c for c in FEATURE_COLUMNS if not c.endswith("_ts")]
_NASTY = [np.nan, np.inf, -np.inf, 0.0, -1.0, 1e308, -1e308, 1e-308, 5e-324, 1e15]


def hostile_values() -> Any:
    """Floats an agent must survive: NaN, infinities, zeros, negatives, huge and tiny values."""
    from hypothesis import strategies as st

    return st.sampled_from(_NASTY) | st.floats(-1e6, 1e6, allow_nan=False)


def hostile_frames() -> Any:
    """Strategy: neutral frames (0-12 rows) with columns dropped, made constant or poisoned."""
    from hypothesis import strategies as st

    @st.composite
    def build(draw: Any) -> pd.DataFrame:
        n = draw(st.integers(0, 12))
        frame = neutral_features(n)
        for name in draw(st.lists(st.sampled_from(_NUMERIC), unique=True, max_size=12)):
            how = draw(st.sampled_from(["drop", "constant", "rows"]))
            if how == "drop":
                frame = frame.drop(columns=name)
            elif how == "constant":
                frame[name] = draw(hostile_values())
            else:
                frame[name] = draw(st.lists(hostile_values(), min_size=n, max_size=n))
        if draw(st.booleans()):
            frame["swing_high_ts"] = pd.NaT
            frame["swing_low_ts"] = frame.index[::-1]
        return frame

    return build()
