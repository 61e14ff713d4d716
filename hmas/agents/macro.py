"""Macro agent: the benchmark's regime, the volatility percentile, correlations and the session.

Rules (docs/agents/macro.md): the regime comes from the benchmark (BTC) close against its
200-bar SMA and the benchmark's volatility percentile; the symbol's own volatility percentile
gives the volatility regime; correlations are rolling correlations of log returns; the session
is read from the bar's UTC open hour. Every rolling statistic ends at the bar itself.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import Field

from hmas.agents.base import AgentContext, AgentView, none_if_nan
from hmas.data.market import TIMEFRAMES

if TYPE_CHECKING:
    from hmas.settings import MacroParams

logger = logging.getLogger(__name__)

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

    agent: str = NAME
    regime: Regime = "neutral"
    volatility_regime: VolatilityRegime = "normal"
    volatility_percentile: float | None = Field(None, ge=0, le=1)
    benchmark_volatility_percentile: float | None = Field(None, ge=0, le=1)
    correlation_btc: float | None = Field(None, ge=-1, le=1)
    correlation_universe: dict[str, float] = Field(default_factory=dict)
    session: Session | None = None
    tailwind: Tailwind = "none"
    notes: list[str] = Field(default_factory=list)


def column_values(frame: pd.DataFrame | None, column: str, index: pd.Index) -> Array:
    """``frame[column]`` (a frame already on ``index``) as float64, non-finite values as NaN."""
    if frame is None or column not in frame.columns:
        return np.full(len(index), np.nan)
    column_data = frame[column]
    if isinstance(column_data, pd.DataFrame):  # duplicated column name: take the first
        column_data = column_data.iloc[:, 0]
    values = pd.to_numeric(column_data, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    if len(values) != len(index):
        return np.full(len(index), np.nan)
    return np.where(np.isfinite(values), values, np.nan)


def align_on(frame: pd.DataFrame | None, index: pd.Index) -> pd.DataFrame | None:
    """``frame`` on ``index`` by exact timestamp (no forward fill: never a later value)."""
    if frame is None:
        return None
    if frame.index.equals(index):
        return frame
    try:
        unique = frame[~frame.index.duplicated(keep="last")]
        return unique.reindex(index)
    except (TypeError, ValueError) as exc:
        logger.warning("cannot align frame on the symbol's index: %s", exc)
        return None


def frame_of(columns: dict[str, Any], index: pd.Index) -> pd.DataFrame:
    """An output frame whose text columns (object arrays, None for missing) stay ``object``.

    pandas 3 infers its string dtype only when a column holds a string, so a cut history
    could otherwise get another dtype than the full one.
    """
    # The arrays are fresh and owned by the caller's frame from here on: no copy needed.
    data = {
        name: pd.Series(
            values, index=index, dtype=object if values.dtype == object else None, copy=False
        )
        for name, values in columns.items()
    }
    return pd.DataFrame(data, index=index)


def labelled(conditions: list[Array], labels: list[str | None], default: str | None) -> Array:
    """Per row, the label of the first true condition, else ``default`` (an object array)."""
    # Integer codes then one gather: far cheaper than np.select over strings on 500k rows.
    names = np.array([*labels, default], dtype=object)
    codes = np.select(conditions, list(range(len(labels))), default=len(labels))
    result: Array = names[codes]
    return result


def volatility_percentile(vol: Array, lookback: int, min_periods: int) -> Array:
    """Causal percentile rank (0–1, ties averaged) of each value among the last ``lookback``."""
    clean = np.where(np.isfinite(vol) & (vol >= 0), vol, np.nan)
    ranks = (
        pd.Series(clean)
        .rolling(lookback, min_periods=max(1, min(min_periods, lookback)))
        .rank(pct=True)
    )
    return np.clip(ranks.to_numpy(dtype="float64", na_value=np.nan), 0.0, 1.0)


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
    ts = pd.DatetimeIndex(index)
    ts = ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")
    valid = ~np.asarray(ts.isna())
    step = TIMEFRAMES.get(timeframe)
    if step is None and valid.sum() > 1:
        # Unknown timeframe string: judge by the typical bar spacing.
        step = int(np.median(np.diff(ts.as_unit("ms").asi8[valid])))
    names: Array
    if step is not None and step >= TIMEFRAMES["1d"]:
        names = np.full(len(ts), "daily", dtype=object)
    else:
        hours = np.asarray(ts.hour, dtype="float64")
        conditions = [(hours >= lo) & (hours < hi) for _, lo, hi in SESSIONS]
        names = labelled(conditions, [name for name, _, _ in SESSIONS], "off_hours")
    names[~valid] = None
    return names


def _regime(
    bench: pd.DataFrame | None, index: pd.Index, params: MacroParams, pct: Array
) -> tuple[Array, Array, Array]:
    """(risk-on mask, risk-off mask, rule code) per bar; ``pct``: the benchmark's percentile."""
    n = len(index)
    close = column_values(bench, "close", index)
    sma = column_values(bench, "sma_200", index)
    ema = column_values(bench, "ema_20", index)
    has_bench = np.full(n, bench is not None)
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
        [~has_bench, below, selloff, risk_on, ~known, above & high, above],
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
    risk_on, risk_off, rule = _regime(bench, index, params, bench_pct)
    risk_on, risk_off = risk_on & ~bad, risk_off & ~bad
    with np.errstate(invalid="ignore"):
        vol_regime = labelled(
            [own_pct >= params.high_vol_pct, own_pct <= params.low_vol_pct],
            ["high", "low"],
            "normal",
        )

    own_returns = log_returns(close)
    universe = align_on(ctx.universe, index)
    corr_btc: Array = np.full(len(index), np.nan)
    if not is_benchmark:
        if bench is not None and "close" in bench.columns:
            bench_close = column_values(bench, "close", index)
        elif universe is not None and params.benchmark in universe.columns:
            bench_close = column_values(universe, params.benchmark, index)
        else:
            bench_close = None
        if bench_close is not None:
            corr_btc = rolling_correlation(
                own_returns, log_returns(bench_close), params.corr_window
            )

    out = frame_of(
        {
            "regime": labelled([risk_on, risk_off], ["risk_on", "risk_off"], "neutral"),
            "regime_rule": rule,
            "volatility_regime": vol_regime,
            "volatility_percentile": own_pct,
            "benchmark_volatility_percentile": bench_pct,
            "correlation_btc": corr_btc,
            "session": sessions(index, ctx.timeframe),
            "tailwind": labelled([risk_on, risk_off], ["long", "short"], "none"),
            "abstained": bad,
            "abstain_reason": labelled(
                [bad], ["data quality: missing or non-positive close"], None
            ),
        },
        index,
    )
    if universe is not None:
        seen = {ctx.symbol.upper()}
        for symbol in universe.columns:
            name = str(symbol)
            if name.upper() in seen:  # the symbol itself, or a duplicated column
                continue
            seen.add(name.upper())
            other = log_returns(column_values(universe, symbol, index))
            out[UNIVERSE_PREFIX + name] = rolling_correlation(
                own_returns, other, params.corr_window
            )
    return out


def _notes(row: pd.Series) -> list[str]:
    """Plain-language notes explaining the row's regime and volatility regime."""
    notes = [_RULE_NOTES.get(str(row.get("regime_rule")), "regime neutral")]
    pct = none_if_nan(row.get("volatility_percentile"))
    if pct is None:
        notes.append("volatility percentile unavailable (warm-up or no realized_vol): normal")
    else:
        notes.append(f"volatility percentile {pct:.2f}: {row.get('volatility_regime')}")
    return notes


def view_at(out: pd.DataFrame, i: int) -> MacroView:
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
