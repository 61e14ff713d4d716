"""The paper book: one engine's paper trading state in memory (pure, no I/O).

The book holds everything the guardian judges a trade against: the account (equity, the day's
start, the peak, the loss streak and its pause, the kill switch), the open positions, and the
live approvals that drive the cooldown and the hourly and daily signal counters. The live ledger
(``hmas.risk.ledger``) only loads a book from the store and saves what changed; the backtest
keeps one in memory. Every method returns a new book.

Counters are counted by bar time, as the guardian has always counted them: the signals in the
hour ending at the bar (``bar - 1h < ts <= bar``) and on the bar's UTC day (``day start <= ts
<= bar``); the hour may reach into the previous UTC day. The cooldown reads the latest approval
of the symbol, even one after the bar (fail closed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from hmas.risk.account import PaperAccount, apply_outcome, new_account, roll_day
from hmas.risk.guardian import AccountState, JsonFloat
from hmas.risk.positions import PositionOutcome
from hmas.settings import PaperParams, RiskParams

if TYPE_CHECKING:
    from hmas.risk.costs import SideCosts

HOUR_MS = 3_600_000
DAY_MS = 86_400_000

_MODEL = ConfigDict(frozen=True, extra="forbid")


class BookPosition(BaseModel):
    """An open paper position (prices in quote currency, size in units, times in epoch ms).

    ``fee_bps``, ``spread_bps`` and ``slippage_bps`` are the costs of one side it was sized
    with and is charged (the auditor's), ``gap_allowance`` the one it was sized with, and
    ``quote_rate`` the account currency per unit of quote when it opened.
    """

    model_config = _MODEL

    signal_id: int
    exchange: str
    symbol: str
    timeframe: str
    side: str
    entry: JsonFloat
    stop_loss: JsonFloat
    take_profit: JsonFloat
    size: JsonFloat
    opened_bar_ts: int
    fee_bps: JsonFloat = 0.0
    spread_bps: JsonFloat = 0.0
    slippage_bps: JsonFloat = 0.0
    gap_allowance: JsonFloat = 0.0
    quote_rate: JsonFloat = 1.0

    @property
    def costs(self) -> SideCosts:
        """The costs of one side, as the cost model reads them."""
        from hmas.risk.costs import SideCosts

        return SideCosts(self.fee_bps, self.spread_bps, self.slippage_bps)

    @property
    def risk_money(self) -> float:
        """Worst-case loss in the account currency: the stop-out after costs and the gap
        allowance, size x ``costs.risk_per_unit`` x quote rate."""
        from hmas.risk.costs import risk_per_unit

        sign = 1.0 if self.side == "BUY" else -1.0
        unit = risk_per_unit(sign, self.entry, self.stop_loss, self.costs, self.gap_allowance)
        return float(self.size * unit * self.quote_rate)

    @property
    def notional(self) -> float:
        """Notional at entry in the account currency: size x entry x quote rate."""
        return self.size * self.entry * self.quote_rate


class Approval(BaseModel):
    """A live approved signal: its symbol and bar (the cooldown and the counters read these)."""

    model_config = _MODEL

    symbol: str
    bar_ts: int


class PaperBook(BaseModel):
    """One engine's paper book: the account, its open positions and its live approvals."""

    model_config = _MODEL

    account: PaperAccount
    positions: tuple[BookPosition, ...] = ()
    approvals: tuple[Approval, ...] = ()

    @classmethod
    def fresh(cls, engine: str, params: PaperParams, *, ts_ms: int | None = None) -> PaperBook:
        """An empty book holding the starting equity (its day set when ``ts_ms`` is given)."""
        return cls(account=new_account(engine, params, ts_ms=ts_ms))

    def at(self, bar_ts: int) -> PaperBook:
        """The book as of a bar: the UTC day rolled forward to it."""
        rolled = roll_day(self.account, bar_ts)
        return self if rolled is self.account else self.model_copy(update={"account": rolled})

    def state(self, bar_ts: int, *, kill_switch: bool = False) -> AccountState:
        """The guardian's view at ``bar_ts`` (the day rolled to it first).

        ``kill_switch`` is an extra source (the setting, the switch file); the account's own
        switch always applies.
        """
        account = roll_day(self.account, bar_ts)
        last: dict[str, int] = {}
        for a in self.approvals:
            if a.symbol not in last or a.bar_ts > last[a.symbol]:
                last[a.symbol] = a.bar_ts
        hour_start = bar_ts - HOUR_MS
        day_start = bar_ts - bar_ts % DAY_MS
        in_hour = sum(1 for a in self.approvals if hour_start < a.bar_ts <= bar_ts)
        today = sum(1 for a in self.approvals if day_start <= a.bar_ts <= bar_ts)
        return AccountState(
            equity=account.equity,
            day_start_equity=account.day_start_equity,
            peak_equity=account.peak_equity,
            open_positions=len(self.positions),
            open_symbols=tuple(sorted({p.symbol for p in self.positions})),
            consecutive_losses=account.consecutive_losses,
            paused_until_ts=account.paused_until_ts,
            kill_switch=bool(account.kill_switch or kill_switch),
            last_signal_ts=last,
            signals_last_hour=in_hour,
            signals_today=today,
            open_risk=sum(p.risk_money for p in self.positions),
            open_notional=sum(p.notional for p in self.positions),
        )

    def open(self, position: BookPosition) -> PaperBook:
        """Open ``position`` (an approved signal) and count its approval."""
        if any(p.signal_id == position.signal_id for p in self.positions):
            raise ValueError(f"signal {position.signal_id} already has an open position")
        return self.model_copy(
            update={
                "positions": (*self.positions, position),
                "approvals": (
                    *self.approvals,
                    Approval(symbol=position.symbol, bar_ts=position.opened_bar_ts),
                ),
            }
        )

    def settle(
        self, signal_id: int, outcome: PositionOutcome, *, risk: RiskParams, bar_ms: int
    ) -> PaperBook:
        """Book the outcome of an open position; an ``open`` outcome changes nothing.

        The position leaves the book and its P&L is folded into the account at the close of
        its exit bar (``exit_ts + bar_ms``), through ``apply_outcome``.
        """
        if outcome.status == "open":
            return self
        if not any(p.signal_id == signal_id for p in self.positions):
            raise ValueError(f"signal {signal_id} has no open position in the book")
        assert outcome.exit_ts is not None
        account = apply_outcome(
            self.account, outcome, closed_ts=outcome.exit_ts + bar_ms, risk=risk, bar_ms=bar_ms
        )
        return self.model_copy(
            update={
                "account": account,
                "positions": tuple(p for p in self.positions if p.signal_id != signal_id),
            }
        )

    def approvals_since(self, ts_ms: int) -> PaperBook:
        """The book keeping only what the counters at bars from ``ts_ms`` on can read.

        Approvals older than a day and an hour before ``ts_ms`` are dropped, except each
        symbol's latest (the cooldown reads it): the store loads exactly this much.
        """
        keep_from = ts_ms - ts_ms % DAY_MS - HOUR_MS
        latest: dict[str, int] = {}
        for a in self.approvals:
            latest[a.symbol] = max(latest.get(a.symbol, a.bar_ts), a.bar_ts)
        kept = tuple(
            a for a in self.approvals if a.bar_ts > keep_from or latest[a.symbol] == a.bar_ts
        )
        return self.model_copy(update={"approvals": kept})
