"""Higher-timeframe bars from stored candles, without lookahead, anchored to the Unix epoch.

A decision on 1h candles may read the 4h and 1d charts, but only bars that had **closed** when
the decision was taken: a 4h bar is usable once its last 1h bar has closed, never while it is
still forming (its close would be a price from the future of every earlier hour in it).

- ``resample_closed(candles, timeframe, higher)``: the closed ``higher`` bars, one row per
  bucket. Buckets are aligned to the epoch (a 4h bucket opens at 00:00, 04:00, … UTC, a 1d
  bucket at 00:00 UTC), so a bucket never depends on where the candle window starts; the
  first bucket is dropped when the window starts inside it (its open, high, low and volume
  would depend on the window's start). A bucket with missing candles closes on time all the
  same (``bars`` counts the candles it holds); a bucket is closed when the last candle slot
  it spans has closed, so the last bucket is left out while the window ends inside it;
- ``align_closed(bars, index, timeframe)``: for each candle of ``index``, the last closed
  bucket by that candle's close (NaN before the first);
- ``higher_timeframe(candles, timeframe, higher, sma_length)``: both, plus the simple moving
  average of the closed buckets' closes (and its previous value, for its slope).

Row *t* of ``align_closed`` and ``higher_timeframe`` reads only candles at or before *t*: cutting
the history at any bar leaves every earlier row unchanged (tests/indicators/test_resample.py).
Pure numpy over the rows: a year of one-minute candles resamples in milliseconds.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from hmas.market import TIMEFRAMES

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

#: Columns of ``resample_closed`` (besides the bucket's open time, the index).
BAR_COLUMNS: Final[tuple[str, ...]] = ("open", "high", "low", "close", "volume", "bars", "end")
#: Columns ``higher_timeframe`` adds to the aligned bar.
TREND_COLUMNS: Final[tuple[str, ...]] = ("sma", "sma_prev", "bar_open")

_PRICES = ("open", "high", "low", "close")


def check_higher(timeframe: str, higher: str) -> tuple[int, int]:
    """The lengths (ms) of ``timeframe`` and ``higher``; ValueError unless ``higher`` is a whole
    multiple of ``timeframe`` above it (each of its buckets then holds whole candles)."""
    if timeframe not in TIMEFRAMES or higher not in TIMEFRAMES:
        unknown = timeframe if timeframe not in TIMEFRAMES else higher
        raise ValueError(f"unknown timeframe {unknown!r}; use one of {', '.join(TIMEFRAMES)}")
    step, span = TIMEFRAMES[timeframe], TIMEFRAMES[higher]
    if span <= step or span % step:
        raise ValueError(f"{higher} is not a whole multiple of {timeframe} above it")
    return step, span


def _stamps(index: pd.Index) -> Ints:
    """Epoch milliseconds of a strictly increasing DatetimeIndex (ValueError otherwise)."""
    if not isinstance(index, pd.DatetimeIndex):
        raise ValueError("candles must be indexed by timestamps")
    if index.hasnans:
        raise ValueError("candle timestamps must not be missing")
    ms: Ints = index.as_unit("ms").asi8.astype(np.int64)
    if len(ms) > 1 and not (np.diff(ms) > 0).all():
        raise ValueError("candle timestamps must be strictly increasing")
    return ms


def _usable(candles: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Candles with positive, finite prices and a finite volume (others count as missing)."""
    n = len(candles)
    ok = np.ones(n, dtype=bool)
    for name in (*_PRICES, "volume"):
        if name not in candles.columns:
            raise ValueError(f"candles have no {name} column")
        values = pd.to_numeric(candles[name], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        ok &= np.isfinite(values)
        if name != "volume":
            ok &= values > 0
    return ok


def resample_closed(candles: pd.DataFrame, timeframe: str, higher: str) -> pd.DataFrame:
    """The closed ``higher`` bars of ``candles`` (``timeframe``), one row per bucket.

    Index: the bucket's open time (UTC, named ``ts``). Columns: ``open`` (of its first usable
    candle), ``high``, ``low``, ``close`` (of its last), ``volume`` (sum), ``bars`` (candles
    held) and ``end`` (its close time, epoch ms: when it becomes usable).
    """
    step, span = check_higher(timeframe, higher)
    ms = _stamps(candles.index)
    empty = pd.DataFrame(
        {c: pd.Series(dtype=np.int64 if c in ("bars", "end") else np.float64) for c in BAR_COLUMNS},
        index=_bucket_index(np.zeros(0, dtype=np.int64), candles.index),
    )
    if not len(ms):
        return empty
    ok = _usable(candles)
    buckets = ms - ms % span
    # The bucket the window starts inside may hold only part of its candles; the last one is
    # usable only once its last candle slot has closed.
    keep = ok & (buckets >= ms[0]) & (buckets + span <= ms[-1] + step)
    if not keep.any():
        return empty
    rows = np.flatnonzero(keep)
    own = buckets[rows]
    firsts = np.concatenate([[0], np.flatnonzero(np.diff(own)) + 1])
    lasts = np.concatenate([firsts[1:], [len(rows)]]) - 1
    values = {
        name: candles[name].to_numpy(dtype=np.float64, na_value=np.nan)[rows]
        for name in (*_PRICES, "volume")
    }
    opens = own[firsts]
    out = pd.DataFrame(
        {
            "open": values["open"][firsts],
            "high": np.maximum.reduceat(values["high"], firsts),
            "low": np.minimum.reduceat(values["low"], firsts),
            "close": values["close"][lasts],
            "volume": np.add.reduceat(values["volume"], firsts),
            "bars": (lasts - firsts + 1).astype(np.int64),
            "end": (opens + span).astype(np.int64),
        },
        index=_bucket_index(opens, candles.index),
    )
    return out


def _bucket_index(opens: Ints, like: pd.Index) -> pd.DatetimeIndex:
    """Bucket open times (epoch ms) as a UTC index of the candles' resolution, named ``ts``."""
    index = pd.DatetimeIndex(pd.to_datetime(opens, unit="ms", utc=True), name="ts")
    unit = like.unit if isinstance(like, pd.DatetimeIndex) else "ns"
    return index.as_unit(unit)


def closed_positions(ends: Ints, index: pd.Index, timeframe: str) -> Ints:
    """For each candle of ``index``, the position of the last bucket whose ``end`` is at or
    before the candle's close (-1 when none has closed yet)."""
    ms = _stamps(index)
    step = TIMEFRAMES[timeframe]
    positions: Ints = np.searchsorted(ends, ms + step, side="right").astype(np.int64) - 1
    return positions


def align_closed(bars: pd.DataFrame, index: pd.Index, timeframe: str) -> pd.DataFrame:
    """``bars`` (from ``resample_closed``) on ``index``: each candle's last closed bucket.

    Columns of ``bars`` plus ``bar_open`` (the bucket's open time, epoch ms); NaN rows before
    the first bucket closes.
    """
    ends = bars["end"].to_numpy(dtype=np.int64)
    at = closed_positions(ends, index, timeframe)
    seen = at >= 0
    take = np.maximum(at, 0)
    opens = pd.DatetimeIndex(bars.index).as_unit("ms").asi8.astype(np.float64)
    columns: dict[str, Floats] = {}
    for name in (*bars.columns, "bar_open"):
        source = opens if name == "bar_open" else bars[name].to_numpy(dtype=np.float64)
        columns[name] = (
            np.where(seen, source[take], np.nan) if len(source) else np.full(len(at), np.nan)
        )
    return pd.DataFrame(columns, index=index)


def higher_timeframe(
    candles: pd.DataFrame, timeframe: str, higher: str, sma_length: int
) -> pd.DataFrame:
    """Per candle, the last closed ``higher`` bar and the SMA of the closed bars' closes.

    Columns: ``BAR_COLUMNS`` (``end`` and ``bar_open`` as epoch ms floats), ``sma`` (the mean
    close of the last ``sma_length`` closed buckets, the candle's bucket the newest) and
    ``sma_prev`` (the same one bucket earlier); NaN until enough buckets have closed.
    """
    if sma_length < 1:
        raise ValueError(f"sma_length must be at least 1, got {sma_length}")
    bars = resample_closed(candles, timeframe, higher)
    closes = bars["close"].to_numpy(dtype=np.float64)
    sma = (
        pd.Series(closes)
        .rolling(sma_length, min_periods=sma_length)
        .mean()
        .to_numpy(dtype=np.float64, na_value=np.nan)
    )
    bars = bars.assign(sma=sma, sma_prev=np.concatenate([[np.nan], sma[:-1]])[: len(sma)])
    aligned = align_closed(bars, candles.index, timeframe)
    return aligned[[*BAR_COLUMNS, *TREND_COLUMNS]]
