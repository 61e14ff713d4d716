"""Rationale agent: the trade journal, with the historical base rate of the same setup.

Rules (docs/agents.md, rationale): ``run_rules`` computes, for every bar, how earlier setups
of the same type, direction and reward/risk bucket on this symbol turned out (how many won,
lost or expired, and what each paid in R before costs), counting only those resolved at or
before the bar; ``view_at`` fills a fixed markdown template from every other agent's view.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, Field

from hmas.agents.base import AgentContext, AgentView, none_if_nan
from hmas.agents.common import align_on, column_values, frame_of, true_flags
from hmas.risk.positions import EXPIRED, LOSS, UNFILLED, WIN, simulate
from hmas.settings import duration_ms

NAME = "rationale"

#: The journal's sections, in order.
SECTIONS = ("Setup", "Evidence", "Risks", "Costs", "Base rate", "Plan")

REQUIRED_FEATURES = ("open", "high", "low", "close")
REQUIRED_ALPHA = ("action", "stop", "target")
_PLAN_COLUMNS = ("entry", "stop", "target", "reward_risk", "confidence")
_META = ("agent", "abstained", "abstain_reason")
_COUNT_COLUMNS = ("base_rate_trades", "base_rate_wins", "base_rate_losses", "base_rate_expired")
#: Mean payoff in R (before costs) of the counted wins, losses and expiries.
_PAYOFF_COLUMNS = ("base_rate_win_r", "base_rate_loss_r", "base_rate_expired_r")
#: Payoffs are summed in millionths of R: integer sums are exact, so a count that leaves the
#: lookback takes exactly its payoff with it, on every path.
_MICRO_R = 1_000_000


class RationaleView(AgentView):
    """The trade journal of one bar and the base rate behind it."""

    agent: Literal["rationale"] = "rationale"
    journal: str
    word_count: int = Field(ge=0)
    base_rate: float | None = Field(None, ge=0, le=1)
    base_rate_trades: int = Field(0, ge=0)
    base_rate_wins: int = Field(0, ge=0)
    base_rate_losses: int = Field(0, ge=0)
    base_rate_expired: int = Field(0, ge=0)
    #: The reward/risk bucket of the setup's group (``rationale.reward_risk_buckets``).
    base_rate_bucket: str | None = None
    #: Mean payoff in R of the planned risk, before costs, of the counted wins / losses /
    #: expiries (null when there is none of that outcome).
    base_rate_win_r: float | None = None
    base_rate_loss_r: float | None = None
    base_rate_expired_r: float | None = None


def valid_setups(
    close: npt.NDArray[Any],
    direction: npt.NDArray[Any],
    stop: npt.NDArray[Any],
    target: npt.NDArray[Any],
) -> npt.NDArray[np.bool_]:
    """Bars whose proposal is well formed: positive finite prices, stop and target either side."""
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(close) & np.isfinite(stop) & np.isfinite(target)
        positive = finite & (close > 0) & (stop > 0) & (target > 0)
        long_ok = (direction > 0) & (stop < close) & (close < target)
        short_ok = (direction < 0) & (target < close) & (close < stop)
    result: npt.NDArray[np.bool_] = positive & (long_ok | short_ok)
    return result


def _abstain_all(index: pd.Index, reason: str) -> pd.DataFrame:
    """A frame of abstained rows with no base rate."""
    n = len(index)
    frame = frame_of(
        {
            "action": np.full(n, None, dtype=object),
            "setup": np.full(n, None, dtype=object),
            "alpha_abstained": np.zeros(n, dtype=bool),
            "alpha_abstain_reason": np.full(n, None, dtype=object),
            **{c: np.full(n, np.nan) for c in _PLAN_COLUMNS},
            "base_rate": np.full(n, np.nan),
            **{c: np.zeros(n, dtype=np.int64) for c in _COUNT_COLUMNS},
            "base_rate_bucket": np.full(n, None, dtype=object),
            **{c: np.full(n, np.nan) for c in _PAYOFF_COLUMNS},
            "abstained": np.ones(n, dtype=bool),
            "abstain_reason": np.full(n, reason, dtype=object),
        },
        index,
    )
    return frame


def run_rules(features: pd.DataFrame, ctx: AgentContext) -> pd.DataFrame:
    """Alpha's plan (``ctx.upstream``) and its setup's base rate on every bar (same index)."""
    alpha = ctx.upstream.get("alpha")
    horizon = ctx.settings.risk.expiry_bars(ctx.timeframe)
    index = features.index
    missing = [c for c in REQUIRED_FEATURES if c not in features.columns]
    if missing:
        out = _abstain_all(index, f"data quality: missing column(s) {', '.join(missing)}")
    else:
        proposals = align_on(alpha, index) if isinstance(alpha, pd.DataFrame) else None
        if proposals is None:
            out = _abstain_all(index, "data quality: no alpha output")
        elif missing := [c for c in REQUIRED_ALPHA if c not in proposals.columns]:
            out = _abstain_all(index, f"data quality: alpha output lacks {', '.join(missing)}")
        else:
            params = ctx.settings.rationale
            lookback = duration_ms(params.base_rate_lookback)
            edges = tuple(params.reward_risk_buckets)
            cutoff = params.cutoff_ms()
            out = _base_rates(features, proposals, horizon, lookback, edges, cutoff)
    out.attrs["rationale"] = {
        "symbol": ctx.symbol,
        "exchange": ctx.exchange,
        "timeframe": ctx.timeframe,
        "horizon": horizon,
        "lookback": ctx.settings.rationale.base_rate_lookback,
    }
    return out


def bucket_labels(edges: tuple[float, ...]) -> list[str]:
    """The reward/risk buckets cut at ``edges``: ``<3R``, ``3-4R``, …, ``>=6R``."""
    if not edges:
        return ["any R"]
    inner = [f"{_fmt(lo)}-{_fmt(hi)}R" for lo, hi in itertools.pairwise(edges)]
    return [f"<{_fmt(edges[0])}R", *inner, f">={_fmt(edges[-1])}R"]


def reward_risk_bucket(
    entry: npt.NDArray[Any],
    stop: npt.NDArray[Any],
    target: npt.NDArray[Any],
    edges: tuple[float, ...],
) -> npt.NDArray[np.int64]:
    """Each proposal's bucket index (``len(edges) + 1`` where the reward/risk is unknown).

    The ratio is rounded to 9 decimals first, so a target set at exactly 3R never falls
    below a 3R edge by the last bit.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        rr = np.round(np.abs(target - entry) / np.abs(entry - stop), 9)
    known = np.isfinite(rr)
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), np.where(known, rr, 0.0), "right")
    result: npt.NDArray[np.int64] = np.where(known, index, len(edges) + 1).astype(np.int64)
    return result


