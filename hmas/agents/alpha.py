"""Alpha (layer 2A): proposes a trade from mean-reversion and trend-following setups.

Rules (thresholds in ``AlphaParams``; docs/agents/alpha.md has the formulas):

- mean reversion: close beyond a Bollinger band with RSI past its extreme;
- trend following: close on the trend side of SMA 200, EMA 20/50 aligned, a pullback to EMA 20
  and RSI inside the pullback band (mirrored for shorts);
- entry at the close; stop from ATR or beyond the last confirmed swing, whichever is farther;
  target short of the nearest opposing level, which must leave at least ``min_reward_risk``.

Anything missing, zero or non-finite makes the row HOLD with a data-quality reason, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import ConfigDict, Field, model_validator

from hmas.agents.base import AgentView, none_if_nan
from hmas.agents.common import Bools, column, frame_of, join_flags, pick

if TYPE_CHECKING:
    from hmas.agents.base import AgentContext
    from hmas.settings import AlphaParams

NAME = "alpha"

# Inputs copied into the output frame so ``view_at`` can write the evidence of one row.
_EVIDENCE_INPUTS = (
    "close",
    "rsi_14",
    "bb_lower",
    "bb_upper",
    "sma_200",
    "ema_20",
    "ema_50",
    "adx_14",
    "atr_14",
)
_MR_INPUTS = ("rsi_14", "bb_lower", "bb_upper")
_TF_INPUTS = ("rsi_14", "sma_200", "ema_20", "ema_50", "low", "high")
# Opposing levels for a long (above entry) and a short (below); the band counts only for
# mean reversion, whose thesis is spent at the opposite band, while a trend rides its band.
_LEVELS_UP = ("swing_high", "donchian_high_20", "bb_upper")
_LEVELS_DOWN = ("swing_low", "donchian_low_20", "bb_lower")
_NAMES_UP = np.array(_LEVELS_UP, dtype=object)
_NAMES_DOWN = np.array(_LEVELS_DOWN, dtype=object)
#: "<setup> <direction>: " of a vetoed row, by 2 * mean reversion + long.
_VETO_PREFIX = np.array(
    [
        f"{setup} {direction}: "
        for setup in ("trend_following", "mean_reversion")
        for direction in ("short", "long")
    ],
    dtype=object,
)
#: Every input column, in reading order, and the ones whose absence is reported.
_INPUTS = (*_EVIDENCE_INPUTS, *_TF_INPUTS, *_LEVELS_UP, *_LEVELS_DOWN)
_CHECKED = tuple(dict.fromkeys((*_MR_INPUTS, *_TF_INPUTS)))

COLUMNS = (
    "action",
    "confidence",
    "entry",
    "stop",
    "target",
    "reward_risk",
    "setup",
    "hold_reason",
    "abstained",
    "abstain_reason",
    "side",
    "stop_basis",
    "target_basis",
    "target_level",
    "missing",
    *_EVIDENCE_INPUTS,
)


class AlphaView(AgentView):
    """The alpha agent's trade proposal for one bar; a HOLD carries no prices."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    agent: Literal["alpha"] = "alpha"
    action: Literal["BUY", "SELL", "HOLD"] = "HOLD"
    confidence: float = Field(0.0, ge=0, le=1)
    entry: float | None = Field(None, gt=0)
    stop: float | None = Field(None, gt=0)
    target: float | None = Field(None, gt=0)
    reward_risk: float | None = Field(None, gt=0)
    setup: Literal["mean_reversion", "trend_following"] | None = None
    evidence: list[str] = Field(default_factory=list)
    hold_reason: str | None = None

    @model_validator(mode="after")
    def _prices_match_action(self) -> Self:
        prices = (self.entry, self.stop, self.target)
        if self.action == "HOLD":
            if any(p is not None for p in prices) or self.reward_risk is not None:
                raise ValueError("a HOLD carries no entry, stop, target or reward_risk")
            return self
        if self.entry is None or self.stop is None or self.target is None:
            raise ValueError(f"a {self.action} needs entry, stop and target")
        sign = 1.0 if self.action == "BUY" else -1.0
        if not (sign * (self.entry - self.stop) > 0 and sign * (self.target - self.entry) > 0):
            raise ValueError(f"a {self.action} needs the stop and the target on either side")
        return self


