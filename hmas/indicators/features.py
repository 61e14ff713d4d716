"""The feature frame: every indicator hmas reads, computed from a candle frame in one pure call.

``compute_features`` is causal (the row of bar *t* reads only bars at or before *t*; only the
start of the frame matters, as for any recursive indicator) and never raises on hostile values:
where a feature is undefined it is NaN, never inf. The column names are fixed, whatever the
parameters, so downstream code never has to know them. docs/indicators.md lists every column.

The indicators are pandas-ta's definitions in its TA-Lib mode (``talib=True``: Bollinger with
ddof=0, RSI and ATR seeded as TA-Lib seeds them), computed by calling TA-Lib's functions
directly. pandas-ta adds nothing to those numbers but a fixed cost: about 0.3 s to import (it
loads numba) and about 2 ms of wrappers per call on a 1,000-bar window, where TA-Lib itself
takes microseconds. The test suite checks every column against pandas-ta, bit for bit.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Collection
from dataclasses import dataclass, fields
from functools import cache
from types import ModuleType
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from hmas.errors import CandleDataError, ConfigError
from hmas.indicators.swings import SWING_COLUMNS, swing_columns
from hmas.market import OHLCV_COLUMNS

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

FEATURE_COLUMNS: Final[tuple[str, ...]] = (
    "sma_200",
    "ema_20",
    "ema_50",
    "rsi_14",
    "bb_lower",
    "bb_mid",
    "bb_upper",
    "bb_width",
    "atr_14",
    "macd",
    "macd_signal",
    "macd_hist",
    "adx_14",
    "plus_di_14",
    "minus_di_14",
    "volume_z",
    "realized_vol",
    "donchian_high_20",
    "donchian_low_20",
    "swing_high",
    "swing_low",
    "swing_high_ts",
    "swing_low_ts",
)
#: Every column of ``compute_features``'s result, in order: the candles, then the features.
OUTPUT_COLUMNS: Final[tuple[str, ...]] = (*OHLCV_COLUMNS, *FEATURE_COLUMNS)

#: Crypto trades around the clock: a year is 365 days of bars.
SECONDS_PER_YEAR: Final[float] = 365.0 * 86_400.0

_TALIB_MAX_PERIOD = 100_000


@dataclass(frozen=True, slots=True)
class FeatureParams:
    """Lengths and multipliers of the features; the defaults are the ones the names carry."""

    sma_length: int = 200
    ema_fast: int = 20
    ema_slow: int = 50
    rsi_length: int = 14
    bb_length: int = 20
    bb_std: float = 2.0
    atr_length: int = 14
    macd_fast: int = 12
    macd_slow: int = 26
    macd_signal: int = 9
    adx_length: int = 14
    volume_z_length: int = 20
    realized_vol_length: int = 20
    donchian_length: int = 20
    swing_k: int = 3

    def __post_init__(self) -> None:
        """Reject lengths TA-Lib or the rolling windows cannot use (``ConfigError``)."""
        minimum = {"donchian_length": 1, "swing_k": 1}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "bb_std":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ConfigError(f"indicators: bb_std must be a number, got {value!r}")
                if not (math.isfinite(value) and value > 0):
                    raise ConfigError(f"indicators: bb_std must be > 0, got {value!r}")
                continue
            low = minimum.get(f.name, 2)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"indicators: {f.name} must be an integer, got {value!r}")
            if not low <= value <= _TALIB_MAX_PERIOD:
                raise ConfigError(
                    f"indicators: {f.name} must be between {low} and {_TALIB_MAX_PERIOD}, "
                    f"got {value}"
                )
        if self.macd_fast >= self.macd_slow:
            raise ConfigError(
                f"indicators: macd_fast ({self.macd_fast}) must be below macd_slow "
                f"({self.macd_slow})"
            )


def feature_warmup(params: FeatureParams | None = None) -> dict[str, int]:
    """Position of each feature's first value on clean candles (for swings: the earliest)."""
    p = params or FeatureParams()
    macd = p.macd_slow - 1 + p.macd_signal - 1
    bb = p.bb_length - 1
    return {
        "sma_200": p.sma_length - 1,
        "ema_20": p.ema_fast - 1,
        "ema_50": p.ema_slow - 1,
        "rsi_14": p.rsi_length,
        "bb_lower": bb,
        "bb_mid": bb,
        "bb_upper": bb,
        "bb_width": bb,
        "atr_14": p.atr_length,
        "macd": macd,
        "macd_signal": macd,
        "macd_hist": macd,
        "adx_14": 2 * p.adx_length - 1,
        "plus_di_14": p.adx_length,
        "minus_di_14": p.adx_length,
        "volume_z": p.volume_z_length - 1,
        "realized_vol": p.realized_vol_length,
        "donchian_high_20": p.donchian_length - 1,
        "donchian_low_20": p.donchian_length - 1,
        # The earliest swing is bar k (k bars on its left), confirmed k bars later.
        "swing_high": 2 * p.swing_k,
        "swing_low": 2 * p.swing_k,
        "swing_high_ts": 2 * p.swing_k,
        "swing_low_ts": 2 * p.swing_k,
    }


