"""Technical (layer 2A): trend state, support/resistance, Fibonacci zones and chart patterns.

Rules (thresholds in ``TechnicalParams``; docs/agents/technical.md has the formulas):

- trend: up when close > SMA 200, +DI > -DI and ADX >= ``adx_trend``; down mirrored; else range;
- support/resistance: the nearest confirmed swing or Donchian level below/above the close;
- Fibonacci retracements of the last confirmed swing leg (high and low, ordered by time);
- double top/bottom from the last two confirmed swings, range breakouts from the previous bar's
  Donchian channel;
- the multi-timeframe view: the trend of each higher timeframe (``higher_timeframes``, 4h and
  1d by default) read from the candles resampled to it, closed bars only
  (``hmas.indicators.resample``): up when the last closed bar closes above the SMA of the last
  ``higher_sma`` closed closes and that SMA rises, down mirrored, else range.

Every swing read here is a *confirmed* one (``swing_*`` columns) and every higher-timeframe bar a
*closed* one, so nothing looks ahead.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from hmas.agents.base import AgentView, none_if_nan
from hmas.agents.common import Bools, Floats, column, frame_of, join_flags, pick
from hmas.market import TIMEFRAMES

if TYPE_CHECKING:
    from hmas.agents.base import AgentContext
    from hmas.settings import TechnicalParams

NAME = "technical"

FIB_RATIOS: tuple[float, ...] = (0.236, 0.382, 0.5, 0.618, 0.786)
#: Output column of each retracement (``fib_236`` …) and its key in ``fib_levels`` (``0.236`` …).
FIB_COLUMNS: dict[str, str] = {f"fib_{round(r * 1000):03d}": f"{r:g}" for r in FIB_RATIOS}
PATTERNS: tuple[str, ...] = (
    "double_top",
    "double_bottom",
    "range_breakout_up",
    "range_breakout_down",
)
_TREND_INPUTS = ("sma_200", "adx_14", "plus_di_14", "minus_di_14")
_OHLCV = ("open", "high", "low", "close", "volume")
_LEVELS = ("swing_high", "swing_low", "donchian_high_20", "donchian_low_20")

# Weights of the bias score (docs/agents/technical.md): the trend dominates, a breakout
# outweighs a double top/bottom, which is the least reliable reading.
_TREND_BASE = 0.4
_TREND_ADX_BONUS = 0.2
_ADX_SCALE = 25.0
_BREAKOUT_WEIGHT = 0.3
_DOUBLE_WEIGHT = 0.2
# The higher timeframes weigh as much as a breakout: with them, a trend on the decision's own
# timeframe is a firm bias; against them it falls to the bias threshold or below (neutral).
_HIGHER_WEIGHT = 0.3
#: Prefix of the output columns of each higher timeframe: ``higher:4h:trend`` …
HIGHER_PREFIX = "higher:"
_HIGHER_FIELDS = ("trend", "close", "sma", "bar_open")
#: What the trend reads of each higher timeframe's last closed bar.
_HIGHER_READ = ("close", "sma", "sma_prev", "bar_open")


class HigherTimeframe(BaseModel):
    """The trend of one higher timeframe, from its last closed bar."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    trend: Literal["up", "down", "range"]
    close: float = Field(gt=0)
    sma: float = Field(gt=0)
    bar_open: AwareDatetime


