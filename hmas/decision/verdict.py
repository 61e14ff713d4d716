"""The verdict on one decided bar: the mother's decision, the data-quality rule, the guardian.

``verdict`` is pure: a decided row (one row of ``mother.run_rules``, from the vectorised
pipeline or rebuilt from stored views), the agents' views, the account's state and the
settings in; a typed ``Verdict`` out. ``decide``, ``run``, ``replay`` and the backtest all call
it; only ``hmas.decision.service`` turns it into a stored ``Signal``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from hmas.decision.mother import render
from hmas.decision.sizing import units
from hmas.risk.costs import SideCosts

if TYPE_CHECKING:
    from hmas.decision.pipeline import PipelineOutput
    from hmas.risk.guardian import AccountState
    from hmas.settings import Settings

#: The guard of the missing-candles rule, as ``Verdict.refused_by`` names it.
MISSING_CANDLES = "missing_candles"
#: The kill switch, as the guardian names it.
KILL_SWITCH = "kill_switch"


@dataclass(frozen=True)
class DecidedBar:
    """One bar the mother decided: its identity, its decided row and the agents' views."""

    symbol: str
    timeframe: str
    bar_ts: int
    row: Mapping[str, Any]
    views: Mapping[str, Any]


@dataclass(frozen=True)
class Verdict:
    """What the signal of a bar says, and which guards (if any) refused its trade."""

    decision: Literal["APPROVED", "REJECTED"]
    action: Literal["BUY", "SELL", "HOLD"]
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
    reason: str | None
    rounds: dict[str, Any]
    #: The guardian's record: the account state it read and, when it checked, its verdict.
    guardian: dict[str, Any]
    #: The guards that refused a trade the mother approved (``kill_switch``, ``cooldown``,
    #: ``missing_candles``, …); empty when none did.
    refused_by: list[str] = field(default_factory=list)

    @property
    def kill_switch(self) -> bool:
        """Whether the kill switch refused the trade (the CLI exits 3)."""
        return KILL_SWITCH in self.refused_by


def decided_bar(output: PipelineOutput, i: int) -> DecidedBar:
    """Row ``i`` of a pipeline pass with its views, ready for ``verdict``."""
    from hmas.decision.pipeline import views_at
    from hmas.market import index_to_ms

    assert output.decided is not None, "compute(..., decide=True) first"
    ctx = output.context
    row = {str(k): v for k, v in output.decided.iloc[i].items()}
    bar_ts = index_to_ms(output.decided.index[[i]])[0]
    return DecidedBar(ctx.symbol, ctx.timeframe, bar_ts, row, views_at(output, i))


def verdict(bar: DecidedBar, state: AccountState, settings: Settings) -> Verdict:
    """The signal of a decided bar for an account in ``state`` (pure)."""
    from hmas.market import timeframe_ms
    from hmas.risk.guardian import Proposal, check

    row = bar.row
    costs = SideCosts(
        float(row["cost_fee_bps"]), float(row["cost_spread_bps"]), float(row["cost_slippage_bps"])
    )
    quote_rate = float(row["quote_rate"])
    # Size for this account's equity: the row was sized for whatever equity it was computed with.
    sized = units(
        state.equity,
        np.array([row["risk_fraction"]], dtype=np.float64),
        np.array([row["entry"]], dtype=np.float64),
        np.array([row["stop"]], dtype=np.float64),
        costs=costs,
        gap_allowance=settings.risk.gap_allowance,
        quote_rate=quote_rate,
        max_leverage=settings.risk.max_leverage,
    )[0]
    size = float(sized) if np.isfinite(sized) else None
    view = render(row, bar.views, settings, size=size)
    guardian: dict[str, Any] = {"state": _json(state), "checked": False}
    decision, action, reason = view.decision, view.action, view.rejection_reason
    prices: tuple[float | None, ...] = (view.entry, view.stop_loss, view.take_profit, view.size)
    refused_by: list[str] = []
    if view.decision == "APPROVED" and not row["data_ok"]:
        # Bad candles fail closed: levels computed across a gap are not traded.
        decision, action = "REJECTED", "HOLD"
        reason = (
            f"data quality: {int(row['recent_missing'])} candle(s) missing in the last "
            f"{settings.decision.gap_lookback} bars"
        )
        prices = (None, None, None, None)
        refused_by = [MISSING_CANDLES]
        guardian["refused_by"] = refused_by
    elif view.decision == "APPROVED":
        assert view.entry is not None and view.stop_loss is not None and view.size is not None
        proposal = Proposal(
            symbol=bar.symbol,
            side=view.action,
            entry=view.entry,
            stop=view.stop_loss,
            size=view.size,
            bar_ts=bar.bar_ts,
            bar_ms=timeframe_ms(bar.timeframe),
            **costs.as_record(),
            quote_rate=quote_rate,
        )
        checked = check(proposal, state, settings.risk, kill_switch=settings.kill_switch)
        guardian = {
            "state": _json(state),
            "checked": True,
            "proposal": _json(proposal),
            "verdict": _json(checked),
        }
        if not checked.allowed:
            decision, action = "REJECTED", "HOLD"
            reason = "guardian: " + "; ".join(f"{v.limit}: {v.detail}" for v in checked.violations)
            prices = (None, None, None, None)
            refused_by = list(dict.fromkeys(v.limit for v in checked.violations))
            guardian["refused_by"] = refused_by
    return Verdict(
        decision=decision,
        action=action,
        confidence=view.confidence,
        entry=prices[0],
        stop_loss=prices[1],
        take_profit=prices[2],
        size=prices[3],
        reward_risk=view.reward_risk,
        expected_value_r=view.expected_value_r,
        risk_adjusted_ev_r=view.risk_adjusted_ev_r,
        consensus=view.consensus,
        quality=view.quality,
        conviction=view.conviction,
        reason=reason,
        rounds=view.rounds,
        guardian=guardian,
        refused_by=refused_by,
    )


def refused_by(guardian: Mapping[str, Any]) -> list[str]:
    """The guards that refused a stored signal, from its guardian record.

    Records written since the verdict became typed carry ``refused_by``; older ones name
    the guardian's refusals in ``verdict.violations`` (a missing-candles refusal of theirs is
    not told apart there).
    """
    if "refused_by" in guardian:
        return [str(name) for name in guardian["refused_by"]]
    checked = guardian.get("verdict") or {}
    if checked.get("allowed", True):
        return []
    return list(dict.fromkeys(str(v.get("limit")) for v in checked.get("violations") or []))


def _json(obj: Any) -> dict[str, Any]:
    """A guardian model (state, proposal, verdict) as JSON-able data."""
    data: dict[str, Any] = obj.model_dump(mode="json")
    # A state without stored pauses is written as before the pauses existed, so every earlier
    # record re-checks (and its snapshot compares) field for field.
    if data.get("pauses") == []:
        del data["pauses"]
    return data