def _fmt(value: Any) -> str:
    return f"{float(value):.6g}"


def run_rules(features: pd.DataFrame, ctx: AgentContext) -> pd.DataFrame:
    """Trade proposals for every bar of ``features`` (one row per bar, row t reads rows ≤ t)."""
    p = ctx.settings.alpha
    n = len(features)
    # Each input column read once (pandas costs ~10 µs per column, whatever its length).
    f = {name: column(features, name) for name in dict.fromkeys(_INPUTS)}
    close, atr, rsi = f["close"], f["atr_14"], f["rsi_14"]

    with np.errstate(all="ignore"):
        price_ok = close > 0
        atr_ok = atr > 0
        finite = {name: np.isfinite(f[name]) for name in _CHECKED}
        mr_ready = np.logical_and.reduce([finite[c] for c in _MR_INPUTS])
        tf_ready = np.logical_and.reduce([finite[c] for c in _TF_INPUTS])
        flags = [
            ("close missing or not positive", ~price_ok),
            ("atr_14 missing or not positive", ~atr_ok),
        ]
        flags += [(f"{c} missing", ~finite[c]) for c in _CHECKED]
        missing = join_flags(flags, n)
        bad_data = ~price_ok | ~atr_ok | (~mr_ready & ~tf_ready)
        abstain = bad_data.copy()

        mr_long = (close < f["bb_lower"]) & (rsi < p.rsi_oversold)
        mr_short = (close > f["bb_upper"]) & (rsi > p.rsi_overbought)
        band = p.pullback_atr * atr
        e20, e50, sma = f["ema_20"], f["ema_50"], f["sma_200"]
        tf_long = (
            (close > sma)
            & (e20 > e50)
            & (f["low"] <= e20 + band)
            & (close > e20)
            & (rsi >= p.trend_rsi_low)
            & (rsi <= p.trend_rsi_high)
        )
        # The short pullback band mirrors the long one around RSI 50.
        tf_short = (
            (close < sma)
            & (e20 < e50)
            & (f["high"] >= e20 - band)
            & (close < e20)
            & (rsi >= 100 - p.trend_rsi_high)
            & (rsi <= 100 - p.trend_rsi_low)
        )
        want_long = (mr_long | tf_long) & ~abstain
        want_short = (mr_short | tf_short) & ~abstain
        conflict = want_long & want_short
        is_long = want_long & ~conflict
        is_short = want_short & ~conflict
        side = is_long.astype(np.int64) - is_short
        sgn = side.astype(np.float64)
        is_mr = (is_long & mr_long) | (is_short & mr_short)

        # Stop: the farther of the ATR stop and the stop beyond the last confirmed swing.
        atr_stop = close - sgn * p.stop_atr * atr
        swing = np.where(is_long, f["swing_low"], f["swing_high"])
        swing_stop = swing - sgn * p.swing_buffer_atr * atr
        use_swing = (sgn * (close - swing) > 0) & (sgn * (atr_stop - swing_stop) > 0)
        stop = np.where(use_swing, swing_stop, atr_stop)
        risk = sgn * (close - stop)
        safe_atr = np.where(atr_ok, atr, 1.0)
        stop_in_atr = np.where(atr_ok, risk / safe_atr, np.nan)

        # Target: short of the nearest opposing level, else the default multiple of the risk.
        levels = np.stack(
            [np.where(is_long, f[u], f[d]) for u, d in zip(_LEVELS_UP, _LEVELS_DOWN, strict=True)]
        )
        ahead = sgn * (levels - close)
        valid = ahead > 0
        valid[2] &= is_mr
        distance = np.where(valid, ahead, np.inf)
        nearest = np.argmin(distance, axis=0) if n else np.zeros(0, dtype=np.int64)
        has_level: Bools = valid.any(axis=0)
        level = np.where(has_level, levels[nearest, np.arange(n)], np.nan)
        target = np.where(
            has_level,
            level - sgn * p.level_buffer_atr * atr,
            close + sgn * p.default_reward_risk * risk,
        )
        positive_risk = risk > 0
        safe_risk = np.where(positive_risk, risk, 1.0)
        reward_risk = np.where(positive_risk, sgn * (target - close) / safe_risk, np.nan)

        trading = side != 0
        bad_stop = trading & ~(stop > 0)
        too_wide = trading & ~bad_stop & ~(stop_in_atr <= p.max_stop_atr)
        short_target = trading & ~bad_stop & ~too_wide & ~(reward_risk >= p.min_reward_risk)
        bad_target = trading & ~bad_stop & ~too_wide & ~short_target & ~(target > 0)
        veto = bad_stop | too_wide | short_target | bad_target
        trade = trading & ~veto
        # Huge inputs can overflow the arithmetic: such a row is a data-quality abstention.
        numbers_ok = np.isfinite(stop) & np.isfinite(target) & np.isfinite(reward_risk)
        overflow = trade & ~numbers_ok
        trade &= ~overflow
        abstain |= overflow

        adx_strength = np.clip(f["adx_14"] / 50.0, 0.0, 1.0)
        adx_strength[np.isnan(adx_strength)] = 0.0
        rsi_strength = np.where(
            is_long, (p.rsi_oversold - rsi) / 20.0, (rsi - p.rsi_overbought) / 20.0
        )
        band_strength = np.where(
            is_long, (f["bb_lower"] - close) / safe_atr, (close - f["bb_upper"]) / safe_atr
        )
        mr_conf = (
            0.5
            + 0.25 * np.clip(rsi_strength, 0, 1)
            + 0.25 * np.clip(band_strength, 0, 1)
            - 0.2 * adx_strength
        )
        alignment = np.clip(sgn * (e20 - e50) / safe_atr, 0, 1)
        tf_conf = 0.4 + 0.35 * adx_strength + 0.25 * alignment
        confidence = np.where(trade, np.clip(np.where(is_mr, mr_conf, tf_conf), 0, 1), 0.0)
        confidence[~np.isfinite(confidence)] = 0.0

    level_names = np.where(is_long, _NAMES_UP[nearest], _NAMES_DOWN[nearest])

    abstain_reason = np.full(n, None, dtype=object)
    abstain_reason[bad_data] = "data quality: " + missing[bad_data]
    abstain_reason[overflow] = "data quality: non-finite trade arithmetic (extreme values)"
    hold = pick(n, "no setup", (conflict, "conflicting setups: long and short both fire"))
    vetoed = np.flatnonzero(veto)
    if len(vetoed):
        hold[vetoed] = _veto_texts(
            vetoed,
            np.select(
                [bad_stop[vetoed], too_wide[vetoed], (short_target & has_level)[vetoed]],
                [0, 1, 2],
                np.where(short_target[vetoed], 3, 4),
            ),
            p,
            prefix=_VETO_PREFIX[is_mr[vetoed] * 2 + is_long[vetoed]],
            stop=stop,
            stop_in_atr=stop_in_atr,
            level_name=level_names,
            level=level,
            reward_risk=reward_risk,
            target=target,
        )
    hold[trade] = None
    hold[abstain] = abstain_reason[abstain]

    buy = trade & is_long
    target_basis = np.full(n, None, dtype=object)
    target_basis[trade] = level_names[trade]
    target_basis[trade & ~has_level] = "default"
    columns: dict[str, Any] = {
        "action": pick(n, "HOLD", (buy, "BUY"), (trade, "SELL")),
        "confidence": confidence,
        "entry": np.where(trade, close, np.nan),
        "stop": np.where(trade, stop, np.nan),
        "target": np.where(trade, target, np.nan),
        "reward_risk": np.where(trade, reward_risk, np.nan),
        "setup": pick(n, None, (trade & is_mr, "mean_reversion"), (trade, "trend_following")),
        "hold_reason": hold,
        "abstained": abstain,
        "abstain_reason": abstain_reason,
        "side": buy.astype(np.int8) - (trade & ~is_long).astype(np.int8),
        "stop_basis": pick(n, None, (trade & use_swing, "swing"), (trade, "atr")),
        "target_basis": target_basis,
        "target_level": np.where(trade & has_level, level, np.nan),
        "missing": missing,
        **{name: f[name] for name in _EVIDENCE_INPUTS},
    }
    return frame_of(columns, features.index)


