"""The mother (Layer 1): three rounds of deliberation over the agents' views, in code.

Round 1 (gather): votes, weighted consensus, conflicts and risk flags. The voters are the
Layer 2A agents other than the proposer (alpha): consensus is their agreement with alpha's
proposal, never alpha's own vote; macro votes only when it has read the market's regime.
Round 2 (resolve): target/stop/expiry scenarios from the measured outcomes of comparable
setups (setup, side, reward/risk bucket) resolved before the bar, shrunk toward a no-edge
prior (0R after costs); the win probability, the expected value net of costs and the
risk-adjusted EV in R. The votes inform round 1 and 3, not the probability.
Round 3 (decide): EV, consensus, flags and confidence against their thresholds; size by
fractional Kelly on the payoff after costs, capped by the risk per trade (a stop-out after the
auditor's costs and the gap allowance) and the notional (docs/risk.md).

``run_rules`` computes every number, vote and flag for every bar at once (numpy), as columns,
so a backtest decides a whole history in one call; ``view_at`` renders the rounds of one bar
from those columns (the agents' views supply only text: abstention reasons, the auditor's
reasons, alpha's hold reason). The missing-candles rule is one of the columns
(``recent_missing``, ``data_ok``); the guardian and that rule are applied by
``hmas.decision.verdict``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict

from hmas.agents.common import frame_of
from hmas.agents.registry import PROPOSER, VOTERS
from hmas.decision.sizing import risk_fraction, units
from hmas.risk.costs import SideCosts, net_reward_risk, risk_per_unit
from hmas.settings import MotherParams, Settings

Array = npt.NDArray[np.float64]
#: The risk flags, each a boolean column ``flag_<name>``, by severity (round 1).
FLAGS: dict[str, str] = {
    "execution_fail": "high",
    "costs_unknown": "high",
    "extreme_volatility": "high",
    "counter_trend": "medium",
    "macro_headwind": "medium",
    "sentiment_extreme": "low",
}

# Rejection reasons, as bits so a whole history is decided with integer masks.
NO_TRADE, HIGH_FLAG, LOW_EV, LOW_CONSENSUS, LOW_CONFIDENCE, NO_EDGE, NO_HISTORY = (
    1,
    2,
    4,
    8,
    16,
    32,
    64,
)


class MotherView(BaseModel):
    """The mother's decision for one bar, before the guardian."""

    model_config = ConfigDict(extra="forbid")

    agent: Literal["mother"] = "mother"
    decision: Literal["APPROVED", "REJECTED"]
    action: Literal["BUY", "SELL", "HOLD"]
    proposed_action: Literal["BUY", "SELL", "HOLD"]
    confidence: float | None
    entry: float | None
    stop_loss: float | None
    take_profit: float | None
    size: float | None
    reward_risk: float | None
    expected_value_r: float | None
    risk_adjusted_ev_r: float | None
    consensus: float | None
    quality: float | None
    conviction: float | None
    rejection_reason: str | None
    rounds: dict[str, Any]


#: An agent's output: its vectorised frame, or (for one stored bar) a mapping of columns.
AgentFrame = pd.DataFrame | Mapping[str, Any]


def _has(frame: AgentFrame | None, name: str) -> bool:
    if frame is None:
        return False
    return name in frame.columns if isinstance(frame, pd.DataFrame) else name in frame


def _col(frame: AgentFrame | None, name: str, n: int, default: Any = np.nan) -> npt.NDArray[Any]:
    if frame is None or not _has(frame, name):
        return np.full(n, default, dtype=object if isinstance(default, str | None) else float)
    if isinstance(frame, pd.DataFrame):
        return frame[name].to_numpy()
    return np.asarray(frame[name], dtype=object)


def _num(frame: AgentFrame | None, name: str, n: int) -> Array:
    raw = _col(frame, name, n)
    try:
        # numpy maps None to NaN itself; only text needs pandas' slower coercion.
        return np.asarray(raw, dtype="float64")
    except (TypeError, ValueError):
        return pd.to_numeric(pd.Series(raw), errors="coerce").to_numpy(dtype="float64")