def _base_rates(
    features: pd.DataFrame,
    proposals: pd.DataFrame,
    horizon: int,
    lookback_ms: int,
    edges: tuple[float, ...] = (),
    cutoff_ms: int | None = None,
) -> pd.DataFrame:
    """The rationale frame once both inputs have their columns.

    The base rate of bar t counts the setups of its group opened at most ``lookback_ms``
    before t (by bar time) and resolved at or before t: a fixed span of time, so the count is
    the same whatever the window reaching back from t holds beyond the span. The group is the
    setup, its direction and its reward/risk bucket (cut at ``edges``).

    ``cutoff_ms`` (walk-forward, ``rationale.base_rate_cutoff``): on the bars opening at or
    after it the base rate is frozen at what was known before it: the setups of the group
    opened at most ``lookback_ms`` before the cutoff and resolved on a bar opening before it.
    The window of such a bar reaches back to the cutoff's (``Windowing.start``), so they are
    all in the frame.
    """
    index = features.index
    n = len(index)
    if not isinstance(index, pd.DatetimeIndex) or index.hasnans:
        return _abstain_all(index, "data quality: bars are not timestamps")
    if not index.is_monotonic_increasing:
        return _abstain_all(index, "data quality: bars are not in time order")
    open_, high, low, close = (column_values(features, c, index) for c in REQUIRED_FEATURES)
    plan = {c: column_values(proposals, c, index) for c in _PLAN_COLUMNS}
    none = np.full(n, None, dtype=object)
    raw_action = proposals["action"].to_numpy(dtype=object)
    action = np.where(pd.isna(raw_action), none, raw_action)
    abstained = true_flags(proposals, "abstained", n)
    direction = (action == "BUY").astype(np.int64) - (action == "SELL")
    direction[abstained] = 0
    raw_setup = (
        proposals["setup"].to_numpy(dtype=object)
        if "setup" in proposals.columns
        else np.full(n, None, dtype=object)
    )
    setup = np.where(pd.isna(raw_setup), none, raw_setup)
    # Setup, direction and reward/risk bucket form the group; a missing setup is a group of
    # its own.
    setup_codes, _ = pd.factorize(setup, use_na_sentinel=False)
    bucket = reward_risk_bucket(plan["entry"], plan["stop"], plan["target"], edges)
    kinds = len(edges) + 2
    code = (setup_codes * 2 + (direction > 0)) * kinds + bucket
    groups = np.where(direction != 0, code, -1).astype(np.int64)
    labels = np.asarray([*bucket_labels(edges), None], dtype=object)
    bucket_label = np.where(direction != 0, labels[bucket], none)

    # Only well-formed setups are history; the current bar's group needs no validity. Each is
    # what its paper position would have done: filled at the next open, by the position rules.
    valid = valid_setups(close, direction, plan["stop"], plan["target"])
    history = np.where(valid, groups, -1)
    setups = np.flatnonzero(valid)
    trades_of = simulate(
        np.column_stack([open_, high, low, close]),
        setups,
        direction[setups] > 0,
        plan["stop"][setups],
        plan["target"][setups],
        expiry_bars=horizon,
    )
    result = np.full(n, UNFILLED, dtype=np.int8)
    result[setups] = trades_of.status
    resolution = np.full(n, n, dtype=np.int64)
    closed = trades_of.closed
    resolution[setups[closed]] = trades_of.exit[closed]
    # What each paid before costs, in R of its planned risk |entry - stop| (the risk the
    # trade is sized on): from its fill at the next open to its exit (a gap's open, the
    # level, or the close of its last bar when it expired).
    payoff = np.zeros(n, dtype=np.int64)
    sign = np.where(direction[setups] > 0, 1.0, -1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        risk = np.abs(plan["entry"][setups] - plan["stop"][setups])
        gross = sign * (trades_of.exit_level - trades_of.fill_price) / risk
    paid = closed & np.isfinite(gross)
    payoff[setups[paid]] = np.round(gross[paid] * _MICRO_R).astype(np.int64)
    # A setup whose payoff cannot be measured (no planned risk) is no history.
    history[setups[closed & ~paid]] = -1
    # A setup opened at bar s and resolved at bar r counts on the bars t with r <= t and
    # time(t) - time(s) <= lookback: the bars r .. last(s), one interval per setup, summed
    # per group with a difference array (exact integer counts, no loop over bars).
    ns = index.as_unit("ns").asi8
    last = np.searchsorted(ns, ns + lookback_ms * 1_000_000, side="right") - 1
    resolved = (history >= 0) & (resolution < n)
    counted = resolved & (resolution <= last)
    # One column per sum: trades, wins, losses, expiries, then the payoffs of the last three.
    weights = _weights(result[counted], payoff[counted])
    sums = _running(groups, history[counted], resolution[counted], last[counted] + 1, weights)
    if cutoff_ms is not None:
        ms = ns // 1_000_000
        c = int(np.searchsorted(ms, cutoff_ms, side="left"))
        # Known before the cutoff: opened within the lookback before it, resolved before it.
        known = (history >= 0) & (resolution < c) & (ms >= cutoff_ms - lookback_ms)
        sums[c:] = _frozen(groups[c:], history[known], _weights(result[known], payoff[known]))
    trades, wins, losses, expired, win_r, loss_r, expired_r = sums.T
    trading = groups >= 0
    counts = {
        "base_rate_trades": trades,
        "base_rate_wins": wins,
        "base_rate_losses": losses,
        "base_rate_expired": expired,
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(trading & (trades > 0), wins / np.maximum(trades, 1), np.nan)
        payoffs = {
            name: np.where(trading & (count > 0), total / _MICRO_R / np.maximum(count, 1), np.nan)
            for name, total, count in zip(
                _PAYOFF_COLUMNS, (win_r, loss_r, expired_r), (wins, losses, expired), strict=True
            )
        }
    reason = (
        proposals["abstain_reason"].to_numpy(dtype=object)
        if "abstain_reason" in proposals.columns
        else np.full(n, None, dtype=object)
    )
    return frame_of(
        {
            "action": action,
            "setup": setup,
            "alpha_abstained": abstained,
            "alpha_abstain_reason": np.where(abstained & ~pd.isna(reason), reason, none),
            **plan,
            "base_rate": rate,
            **counts,
            "base_rate_bucket": bucket_label,
            **payoffs,
            "abstained": np.zeros(n, dtype=bool),
            "abstain_reason": np.full(n, None, dtype=object),
        },
        index,
    )


def _weights(outcome: npt.NDArray[np.int8], paid_r: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """One row per counted setup: trades, wins, losses, expiries, then the payoffs of the
    last three (millionths of R)."""
    is_win, is_loss, is_expired = (outcome == code for code in (WIN, LOSS, EXPIRED))
    result: npt.NDArray[np.int64] = np.column_stack(
        [np.ones(len(outcome), dtype=np.int64), is_win, is_loss, is_expired]
        + [np.where(mask, paid_r, 0) for mask in (is_win, is_loss, is_expired)]
    ).astype(np.int64)
    return result


def _frozen(
    asked: npt.NDArray[np.int64], group: npt.NDArray[np.int64], weights: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Per bar, the sums of ``weights`` over the setups of group ``asked[t]`` (0 where < 0)."""
    keys, inverse = np.unique(group, return_inverse=True)
    table = np.zeros((len(keys) + 1, weights.shape[1]), dtype=np.int64)
    np.add.at(table, inverse, weights)
    at = np.searchsorted(keys, asked)
    hit = (asked >= 0) & (at < len(keys))
    hit[hit] = keys[at[hit]] == asked[hit]
    # Row len(keys) of the table is all zeros: the asked groups with no known setup.
    result: npt.NDArray[np.int64] = table[np.where(hit, at, len(keys))]
    return result


def _running(
    asked: npt.NDArray[np.int64],
    group: npt.NDArray[np.int64],
    starts: npt.NDArray[np.int64],
    stops: npt.NDArray[np.int64],
    weights: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """Per bar t, the sums of ``weights`` (one row per interval, one column per sum) over the
    intervals [start, stop) of group ``asked[t]`` that hold t (0 where ``asked`` < 0).

    A difference array per group, all groups at once: the +weight at each start and the
    -weight at each stop are sorted by (group, bar) and summed cumulatively; bar t of group g
    reads the running sum of g's events at bars <= t. Integers, so every sum is exact.
    """
    n = len(asked)
    width = n + 2
    keys = np.concatenate([group * width + starts, group * width + stops])
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    running = np.cumsum(np.concatenate([weights, -weights])[order], axis=0)
    running = np.vstack([np.zeros((1, weights.shape[1]), dtype=np.int64), running])
    base = np.maximum(asked, 0) * width
    # Events of the asked group up to bar t, less those of the groups before it.
    upto = np.searchsorted(keys, base + np.arange(n), side="right")
    before = np.searchsorted(keys, base, side="left")
    result: npt.NDArray[np.int64] = running[upto] - running[before]
    result[asked < 0] = 0
    return result


# --- the journal -------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    """Deterministic text for a value; ``n/a`` for None/NaN."""
    value = none_if_nan(value)
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple):
        return "; ".join(_fmt(v) for v in value) or "none"
    return str(value)


def _as_dict(view: Any) -> dict[str, Any]:
    """A view (model or mapping) as a plain dict."""
    if isinstance(view, BaseModel):
        return view.model_dump()
    if isinstance(view, Mapping):
        return dict(view)
    return {}


def _evidence(views: dict[str, dict[str, Any]]) -> list[str]:
    """One line per agent view (alpha first), every field but the bookkeeping ones."""
    names = sorted(views, key=lambda name: (name != "alpha", name))
    lines = []
    for name in names:
        if name in (NAME, "execution"):
            continue
        view = views[name]
        if view.get("abstained"):
            lines.append(f"- **{name}**: abstained ({_fmt(view.get('abstain_reason'))})")
            continue
        fields = {k: v for k, v in view.items() if k not in _META}
        # Non-empty lists (evidence, notes) get a sub-bullet per item; the rest stays inline.
        nested = {k: v for k, v in fields.items() if isinstance(v, list | tuple) and v}
        inline = [f"{k} {_fmt(v)}" for k, v in fields.items() if k not in nested]
        lines.append(f"- **{name}**: " + ("; ".join(inline) or "no fields"))
        lines.extend(f"  - {k}: {_fmt(item)}" for k, items in nested.items() for item in items)
    return lines or ["- no other agent views given"]


def _risks(views: dict[str, dict[str, Any]], action: Any) -> list[str]:
    """Facts from the views that speak against the trade."""
    lines = []
    against = {"BUY": ("short", "bear"), "SELL": ("long", "bull")}.get(str(action))
    for name in sorted(views):
        view = views[name]
        if name == NAME:
            continue
        if view.get("abstained"):
            lines.append(f"- {name} abstained: {_fmt(view.get('abstain_reason'))}")
            continue
        for key in ("risk_flags", "risks"):
            flags = view.get(key) or []
            flags = [flags] if isinstance(flags, str | Mapping) else flags
            lines.extend(f"- {name}: {_fmt(flag)}" for flag in flags)
        tailwind = view.get("tailwind")
        if against and tailwind == against[0]:
            lines.append(f"- {name} tailwind is {tailwind}, against this {action}")
        if view.get("volatility_regime") == "high":
            pct = _fmt(view.get("volatility_percentile"))
            lines.append(f"- {name}: volatility regime high (percentile {pct})")
        for key, value in view.items():
            is_bias = key == "bias" or key.endswith("_bias")
            if against and is_bias and isinstance(value, str) and against[1] in value.lower():
                lines.append(f"- {name} {key.replace('_', ' ')} is {value}, against this {action}")
        if view.get("verdict") == "FAIL":
            lines.append(f"- {name} verdict FAIL: {_fmt(view.get('reasons'))}")
    return lines or ["- none flagged by the other agents"]


def _costs(execution: dict[str, Any] | None) -> list[str]:
    """The execution auditor's numbers."""
    if not execution:
        return ["- execution auditor: n/a"]
    if execution.get("abstained"):
        return [f"- execution auditor abstained: {_fmt(execution.get('abstain_reason'))}"]
    e = execution.get
    return [
        f"- fees {_fmt(e('fee_bps'))} bps round trip, spread {_fmt(e('spread_bps'))} bps, "
        f"slippage {_fmt(e('slippage_bps'))} bps: total {_fmt(e('total_cost_bps'))} bps",
        f"- cost {_fmt(e('total_cost_r'))}R of the risk, {_fmt(e('cost_to_target'))} of the reward",
        f"- liquidity grade {_fmt(e('liquidity_grade'))}; verdict {_fmt(e('verdict'))}",
    ]


def view_at(
    out: pd.DataFrame, i: int, views: Mapping[str, AgentView | Mapping[str, Any]] | None = None
) -> RationaleView:
    """The journal of row ``i`` (positional; ``-1`` is the last bar), from the other views."""
    row = out.iloc[i]
    meta: dict[str, Any] = dict(out.attrs.get("rationale", {}))
    given = {str(k): _as_dict(v) for k, v in (views or {}).items()}
    action = none_if_nan(row.get("action"))
    alpha_abstained = bool(row.get("alpha_abstained", False))
    trading = action in ("BUY", "SELL") and not alpha_abstained and not row.get("abstained")
    counts = {c: int(none_if_nan(row.get(c)) or 0) for c in _COUNT_COLUMNS}
    trades, wins = counts["base_rate_trades"], counts["base_rate_wins"]
    losses, expired = counts["base_rate_losses"], counts["base_rate_expired"]
    base_rate = none_if_nan(row.get("base_rate"))
    payoffs = {c: _float_or_none(row.get(c)) for c in _PAYOFF_COLUMNS}
    bucket = none_if_nan(row.get("base_rate_bucket")) if trading else None
    stamp = out.index[i]
    when = stamp.isoformat() if isinstance(stamp, pd.Timestamp) else _fmt(stamp)

    setup = [
        f"- Bar {when} of {_fmt(meta.get('symbol'))} "
        f"({_fmt(meta.get('exchange'))}, {_fmt(meta.get('timeframe'))})",
        f"- Alpha proposes {_fmt(action)} ({_fmt(row.get('setup'))}), "
        f"confidence {_fmt(row.get('confidence'))}",
    ]
    if alpha_abstained:
        setup.append(f"- Alpha abstained: {_fmt(row.get('alpha_abstain_reason'))}")
    if row.get("abstained", False):
        setup.append(f"- Rationale abstained: {_fmt(row.get('abstain_reason'))}")

    horizon = _fmt(meta.get("horizon"))
    if trading:
        paid = [
            f"{label} " + ("n/a" if payoffs[column] is None else f"{payoffs[column]:+.3g}R")
            for label, column in zip(("wins", "losses", "expiries"), _PAYOFF_COLUMNS, strict=True)
        ]
        base = [
            f"- earlier {_fmt(row.get('setup'))} {action} setups of reward/risk {_fmt(bucket)} "
            f"on this symbol, opened in the last {_fmt(meta.get('lookback'))} and resolved by "
            f"this bar: {trades} ({wins} wins, {losses} losses, {expired} expired after "
            f"{horizon} bars)",
            f"- base rate {'n/a' if base_rate is None else f'{base_rate:.1%}'} "
            "(target first; an expiry counts as a trade, not a win)",
            "- mean payoff before costs, in R of the planned risk: " + ", ".join(paid),
        ]
        if trades == 0:
            base.append("- no measured history: the mother cannot approve this setup")
        plan = [
            f"- {action} at {_fmt(row.get('entry'))}, stop {_fmt(row.get('stop'))}, "
            f"target {_fmt(row.get('target'))}, reward/risk {_fmt(row.get('reward_risk'))}",
            f"- exit at the stop or the target, or after {horizon} bars",
        ]
    else:
        base = ["- n/a: no trade proposed on this bar"]
        plan = ["- no trade"]
    body = {
        "Setup": setup,
        "Evidence": _evidence(given),
        "Risks": _risks(given, action),
        "Costs": _costs(given.get("execution")),
        "Base rate": base,
        "Plan": plan,
    }
    journal = "\n\n".join(f"## {name}\n" + "\n".join(body[name]) for name in SECTIONS) + "\n"
    return RationaleView.from_row(
        {str(k): v for k, v in row.items()},
        abstained=bool(row.get("abstained", False)),
        journal=journal,
        word_count=len(journal.split()),
        base_rate=None if base_rate is None else float(base_rate),
        base_rate_trades=trades,
        base_rate_wins=wins,
        base_rate_losses=losses,
        base_rate_expired=expired,
        base_rate_bucket=None if bucket is None else str(bucket),
        **payoffs,
    )


def _float_or_none(value: Any) -> float | None:
    """A finite float, or None (the view rejects NaN)."""
    value = none_if_nan(value)
    if value is None:
        return None
    number = float(value)
    return number if np.isfinite(number) else None