@cache
def _talib() -> ModuleType:
    """TA-Lib's Python binding (the C library is bundled in its wheels)."""
    import talib

    return talib


def compute_features(
    candles: pd.DataFrame,
    params: FeatureParams | None = None,
    *,
    only: Collection[str] | None = None,
) -> pd.DataFrame:
    """The feature frame of a candle frame: the OHLCV columns then ``FEATURE_COLUMNS``.

    ``only`` names the features wanted (the OHLCV columns always come): the others are not
    computed and not in the frame. Each column is the same, bit for bit, as in the full frame.
    """
    return feature_arrays(candles, params, only=only)[0]


def feature_arrays(
    candles: pd.DataFrame,
    params: FeatureParams | None = None,
    *,
    only: Collection[str] | None = None,
) -> tuple[pd.DataFrame, dict[str, FloatArray]]:
    """``compute_features``, and its float columns as the arrays the frame was built from
    (read-only, infinities already NaN): what the agents read without a pandas call per column."""
    p = params or FeatureParams()
    wanted = _wanted(only)
    index = _candle_index(candles)
    ohlcv = _candle_arrays(candles)
    columns: dict[str, Any] = dict(ohlcv)
    # Undefined arithmetic (x/0, log 0, inf - inf) is expected on hostile candles: it becomes NaN.
    with np.errstate(all="ignore"):
        columns.update(_talib_features(ohlcv, index, p, wanted))
        if wanted & set(_WINDOW_COLUMNS):
            columns.update(_window_features(ohlcv, index, p))
        if wanted & set(SWING_COLUMNS):
            columns.update(swing_columns(ohlcv["high"], ohlcv["low"], p.swing_k, index))
        for name, values in columns.items():
            if values.dtype == np.float64 and np.isinf(values).any():
                columns[name] = np.where(np.isinf(values), np.nan, values)
    names = [c for c in OUTPUT_COLUMNS if c in OHLCV_COLUMNS or c in wanted]
    arrays: dict[str, FloatArray] = {}
    for name in names:
        values = columns[name]
        if isinstance(values, np.ndarray) and values.dtype == np.float64:
            values.flags.writeable = False
            arrays[name] = values
    if _FROM_ARRAYS is not None and len(index) <= _FROM_ARRAYS_ROWS:
        # pandas' own path from equal-length float arrays, into one block: the same frame as
        # the public constructor at about half its fixed cost on a one-signal window.
        frame: pd.DataFrame = _FROM_ARRAYS(
            [columns[c] for c in names],
            columns=_labels(tuple(names)),
            index=index,
            verify_integrity=False,
        )
        return frame, arrays
    # Copied into the frame: the arrays stay read-only, the frame's columns do not.
    return pd.DataFrame(columns, index=index, columns=names, copy=True), arrays


#: ``DataFrame._from_arrays`` where pandas has it (2.x and 3.x do), and the longest frame it
#: builds (it copies the columns into one block: on a long history the public path is cheaper).
_FROM_ARRAYS = getattr(pd.DataFrame, "_from_arrays", None)
_FROM_ARRAYS_ROWS = 5_000


@functools.lru_cache(maxsize=8)
def _labels(names: tuple[str, ...]) -> pd.Index:
    """The column labels, built once per set of names (an Index is immutable and shareable)."""
    return pd.Index(list(names))


_WINDOW_COLUMNS: Final[tuple[str, ...]] = (
    "volume_z",
    "realized_vol",
    "donchian_high_20",
    "donchian_low_20",
)


