"""The paper account: equity, the day's start, the peak, the loss streak and its pause.

Every function returns a new ``PaperAccount``; nothing is mutated, so the store can keep each
version and a replay can rebuild the account from the outcomes in order.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from hmas.risk.guardian import AccountState, JsonFloat
from hmas.risk.positions import PositionOutcome
from hmas.settings import PaperParams, RiskParams


class PaperAccount(BaseModel):
    """One engine's paper account (money in the account currency, timestamps in epoch ms).

    ``day`` is the UTC date (``YYYY-MM-DD``) that ``day_start_equity`` belongs to; empty until
    the account has seen a timestamp.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: str
    starting_equity: JsonFloat
    equity: JsonFloat
    day: str = ""
    day_start_equity: JsonFloat
    peak_equity: JsonFloat
    consecutive_losses: int = 0
    paused_until_ts: int | None = None
    kill_switch: bool = False


def utc_day(ts_ms: int) -> str:
    """The UTC date of an epoch-ms timestamp, ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).date().isoformat()


def new_account(engine: str, params: PaperParams, *, ts_ms: int | None = None) -> PaperAccount:
    """A fresh account holding ``params.starting_equity`` (its day set when ``ts_ms`` is given)."""
    equity = params.starting_equity
    return PaperAccount(
        engine=engine,
        starting_equity=equity,
        equity=equity,
        day=utc_day(ts_ms) if ts_ms is not None else "",
        day_start_equity=equity,
        peak_equity=equity,
    )


def roll_day(account: PaperAccount, ts_ms: int) -> PaperAccount:
    """On a new UTC day, start the day at the current equity; otherwise return ``account``.

    A timestamp on an earlier day than the account's (out-of-order input) changes nothing: the
    day only moves forward.
    """
    day = utc_day(ts_ms)
    if day <= account.day:
        return account
    return account.model_copy(update={"day": day, "day_start_equity": account.equity})


def apply_outcome(
    account: PaperAccount,
    outcome: PositionOutcome,
    *,
    closed_ts: int,
    risk: RiskParams,
    bar_ms: int,
) -> PaperAccount:
    """Book a closed position at ``closed_ts`` (ms); an ``open`` outcome changes nothing.

    The day is rolled to ``closed_ts`` first, so a loss counts against the day it happened on.
    A win resets the loss streak, a loss extends it, an expiry leaves it as it was (whatever
    its P&L). When the streak reaches ``risk.max_consecutive_losses`` the account pauses until
    ``closed_ts + risk.pause_bars * bar_ms`` and the streak starts again from zero.
    """
    if outcome.status == "open":
        return account
    account = roll_day(account, closed_ts)
    equity = account.equity + (outcome.pnl_money or 0.0)
    losses = account.consecutive_losses
    if outcome.status == "win":
        losses = 0
    elif outcome.status == "loss":
        losses += 1
    paused_until = account.paused_until_ts
    if losses >= risk.max_consecutive_losses:
        until = closed_ts + risk.pause_bars * bar_ms
        # Never shorten a pause already in force.
        paused_until = until if paused_until is None else max(paused_until, until)
        losses = 0
    return account.model_copy(
        update={
            "equity": equity,
            "peak_equity": max(account.peak_equity, equity),
            "consecutive_losses": losses,
            "paused_until_ts": paused_until,
        }
    )


def account_state(
    account: PaperAccount,
    *,
    open_symbols: tuple[str, ...] = (),
    open_risk: float = 0.0,
    open_notional: float = 0.0,
    last_signal_ts: dict[str, int] | None = None,
    signals_last_hour: int = 0,
    signals_today: int = 0,
    kill_switch: bool = False,
) -> AccountState:
    """The guardian's view of ``account`` plus what the store knows about positions and signals.

    ``kill_switch`` here is an extra source (e.g. the setting); the account's own switch always
    applies.
    """
    return AccountState(
        equity=account.equity,
        day_start_equity=account.day_start_equity,
        peak_equity=account.peak_equity,
        open_positions=len(open_symbols),
        open_symbols=open_symbols,
        consecutive_losses=account.consecutive_losses,
        paused_until_ts=account.paused_until_ts,
        kill_switch=account.kill_switch or kill_switch,
        last_signal_ts=dict(last_signal_ts or {}),
        signals_last_hour=signals_last_hour,
        signals_today=signals_today,
        open_risk=open_risk,
        open_notional=open_notional,
    )
