"""Macro agent: the benchmark's regime, the volatility percentile, correlations and the session.

Rules (docs/agents/macro.md): the regime comes from the benchmark (BTC) close against its
200-bar SMA and the benchmark's volatility percentile; the symbol's own volatility percentile
gives the volatility regime; correlations are rolling correlations of log returns; the session
is read from the bar's UTC open hour. Every rolling statistic ends at the bar itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import Field

from hmas.agents.base import AgentContext, AgentView, none_if_nan
from hmas.agents.common import (
    align_on,
    column_values,
    filled,
    frame_of,
    labelled,
    rolling_rank,
)
from hmas.market import TIMEFRAMES

if TYPE_CHECKING:
    from hmas.settings import MacroParams

Array = npt.NDArray[Any]

NAME = "macro"

Regime = Literal["risk_on", "risk_off", "neutral"]
VolatilityRegime = Literal["low", "normal", "high"]
Session = Literal["asia", "london", "new_york", "off_hours", "daily"]
Tailwind = Literal["long", "short", "none"]

#: Sessions by UTC open hour: [start, end). London/New York overlap (13–16) counts as New York.
SESSIONS: tuple[tuple[str, int, int], ...] = (
    ("asia", 0, 7),
    ("london", 7, 13),
    ("new_york", 13, 21),
    ("off_hours", 21, 24),
)

_SESSION_OF_HOUR = np.array(
    [next(name for name, lo, hi in SESSIONS if lo <= hour < hi) for hour in range(24)],
    dtype=object,
)
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}

#: Prefix of the output columns holding the correlation with each universe symbol.
UNIVERSE_PREFIX = "corr_universe:"

_RULE_NOTES: dict[str, str] = {
    "no_benchmark": "no benchmark data: regime neutral",
    "below_sma200": "benchmark close below its 200-bar SMA: risk-off",
    "high_vol_selloff": "benchmark volatility percentile high and close below its EMA 20: risk-off",
    "above_sma200_calm": "benchmark close above its 200-bar SMA, volatility not high: risk-on",
    "trend_warmup": "benchmark close or 200-bar SMA unavailable (warm-up): regime neutral",
    "above_sma200_high_vol": "benchmark above its 200-bar SMA but volatility high: neutral",
    "vol_warmup": "benchmark volatility percentile unavailable (warm-up): regime neutral",
    "at_sma200": "benchmark close at its 200-bar SMA: neutral",
}


class MacroView(AgentView):
    """Market regime, volatility regime, correlations and session of one bar."""

    agent: Literal["macro"] = "macro"
    regime: Regime = "neutral"
    volatility_regime: VolatilityRegime = "normal"
    volatility_percentile: float | None = Field(None, ge=0, le=1)
    benchmark_volatility_percentile: float | None = Field(None, ge=0, le=1)
    correlation_btc: float | None = Field(None, ge=-1, le=1)
    correlation_universe: dict[str, float] = Field(default_factory=dict)
    session: Session | None = None
    tailwind: Tailwind = "none"
    notes: list[str] = Field(default_factory=list)


#: The benchmark's features the regime reads (``close`` comes with every candle frame).
BENCHMARK_FEATURES: tuple[str, ...] = ("sma_200", "ema_20", "realized_vol")


def volatility_percentile(vol: Array, lookback: int, min_periods: int) -> Array:
    """Causal percentile rank (0–1, ties averaged) of each value among the last ``lookback``.

    A 2-D array ranks each row.
    """
    clean = np.where(np.isfinite(vol) & (vol >= 0), vol, np.nan)
    ranks = rolling_rank(clean, lookback, max(1, min(min_periods, lookback)), pct=True)
    return np.clip(ranks, 0.0, 1.0)


def log_returns(close: Array) -> Array:
    """log(c_t / c_{t-1}); NaN where either price is missing or non-positive."""
    positive = np.where(np.isfinite(close) & (close > 0), close, np.nan)
    out = np.full(len(close), np.nan)
    if len(close) > 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            out[1:] = np.log(positive[1:]) - np.log(positive[:-1])
    return out


def rolling_correlation(x: Array, y: Array, window: int) -> Array:
    """Causal rolling Pearson correlation over ``window`` bars; NaN when either side is flat."""
    corr = pd.Series(x).rolling(window, min_periods=window).corr(pd.Series(y))
    values = corr.to_numpy(dtype="float64", na_value=np.nan)
    # Rounding can land a hair outside [-1, 1]; the view validates the bounds.
    return np.clip(np.where(np.isfinite(values), values, np.nan), -1.0, 1.0)


def sessions(index: pd.Index, timeframe: str) -> Array:
    """Session name per bar from its UTC open hour, or ``daily`` for bars of a day or longer."""
    ts = index if isinstance(index, pd.DatetimeIndex) else pd.DatetimeIndex(index)
    valid = ~np.asarray(ts.isna())
    step = TIMEFRAMES.get(timeframe)
    if step is None and valid.sum() > 1:
        # Unknown timeframe string: judge by the typical bar spacing.
        step = int(np.median(np.diff(ts.as_unit("ms").asi8[valid])))
    names: Array
    if step is not None and step >= TIMEFRAMES["1d"]:
        names = filled(len(ts), "daily")
    else:
        # Epoch counts are UTC whatever the zone (naive stamps count as UTC), and UTC hours
        # are whole units: the hour is a floor division, without pandas' field machinery.
        hours = ts.asi8 // (3600 * _PER_SECOND[ts.unit]) % 24
        names = _SESSION_OF_HOUR[hours]
    names[~valid] = None
    return names


def _regime(
    close: Array, sma: Array, ema: Array, has_bench: bool, params: MacroParams, pct: Array
) -> tuple[Array, Array, Array]:
    """(risk-on mask, risk-off mask, rule code) per bar from the benchmark's close, SMA 200,
    EMA 20 and volatility percentile ``pct`` (all NaN without a benchmark)."""
    known = np.isfinite(close) & np.isfinite(sma) & (close > 0) & (sma > 0)
    with np.errstate(invalid="ignore"):
        high = pct >= params.high_vol_pct
        calm = pct < params.high_vol_pct
        falling = np.isfinite(close) & (close < ema)
    below = has_bench & known & (close < sma)
    above = has_bench & known & (close > sma)
    selloff = has_bench & high & falling & ~below
    risk_on = above & calm & ~selloff
    rule = labelled(
        [np.full(len(close), not has_bench), below, selloff, risk_on, ~known, above & high, above],
        [
            "no_benchmark",
            "below_sma200",
            "high_vol_selloff",
            "above_sma200_calm",
            "trend_warmup",
            "above_sma200_high_vol",
            "vol_warmup",
        ],
        default="at_sma200",
    )
    return risk_on, below | selloff, rule


def _abstain_all(index: pd.Index, reason: str) -> pd.DataFrame:
    """A frame of neutral, abstained rows."""
    n = len(index)
    return frame_of(
        {
            "regime": np.full(n, "neutral", dtype=object),
            "regime_rule": np.full(n, "no_benchmark", dtype=object),
            "volatility_regime": np.full(n, "normal", dtype=object),
            "volatility_percentile": np.full(n, np.nan),
            "benchmark_volatility_percentile": np.full(n, np.nan),
            "correlation_btc": np.full(n, np.nan),
            "session": np.full(n, None, dtype=object),
            "tailwind": np.full(n, "none", dtype=object),
            "abstained": np.ones(n, dtype=bool),
            "abstain_reason": np.full(n, reason, dtype=object),
        },
        index,
    )


def run_rules(features: pd.DataFrame, ctx: AgentContext) -> pd.DataFrame:
    """The macro view of every bar of ``features`` (one row per bar, same index)."""
    params = ctx.settings.macro
    index = features.index
    if "close" not in features.columns:
        return _abstain_all(index, "data quality: missing column close")
    if not isinstance(index, pd.DatetimeIndex):
        return _abstain_all(index, "data quality: index is not timestamps")

    is_benchmark = ctx.symbol.upper() == params.benchmark.upper()
    bench = features if is_benchmark else align_on(ctx.benchmark, index)
    own_pct = volatility_percentile(
        column_values(features, "realized_vol", index), params.vol_lookback, params.vol_min_periods
    )
    bench_pct = (
        own_pct
        if is_benchmark
        else volatility_percentile(
            column_values(bench, "realized_vol", index),
            params.vol_lookback,
            params.vol_min_periods,
        )
    )
    close = column_values(features, "close", index)
    bad = ~(np.isfinite(close) & (close > 0))
    bench_close = close if is_benchmark else column_values(bench, "close", index)
    risk_on, risk_off, rule = _regime(
        bench_close,
        column_values(bench, "sma_200", index),
        column_values(bench, "ema_20", index),
        bench is not None,
        params,
        bench_pct,
    )
    risk_on, risk_off = risk_on & ~bad, risk_off & ~bad
    with np.errstate(invalid="ignore"):
        vol_regime = labelled(
            [own_pct >= params.high_vol_pct, own_pct <= params.low_vol_pct],
            ["high", "low"],
            "normal",
        )

    own_returns = log_returns(close)
    universe = align_on(ctx.universe, index)
    # Correlations with the same returns (the benchmark is usually in the universe too) are
    # computed once: pandas' rolling correlation is the dearest step of a short window.
    correlations: list[tuple[Array, Array]] = []

    def correlation(returns: Array) -> Array:
        key = returns.view(np.int64)
        for seen_key, corr in correlations:
            if np.array_equal(seen_key, key):
                return corr.copy()
        corr = rolling_correlation(own_returns, returns, params.corr_window)
        correlations.append((key, corr))
        return corr

    corr_btc: Array = np.full(len(index), np.nan)
    if not is_benchmark:
        btc_close: Array | None = None
        if bench is not None and "close" in bench.columns:
            btc_close = bench_close
        elif universe is not None and params.benchmark in universe.columns:
            btc_close = column_values(universe, params.benchmark, index)
        if btc_close is not None:
            corr_btc = correlation(log_returns(btc_close))

    columns: dict[str, Array] = {
        "regime": labelled([risk_on, risk_off], ["risk_on", "risk_off"], "neutral"),
        "regime_rule": rule,
        "volatility_regime": vol_regime,
        "volatility_percentile": own_pct,
        "benchmark_volatility_percentile": bench_pct,
        "correlation_btc": corr_btc,
        "session": sessions(index, ctx.timeframe),
        "tailwind": labelled([risk_on, risk_off], ["long", "short"], "none"),
        "abstained": bad,
        "abstain_reason": labelled([bad], ["data quality: missing or non-positive close"], None),
    }
    if universe is not None:
        seen = {ctx.symbol.upper()}
        for symbol in universe.columns:
            name = str(symbol)
            if name.upper() in seen:  # the symbol itself, or a duplicated column
                continue
            seen.add(name.upper())
            returns = log_returns(column_values(universe, symbol, index))
            columns[UNIVERSE_PREFIX + name] = correlation(returns)
    return frame_of(columns, index)


def _notes(row: pd.Series) -> list[str]:
    """Plain-language notes explaining the row's regime and volatility regime."""
    notes = [_RULE_NOTES.get(str(row.get("regime_rule")), "regime neutral")]
    pct = none_if_nan(row.get("volatility_percentile"))
    if pct is None:
        notes.append("volatility percentile unavailable (warm-up or no realized_vol): normal")
    else:
        notes.append(f"volatility percentile {pct:.2f}: {row.get('volatility_regime')}")
    return notes


