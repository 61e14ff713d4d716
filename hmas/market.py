"""Market vocabulary shared by every source: timeframes, symbols and the candle frame.

A *candle frame* is a ``pandas.DataFrame`` indexed by ``ts`` (a UTC ``DatetimeIndex`` of candle
open times, nanosecond resolution, strictly increasing) with float64 columns
``open, high, low, close, volume``.
Inside the store and on the wire, ``ts`` is an integer of epoch milliseconds (ccxt's unit).

This module must stay light: no pandas at import time (the CLI's ``--help`` path imports it).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from hmas.errors import (
    CandleDataError,
    InvalidSymbolError,
    UnsupportedTimeframeError,
    UsageError,
)

if TYPE_CHECKING:
    import pandas as pd

OHLCV_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")

#: Timeframes hmas understands, with their length in milliseconds.
TIMEFRAMES: dict[str, int] = {
    "1m": 60_000,
    "5m": 5 * 60_000,
    "15m": 15 * 60_000,
    "30m": 30 * 60_000,
    "1h": 3_600_000,
    "2h": 2 * 3_600_000,
    "4h": 4 * 3_600_000,
    "6h": 6 * 3_600_000,
    "12h": 12 * 3_600_000,
    "1d": 86_400_000,
}

_SYMBOL_RE = re.compile(r"^[A-Z0-9]{1,20}-[A-Z0-9]{1,20}$")


def timeframe_ms(timeframe: str) -> int:
    """Length of one candle of ``timeframe`` in milliseconds."""
    try:
        return TIMEFRAMES[timeframe]
    except KeyError:
        raise UnsupportedTimeframeError(
            f"unsupported timeframe {timeframe!r}; use one of {', '.join(TIMEFRAMES)}"
        ) from None


def normalize_symbol(symbol: str) -> str:
    """The user form ``BASE-QUOTE`` (upper case) of ``btc-usd``, ``BTC/USD`` or ``BTC-USD``."""
    s = symbol.strip().upper().replace("/", "-")
    if not _SYMBOL_RE.match(s):
        raise InvalidSymbolError(f"invalid symbol {symbol!r}; write it as BASE-QUOTE, e.g. BTC-USD")
    return s


def to_exchange_symbol(symbol: str) -> str:
    """``BTC-USD`` -> ``BTC/USD`` (ccxt's unified spot symbol)."""
    return normalize_symbol(symbol).replace("-", "/")


def from_exchange_symbol(symbol: str) -> str:
    """``BTC/USD`` -> ``BTC-USD``; derivative suffixes (``BTC/USD:USD``) are dropped."""
    return normalize_symbol(symbol.split(":", 1)[0])


def ms_to_datetime(ms: int) -> datetime:
    """Epoch milliseconds -> aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def datetime_to_ms(dt: datetime) -> int:
    """Aware (or naive, taken as UTC) datetime -> epoch milliseconds."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def parse_when(text: str) -> datetime:
    """Parse a user date/time (``2024-03-01``, ``2024-03-01T12:00``, ``...Z``) as UTC."""
    raw = text.strip()
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"invalid date {text!r}; use ISO format, e.g. 2024-03-01 or 2024-03-01T12:00Z"
        ) from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(datetime.now(tz=UTC).timestamp() * 1000)


def last_closed_open_ms(timeframe: str, at_ms: int | None = None) -> int:
    """Open time of the last candle that is closed at ``at_ms`` (default: now)."""
    step = timeframe_ms(timeframe)
    at = now_ms() if at_ms is None else at_ms
    return (at // step) * step - step


def validate_candle_frame(frame: pd.DataFrame, *, what: str = "candles") -> pd.DataFrame:
    """Check a candle frame and return it sorted; ``CandleDataError`` names the first problem.

    Rejects: missing columns, non-numeric or non-finite values, non-positive prices, negative
    volume, ``high < low``, open/close outside [low, high], duplicate timestamps.
    """
    import numpy as np
    import pandas as pd

    missing = [c for c in OHLCV_COLUMNS if c not in frame.columns]
    if missing:
        raise CandleDataError(f"{what}: missing column(s) {', '.join(missing)}")
    if len(frame) == 0:
        raise CandleDataError(f"{what}: no candles")
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise CandleDataError(f"{what}: index must be timestamps")
    out = frame.loc[:, list(OHLCV_COLUMNS)].copy()
    for col in OHLCV_COLUMNS:
        converted = pd.to_numeric(out[col], errors="coerce")
        bad = converted.isna()
        if bad.any():
            ts = out.index[bad.to_numpy()][0]
            raise CandleDataError(
                f"{what}: non-numeric or missing {col} at {ts.isoformat()} "
                f"({out[col][bad].iloc[0]!r})"
            )
        out[col] = converted.astype("float64")
    values = out.to_numpy()
    if not np.isfinite(values).all():
        row = int(np.where(~np.isfinite(values).all(axis=1))[0][0])
        raise CandleDataError(f"{what}: infinite value at {out.index[row].isoformat()}")
    checks = [
        ((out[["open", "high", "low", "close"]] <= 0).any(axis=1), "non-positive price"),
        (out["volume"] < 0, "negative volume"),
        (out["high"] < out["low"], "high < low"),
        (
            (out["open"] > out["high"])
            | (out["open"] < out["low"])
            | (out["close"] > out["high"])
            | (out["close"] < out["low"]),
            "open/close outside the high-low range",
        ),
    ]
    for mask, label in checks:
        if mask.any():
            ts = out.index[mask.to_numpy()][0]
            raise CandleDataError(f"{what}: {label} at {ts.isoformat()}")
    dup = out.index.duplicated()
    if dup.any():
        raise CandleDataError(f"{what}: duplicate timestamp {out.index[dup][0].isoformat()}")
    out = out.sort_index()
    index = pd.DatetimeIndex(out.index)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    out.index = index.as_unit("ns")
    out.index.name = "ts"
    return out


def index_to_ms(index: pd.Index) -> list[int]:
    """A DatetimeIndex (any resolution) as epoch milliseconds."""
    import pandas as pd

    values: list[int] = pd.DatetimeIndex(index).as_unit("ms").asi8.tolist()
    return values
