"""Swing highs and lows, each reported only once it is confirmed: no lookahead.

A swing high at bar *i* is a high that tops the ``k`` bars before it and is not exceeded by the
``k`` bars after it:

    high[i] > max(high[i-k .. i-1])   and   high[i] >= max(high[i+1 .. i+k])

(a swing low mirrors this with the lows). The test on the right-hand side needs bars up to
*i + k*, so the swing is **known only at bar i + k**, its confirmation bar; nothing here reports
a swing before then. The strict left / non-strict right comparison makes the first bar of a flat
top the swing and gives no swing at all on constant prices. A NaN or inf anywhere in the
``2k + 1`` window means no swing there.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api.extensions import ExtensionArray

SWING_COLUMNS: Final[tuple[str, ...]] = ("swing_high", "swing_low", "swing_high_ts", "swing_low_ts")
EVENT_COLUMNS: Final[tuple[str, ...]] = ("confirmed_ts", "swing_ts", "kind", "price")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"swing k must be an integer >= 1, got {k!r}")


def _swing_bars(values: FloatArray, k: int) -> IntArray:
    """Positions ``i`` of the swing highs of ``values`` (confirmed at ``i + k``), ascending."""
    n = len(values)
    if n < 2 * k + 1:
        return np.empty(0, dtype=np.intp)
    values = np.where(np.isfinite(values), values, np.nan)  # an infinite price is no price
    # win[j] = max(values[j : j + k]) by k - 1 shifted maxima (a strided view's max is ~10x
    # slower for small k); np.maximum propagates NaN, and NaN compares False.
    win = values[: n - k + 1].copy()
    for j in range(1, k):
        np.maximum(win, values[j : n - k + 1 + j], out=win)
    i = np.arange(k, n - k, dtype=np.intp)
    centre = values[i]
    is_swing: npt.NDArray[np.bool_] = (centre > win[i - k]) & (centre >= win[i + 1])
    return i[is_swing]


def _neg(values: FloatArray) -> FloatArray:
    # Swing lows are the swing highs of the negated lows; negation is exact and never overflows.
    return np.negative(values)


def _as_float(series: pd.Series) -> FloatArray:
    return np.asarray(pd.to_numeric(series, errors="coerce"), dtype=np.float64)


def _last_confirmed(
    values: FloatArray, bars: IntArray, k: int, index: pd.Index
) -> tuple[FloatArray, ExtensionArray]:
    """Price and timestamp of the last swing confirmed at or before each bar."""
    n = len(values)
    source = np.full(n, -1, dtype=np.intp)
    source[bars + k] = bars  # one candidate bar per confirmation bar, so no collisions
    # Forward fill the position of the swing bar: a running maximum of "last seen" positions.
    latest = np.maximum.accumulate(np.where(source >= 0, np.arange(n), -1))
    pos = np.where(latest >= 0, source[np.maximum(latest, 0)], -1)
    price = np.where(pos >= 0, values[np.maximum(pos, 0)], np.nan)
    # allow_fill: position -1 becomes NaT, in the index's own zone and unit.
    return price, index.array.take(pos, allow_fill=True)


def swing_columns(high: FloatArray, low: FloatArray, k: int, index: pd.Index) -> dict[str, Any]:
    """The four ``SWING_COLUMNS`` as arrays (the engine of ``swing_levels``)."""
    _check_k(k)
    high_price, high_ts = _last_confirmed(high, _swing_bars(high, k), k, index)
    low_price, low_ts = _last_confirmed(low, _swing_bars(_neg(low), k), k, index)
    return {
        "swing_high": high_price,
        "swing_low": low_price,
        "swing_high_ts": high_ts,
        "swing_low_ts": low_ts,
    }


def swing_levels(high: pd.Series, low: pd.Series, k: int = 3) -> pd.DataFrame:
    """The last swing high and low confirmed at or before each bar, with their swing bars' times.

    Returns a frame on ``high``'s index with ``swing_high``, ``swing_low`` (float, NaN before the
    first confirmation) and ``swing_high_ts``, ``swing_low_ts`` (the index's type, NaT before).
    """
    columns = swing_columns(_as_float(high), _as_float(low), k, high.index)
    return pd.DataFrame(columns, index=high.index, columns=list(SWING_COLUMNS))


def confirmed_swings(high: pd.Series, low: pd.Series, k: int = 3) -> pd.DataFrame:
    """Every swing as an event at its confirmation bar, ordered by confirmation (then kind).

    Columns: ``confirmed_ts`` (bar i + k, when the swing becomes known), ``swing_ts`` (bar i),
    ``kind`` (``"high"`` or ``"low"``) and ``price``. To read the swings known at bar t, keep the
    rows with ``confirmed_ts <= t``; never filter on ``swing_ts``, which would look ahead.
    """
    _check_k(k)
    index = high.index
    h = _as_float(high)
    lo = _as_float(low)
    highs = _swing_bars(h, k)
    lows = _swing_bars(_neg(lo), k)
    bars = np.concatenate([highs, lows])
    kinds = np.array(["high"] * len(highs) + ["low"] * len(lows), dtype=object)
    prices = np.concatenate([h[highs], lo[lows]])
    # A stable sort on the confirmation bar keeps highs before lows confirmed on the same bar.
    order = np.argsort(bars, kind="stable")
    bars = bars[order]
    return pd.DataFrame(
        {
            "confirmed_ts": index.take(bars + k),
            "swing_ts": index.take(bars),
            "kind": kinds[order],
            "price": prices[order],
        },
        columns=list(EVENT_COLUMNS),
    )
