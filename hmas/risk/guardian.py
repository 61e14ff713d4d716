"""The guardian: hard risk limits checked in code on every proposed trade (docs/risk.md).

``check`` is pure: the same proposal, account state, parameters and kill switch always give the
same verdict, so the inputs and the verdict stored with a signal can be re-checked on replay.
It never raises on hostile numbers (NaN, infinities, zeros, negatives): a number that makes a
limit impossible to measure breaks that limit (fail closed), and a malformed proposal is
rejected as ``invalid_proposal``. The guardian never resizes a trade: the sizing code sizes
(``max_size`` is the risk-per-trade cap in units) and ``check`` only accepts or refuses.

Money is in the account currency (``paper.account_currency``); prices and sizes are in the
symbol's units, converted by the proposal's ``quote_rate``. A trade's risk is what its
stop-out loses after the costs of both sides and the gap allowance (``hmas.risk.costs``).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from hmas.settings import RiskParams

if TYPE_CHECKING:
    from hmas.risk.costs import SideCosts

#: Every limit id, in the fixed order in which violations are reported.
LIMIT_IDS: tuple[str, ...] = (
    "kill_switch",
    "paused",
    "daily_loss",
    "max_drawdown",
    "max_open_positions",
    "symbol_has_position",
    "cooldown",
    "risk_per_trade",
    "max_notional",
    "signals_per_hour",
    "signals_per_day",
    "invalid_proposal",
)

#: Float slack on "must not exceed" comparisons, so a trade sized exactly at a limit by
#: ``max_size`` is not refused for a rounding error of a few ulps.
TOLERANCE = 1e-9

_MODEL = ConfigDict(frozen=True, extra="forbid")


def _json_float(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


#: A float whose JSON form (``model_dump(mode="json")`` and ``model_dump_json()``) writes NaN
#: and infinities as the strings pydantic reads back, so a refused hostile proposal can be
#: stored (PostgreSQL's JSON has no NaN) and re-checked on replay.
JsonFloat = Annotated[float, PlainSerializer(_json_float, when_used="json")]

#: Epoch milliseconds (and counts) fit a signed 64-bit column; bounding them keeps every
#: integer difference convertible to float inside ``check``.
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


class ActivePause(BaseModel):
    """A stored pause in force when the state was read (``hmas.store.pauses``): it refuses
    every new trade in its scope (``*`` or one symbol) as the ``paused`` limit."""

    model_config = _MODEL

    id: Int64
    trigger: str
    scope: str = "*"
    reason: str
    #: Epoch ms it ends at (None: until ``hmas resume``).
    expires_ts: Int64 | None = None

    def covers(self, symbol: str) -> bool:
        """Whether it refuses trades on ``symbol``."""
        return self.scope in ("*", symbol)


class AccountState(BaseModel):
    """The account as the guardian sees it when a trade is proposed (money in the account
    currency).

    ``open_risk`` is the summed worst-case loss of the open positions (each one's stop-out
    after costs and the gap allowance it was sized with): equity only moves when a position
    closes, so without it a string of open trades could together break the daily loss or
    drawdown limit. ``open_notional`` is their summed notional at entry.
    """

    model_config = _MODEL

    equity: JsonFloat
    day_start_equity: JsonFloat
    peak_equity: JsonFloat
    open_positions: Int64 = 0
    open_symbols: tuple[str, ...] = ()
    consecutive_losses: Int64 = 0
    paused_until_ts: Int64 | None = None
    kill_switch: bool = False
    last_signal_ts: dict[str, Int64] = Field(default_factory=dict)
    signals_last_hour: Int64 = 0
    signals_today: Int64 = 0
    open_risk: JsonFloat = 0.0
    open_notional: JsonFloat = 0.0
    #: Stored pauses in force (api_errors, slippage, data_quality); the loss streak's is
    #: ``paused_until_ts`` and the daily loss's is the ``daily_loss`` limit itself.
    pauses: tuple[ActivePause, ...] = ()


class Proposal(BaseModel):
    """A trade the decision wants to open: prices in quote currency, size in units.

    ``fee_bps``, ``spread_bps`` and ``slippage_bps`` are the costs of one side the sizing
    budgeted (the auditor's, ``SideCosts``); ``quote_rate`` is the account currency per unit of
    quote at the bar (1 when the symbol is quoted in the account currency).
    """

    model_config = _MODEL

    symbol: str
    side: Literal["BUY", "SELL"]
    entry: JsonFloat
    stop: JsonFloat
    size: JsonFloat
    bar_ts: Int64
    bar_ms: Int64
    fee_bps: JsonFloat = 0.0
    spread_bps: JsonFloat = 0.0
    slippage_bps: JsonFloat = 0.0
    quote_rate: JsonFloat = 1.0

    @property
    def sign(self) -> float:
        """+1 for a BUY, -1 for a SELL."""
        return 1.0 if self.side == "BUY" else -1.0

    @property
    def costs(self) -> SideCosts:
        """The costs of one side, as the cost model reads them."""
        from hmas.risk.costs import SideCosts

        return SideCosts(self.fee_bps, self.spread_bps, self.slippage_bps)

    def risk_unit(self, gap_allowance: float = 0.0) -> float:
        """Loss per unit of a stop-out, in quote currency, after costs and the gap allowance."""
        from hmas.risk.costs import risk_per_unit

        return float(risk_per_unit(self.sign, self.entry, self.stop, self.costs, gap_allowance))

    def risk_money(self, gap_allowance: float = 0.0) -> float:
        """Worst-case loss in the account currency: size x ``risk_unit`` x quote rate."""
        return self.size * self.risk_unit(gap_allowance) * self.quote_rate

    @property
    def notional(self) -> float:
        """The trade's notional at entry in the account currency: size x entry x quote rate."""
        return self.size * self.entry * self.quote_rate


class Violation(BaseModel):
    """One broken limit: its stable id and one sentence with the numbers."""

    model_config = _MODEL

    limit: str
    detail: str


class GuardianVerdict(BaseModel):
    """The guardian's answer: allowed, every violation in ``LIMIT_IDS`` order, what was used."""

    model_config = _MODEL

    allowed: bool
    violations: list[Violation]
    limits: dict[str, float | int | str | bool]
    measures: dict[str, float | None] = Field(default_factory=dict)

    @property
    def reason(self) -> str | None:
        """The violations as one line (``limit: detail; …``), or None when allowed."""
        if not self.violations:
            return None
        return "; ".join(f"{v.limit}: {v.detail}" for v in self.violations)


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def proposal_problems(proposal: Proposal) -> list[str]:
    """What makes a proposal malformed (empty when it is well formed)."""
    p = proposal
    problems = []
    if not p.symbol.strip():
        problems.append("the symbol is empty")
    if not (_finite(p.entry) and p.entry > 0):
        problems.append(f"entry {p.entry} is not a positive price")
    if not (_finite(p.stop) and p.stop > 0):
        problems.append(f"stop {p.stop} is not a positive price")
    elif _finite(p.entry) and p.entry > 0:
        if p.side == "BUY" and not p.stop < p.entry:
            problems.append(f"a BUY stop {p.stop:g} must be below the entry {p.entry:g}")
        if p.side == "SELL" and not p.stop > p.entry:
            problems.append(f"a SELL stop {p.stop:g} must be above the entry {p.entry:g}")
    if not (_finite(p.size) and p.size > 0):
        problems.append(f"size {p.size} is not a positive number of units")
    if p.bar_ms <= 0:
        problems.append(f"the bar length {p.bar_ms} ms is not positive")
    if not (_finite(p.quote_rate) and p.quote_rate > 0):
        problems.append(
            f"the quote rate {p.quote_rate} (account currency per unit of quote) is not a "
            "positive number"
        )
    if not _finite(p.fee_bps, p.spread_bps, p.slippage_bps):
        problems.append(
            f"the costs (fee {p.fee_bps}, spread {p.spread_bps}, slippage {p.slippage_bps} bps) "
            "are not all numbers"
        )
    return problems


def max_size(
    entry: float,
    stop: float,
    equity: float,
    params: RiskParams,
    *,
    costs: SideCosts | None = None,
    quote_rate: float = 1.0,
) -> float:
    """Units whose stop-out (after ``costs`` and the gap allowance) loses ``risk_per_trade`` of
    equity, the notional capped at ``max_leverage`` x equity; 0.0 for unusable inputs."""
    from hmas.risk.costs import FREE, budget_units

    if not (_finite(entry, stop, equity, quote_rate) and entry > 0 and stop > 0 and equity > 0):
        return 0.0
    if quote_rate <= 0 or entry == stop:
        return 0.0
    size = float(
        budget_units(
            equity,
            params.risk_per_trade,
            entry,
            stop,
            costs or FREE,
            gap_allowance=params.gap_allowance,
            quote_rate=quote_rate,
            max_leverage=params.max_leverage,
        )
    )
    return size if math.isfinite(size) else 0.0


def effective_limits(
    params: RiskParams, *, kill_switch: bool, bar_ms: int
) -> dict[str, float | int | str | bool]:
    """The limits a check applies, after the preset (stored with the verdict)."""
    daily, drawdown = params.limits()
    return {
        "preset": params.preset,
        "kill_switch": kill_switch,
        "daily_loss_limit": daily,
        "max_drawdown": drawdown,
        "risk_per_trade": params.risk_per_trade,
        "gap_allowance": params.gap_allowance,
        "max_leverage": params.max_leverage,
        "max_open_positions": params.max_open_positions,
        "cooldown_bars": params.cooldown_bars,
        "cooldown_ms": params.cooldown_bars * bar_ms,
        "max_signals_per_hour": params.max_signals_per_hour,
        "max_signals_per_day": params.max_signals_per_day,
        "tolerance": TOLERANCE,
    }


def check(
    proposal: Proposal, state: AccountState, params: RiskParams, *, kill_switch: bool = False
) -> GuardianVerdict:
    """Check ``proposal`` against every limit; all violations are collected, never raises."""
    p, s = proposal, state
    daily_limit, dd_limit = params.limits()
    killed = bool(kill_switch or s.kill_switch)
    problems = proposal_problems(p)
    # The proposal's own risk only counts when the proposal is well formed; a malformed one is
    # refused as invalid_proposal and its numbers are not trusted for anything else.
    risk = p.risk_money(params.gap_allowance) if not problems else None
    open_risk_ok = _finite(s.open_risk) and s.open_risk >= 0
    found: dict[str, str] = {}
    measures: dict[str, float | None] = {}

    if killed:
        source = "the kill switch argument" if kill_switch else "the account"
        found["kill_switch"] = f"The kill switch is on ({source}): no new trade is allowed."

    if s.paused_until_ts is not None and p.bar_ts < s.paused_until_ts:
        found["paused"] = (
            f"Trading is paused until {_when(s.paused_until_ts)} (after a run of losses); "
            f"this bar opens at {_when(p.bar_ts)}."
        )
    stored = [q for q in s.pauses if q.covers(p.symbol)]
    if stored:
        named = "; ".join(
            f"pause #{q.id} ({q.trigger}"
            + (f", {q.scope}" if q.scope != "*" else "")
            + (f", until {_when(q.expires_ts)}" if q.expires_ts is not None else "")
            + f"): {q.reason}"
            for q in stored
        )
        earlier = found.get("paused")
        found["paused"] = f"{earlier} " if earlier else ""
        found["paused"] += f"Trading is paused: {named} (hmas resume lifts it)."

    # Daily loss: realised loss since the UTC day began, then the worst case of this trade.
    if not (_finite(s.day_start_equity, s.equity) and s.day_start_equity > 0 and open_risk_ok):
        found["daily_loss"] = (
            f"The daily loss cannot be measured (day-start equity {s.day_start_equity}, "
            f"equity {s.equity}, open risk {s.open_risk}), so no trade is allowed."
        )
    else:
        loss = (s.day_start_equity - s.equity) / s.day_start_equity
        measures["daily_loss"] = loss
        if loss >= daily_limit:
            found["daily_loss"] = (
                f"Today's loss is {loss:.2%} of the day-start equity {s.day_start_equity:,.2f}, "
                f"at or beyond the {daily_limit:.2%} daily loss limit."
            )
        elif risk is not None:
            worst = (s.day_start_equity - s.equity + s.open_risk + risk) / s.day_start_equity
            measures["daily_loss_worst"] = worst
            if worst > daily_limit + TOLERANCE:
                found["daily_loss"] = (
                    f"Today's loss of {loss:.2%} plus the open risk {s.open_risk:,.2f} and this "
                    f"trade's worst-case loss {risk:,.2f} would reach {worst:.2%} of the "
                    f"day-start equity {s.day_start_equity:,.2f}, past the {daily_limit:.2%} "
                    "daily loss limit."
                )

    # Drawdown from the peak; a stale peak below equity is lifted to equity.
    peak = max(s.peak_equity, s.equity) if _finite(s.peak_equity, s.equity) else math.nan
    if not (_finite(peak) and peak > 0 and open_risk_ok):
        found["max_drawdown"] = (
            f"The drawdown cannot be measured (peak equity {s.peak_equity}, equity {s.equity}, "
            f"open risk {s.open_risk}), so no trade is allowed."
        )
    else:
        dd = (peak - s.equity) / peak
        measures["drawdown"] = dd
        if dd >= dd_limit:
            found["max_drawdown"] = (
                f"The drawdown is {dd:.2%} from the peak equity {peak:,.2f}, at or beyond the "
                f"{dd_limit:.2%} maximum drawdown."
            )
        elif risk is not None:
            worst = (peak - s.equity + s.open_risk + risk) / peak
            measures["drawdown_worst"] = worst
            if worst > dd_limit + TOLERANCE:
                found["max_drawdown"] = (
                    f"The drawdown of {dd:.2%} plus the open risk {s.open_risk:,.2f} and this "
                    f"trade's worst-case loss {risk:,.2f} would reach {worst:.2%} from the peak "
                    f"equity {peak:,.2f}, past the {dd_limit:.2%} maximum drawdown."
                )

    n_open = max(s.open_positions, len(set(s.open_symbols)))
    if n_open >= params.max_open_positions:
        found["max_open_positions"] = (
            f"{n_open} positions are open and at most {params.max_open_positions} are allowed."
        )

    if p.symbol in s.open_symbols:
        found["symbol_has_position"] = f"A position on {p.symbol} is already open."

    last = s.last_signal_ts.get(p.symbol)
    window = params.cooldown_bars * p.bar_ms
    # A last signal *after* this bar (a clock or replay mix-up) also counts: fail closed.
    if params.cooldown_bars > 0 and last is not None and p.bar_ts - last < window:
        found["cooldown"] = (
            f"The last signal on {p.symbol} was at {_when(last)}, "
            f"{(p.bar_ts - last) / max(p.bar_ms, 1):g} bars before this bar at {_when(p.bar_ts)}; "
            f"the cooldown is {params.cooldown_bars} bars."
        )

    if risk is not None:
        budget = params.risk_per_trade * s.equity
        measures["risk_money"] = risk
        measures["max_size"] = max_size(
            p.entry, p.stop, s.equity, params, costs=p.costs, quote_rate=p.quote_rate
        )
        if not _finite(budget, risk) or risk > budget + TOLERANCE * abs(budget):
            rate = "" if p.quote_rate == 1 else f" x {p.quote_rate:g} per unit of quote"
            found["risk_per_trade"] = (
                f"The trade risks {risk:,.2f} ({p.size:g} units x "
                f"{p.risk_unit(params.gap_allowance):g}{rate} lost at the stop after costs and "
                f"a {params.gap_allowance:.0%} gap allowance), more than "
                f"{params.risk_per_trade:.2%} of equity {s.equity:,.2f} = {budget:,.2f}."
            )
        notional = p.notional
        cap = params.max_leverage * s.equity
        open_ok = _finite(s.open_notional) and s.open_notional >= 0
        measures["notional"] = notional
        if not (open_ok and _finite(cap) and cap > 0):
            found["max_notional"] = (
                f"The notional cannot be measured (equity {s.equity}, open notional "
                f"{s.open_notional}), so no trade is allowed."
            )
        elif s.open_notional + notional > cap + TOLERANCE * cap:
            held = f"the open {s.open_notional:,.2f} plus " if s.open_notional else ""
            found["max_notional"] = (
                f"The notional would be {held}this trade's {notional:,.2f} ({p.size:g} units x "
                f"{p.entry:g}{'' if p.quote_rate == 1 else f' x {p.quote_rate:g}'}), more "
                f"than {params.max_leverage:g}x equity {s.equity:,.2f} = {cap:,.2f}."
            )

    if s.signals_last_hour >= params.max_signals_per_hour:
        found["signals_per_hour"] = (
            f"{s.signals_last_hour} signals in the last hour; the limit is "
            f"{params.max_signals_per_hour} an hour."
        )
    if s.signals_today >= params.max_signals_per_day:
        found["signals_per_day"] = (
            f"{s.signals_today} signals today (UTC); the limit is "
            f"{params.max_signals_per_day} a day."
        )

    if problems:
        found["invalid_proposal"] = f"The proposal is malformed: {'; '.join(problems)}."

    violations = [Violation(limit=k, detail=found[k]) for k in LIMIT_IDS if k in found]
    return GuardianVerdict(
        allowed=not violations,
        violations=violations,
        limits=effective_limits(params, kill_switch=killed, bar_ms=p.bar_ms),
        measures={
            k: (v if v is not None and math.isfinite(v) else None) for k, v in measures.items()
        },
    )


def _when(ts_ms: int) -> str:
    """Epoch ms as ``2024-03-01T12:00Z`` (the raw number when out of datetime's range)."""
    try:
        return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")
    except (OverflowError, OSError, ValueError):
        return f"{ts_ms} ms"
