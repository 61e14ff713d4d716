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
  average of the closed buckets' closes (and its previous value, for its slope);
  ``higher_arrays`` is the same on numpy arrays (what the technical agent calls: a signal's
  window is short, and pandas' fixed costs would outweigh the arithmetic).

Row *t* of ``align_closed`` and ``higher_timeframe`` reads only candles at or before *t*: cutting
the history at any bar leaves every earlier row unchanged (tests/indicators/test_resample.py).
Pure numpy over the rows: a year of one-minute candles resamples in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

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
    ms: Ints = index.as_unit("ms").asi8.astype(np.int64, copy=False)
    if len(ms) > 1 and not (ms[1:] > ms[:-1]).all():
        raise ValueError("candle timestamps must be strictly increasing")
    return ms


def _columns(candles: pd.DataFrame) -> dict[str, Floats]:
    """The OHLCV columns as float64 arrays (non-numbers as NaN); ValueError when one is absent."""
    out: dict[str, Floats] = {}
    for name in (*_PRICES, "volume"):
        if name not in candles.columns:
            raise ValueError(f"candles have no {name} column")
        column = candles[name]
        if isinstance(column.dtype, np.dtype) and column.dtype == np.float64:
            out[name] = column.to_numpy()
        else:
            out[name] = pd.to_numeric(column, errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
    return out


@dataclass(frozen=True)
class Resampled:
    """The closed buckets of a candle series, as arrays (one entry per bucket)."""

    opens: Ints  # open time, epoch ms
    ends: Ints  # close time, epoch ms: when the bucket becomes usable
    open: Floats
    high: Floats
    low: Floats
    close: Floats
    volume: Floats
    bars: Ints


def resample_arrays(ms: Ints, ohlcv: dict[str, Floats], step: int, span: int) -> Resampled:
    """``resample_closed`` on arrays: ``ms`` strictly increasing open times (epoch ms) of
    candles ``step`` long, ``ohlcv`` their columns, ``span`` the bucket length (ms)."""
    empty_i, empty_f = np.zeros(0, dtype=np.int64), np.zeros(0)
    if not len(ms):
        return Resampled(empty_i, empty_i, empty_f, empty_f, empty_f, empty_f, empty_f, empty_i)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(ohlcv["volume"])
        for name in _PRICES:
            ok &= ohlcv[name] > 0  # False for NaN
            ok &= ohlcv[name] < np.inf
    buckets = ms - ms % span
    # The bucket the window starts inside may hold only part of its candles; the last one is
    # usable only once its last candle slot has closed.
    keep = ok & (buckets >= ms[0]) & (buckets + span <= ms[-1] + step)
    rows = np.flatnonzero(keep)
    if not len(rows):
        return Resampled(empty_i, empty_i, empty_f, empty_f, empty_f, empty_f, empty_f, empty_i)
    own = buckets[rows]
    firsts = np.flatnonzero(np.concatenate([[True], own[1:] != own[:-1]]))
    lasts = np.concatenate([firsts[1:], [len(rows)]]) - 1
    opens = own[firsts]
    return Resampled(
        opens=opens,
        ends=opens + span,
        open=ohlcv["open"][rows[firsts]],
        high=np.maximum.reduceat(ohlcv["high"][rows], firsts),
        low=np.minimum.reduceat(ohlcv["low"][rows], firsts),
        close=ohlcv["close"][rows[lasts]],
        volume=np.add.reduceat(ohlcv["volume"][rows], firsts),
        bars=(lasts - firsts + 1).astype(np.int64),
    )


def resample_closed(candles: pd.DataFrame, timeframe: str, higher: str) -> pd.DataFrame:
    """The closed ``higher`` bars of ``candles`` (``timeframe``), one row per bucket.

    Index: the bucket's open time (UTC, named ``ts``). Columns: ``open`` (of its first usable
    candle), ``high``, ``low``, ``close`` (of its last), ``volume`` (sum), ``bars`` (candles
    held) and ``end`` (its close time, epoch ms: when it becomes usable).
    """
    step, span = check_higher(timeframe, higher)
    ms = _stamps(candles.index)
    r = resample_arrays(ms, _columns(candles), step, span)
    return pd.DataFrame(
        {
            "open": r.open,
            "high": r.high,
            "low": r.low,
            "close": r.close,
            "volume": r.volume,
            "bars": r.bars,
            "end": r.ends,
        },
        index=_bucket_index(r.opens, candles.index),
    )


def _bucket_index(opens: Ints, like: pd.Index) -> pd.DatetimeIndex:
    """Bucket open times (epoch ms) as a UTC index of the candles' resolution, named ``ts``."""
    index = pd.DatetimeIndex(pd.to_datetime(opens, unit="ms", utc=True), name="ts")
    unit = like.unit if isinstance(like, pd.DatetimeIndex) else "ns"
    return index.as_unit(unit)


def closed_positions(ends: Ints, ms: Ints, step: int) -> Ints:
    """For each candle opening at ``ms``, the position of the last bucket whose ``end`` is at
    or before the candle's close (-1 when none has closed yet)."""
    positions: Ints = np.searchsorted(ends, ms + step, side="right").astype(np.int64) - 1
    return positions


def _gather(values: Floats, at: Ints) -> Floats:
    """``values[at]`` with NaN where ``at`` is -1 (no bucket closed yet)."""
    if not len(values):
        return np.full(len(at), np.nan)
    out: Floats = np.where(at >= 0, values[np.maximum(at, 0)], np.nan)
    return out


def align_closed(bars: pd.DataFrame, index: pd.Index, timeframe: str) -> pd.DataFrame:
    """``bars`` (from ``resample_closed``) on ``index``: each candle's last closed bucket.

    Columns of ``bars`` plus ``bar_open`` (the bucket's open time, epoch ms), as floats; NaN
    rows before the first bucket closes.
    """
    at = closed_positions(
        bars["end"].to_numpy(dtype=np.int64), _stamps(index), TIMEFRAMES[timeframe]
    )
    opens = pd.DatetimeIndex(bars.index).as_unit("ms").asi8.astype(np.float64)
    columns = {name: _gather(bars[name].to_numpy(dtype=np.float64), at) for name in bars.columns}
    columns["bar_open"] = _gather(opens, at)
    return pd.DataFrame(columns, index=index)


def moving_average(values: Floats, length: int) -> Floats:
    """The mean of each value and the ``length - 1`` before it (NaN for the first ones).

    Each mean sums its own window (no running sum): its bits do not depend on where the
    series starts.
    """
    out = np.full(len(values), np.nan)
    if len(values) >= length:
        out[length - 1 :] = sliding_window_view(values, length).mean(axis=1)
    return out


def higher_arrays(
    ms: Ints,
    ohlcv: dict[str, Floats],
    timeframe: str,
    higher: str,
    sma_length: int,
    names: tuple[str, ...] = (*BAR_COLUMNS, *TREND_COLUMNS),
) -> dict[str, Floats]:
    """``higher_timeframe`` on arrays (``ms`` and ``ohlcv`` as for ``resample_arrays``): the
    columns ``names`` only."""
    if sma_length < 1:
        raise ValueError(f"sma_length must be at least 1, got {sma_length}")
    step, span = check_higher(timeframe, higher)
    r = resample_arrays(ms, ohlcv, step, span)
    sma = moving_average(r.close, sma_length)
    sma_prev = np.concatenate([[np.nan], sma[:-1]]) if len(sma) else sma
    at = closed_positions(r.ends, ms, step)
    columns = {
        "open": r.open,
        "high": r.high,
        "low": r.low,
        "close": r.close,
        "volume": r.volume,
        "bars": r.bars.astype(np.float64),
        "end": r.ends.astype(np.float64),
        "sma": sma,
        "sma_prev": sma_prev,
        "bar_open": r.opens.astype(np.float64),
    }
    return {name: _gather(columns[name], at) for name in names}


def higher_timeframe(
    candles: pd.DataFrame, timeframe: str, higher: str, sma_length: int
) -> pd.DataFrame:
    """Per candle, the last closed ``higher`` bar and the SMA of the closed bars' closes.

    Columns: ``BAR_COLUMNS`` (``end`` and ``bar_open`` as epoch ms floats), ``sma`` (the mean
    close of the last ``sma_length`` closed buckets, the candle's bucket the newest) and
    ``sma_prev`` (the same one bucket earlier); NaN until enough buckets have closed.
    """
    arrays = higher_arrays(_stamps(candles.index), _columns(candles), timeframe, higher, sma_length)
    return pd.DataFrame(
        {name: arrays[name] for name in (*BAR_COLUMNS, *TREND_COLUMNS)}, index=candles.index
    )
