"""Sentiment (layer 2A): a fear/greed composite from market data, optionally the public index.

The composite (0 = extreme fear, 100 = extreme greed; docs/agents/sentiment.md) is the mean of
four sub-scores, each the percentile of the current bar's value among the last ``lookback``
bars (causal):

- momentum: the 14-bar rate of change of the close;
- volatility, inverted: ``realized_vol`` (calm = greed, turbulence = fear);
- volume: ``volume_z`` signed by the direction of the 14-bar move (heavy buying = greed);
- drawdown, inverted: the fall from the highest close of the last ``lookback`` bars.

With ``sentiment.use_fear_greed_index`` the pipeline passes the public index as
``ctx.fear_greed`` (by UTC day; see ``hmas.data.feargreed``) and the score averages the two.
The rules do not read text: ``news_summary`` is None on this engine (said in ``notes``). With a
news source (``news.file``, ``hmas.data.news``) the decision adds a ``news_count`` column to
the frame, the headlines of the bar's window, and the view says how many there were; the
LLM engine's agent reads them (``hmas.agents.prompts``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import ConfigDict, Field

from hmas.agents.base import AgentView, none_if_nan
from hmas.agents.common import (
    Floats,
    column,
    frame_of,
    join_flags,
    pick,
    rolling_count,
    rolling_rank,
)

if TYPE_CHECKING:
    from hmas.agents.base import AgentContext

NAME = "sentiment"

MOMENTUM_BARS = 14
SUB_SCORES: dict[str, str] = {
    "momentum_score": "momentum (14-bar rate of change)",
    "volatility_score": "volatility (realized_vol, inverted)",
    "volume_score": "volume (volume_z signed by the move)",
    "drawdown_score": "drawdown from the lookback high (inverted)",
}
FEAR_GREED_SOURCE = "alternative.me Fear & Greed index"
NO_NEWS_NOTE = "news_summary is null: no news source is configured"
#: ``{n}`` is the number of headlines in the bar's window.
RULES_NEWS_NOTE = (
    "news_summary is null: {n} headline(s) in the news window, and the rules engine does not "
    "read headlines"
)


class SentimentView(AgentView):
    """The sentiment agent's reading of one bar (``score``: 0 extreme fear, 100 extreme greed)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    agent: Literal["sentiment"] = "sentiment"
    bias: Literal["bullish", "bearish", "neutral"] = "neutral"
    confidence: float = Field(0.0, ge=0, le=1)
    score: float | None = Field(None, ge=0, le=100)
    contrarian_bias: Literal["bullish", "bearish", "neutral"] = "neutral"
    recommended_stance: Literal["follow", "fade", "neutral"] = "neutral"
    sources: list[str] = Field(default_factory=list)
    fear_greed_index: int | None = Field(None, ge=0, le=100)
    news_summary: str | None = None
    #: Headlines in the bar's news window; None without a news source (and then not stored).
    news_count: int | None = Field(None, ge=0)
    notes: list[str] = Field(default_factory=list)

    omitted_when_null: ClassVar[frozenset[str]] = frozenset({"news_count"})


