"""Setup outcomes: where each proposed trade resolves (win, loss or expiry) on later bars.

The rationale's base rate counts a setup only once its resolution bar is at or before the bar
being decided, so it reads nothing from the future (docs/agents/rationale.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]

WIN = 1
LOSS = -1
EXPIRED = 0
#: A valid setup not resolved within the data (its horizon runs past the last bar).
PENDING = 2
#: No trade on this bar (HOLD, abstained, or inconsistent prices).
NO_TRADE = -2

#: Setup × bar cells checked per chunk by ``simulate_outcomes`` (bounds its memory).
_CHUNK_CELLS = 1 << 20


def valid_setups(close: Array, direction: Array, stop: Array, target: Array) -> Array:
    """Bars whose trade is well formed: positive finite prices, stop and target either side."""
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(close) & np.isfinite(stop) & np.isfinite(target)
        positive = finite & (close > 0) & (stop > 0) & (target > 0)
        long_ok = (direction > 0) & (stop < close) & (close < target)
        short_ok = (direction < 0) & (target < close) & (close < stop)
    result: Array = positive & (long_ok | short_ok)
    return result


def simulate_outcomes(
    high: Array,
    low: Array,
    close: Array,
    direction: Array,
    stop: Array,
    target: Array,
    horizon: int,
) -> tuple[Array, Array]:
    """(resolution bar, result) of a trade entered at each bar's close.

    ``direction`` is +1 (long), −1 (short) or 0. Bars i+1 … i+horizon are scanned in order: a
    long loses when the low reaches the stop and wins when the high reaches the target (short:
    mirrored); when both happen in one bar the stop counts first. Untouched after ``horizon``
    bars: EXPIRED at bar i+horizon. The resolution bar is ``n`` (never) for PENDING and
    NO_TRADE rows. A bar with a missing high or low touches nothing.
    """
    n = len(close)
    resolution = np.full(n, n, dtype=np.int64)
    result = np.full(n, NO_TRADE, dtype=np.int8)
    valid = valid_setups(close, direction, stop, target)
    result[valid] = PENDING
    open_ = valid.copy()
    # Every setup against each of its next bars at once (setups × horizon), then the first bar
    # that touches a level: no per-bar Python loop, and no pass per step of the horizon.
    steps = np.arange(1, min(horizon, n - 1) + 1)
    setups = np.flatnonzero(valid)
    if len(steps) and len(setups):
        per_chunk = max(1, _CHUNK_CELLS // len(steps))  # bounds the memory on long histories
        for first_row in range(0, len(setups), per_chunk):
            rows = setups[first_row : first_row + per_chunk]
            bars = rows[:, None] + steps
            inside = bars < n
            bars = np.minimum(bars, n - 1)
            longs = (direction[rows] > 0)[:, None]
            level_stop, level_target = stop[rows][:, None], target[rows][:, None]
            highs, lows = high[bars], low[bars]
            with np.errstate(invalid="ignore"):
                hit_stop = np.where(longs, lows <= level_stop, highs >= level_stop) & inside
                hit_target = np.where(longs, highs >= level_target, lows <= level_target) & inside
            hit = hit_stop | hit_target
            closed = hit.any(axis=1)
            first = hit.argmax(axis=1)[closed]
            done = rows[closed]
            resolution[done] = done + steps[first]
            result[done] = np.where(hit_stop[closed, first], LOSS, WIN)
            open_[done] = False
    expired = open_ & (np.arange(n) + horizon < n)
    resolution[expired] = np.flatnonzero(expired) + horizon
    result[expired] = EXPIRED
    return resolution, result


def resolved_counts(
    history: Array, current: Array, resolution: Array, result: Array
) -> tuple[Array, Array, Array, Array]:
    """Per bar t: (trades, wins, losses, expired) of earlier setups in bar t's group.

    ``history`` gives each bar's setup group as a history entry (−1: not one), ``current`` the
    group asked about on each bar (−1: none, all counts 0). Only setups whose resolution bar is
    at or before t count.
    """
    n = len(current)
    counts = [np.zeros(n, dtype=np.int64) for _ in range(4)]
    resolved = (history >= 0) & (resolution < n) & (result != PENDING) & (result != NO_TRADE)
    for group in np.unique(current[current >= 0]):
        rows = current == group
        past = resolved & (history == group)
        bars = resolution[past]
        outcome = result[past]
        for slot, code in enumerate((None, WIN, LOSS, EXPIRED)):
            chosen = bars if code is None else bars[outcome == code]
            running = np.cumsum(np.bincount(chosen, minlength=n)[:n])
            counts[slot][rows] = running[rows]
    return counts[0], counts[1], counts[2], counts[3]