def _wanted(only: Collection[str] | None) -> set[str]:
    """The features to compute: all, or the named ones (a ``ValueError`` for an unknown name)."""
    if only is None:
        return set(FEATURE_COLUMNS)
    unknown = sorted(set(only) - set(FEATURE_COLUMNS) - set(OHLCV_COLUMNS))
    if unknown:
        raise ValueError(f"unknown feature(s) {', '.join(unknown)}; see FEATURE_COLUMNS")
    return set(only) & set(FEATURE_COLUMNS)


def _candle_index(candles: pd.DataFrame) -> pd.DatetimeIndex:
    """The frame's index, if it is a candle frame's; else ``CandleDataError`` naming the problem."""
    missing = [c for c in OHLCV_COLUMNS if c not in candles.columns]
    if missing:
        raise CandleDataError(f"candles: missing column(s) {', '.join(missing)}")
    index = candles.index
    if not isinstance(index, pd.DatetimeIndex):
        raise CandleDataError("candles: index must be timestamps (a DatetimeIndex named ts)")
    if not (index.is_monotonic_increasing and index.is_unique):
        raise CandleDataError("candles: timestamps must be strictly increasing")
    return index


def _candle_arrays(candles: pd.DataFrame) -> dict[str, FloatArray]:
    """The OHLCV columns as new float64 arrays (the input is never written to)."""
    arrays: dict[str, FloatArray] = {}
    for name in OHLCV_COLUMNS:
        col = candles[name]
        if col.dtype != np.float64:
            # Non-numeric cells become NaN, like any other undefined value.
            col = pd.to_numeric(col, errors="coerce").astype(np.float64)
        arrays[name] = col.to_numpy(dtype=np.float64, copy=True)
    return arrays


def _clean_span(ohlcv: dict[str, FloatArray]) -> slice:
    """Rows from the first finite high/low/close up to (not including) the next non-finite one.

    TA-Lib does not skip a NaN inside a series: SMA, EMA, ATR turn NaN for good, while RSI and
    ADX carry on with made-up zeros. Its features are therefore computed on this span only and
    are NaN from the first bad row on (rolling-window features recover after their window).
    """
    ok = np.isfinite(ohlcv["high"]) & np.isfinite(ohlcv["low"]) & np.isfinite(ohlcv["close"])
    if not ok.any():
        return slice(0, 0)
    start = int(np.argmax(ok))
    bad = np.flatnonzero(~ok[start:])
    stop = start + int(bad[0]) if len(bad) else len(ok)
    return slice(start, stop)


def _floats(*arrays: Any) -> tuple[FloatArray, ...]:
    """TA-Lib's outputs as fresh float64 arrays (the masks below write in place)."""
    return tuple(np.array(a, dtype=np.float64) for a in arrays)


#: TA-Lib's moving-average type of the Bollinger middle band (``MA_Type.SMA``).
_SMA: Final = 0


_BB: Final = ("bb_lower", "bb_mid", "bb_upper", "bb_width")
_MACD: Final = ("macd", "macd_signal", "macd_hist")
_ADX: Final = ("adx_14", "plus_di_14", "minus_di_14")


def _talib_features(
    ohlcv: dict[str, FloatArray],
    index: pd.DatetimeIndex,
    p: FeatureParams,
    wanted: set[str] | None = None,
) -> dict[str, FloatArray]:
    """SMA, EMA, RSI, Bollinger, ATR, MACD and ADX/DI, by TA-Lib.

    Only the families with a column in ``wanted`` (default: all) are computed.
    """
    wanted = set(FEATURE_COLUMNS) if wanted is None else wanted
    n = len(index)
    span = _clean_span(ohlcv)
    h, lo, c = (ohlcv[name][span] for name in ("high", "low", "close"))
    tl = _talib()
    part: dict[str, FloatArray] = {}
    if wanted & set(_BB):
        upper, mid, lower = tl.BBANDS(c, p.bb_length, p.bb_std, p.bb_std, _SMA)
        part["bb_lower"], part["bb_mid"], part["bb_upper"] = _floats(lower, mid, upper)
    if wanted & set(_MACD):
        macd, signal, hist = tl.MACD(c, p.macd_fast, p.macd_slow, p.macd_signal)
        part["macd"], part["macd_signal"], part["macd_hist"] = _floats(macd, signal, hist)
    if "sma_200" in wanted:
        (part["sma_200"],) = _floats(tl.SMA(c, p.sma_length))
    if "ema_20" in wanted:
        (part["ema_20"],) = _floats(tl.EMA(c, p.ema_fast))
    if "ema_50" in wanted:
        (part["ema_50"],) = _floats(tl.EMA(c, p.ema_slow))
    if "rsi_14" in wanted:
        (part["rsi_14"],) = _floats(tl.RSI(c, p.rsi_length))
    if "atr_14" in wanted:
        (part["atr_14"],) = _floats(tl.ATR(h, lo, c, p.atr_length))
    if wanted & set(_ADX):
        # pandas-ta's adx(talib=True) returns TA-Lib's PLUS_DM/MINUS_DM (price units) as
        # DMP/DMN, not the +DI/-DI it computes without TA-Lib: this family has no pandas-ta twin.
        length = p.adx_length
        part["adx_14"] = np.asarray(tl.ADX(h, lo, c, timeperiod=length), dtype=np.float64)
        part["plus_di_14"] = np.asarray(tl.PLUS_DI(h, lo, c, timeperiod=length), dtype=np.float64)
        part["minus_di_14"] = np.asarray(tl.MINUS_DI(h, lo, c, timeperiod=length), dtype=np.float64)
    _mask_undefined(part, c)
    if "bb_mid" in part:
        part["bb_width"] = (part["bb_upper"] - part["bb_lower"]) / part["bb_mid"]
    if len(c) == n:
        return part
    logger.debug(
        "TA-Lib features on rows [%d, %d) of %d: non-finite prices", span.start, span.stop, n
    )
    full: dict[str, FloatArray] = {}
    for name, values in part.items():
        padded = np.full(n, np.nan)
        padded[span] = values
        full[name] = padded
    return full