def _veto_texts(
    rows: npt.NDArray[np.intp],
    kind: npt.NDArray[np.int64],
    p: AlphaParams,
    *,
    prefix: npt.NDArray[np.object_],
    **arrays: npt.NDArray[Any],
) -> npt.NDArray[np.object_]:
    """Why each vetoed row (a setup fired, a check failed) holds, with its numbers.

    ``kind`` (per vetoed row) is the failed check: 0 stop not positive, 1 stop too wide,
    2 target short of a level, 3 default target short, 4 target not positive. Each kind's
    rows are formatted together, reading only the numbers its text needs.
    """
    texts = np.empty(len(rows), dtype=object)
    stop_wide = f" ATR > {p.max_stop_atr:g} ATR"
    short_of = f"R < {p.min_reward_risk:g}R"
    for code in range(5):
        at = np.flatnonzero(kind == code)
        if not len(at):
            continue
        chosen = rows[at]
        heads = prefix[at].tolist()
        number = {name: values[chosen].tolist() for name, values in arrays.items()}
        if code == 0:
            lines = [
                f"{h}stop {stop:.6g} not positive (ATR too large for the price)"
                for h, stop in zip(heads, number["stop"], strict=True)
            ]
        elif code == 1:
            lines = [
                f"{h}stop too wide: {wide:.2f}{stop_wide}"
                for h, wide in zip(heads, number["stop_in_atr"], strict=True)
            ]
        elif code == 2:
            lines = [
                f"{h}target short of {name} {level:.6g} gives {rr:.2f}{short_of}"
                for h, name, level, rr in zip(
                    heads, number["level_name"], number["level"], number["reward_risk"], strict=True
                )
            ]
        elif code == 3:
            lines = [
                f"{h}default target gives {rr:.2f}{short_of}"
                for h, rr in zip(heads, number["reward_risk"], strict=True)
            ]
        else:
            lines = [
                f"{h}target {target:.6g} not positive"
                for h, target in zip(heads, number["target"], strict=True)
            ]
        texts[at] = lines
    return texts