class TechnicalView(AgentView):
    """The technical agent's reading of one bar.

    ``elliott_wave``, ``harmonic_pattern`` and ``wyckoff_phase`` are LLM-only readings: the rules
    engine always leaves them None rather than inventing values.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    agent: Literal["technical"] = "technical"
    bias: Literal["bullish", "bearish", "neutral"] = "neutral"
    confidence: float = Field(0.0, ge=0, le=1)
    trend: Literal["up", "down", "range"] | None = None
    support: float | None = Field(None, gt=0)
    resistance: float | None = Field(None, gt=0)
    fib_levels: dict[str, float] | None = None
    patterns: list[str] = Field(default_factory=list)
    higher_score: float | None = Field(None, ge=-1, le=1)
    higher_timeframes: dict[str, HigherTimeframe] = Field(default_factory=dict)
    elliott_wave: str | None = None
    harmonic_pattern: str | None = None
    wyckoff_phase: str | None = None


def stamps(features: pd.DataFrame, name: str) -> Floats:
    """A timestamp column as float epoch nanoseconds (NaN for NaT or absent); numbers pass as is."""
    n = len(features)
    if name not in features.columns:
        return np.full(n, np.nan)
    col = features[name]
    if isinstance(col, pd.DataFrame):
        col = col.iloc[:, 0]
    dtype = col.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M"):
        # Already timestamps (the features' own dtype): the same instants as to_datetime's
        # UTC view (naive ones count as UTC), without its parsing machinery (~100 µs).
        index = pd.DatetimeIndex(col.array)
    elif pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return column(features, name)
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # format inference chatter on hostile text
                index = pd.DatetimeIndex(pd.to_datetime(col, utc=True, errors="coerce"))
        except (TypeError, ValueError, OverflowError):
            return np.full(n, np.nan)
    values = index.as_unit("ns").asi8.astype(np.float64)
    return np.where(index.isna(), np.nan, values)


def previous_swing(values: Floats, times: Floats) -> Floats:
    """The swing confirmed before the last one, per bar: causal, from the changes of the last."""
    n = len(values)
    key = np.where(np.isfinite(times), times, np.nan)
    if not np.isfinite(key).any():
        key = values  # no timestamps: a new swing shows as a new price
    before = np.concatenate([[np.nan], key[:-1]]) if n else key
    changed = np.isfinite(key) & ~(key == before)
    # At a change, the swing before it is the previous bar's last swing; carry that forward.
    last_change = np.maximum.accumulate(np.where(changed, np.arange(n), -1)) if n else changed
    prior = np.concatenate([[np.nan], values[:-1]]) if n else values
    out: Floats = np.where(last_change >= 0, prior[np.maximum(last_change, 0)], np.nan)
    return out


def previous_swings(values: Floats, times: Floats) -> tuple[Floats, Floats]:
    """``(previous_swing(values, times), previous_swing(times, times))`` in one pass."""
    known_times = np.isfinite(times)
    if known_times.any():
        # Both read the changes of the same timestamps: find them once.
        n = len(values)
        key = np.where(known_times, times, np.nan)
        before = np.concatenate([[np.nan], key[:-1]])
        changed = known_times & ~(key == before)
        last_change = np.maximum.accumulate(np.where(changed, np.arange(n), -1))
        at = np.maximum(last_change, 0)
        known = last_change >= 0
        prior_values = np.concatenate([[np.nan], values[:-1]])
        prior_times = np.concatenate([[np.nan], times[:-1]])
        return np.where(known, prior_values[at], np.nan), np.where(known, prior_times[at], np.nan)
    return previous_swing(values, times), previous_swing(times, times)


def double_pattern(
    peak: Floats,
    peak_ts: Floats,
    trough: Floats,
    trough_ts: Floats,
    tolerance: Floats,
    close: Floats,
    sign: float,
) -> Bools:
    """Double top (``sign`` 1; a double bottom with -1 and highs/lows swapped), per bar.

    The last two confirmed peaks lie within ``tolerance`` of each other, a confirmed trough
    between them sits more than ``tolerance`` beyond the nearer peak (else it is one flat top),
    and the close has not yet gone past that peak (a break would void the pattern).
    """
    return _double(
        (peak, peak_ts, *previous_swings(peak, peak_ts)),
        (trough, trough_ts, *previous_swings(trough, trough_ts)),
        tolerance,
        close,
        sign,
    )


def _double(
    peaks: tuple[Floats, Floats, Floats, Floats],
    troughs: tuple[Floats, Floats, Floats, Floats],
    tolerance: Floats,
    close: Floats,
    sign: float,
) -> Bools:
    """``double_pattern`` from (last, its time, previous, its time) of the peaks and troughs."""
    peak, peak_ts, prev_peak, prev_peak_ts = peaks
    trough, trough_ts, prev_trough, prev_trough_ts = troughs
    # The trough between the peaks is the last confirmed one, or the one before it when a
    # newer trough has formed since the second peak.
    last_between = (prev_peak_ts < trough_ts) & (trough_ts < peak_ts)
    prev_between = (prev_peak_ts < prev_trough_ts) & (prev_trough_ts < peak_ts)
    neck = np.where(last_between, trough, np.where(prev_between, prev_trough, np.nan))
    inner = np.minimum(sign * peak, sign * prev_peak)
    found: Bools = (
        (prev_peak > 0)
        & (np.abs(peak - prev_peak) <= tolerance)
        & (sign * neck < inner - tolerance)
        & (sign * close < inner)
    )
    return found


def higher_of(params: TechnicalParams, timeframe: str) -> list[str]:
    """The configured higher timeframes that apply to ``timeframe``: whole multiples above it."""
    step = TIMEFRAMES.get(timeframe)
    if step is None:
        return []
    return [
        h
        for h in params.higher_timeframes
        if h in TIMEFRAMES and TIMEFRAMES[h] > step and TIMEFRAMES[h] % step == 0
    ]


def higher_warmup_ms(params: TechnicalParams, timeframe: str) -> int:
    """How long before a bar its window must start for every higher-timeframe trend to be read:
    ``higher_sma`` closed bars, one more for the SMA's slope and one the window may start inside
    (dropped: part of it lies before the window)."""
    return max(
        (TIMEFRAMES[h] * (params.higher_sma + 2) for h in higher_of(params, timeframe)), default=0
    )


def higher_trends(
    features: pd.DataFrame,
    timeframe: str,
    params: TechnicalParams,
    ohlcv: dict[str, Floats] | None = None,
) -> dict[str, dict[str, Floats]]:
    """Per higher timeframe, per bar: its trend sign (+1 up, -1 down, 0 range, NaN unknown) and
    the last closed bar's close, SMA and open time (epoch ms). ``ohlcv``: the features' OHLCV
    columns, when the caller has read them already."""
    from hmas.indicators.resample import higher_arrays

    n = len(features)
    higher = higher_of(params, timeframe)
    index = features.index
    ms = index.as_unit("ms").asi8 if isinstance(index, pd.DatetimeIndex) else None
    if ms is None or index.hasnans or (len(ms) > 1 and not (ms[1:] > ms[:-1]).all()):
        # No timestamps, or unordered or repeated bars: nothing to resample.
        return {
            name: dict.fromkeys(("sign", "close", "sma", "bar_open"), np.full(n, np.nan))
            for name in higher
        }
    columns = ohlcv if ohlcv is not None else {name: column(features, name) for name in _OHLCV}
    out: dict[str, dict[str, Floats]] = {}
    for name in higher:
        bars = higher_arrays(ms, columns, timeframe, name, params.higher_sma, _HIGHER_READ)
        close, sma, prev = bars["close"], bars["sma"], bars["sma_prev"]
        with np.errstate(invalid="ignore"):
            known = np.isfinite(close) & np.isfinite(sma) & np.isfinite(prev) & (sma > 0)
            up = (close > sma) & (sma > prev)
            down = (close < sma) & (sma < prev)
        out[name] = {
            "sign": np.where(known, up.astype(np.float64) - down.astype(np.float64), np.nan),
            "close": np.where(known, close, np.nan),
            "sma": np.where(known, sma, np.nan),
            "bar_open": np.where(known, bars["bar_open"], np.nan),
        }
    return out


def run_rules(features: pd.DataFrame, ctx: AgentContext) -> pd.DataFrame:
    """Technical readings for every bar of ``features`` (row t reads rows ≤ t only)."""
    p = ctx.settings.technical
    n = len(features)
    f = {name: column(features, name) for name in (*_OHLCV, "atr_14", *_TREND_INPUTS, *_LEVELS)}
    close, atr = f["close"], f["atr_14"]
    high_ts, low_ts = stamps(features, "swing_high_ts"), stamps(features, "swing_low_ts")

    with np.errstate(all="ignore"):
        price_ok = close > 0
        ready = np.logical_and.reduce([np.isfinite(f[c]) for c in _TREND_INPUTS])
        flags = [("close missing or not positive", ~price_ok)]
        flags += [(f"{c} missing", ~np.isfinite(f[c])) for c in _TREND_INPUTS]
        abstain = ~(price_ok & ready)
        reason = join_flags(flags, n)
        ok = ~abstain

        sma, adx, plus_di, minus_di = (f[c] for c in _TREND_INPUTS)
        trending = adx >= p.adx_trend
        up = ok & (close > sma) & (plus_di > minus_di) & trending
        down = ok & (close < sma) & (minus_di > plus_di) & trending

        # Nearest positive level on each side of the close.
        levels = np.stack([f[c] for c in _LEVELS])
        usable = np.isfinite(levels) & (levels > 0)
        below = usable & (levels < close)
        above = usable & (levels > close)
        support = np.where(below.any(axis=0), np.where(below, levels, -np.inf).max(axis=0), np.nan)
        resistance = np.where(
            above.any(axis=0), np.where(above, levels, np.inf).min(axis=0), np.nan
        )

        # Fibonacci retracements of the leg between the last confirmed swing high and low.
        high, low = f["swing_high"], f["swing_low"]
        leg = (
            ok
            & (high > low)
            & (low > 0)
            & np.isfinite(high_ts)
            & np.isfinite(low_ts)
            & (high_ts != low_ts)
        )
        leg_up = high_ts > low_ts  # the high came later: the leg rose, retrace down from it
        span = high - low
        fibs = {
            name: np.where(leg, np.where(leg_up, high - r * span, low + r * span), np.nan)
            for name, r in zip(FIB_COLUMNS, FIB_RATIOS, strict=True)
        }

        tolerance = np.where(atr > 0, p.double_tolerance_atr * atr, np.nan)
        highs = (high, high_ts, *previous_swings(high, high_ts))
        lows = (low, low_ts, *previous_swings(low, low_ts))
        double_top = ok & _double(highs, lows, tolerance, close, 1.0)
        double_bottom = ok & (low > 0)
        double_bottom &= _double(lows, highs, tolerance, close, -1.0)
        prior_high = np.concatenate([[np.nan], f["donchian_high_20"][:-1]]) if n else close
        prior_low = np.concatenate([[np.nan], f["donchian_low_20"][:-1]]) if n else close
        breakout_up = ok & (close > prior_high)
        breakout_down = ok & (close < prior_low)

        # The higher timeframes: the mean of the known trend signs (NaN when none is known).
        higher = higher_trends(features, ctx.timeframe, p, {k: f[k] for k in _OHLCV})
        signs = (
            np.stack([h["sign"] for h in higher.values()]) if higher else np.full((1, n), np.nan)
        )
        known = np.isfinite(signs)
        count = known.sum(axis=0)
        higher_score = np.where(
            ok & (count > 0), np.where(known, signs, 0.0).sum(axis=0) / np.maximum(count, 1), np.nan
        )

        adx_bonus = _TREND_ADX_BONUS * np.clip((adx - p.adx_trend) / _ADX_SCALE, 0, 1)
        direction = up.astype(np.float64) - down.astype(np.float64)
        score = (
            direction * (_TREND_BASE + np.nan_to_num(adx_bonus))
            + _BREAKOUT_WEIGHT * (breakout_up.astype(np.float64) - breakout_down)
            + _DOUBLE_WEIGHT * (double_bottom.astype(np.float64) - double_top)
            + _HIGHER_WEIGHT * np.nan_to_num(higher_score)
        )
        score = np.where(ok, np.clip(score, -1.0, 1.0), 0.0)

    # Strict signs keep a zero score neutral even with a zero threshold.
    bullish = (score > 0) & (score >= p.bias_threshold)
    bearish = (score < 0) & (score <= -p.bias_threshold)
    bias = pick(n, "neutral", (bullish, "bullish"), (bearish, "bearish"))
    abstain_reason = np.full(n, None, dtype=object)
    abstain_reason[abstain] = "data quality: " + reason[abstain]
    columns: dict[str, Any] = {
        "bias": bias,
        "confidence": np.abs(score),
        "score": score,
        "trend": pick(n, "range", (abstain, None), (up, "up"), (down, "down")),
        "support": np.where(ok, support, np.nan),
        "resistance": np.where(ok, resistance, np.nan),
        "fib_leg": pick(n, None, (leg & leg_up, "up"), (leg, "down")),
        **fibs,
        "double_top": double_top,
        "double_bottom": double_bottom,
        "range_breakout_up": breakout_up,
        "range_breakout_down": breakout_down,
        "higher_score": higher_score,
        # LLM-only readings: never invented by the rules engine.
        "elliott_wave": np.full(n, None, dtype=object),
        "harmonic_pattern": np.full(n, None, dtype=object),
        "wyckoff_phase": np.full(n, None, dtype=object),
        "abstained": abstain,
        "abstain_reason": abstain_reason,
    }
    for name, values in higher.items():
        shown = ok & np.isfinite(values["sign"])
        columns[f"{HIGHER_PREFIX}{name}:trend"] = pick(
            n,
            None,
            (shown & (values["sign"] > 0), "up"),
            (shown & (values["sign"] < 0), "down"),
            (shown, "range"),
        )
        for field in _HIGHER_FIELDS[1:]:
            columns[f"{HIGHER_PREFIX}{name}:{field}"] = np.where(shown, values[field], np.nan)
    return frame_of(columns, features.index)


def view_at(out: pd.DataFrame, i: int, views: Mapping[str, Any] | None = None) -> TechnicalView:
    """The view of row ``i`` (positional) of a ``run_rules`` frame (``views`` unused)."""
    row = {str(k): none_if_nan(v) for k, v in out.iloc[i].items()}
    fibs = {key: float(row[name]) for name, key in FIB_COLUMNS.items() if row[name] is not None}
    return TechnicalView.from_row(
        row,
        fib_levels=fibs if len(fibs) == len(FIB_COLUMNS) else None,
        patterns=[name for name in PATTERNS if row[name]],
        higher_timeframes=_higher_views(row),
    )


def _higher_views(row: Mapping[str, Any]) -> dict[str, HigherTimeframe]:
    """The higher timeframes read at this row, from their ``higher:<tf>:<field>`` columns."""
    views: dict[str, HigherTimeframe] = {}
    for key, trend in row.items():
        if not (key.startswith(HIGHER_PREFIX) and key.endswith(":trend")) or trend is None:
            continue
        name = key[len(HIGHER_PREFIX) : -len(":trend")]
        field = f"{HIGHER_PREFIX}{name}:"
        opened = pd.Timestamp(int(row[field + "bar_open"]), unit="ms", tz="UTC")
        views[name] = HigherTimeframe(
            trend=trend,
            close=row[field + "close"],
            sma=row[field + "sma"],
            bar_open=opened.to_pydatetime(),
        )
    return views