def rolling_percentile(values: Floats, window: int) -> Floats:
    """Mid-rank percentile (0-100) of each value among the last ``window`` values, itself included.

    Ties share their average rank, so a constant series scores 50. At least half the window
    must hold values; a NaN value scores NaN. A 2-D array scores each row (one call for all
    the sub-scores).
    """
    min_periods = max(2, window // 2)
    rank = rolling_rank(values, window, min_periods)
    count = rolling_count(~np.isnan(values), window, min_periods)
    with np.errstate(all="ignore"):
        pct: Floats = np.where(count > 0, (rank - 0.5) / count * 100.0, np.nan)
    return np.where(np.isfinite(values), pct, np.nan)


def index_by_bar(index: pd.Index, fear_greed: pd.Series) -> Floats:
    """The index value of each bar's UTC day (NaN where none, or where bars have no times)."""
    if not isinstance(index, pd.DatetimeIndex) or len(index) == 0:
        return np.full(len(index), np.nan)
    bars = index.tz_convert("UTC") if index.tz is not None else index.tz_localize("UTC")
    try:
        days = pd.DatetimeIndex(pd.to_datetime(fear_greed.index, utc=True)).floor("D")
    except (TypeError, ValueError):
        return np.full(len(index), np.nan)
    values = pd.Series(pd.to_numeric(fear_greed, errors="coerce").to_numpy(), index=days)
    values = values[~values.index.duplicated(keep="last")]
    # The value stamped day D is published at D 00:00 UTC: every bar of day D may read it.
    mapped = values.reindex(bars.floor("D")).to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where((mapped >= 0) & (mapped <= 100), mapped, np.nan)


def run_rules(features: pd.DataFrame, ctx: AgentContext) -> pd.DataFrame:
    """Sentiment readings for every bar of ``features`` (row t reads rows ≤ t only)."""
    p = ctx.settings.sentiment
    n = len(features)
    window = p.lookback
    close = column(features, "close")

    with np.errstate(all="ignore"):
        price_ok = close > 0
        price = np.where(price_ok, close, np.nan)
        past = np.concatenate([np.full(min(n, MOMENTUM_BARS), np.nan), price[:-MOMENTUM_BARS]])
        roc = price / past - 1.0
        roc = np.where(np.isfinite(roc), roc, np.nan)
        directional = column(features, "volume_z") * np.sign(roc)
        peak = pd.Series(price).rolling(window, min_periods=1).max().to_numpy(dtype=np.float64)
        depth = np.where(peak > 0, 1.0 - price / np.where(peak > 0, peak, 1.0), np.nan)
        pct = rolling_percentile(
            np.stack([roc, column(features, "realized_vol"), directional, depth]), window
        )
        subs = {
            "momentum_score": pct[0],
            "volatility_score": 100.0 - pct[1],
            "volume_score": pct[2],
            "drawdown_score": 100.0 - pct[3],
        }
        stacked = np.stack(list(subs.values()))
        available = np.isfinite(stacked)
        count = available.sum(axis=0)
        total = np.where(available, stacked, 0.0).sum(axis=0)
        composite = np.where(
            count >= p.min_components, total / np.where(count > 0, count, 1), np.nan
        )

        use_index = p.use_fear_greed_index and ctx.fear_greed is not None
        if use_index and ctx.fear_greed is not None:
            index_value = index_by_bar(features.index, ctx.fear_greed)
        else:
            index_value = np.full(n, np.nan)
        has_composite = np.isfinite(composite)
        has_index = np.isfinite(index_value)
        score = np.where(
            has_composite & has_index,
            (composite + index_value) / 2.0,
            np.where(has_composite, composite, index_value),
        )
        abstain = ~price_ok | ~np.isfinite(score)
        score = np.where(abstain, np.nan, np.clip(score, 0.0, 100.0))

    flags = [("close missing or not positive", ~price_ok)]
    flags += [(f"{name} unavailable", ~available[k]) for k, name in enumerate(subs)]
    missing = join_flags(flags, n)
    abstain_reason = np.full(n, None, dtype=object)
    abstain_reason[abstain] = "data quality: " + missing[abstain]

    with np.errstate(invalid="ignore"):
        greed, fear = score >= p.greed, score <= p.fear
        extreme_greed, extreme_fear = score >= p.extreme_greed, score <= p.extreme_fear
    bias = pick(n, "neutral", (greed, "bullish"), (fear, "bearish"))
    contrarian = pick(n, "neutral", (extreme_fear, "bullish"), (extreme_greed, "bearish"))
    stance = pick(n, "neutral", (extreme_fear | extreme_greed, "fade"), (greed | fear, "follow"))
    with np.errstate(invalid="ignore"):
        confidence = np.abs(score - 50.0) / 50.0  # finite or NaN: the score is clipped
    confidence[np.isnan(confidence)] = 0.0

    index_note = np.full(n, None, dtype=object)
    if p.use_fear_greed_index:
        why = ctx.fear_greed_error or "not fetched"
        index_note[~has_index] = (
            f"fear & greed index unavailable: {why}"
            if ctx.fear_greed is None
            else "fear & greed index unavailable: no value for the bar's UTC day"
        )

    columns: dict[str, Any] = {
        "bias": bias,
        "confidence": np.clip(confidence, 0.0, 1.0),
        "score": score,
        "contrarian_bias": contrarian,
        "recommended_stance": stance,
        "fear_greed_index": np.where(abstain, np.nan, index_value),
        "news_summary": np.full(n, None, dtype=object),
        "composite": composite,
        **subs,
        "missing": missing,
        "fear_greed_note": index_note,
        "abstained": abstain,
        "abstain_reason": abstain_reason,
    }
    return frame_of(columns, features.index)


def view_at(out: pd.DataFrame, i: int, views: Mapping[str, Any] | None = None) -> SentimentView:
    """The view of row ``i`` (positional) of a ``run_rules`` frame (``views`` unused)."""
    row = {str(k): none_if_nan(v) for k, v in out.iloc[i].items()}
    abstained = bool(row["abstained"])
    index_value = row["fear_greed_index"]
    sources = (
        [] if abstained else [label for name, label in SUB_SCORES.items() if row[name] is not None]
    )
    if index_value is not None:
        sources.append(FEAR_GREED_SOURCE)
    news_count = row.get("news_count")
    notes = [NO_NEWS_NOTE if news_count is None else RULES_NEWS_NOTE.format(n=news_count)]
    if row["missing"] and not abstained:
        notes.append(f"not used: {row['missing']}")
    if row["fear_greed_note"]:
        notes.append(row["fear_greed_note"])
    return SentimentView.from_row(
        row,
        sources=sources,
        fear_greed_index=None if index_value is None else round(index_value),
        news_count=None if news_count is None else int(news_count),
        notes=notes,
    )