def view_at(out: pd.DataFrame, i: int, views: Mapping[str, Any] | None = None) -> MacroView:
    """The macro view of row ``i`` (positional; ``-1`` is the last bar) of ``run_rules``."""
    row = out.iloc[i]
    abstained = bool(row.get("abstained", False))
    universe: dict[str, float] = {}
    for column in out.columns:
        if str(column).startswith(UNIVERSE_PREFIX):
            value = none_if_nan(row[column])
            if value is not None:
                universe[str(column)[len(UNIVERSE_PREFIX) :]] = float(value)
    fields: dict[str, Any] = {
        "regime": row.get("regime", "neutral"),
        "volatility_regime": row.get("volatility_regime", "normal"),
        "volatility_percentile": none_if_nan(row.get("volatility_percentile")),
        "benchmark_volatility_percentile": none_if_nan(row.get("benchmark_volatility_percentile")),
        "correlation_btc": none_if_nan(row.get("correlation_btc")),
        "correlation_universe": universe,
        "session": none_if_nan(row.get("session")),
        "tailwind": row.get("tailwind", "none"),
        "notes": [] if abstained else _notes(row),
    }
    return MacroView(
        abstained=abstained,
        abstain_reason=none_if_nan(row.get("abstain_reason")),
        **fields,
    )