def _mask_undefined(part: dict[str, FloatArray], close: FloatArray) -> None:
    """Turn TA-Lib's stand-in zeros for 0/0 into NaN: RSI, ADX and DI of a market at rest."""
    # RSI is 100 * gain / (gain + loss): TA-Lib writes 0 while the close has not moved yet.
    if "rsi_14" in part:
        changed = np.zeros(len(close), dtype=bool)
        changed[1:] = np.diff(close) != 0
        moved = np.maximum.accumulate(changed)
        part["rsi_14"][~moved] = np.nan
    if "adx_14" in part:
        # With no directional movement in Wilder's memory, DX = |+DI - -DI| / (+DI + -DI) is 0/0.
        flat = (part["plus_di_14"] == 0) & (part["minus_di_14"] == 0)
        for name in _ADX:
            part[name][flat] = np.nan


def _window_features(
    ohlcv: dict[str, FloatArray], index: pd.DatetimeIndex, p: FeatureParams
) -> dict[str, FloatArray]:
    """Volume z-score, realised volatility and Donchian channels: causal rolling windows."""
    volume = pd.Series(ohlcv["volume"], copy=False)
    v_roll = volume.rolling(p.volume_z_length, min_periods=p.volume_z_length)
    # Population std (ddof=0), as in the Bollinger bands: |z| = 2 is volume at a 2-sigma band.
    v_std = v_roll.std(ddof=0).to_numpy()
    v_dev = ohlcv["volume"] - v_roll.mean().to_numpy()
    volume_z = np.where(v_std > 0, v_dev / np.where(v_std > 0, v_std, 1.0), np.nan)

    close = ohlcv["close"]
    log_ret = np.full(len(close), np.nan)
    log_ret[1:] = np.log(close[1:] / close[:-1])
    # log of 0, of a negative or of inf/inf is no return at all.
    log_ret[~np.isfinite(log_ret)] = np.nan
    length = p.realized_vol_length
    sd = pd.Series(log_ret, copy=False).rolling(length, min_periods=length).std(ddof=1)
    # Annualise by the window's own bar spacing, (ts[t] - ts[t-L]) / L, not a spacing guessed
    # from the whole frame, which would let later bars change earlier values.
    span_s = np.full(len(close), np.nan)
    span_s[length:] = (index[length:] - index[:-length]).total_seconds()
    bars_per_year = np.where(span_s > 0, SECONDS_PER_YEAR * length / span_s, np.nan)
    realized_vol = sd.to_numpy() * np.sqrt(bars_per_year)

    d = p.donchian_length
    high = pd.Series(ohlcv["high"], copy=False)
    low = pd.Series(ohlcv["low"], copy=False)
    return {
        "volume_z": volume_z,
        "realized_vol": realized_vol,
        "donchian_high_20": high.rolling(d, min_periods=d).max().to_numpy(),
        "donchian_low_20": low.rolling(d, min_periods=d).min().to_numpy(),
    }