def _present(frame: AgentFrame | None, n: int) -> npt.NDArray[np.bool_]:
    if frame is None:
        return np.zeros(n, dtype=bool)
    if not _has(frame, "abstained"):
        return np.ones(n, dtype=bool)
    flags = _col(frame, "abstained", n)
    present: npt.NDArray[np.bool_]
    if flags.dtype == bool:
        present = ~flags
    elif flags.dtype.kind in "iu":
        present = flags == 0
    elif flags.dtype.kind == "f":  # NaN counts as abstained, like None
        present = ~(np.isnan(flags) | (flags != 0))
    else:
        present = ~np.array(
            [
                True if f is None or (isinstance(f, float) and np.isnan(f)) else bool(f)
                for f in flags
            ],
            dtype=bool,
        )
    return present


def _unit(values: Array) -> Array:
    """``np.clip(np.nan_to_num(values), 0, 1)`` (the clip bounds infinities the same way)."""
    return np.clip(np.where(np.isnan(values), 0.0, values), 0, 1)


def _macro_weight(regime: npt.NDArray[Any], m: MotherParams) -> Array:
    """The macro vote's weight: stronger in a risk-on/off regime than in a neutral one."""
    weight = np.full(len(regime), m.macro_neutral_weight)
    for label in ("risk_on", "risk_off"):
        weight[regime == label] = m.macro_regime_weight
    return weight


def _direction(values: npt.NDArray[Any], up: str, down: str) -> Array:
    return np.where(values == up, 1.0, np.where(values == down, -1.0, 0.0))


