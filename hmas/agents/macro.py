"""Macro agent: the market's regime, the volatility percentile, correlations and the session.

Rules (docs/agents.md, "macro"): the regime is the **market's**, read from the other stored
symbols, never from the symbol's own chart (the technical agent reads that): the market's
breadth (the share of the other symbols, the benchmark among them, whose close is above its
``trend_window``-bar average) sets risk-on/off, and the benchmark's volatility can turn it
risk-off (a high-volatility sell-off) or neutral. With no other symbol stored, the regime is
``unknown`` and the mother counts no macro vote. The symbol's own volatility percentile gives
the volatility regime; correlations are rolling correlations of log returns; the session is
read from the bar's UTC open hour. Every rolling statistic ends at the bar itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
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

Array = npt.NDArray[Any]

NAME = "macro"

Regime = Literal["risk_on", "risk_off", "neutral", "unknown"]
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
    "no_market": "no market data beyond the symbol (no other symbol of this exchange and "
    "timeframe has candles yet; store the benchmark or others): regime unknown",
    "market_warmup": "no market symbol has its macro.trend_window average yet (warm-up or gaps): "
    "regime unknown",
    "benchmark_stress": "benchmark volatility percentile high and its close below its EMA 20: "
    "risk-off",
    "breadth_down": "most of the market below its macro.trend_window average: risk-off",
    "breadth_up_high_vol": "most of the market above its macro.trend_window average but the "
    "benchmark's volatility high: neutral",
    "breadth_up": "most of the market above its macro.trend_window average, benchmark "
    "volatility not high: risk-on",
    "breadth_split": "the market split about its macro.trend_window average (no majority above "
    "or below): neutral",
}


class MacroView(AgentView):
    """Market regime, volatility regime, correlations and session of one bar."""

    agent: Literal["macro"] = "macro"
    regime: Regime = "neutral"
    #: Share (0-1) of the market's symbols above their trend average; null when unknown.
    breadth: float | None = Field(None, ge=0, le=1)
    #: How many market symbols (the symbol itself never among them) the breadth counts.
    market_symbols: int = Field(0, ge=0)
    volatility_regime: VolatilityRegime = "normal"
    volatility_percentile: float | None = Field(None, ge=0, le=1)
    benchmark_volatility_percentile: float | None = Field(None, ge=0, le=1)
    correlation_btc: float | None = Field(None, ge=-1, le=1)
    correlation_universe: dict[str, float] = Field(default_factory=dict)
    session: Session | None = None
    tailwind: Tailwind = "none"
    notes: list[str] = Field(default_factory=list)


#: The benchmark's features the regime reads (``close`` comes with every candle frame): its
#: EMA 20 and realised volatility for its stress; its trend is read from its closes, as every
#: market symbol's.
BENCHMARK_FEATURES: tuple[str, ...] = ("ema_20", "realized_vol")


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


def market_closes(
    ctx: AgentContext, index: pd.Index, bench: pd.DataFrame | None, is_benchmark: bool
) -> dict[str, Array]:
    """The closes of the market's symbols on the symbol's bars: the benchmark (unless it is the
    symbol) and every other universe symbol, each once, never the symbol itself."""
    members: dict[str, Array] = {}
    own = ctx.symbol.upper()
    if not is_benchmark and bench is not None and "close" in bench.columns:
        members[ctx.settings.macro.benchmark.upper()] = column_values(bench, "close", index)
    universe = align_on(ctx.universe, index)
    if universe is not None:
        for symbol in universe.columns:
            name = str(symbol).upper()
            if name == own or name in members:
                continue
            members[name] = column_values(universe, symbol, index)
    return members


def breadth(members: dict[str, Array], window: int, n: int) -> tuple[Array, Array, Array]:
    """Per bar: the share of the members above their ``window``-bar average, the share below
    it, and how many members count (the share are NaN where none does).

    A member counts at a bar when its close there is positive and its average over the last
    ``window`` bars (all of them present) is known; a close exactly at its average is neither
    above nor below.
    """
    if not members:
        return np.full(n, np.nan), np.full(n, np.nan), np.zeros(n)
    closes = np.stack([np.where(v > 0, v, np.nan) for v in members.values()])
    # Each average sums its own window (NaN when the window holds a gap): its bits do not
    # depend on where the window of the decision starts.
    average = np.full(closes.shape, np.nan)
    if n >= window:
        average[:, window - 1 :] = sliding_window_view(closes, window, axis=-1).mean(axis=-1)
    known = np.isfinite(closes) & np.isfinite(average)
    with np.errstate(invalid="ignore"):
        above = known & (closes > average)
        below = known & (closes < average)
    counted = known.sum(axis=0).astype(np.float64)
    some = counted > 0
    per = np.maximum(counted, 1)
    up = np.where(some, above.sum(axis=0) / per, np.nan)
    down = np.where(some, below.sum(axis=0) / per, np.nan)
    return up, down, counted


def _regime(
    up: Array,
    down: Array,
    seen: Array,
    stress: Array,
    high_vol: Array,
) -> tuple[Array, Array, Array]:
    """(risk-on mask, risk-off mask, rule code) per bar from the market's breadth (the shares
    ``up`` above and ``down`` below their averages), the benchmark's sell-off under high
    volatility (``stress``) and its high volatility; ``seen``: whether any market symbol has a
    close at or before the bar (else there is no market to read at all, not a warm-up)."""
    known = np.isfinite(up)
    with np.errstate(invalid="ignore"):
        rising, falling = known & (up > 0.5), known & (down > 0.5)
    stressed = known & stress
    risk_off = falling | stressed
    risk_on = rising & ~stressed & ~high_vol
    rule = labelled(
        [~seen, ~known, stressed, falling, rising & high_vol, rising],
        [
            "no_market",
            "market_warmup",
            "benchmark_stress",
            "breadth_down",
            "breadth_up_high_vol",
            "breadth_up",
        ],
        default="breadth_split",
    )
    return risk_on, risk_off, rule


def _abstain_all(index: pd.Index, reason: str) -> pd.DataFrame:
    """A frame of neutral, abstained rows."""
    n = len(index)
    return frame_of(
        {
            "regime": np.full(n, "unknown", dtype=object),
            "regime_rule": np.full(n, "no_market", dtype=object),
            "breadth": np.full(n, np.nan),
            "market_symbols": np.zeros(n, dtype=np.int64),
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

    # The market: every stored symbol but this one. The benchmark's volatility is the market's
    # only when the benchmark is not the symbol itself (else it is the symbol's own chart).
    members = market_closes(ctx, index, bench, is_benchmark)
    share, below, counted = breadth(members, params.trend_window, len(index))
    bench_member = not is_benchmark and bench is not None and params.benchmark.upper() in members
    with np.errstate(invalid="ignore"):
        high_vol = np.full(len(index), bench_member) & (bench_pct >= params.high_vol_pct)
        falling = bench_close < column_values(bench, "ema_20", index)
    # Per bar, from the window's closes up to it: a symbol stored without candles in the window
    # is the same as one not stored, so live and history passes agree.
    closes_seen: Array = np.zeros(len(index), dtype=bool)
    for values in members.values():
        closes_seen |= np.isfinite(values) & (values > 0)
    market_seen: Array = np.logical_or.accumulate(closes_seen)
    risk_on, risk_off, rule = _regime(share, below, market_seen, high_vol & falling, high_vol)
    risk_on, risk_off = risk_on & ~bad, risk_off & ~bad
    regime = labelled(
        [risk_on, risk_off, np.isfinite(share)], ["risk_on", "risk_off", "neutral"], "unknown"
    )
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
        "regime": regime,
        "regime_rule": rule,
        "breadth": share,
        "market_symbols": counted.astype(np.int64),
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
    share, members = none_if_nan(row.get("breadth")), none_if_nan(row.get("market_symbols"))
    if share is not None and members:
        notes.append(f"breadth {share:.2f} of {int(members)} market symbol(s)")
    pct = none_if_nan(row.get("volatility_percentile"))
    if pct is None:
        notes.append("volatility percentile unavailable (warm-up or no realized_vol): normal")
    else:
        notes.append(f"volatility percentile {pct:.2f}: {row.get('volatility_regime')}")
    return notes


def view_at(out: pd.DataFrame, i: int, views: Mapping[str, Any] | None = None) -> MacroView:
    """The macro view of row ``i`` (positional; ``-1`` is the last bar) of ``run_rules``.

    Scalar fields come from their same-named columns (``AgentView.from_row``); the
    correlations, the count of market symbols and the notes are built here.
    """
    series = out.iloc[i]
    row = {str(k): v for k, v in series.items()}
    universe: dict[str, float] = {}
    for column, raw in row.items():
        value = none_if_nan(raw) if column.startswith(UNIVERSE_PREFIX) else None
        if value is not None:
            universe[column[len(UNIVERSE_PREFIX) :]] = float(value)
    abstained = bool(row.get("abstained", False))
    return MacroView.from_row(
        row,
        abstained=abstained,
        market_symbols=int(none_if_nan(row.get("market_symbols")) or 0),
        correlation_universe=universe,
        notes=[] if abstained else _notes(series),
    )