def _evidence(row: dict[str, Any]) -> list[str]:
    """Readable reasons for one output row."""
    g = {k: none_if_nan(v) for k, v in row.items()}
    lines: list[str] = []
    if g["missing"] and not g["abstained"]:
        lines.append(
            f"not every input is available: missing {g['missing'].replace(' missing', '')}"
        )
    if g["action"] == "HOLD":
        if g["rsi_14"] is not None:
            lines.append(f"rsi_14 {g['rsi_14']:.1f}")
        return lines
    long = g["action"] == "BUY"
    if g["setup"] == "mean_reversion":
        band = "bb_lower" if long else "bb_upper"
        word = "below" if long else "above"
        lines.append(f"mean reversion: close {_fmt(g['close'])} {word} {band} {_fmt(g[band])}")
        lines.append(f"rsi_14 {g['rsi_14']:.1f} ({'oversold' if long else 'overbought'})")
    else:
        word = ">" if long else "<"
        lines.append(f"trend following: close {word} sma_200 {_fmt(g['sma_200'])}")
        lines.append(
            f"ema_20 {_fmt(g['ema_20'])} {word} ema_50 {_fmt(g['ema_50'])}; pullback to ema_20"
        )
        lines.append(f"rsi_14 {g['rsi_14']:.1f} inside the pullback band")
    if g["adx_14"] is not None:
        lines.append(f"adx_14 {g['adx_14']:.1f}")
    risk = abs(g["entry"] - g["stop"])
    basis = "beyond the last confirmed swing" if g["stop_basis"] == "swing" else "ATR multiple"
    lines.append(f"stop {_fmt(g['stop'])} ({basis}, {risk / g['atr_14']:.2f} ATR)")
    if g["target_basis"] == "default":
        lines.append(f"target {_fmt(g['target'])}: no opposing level, default multiple of risk")
    else:
        level = g["target_level"]
        lines.append(f"target {_fmt(g['target'])} short of {g['target_basis']} {_fmt(level)}")
    lines.append(f"reward/risk {g['reward_risk']:.2f}R")
    return lines


def view_at(out: pd.DataFrame, i: int, views: Mapping[str, Any] | None = None) -> AlphaView:
    """The view of row ``i`` (positional) of a ``run_rules`` frame (``views`` unused)."""
    row = {str(k): v for k, v in out.iloc[i].items()}
    return AlphaView.from_row(row, evidence=_evidence(row))