def resolve_numbers(
    rationale: AgentFrame | None,
    n: int,
    rr: Array,
    cost_r: Array,
    strength: float,
    scale: Array | float = 1.0,
) -> dict[str, Array]:
    """Round 2's numbers from the rationale's counts and payoffs (docs/agents.md, mother).

    With *n* earlier setups of the group (*w* wins, *l* losses, *e* expiries, their payoffs
    before costs summing to *S* in R), this trade's reward/risk *b* and round-trip cost *c* in
    R, and *k* = ``strength`` pseudo-trades of the no-edge prior:

    - a no-edge trade is a fair bet in net R: it wins +b with probability ``p0 = 1/(1+b)``
      and loses −1 otherwise, so it expects exactly 0R after costs (and ``1/(1+b)`` is also
      the rate at which a driftless price reaches +b before −1);
    - ``p_win = (w + k·p0) / (n + k)``, the target-first probability;
    - ``ev_r = (S − n·c) / (n + k)``: the measured net expectancy shrunk by ``n / (n + k)``,
      0 without history.

    The scenarios split the same pseudo-sample by outcome, so their probabilities times their
    payoffs add up to ``ev_r``. Unknown inputs (no cost estimate, a count without its mean
    payoff) give NaN: null in the rounds, and every check on them fails.

    The payoffs above are in R of the planned stop distance |entry − stop|; ``scale`` (per
    bar: |entry − stop| over ``risk_per_unit``, the loss of a stop-out at the modelled costs
    and gap allowance) turns every payoff and the EV into R of the trade's risk budget, the
    unit the paper book and the backtest count in (a stop-out loses 1R, the configured risk).
    """
    trades = np.nan_to_num(_num(rationale, "base_rate_trades", n))
    counts = {
        "win": np.nan_to_num(_num(rationale, "base_rate_wins", n)),
        "loss": np.nan_to_num(_num(rationale, "base_rate_losses", n)),
        "expired": np.nan_to_num(_num(rationale, "base_rate_expired", n)),
    }
    means = {
        "win": _num(rationale, "base_rate_win_r", n),
        "loss": _num(rationale, "base_rate_loss_r", n),
        "expired": _num(rationale, "base_rate_expired_r", n),
    }
    k = float(strength)
    with np.errstate(divide="ignore", invalid="ignore"):
        # A count without its mean payoff (a view from before payoffs were kept) is unknown.
        sums = {o: np.where(counts[o] > 0, counts[o] * means[o], 0.0) for o in counts}
        total = sums["win"] + sums["loss"] + sums["expired"]
        p0 = 1 / (1 + rr)
        weight = trades + k
        p_win = (counts["win"] + k * p0) / weight
        p_stop = (counts["loss"] + k * (1 - p0)) / weight
        p_expiry = counts["expired"] / weight
        ev = (total - trades * cost_r) / weight
        # Net payoff by outcome: the measured ones less this trade's cost, the prior's at
        # +b and -1 net.
        win_net = sums["win"] - counts["win"] * cost_r
        loss_net = sums["loss"] - counts["loss"] * cost_r
        target_r = (win_net + k * p0 * rr) / (counts["win"] + k * p0)
        stop_r = (loss_net - k * (1 - p0)) / (counts["loss"] + k * (1 - p0))
        expiry_r = means["expired"] - cost_r
        raw_rate = np.where(trades > 0, counts["win"] / trades, np.nan)
        raw_payoff = np.where(trades > 0, total / trades, np.nan)
        shrink = np.where(weight > 0, trades / weight, np.nan)
        ev, target_r, stop_r, expiry_r, raw_payoff = (
            v * scale for v in (ev, target_r, stop_r, expiry_r, raw_payoff)
        )

    def finite(values: Array) -> Array:
        return np.where(np.isfinite(values), values, np.nan)

    return {
        "base_rate_trades": trades,
        "base_rate_wins": counts["win"],
        "base_rate_losses": counts["loss"],
        "base_rate_expired": counts["expired"],
        "base_rate": finite(raw_rate),
        "payoff_raw_r": finite(raw_payoff),
        "p_prior": finite(p0),
        "history_weight": finite(shrink),
        "p_win": finite(p_win),
        # The probability before any adjustment (none is applied: see docs/agents.md).
        "p_base": finite(p_win),
        "p_stop": finite(p_stop),
        "p_expiry": finite(p_expiry),
        "payoff_target_r": finite(target_r),
        "payoff_stop_r": finite(stop_r),
        "payoff_expiry_r": np.where(counts["expired"] > 0, finite(expiry_r), np.nan),
        "ev_r": finite(ev),
    }


def run_rules(
    frames: Mapping[str, AgentFrame],
    settings: Settings,
    equity: float,
    *,
    missing: npt.ArrayLike | None = None,
) -> pd.DataFrame:
    """Decide every bar of the agents' output frames (same index) at once.

    ``missing``: per bar, the candles missing in the last ``decision.gap_lookback`` bars
    (``pipeline.missing_candles``; 0 when not given).
    """
    alpha = frames["alpha"]
    index = alpha.index if isinstance(alpha, pd.DataFrame) else pd.RangeIndex(1)
    n = len(index)
    m = settings.mother
    out: dict[str, Any] = {}

    # ---- round 1: votes, consensus, conflicts, flags
    a_present = _present(alpha, n)
    action = np.where(a_present, _col(alpha, "action", n, "HOLD"), "HOLD").astype(object)
    direction = _direction(action, "BUY", "SELL")
    entry, stop, target = _num(alpha, "entry", n), _num(alpha, "stop", n), _num(alpha, "target", n)
    prices_ok = np.isfinite(entry) & np.isfinite(stop) & np.isfinite(target) & (entry > 0)
    direction = np.where(prices_ok, direction, 0.0)

    tech, sent, macro = frames.get("technical"), frames.get("sentiment"), frames.get("macro")
    alpha_confidence = _unit(_num(alpha, "confidence", n))
    # Each voter: (its side, its weight, whether its vote counts). The proposer is not one.
    votes = {
        "technical": (
            _direction(_col(tech, "bias", n, "neutral"), "bullish", "bearish"),
            _unit(_num(tech, "confidence", n)),
            _present(tech, n),
        ),
    }
    stance = _col(sent, "recommended_stance", n, "neutral")
    sent_bias = np.where(
        stance == "fade",
        _col(sent, "contrarian_bias", n, "neutral"),
        _col(sent, "bias", n, "neutral"),
    )
    score = _num(sent, "score", n)
    votes["sentiment"] = (
        _direction(sent_bias, "bullish", "bearish"),
        np.where(np.isfinite(score), 0.5 + np.abs(score - 50.0) / 100.0, 0.0),
        _present(sent, n) & np.isfinite(score),
    )
    regime = _col(macro, "regime", n, "neutral")
    votes["macro"] = (
        _direction(_col(macro, "tailwind", n, "none"), "long", "short"),
        _macro_weight(regime, m),
        # Without a read of the market (no other symbol stored, or its warm-up) macro has
        # nothing to say about the proposal: no vote, rather than a neutral one.
        _present(macro, n) & (regime != "unknown"),
    )
    weight_sum = np.zeros(n)
    agree_sum = np.zeros(n)
    voters = np.zeros(n)
    strong_agree = np.zeros(n)
    for vote, weight, present in votes.values():
        w = np.where(present, weight, 0.0)
        weight_sum += w
        voters += present
        agrees = present & (vote == direction) & (direction != 0)
        agree_sum += np.where(agrees, w, 0.0)
        strong_agree += agrees & (weight > m.supermajority_confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        consensus = np.where(weight_sum > 0, agree_sum / weight_sum, 0.0)
        super_share = np.where(voters > 0, strong_agree / voters, 0.0)
    consensus = np.where(direction != 0, consensus, 0.0)

    execution = frames.get("execution")
    verdict = _col(execution, "verdict", n, "N/A")
    cost_r = _num(execution, "total_cost_r", n)
    vol_pct = _num(macro, "volatility_percentile", n)
    trend = _col(tech, "trend", n, "range")
    tailwind = votes["macro"][0]
    with np.errstate(invalid="ignore"):
        extreme_vol = (
            vol_pct >= m.extreme_volatility_pct
        )  # NaN is not extreme (nor was nan_to_num's 0)
    s = settings.sentiment
    flags = {
        "execution_fail": verdict == "FAIL",
        "costs_unknown": (direction != 0) & ~_present(execution, n),
        "extreme_volatility": extreme_vol,
        "counter_trend": ((direction > 0) & (trend == "down"))
        | ((direction < 0) & (trend == "up")),
        "macro_headwind": (tailwind * direction) < 0,
        "sentiment_extreme": (score <= s.extreme_fear) | (score >= s.extreme_greed),
    }
    severity = {
        level: sum(
            (flags[f].astype(int) for f, lv in FLAGS.items() if lv == level), np.zeros(n, int)
        )
        for level in ("high", "medium", "low")
    }
    high, medium, low = severity["high"], severity["medium"], severity["low"]

    # ---- round 2: the measured outcomes of comparable setups, shrunk toward no edge
    rationale = frames.get("rationale")
    with np.errstate(divide="ignore", invalid="ignore"):
        rr = np.abs(target - entry) / np.abs(entry - stop)
    rr = np.where(np.isfinite(rr), rr, np.nan)
    costs, quote_rate = side_costs(execution, n)
    risk = settings.risk
    with np.errstate(divide="ignore", invalid="ignore"):
        # R of the risk budget: what a stop-out loses per unit at the modelled costs and gap.
        budget = risk_per_unit(
            np.where(stop < entry, 1.0, -1.0), entry, stop, costs, risk.gap_allowance
        )
        scale = np.where(budget > 0, np.abs(entry - stop) / budget, np.nan)
    resolve = resolve_numbers(rationale, n, rr, cost_r, m.prior_strength, scale)
    ev = resolve["ev_r"]
    p_win = resolve["p_win"]
    raev = ev - m.medium_flag_penalty_r * medium - m.low_flag_penalty_r * low

    # ---- round 3: the rules, the size
    confidence = np.clip(alpha_confidence * (0.5 + 0.5 * consensus), 0, 1)
    if m.consensus_policy == "supermajority":
        consensus_ok = super_share >= m.supermajority_share - 1e-12
    else:
        consensus_ok = consensus >= m.min_consensus - 1e-12
    rr_net = net_reward_risk(direction, entry, stop, target, costs, risk.gap_allowance)
    fraction = risk_fraction(p_win, rr_net, kelly=m.kelly_fraction, cap=risk.risk_per_trade)
    size = units(
        equity,
        fraction,
        entry,
        stop,
        costs=costs,
        gap_allowance=risk.gap_allowance,
        quote_rate=quote_rate,
        max_leverage=risk.max_leverage,
    )
    reasons = (
        np.where(direction == 0, NO_TRADE, 0)
        | np.where(high > 0, HIGH_FLAG, 0)
        | np.where(~(raev >= m.min_expected_value_r), LOW_EV, 0)
        | np.where(~consensus_ok, LOW_CONSENSUS, 0)
        | np.where(~(confidence >= m.min_confidence), LOW_CONFIDENCE, 0)
        | np.where(~((fraction > 0) & np.isfinite(size)), NO_EDGE, 0)
        | np.where(resolve["base_rate_trades"] > 0, 0, NO_HISTORY)
    )
    approved = reasons == 0
    quality = 10 * np.clip(0.4 * _unit(raev / 2) + 0.3 * consensus + 0.3 * confidence, 0, 1)
    # The votes as the rounds show them: each voter's side (0 when its vote did not count),
    # whether it counted, and whether the agent abstained.
    out[f"abstained_{PROPOSER}"] = ~a_present
    for name, (vote, _weight, voted) in votes.items():
        out[f"abstained_{name}"] = ~_present(frames.get(name), n)
        out[f"voted_{name}"] = voted
        out[f"vote_{name}"] = np.where(voted, vote, 0.0)
    out.update({f"flag_{name}": flags[name] for name in FLAGS})
    gaps = np.zeros(n, dtype=np.int64) if missing is None else np.asarray(missing, dtype=np.int64)
    out.update(
        recent_missing=gaps,
        data_ok=gaps <= settings.decision.max_recent_missing,
        volatility_percentile=vol_pct,
        trend=trend,
        regime=regime,
        sentiment_score=score,
        **resolve,
    )
    out.update(
        approved=approved,
        reasons=reasons,
        direction=direction,
        proposed_action=action,
        entry=entry,
        stop=stop,
        target=target,
        reward_risk=rr,
        consensus=consensus,
        super_share=super_share,
        voters=voters,
        confidence=confidence,
        risk_adjusted_ev_r=raev,
        cost_r=cost_r,
        high_flags=high,
        medium_flags=medium,
        low_flags=low,
        reward_risk_net=rr_net,
        cost_fee_bps=costs.fee_bps,
        cost_spread_bps=costs.spread_bps,
        cost_slippage_bps=costs.slippage_bps,
        quote_rate=quote_rate,
        risk_fraction=fraction,
        size=size,
        quality=np.round(quality, 2),
        conviction=np.round(consensus * confidence, 4),
    )
    # One column per array, text kept as objects (pandas' own constructor would copy every
    # column into blocks and turn the text columns into its string dtype).
    return frame_of(out, index)


def side_costs(execution: AgentFrame | None, n: int) -> tuple[SideCosts, Array]:
    """The auditor's costs of one side of each bar's trade, and its quote rate.

    The rate is the account currency per unit of the symbol's quote currency; a view stored
    before quote conversion existed has none, and was decided in the quote currency (1).
    Without an auditor's view there are neither costs nor a rate (NaN).
    """
    costs = SideCosts.from_audit(
        _num(execution, "fee_bps", n),
        _num(execution, "spread_bps", n),
        _num(execution, "slippage_bps", n),
    )
    rate = _num(execution, "quote_rate", n) if _has(execution, "quote_rate") else np.ones(n)
    return costs, np.where(_present(execution, n), rate, np.nan)


def _f(value: Any, digits: int | None = None) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(v):
        return None
    return round(v, digits) if digits is not None else v


def _reason_text(
    bits: int,
    row: Mapping[str, Any],
    settings: Settings,
    hold_reason: str | None,
    flags: list[dict[str, str]],
    group: str = "this setup",
) -> str:
    m = settings.mother
    parts = []
    if bits & NO_TRADE:
        # Without a proposal the other checks have nothing to measure: say only this.
        return f"no trade proposed ({hold_reason or 'alpha: HOLD'})"
    if bits & HIGH_FLAG:
        high = [f"{f['flag']} ({f['detail']})" for f in flags if f["severity"] == "high"]
        parts.append("high-severity risk flag: " + ("; ".join(high) or "see round 1"))
    if bits & LOW_EV:
        ev = _f(row["risk_adjusted_ev_r"], 2)
        if ev is None:
            parts.append(
                "risk-adjusted EV unknown (it needs the auditor's cost and the measured "
                "payoffs of comparable setups)"
            )
        else:
            parts.append(f"risk-adjusted EV {ev}R < {m.min_expected_value_r}R")
    if bits & LOW_CONSENSUS:
        if m.consensus_policy == "supermajority":
            parts.append(
                f"supermajority not reached ({_f(row['super_share'], 2)} < "
                f"{round(m.supermajority_share, 2)} of votes at > {m.supermajority_confidence})"
            )
        else:
            parts.append(f"consensus {_f(row['consensus'], 2)} < {m.min_consensus}")
    if bits & LOW_CONFIDENCE:
        parts.append(f"confidence {_f(row['confidence'], 2)} < {m.min_confidence}")
    if bits & NO_EDGE:
        parts.append("no positive Kelly edge")
    if bits & NO_HISTORY:
        parts.append(
            f"no measured history for {group} (no such setup resolved in the last "
            f"{settings.rationale.base_rate_lookback})"
        )
    return "; ".join(parts)


def view_at(
    decided: pd.DataFrame, i: int, views: Mapping[str, Any], settings: Settings
) -> MotherView:
    """The decision and its three rounds for row ``i`` (``views``: each agent's view as a dict)."""
    row = {str(k): v for k, v in decided.iloc[i].items()}
    return render(row, views, settings)


def render(
    row: Mapping[str, Any],
    views: Mapping[str, Any],
    settings: Settings,
    *,
    size: float | None = None,
) -> MotherView:
    """The mother's view of one decided row: every rule is a column, the views give text only.

    ``size`` overrides the row's size (the verdict sizes for the account's equity).
    """
    m = settings.mother
    direction = float(row["direction"])
    alpha = views.get("alpha") or {}
    votes, conflicts = [], []
    for name in VOTERS:
        abstained = bool(row[f"abstained_{name}"])
        sign = int(row[f"vote_{name}"])
        if abstained:
            v = views.get(name)
            label = f"abstained: {v.get('abstain_reason') if v else 'no view'}"
        elif not bool(row.get(f"voted_{name}", True)):
            label = f"no vote: {_silence(name, views.get(name))}"
        else:
            label = {1: "long", -1: "short", 0: "neutral"}[sign]
        votes.append({"agent": name, "abstained": abstained, "view": label})
        if direction and sign == -direction:
            conflicts.append(name)
    flags = _flags(row, views)
    approved = bool(row["approved"])
    proposed = str(row["proposed_action"])
    rounds = {
        "gather": {
            "proposal": {
                "agent": PROPOSER,
                "side": {1.0: "long", -1.0: "short"}.get(direction, "none"),
            },
            "votes": votes,
            "consensus": _f(row["consensus"], 4),
            "supermajority_share": _f(row["super_share"], 4),
            "conflicts": conflicts,
            "risk_flags": flags,
        },
        "resolve": _resolve_round(row, views, settings),
        "decide": {
            "policy": m.consensus_policy,
            "checks": _checks(row, settings),
            "risk_fraction": _f(row["risk_fraction"], 6),
            "sizing": _sizing(row, settings),
            "decision": "APPROVED" if approved else "REJECTED",
        },
    }
    reason = (
        None
        if approved
        else _reason_text(
            int(row["reasons"]),
            row,
            settings,
            # An abstaining proposer says why it abstained (an LLM that failed keeps its rules
            # values, hold reason included, under the abstention).
            (alpha.get("abstain_reason") or alpha.get("hold_reason"))
            if alpha.get("abstained")
            else (alpha.get("hold_reason") or alpha.get("abstain_reason")),
            flags,
            history_group(views),
        )
    )
    return MotherView(
        decision="APPROVED" if approved else "REJECTED",
        action=proposed if approved else "HOLD",
        proposed_action=proposed,
        confidence=_f(row["confidence"], 4),
        entry=_f(row["entry"]) if approved else None,
        stop_loss=_f(row["stop"]) if approved else None,
        take_profit=_f(row["target"]) if approved else None,
        size=(_f(row["size"]) if size is None else size) if approved else None,
        reward_risk=_f(row["reward_risk"], 4),
        expected_value_r=_f(row["ev_r"], 4),
        risk_adjusted_ev_r=_f(row["risk_adjusted_ev_r"], 4),
        consensus=_f(row["consensus"], 4),
        quality=_f(row["quality"], 2),
        conviction=_f(row["conviction"], 4),
        rejection_reason=reason,
        rounds=rounds,
    )


def history_group(views: Mapping[str, Any]) -> str:
    """The comparable setups of this bar's proposal: setup, side and reward/risk bucket."""
    alpha = views.get("alpha") or {}
    rationale = views.get("rationale") or {}
    setup = alpha.get("setup") or "n/a"
    bucket = rationale.get("base_rate_bucket") or "n/a"
    return f"{setup} {alpha.get('action') or 'n/a'} {bucket}"


def _resolve_round(
    row: Mapping[str, Any], views: Mapping[str, Any], settings: Settings
) -> dict[str, Any]:
    """Round 2 as it is shown and stored: the history, the prior, the shrunk numbers."""
    m = settings.mother
    trades = int(row["base_rate_trades"])
    return {
        "history": {
            "group": history_group(views) if row["direction"] else None,
            "lookback": settings.rationale.base_rate_lookback,
            "trades": trades,
            "wins": int(row["base_rate_wins"]),
            "losses": int(row["base_rate_losses"]),
            "expired": int(row["base_rate_expired"]),
            "raw_win_rate": _f(row["base_rate"], 4),
            "raw_payoff_r": _f(row["payoff_raw_r"], 4),
        },
        "prior": {
            "kind": "no edge: a fair bet, 0R after costs",
            "win_rate": _f(row["p_prior"], 4),
            "payoff_r": 0.0,
            "strength": m.prior_strength,
        },
        "history_weight": _f(row["history_weight"], 4),
        "p_win": _f(row["p_win"], 4),
        "scenarios": {
            "target": {
                "probability": _f(row["p_win"], 4),
                "payoff_r": _f(row["payoff_target_r"], 4),
            },
            "stop": {
                "probability": _f(row["p_stop"], 4),
                "payoff_r": _f(row["payoff_stop_r"], 4),
            },
            "expiry": {
                "probability": _f(row["p_expiry"], 4),
                "payoff_r": _f(row["payoff_expiry_r"], 4),
            },
        },
        "cost_r": _f(row["cost_r"], 4),
        "expected_value_r": _f(row["ev_r"], 4),
        "risk_adjusted_ev_r": _f(row["risk_adjusted_ev_r"], 4),
        # Information only: the probability is not shifted by the votes (docs/agents.md).
        "consensus": _f(row["consensus"], 4),
    }


def _sizing(row: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """What the size rests on: the payoff after costs, the costs of a side, the conversion."""
    r = settings.risk
    return {
        "reward_risk_net": _f(row["reward_risk_net"], 4),
        "cost_per_side_bps": {
            "fee": _f(row["cost_fee_bps"], 4),
            "spread": _f(row["cost_spread_bps"], 4),
            "slippage": _f(row["cost_slippage_bps"], 4),
        },
        "gap_allowance": r.gap_allowance,
        "max_leverage": r.max_leverage,
        "quote_rate": _f(row["quote_rate"]),
    }


def _silence(name: str, view: Mapping[str, Any] | None) -> str:
    """Why a voter that answered cast no vote (macro without a read of the market)."""
    notes = (view or {}).get("notes") or []
    return str(notes[0]) if notes else f"{name} had nothing to vote on"


def _flags(row: Mapping[str, Any], views: Mapping[str, Any]) -> list[dict[str, str]]:
    """The raised flags of round 1, in order, each with the number that raised it."""
    execution = views.get("execution") or {}
    details: dict[str, Callable[[], str]] = {
        "execution_fail": lambda: "; ".join(execution.get("reasons") or []) or "auditor FAIL",
        "costs_unknown": lambda: "the execution auditor gave no cost estimate",
        "extreme_volatility": lambda: f"volatility percentile {row['volatility_percentile']:.2f}",
        "counter_trend": lambda: f"trade against the {row['trend']} trend",
        "macro_headwind": lambda: f"regime {row['regime']} favours the other side",
        "sentiment_extreme": lambda: f"sentiment score {_score(row['sentiment_score'])}",
    }
    return [
        {"flag": name, "severity": severity, "detail": details[name]()}
        for name, severity in FLAGS.items()
        if row[f"flag_{name}"]
    ]


def _score(value: Any) -> float | None:
    """The sentiment score as its view stores it (a float, or None)."""
    return _f(value)


def _checks(row: Mapping[str, Any], settings: Settings) -> list[dict[str, Any]]:
    m = settings.mother
    d = settings.decision
    bits = int(row["reasons"])
    consensus_value = (
        row["super_share"] if m.consensus_policy == "supermajority" else row["consensus"]
    )
    threshold = m.supermajority_share if m.consensus_policy == "supermajority" else m.min_consensus
    return [
        {"rule": "trade proposed", "passed": not bits & NO_TRADE},
        {
            "rule": "no high-severity flag",
            "value": int(row["high_flags"]),
            "passed": not bits & HIGH_FLAG,
        },
        {
            "rule": "risk-adjusted EV >= threshold (R)",
            "value": _f(row["risk_adjusted_ev_r"], 4),
            "threshold": m.min_expected_value_r,
            "passed": not bits & LOW_EV,
        },
        {
            "rule": f"consensus ({m.consensus_policy})",
            "value": _f(consensus_value, 4),
            "threshold": round(threshold, 4),
            "passed": not bits & LOW_CONSENSUS,
        },
        {
            "rule": "confidence >= threshold",
            "value": _f(row["confidence"], 4),
            "threshold": m.min_confidence,
            "passed": not bits & LOW_CONFIDENCE,
        },
        {
            "rule": "positive Kelly edge",
            "value": _f(row["risk_fraction"], 6),
            "passed": not bits & NO_EDGE,
        },
        {
            "rule": "measured history of comparable setups",
            "value": int(row["base_rate_trades"]),
            "passed": not bits & NO_HISTORY,
        },
        {
            "rule": f"candles missing in the last {d.gap_lookback} bars <= limit",
            "value": int(row["recent_missing"]),
            "threshold": d.max_recent_missing,
            "passed": bool(row["data_ok"]),
        },
    ]
