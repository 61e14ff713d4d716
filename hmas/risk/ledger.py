"""The paper ledger in the store: accounts, positions, results, and the guardian's inputs.

The rules live in ``guardian``, ``positions`` and ``account`` (pure); this module reads and
writes their state so that every cron run, being a restart, sees the same account.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, select
from sqlmodel import Session, col

from hmas.risk.account import utc_day
from hmas.risk.guardian import AccountState
from hmas.store.models import Account, Position, Signal, SignalResult, utcnow
from hmas.store.switch import file_switch_on

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.settings import Settings

logger = logging.getLogger(__name__)

HOUR_MS = 3_600_000


def get_account(session: Session, settings: Settings, engine_name: str) -> Account:
    """The engine's paper account, created with the configured starting equity if new."""
    account = session.get(Account, engine_name)
    if account is None:
        equity = settings.paper.starting_equity
        account = Account(
            engine=engine_name,
            starting_equity=equity,
            equity=equity,
            day="",
            day_start_equity=equity,
            peak_equity=equity,
        )
        session.add(account)
        session.flush()
    return account


def _roll_day(account: Account, ts_ms: int) -> None:
    day = utc_day(ts_ms)
    if day > account.day:
        account.day = day
        account.day_start_equity = account.equity


def guardian_state(
    session: Session, settings: Settings, engine_name: str, symbol: str, bar_ts: int, bar_ms: int
) -> AccountState:
    """What the guardian needs to judge a proposal at ``bar_ts``, read from the store."""
    account = get_account(session, settings, engine_name)
    _roll_day(account, bar_ts)
    # Plain columns, not ORM objects: this runs for every decision.
    open_rows = session.execute(
        select(
            col(Position.symbol), col(Position.entry), col(Position.stop_loss), col(Position.size)
        ).where(col(Position.engine) == engine_name, col(Position.status) == "open")
    ).all()
    last = session.execute(
        select(col(Signal.symbol), func.max(col(Signal.bar_ts)))
        .where(col(Signal.engine) == engine_name, col(Signal.decision) == "APPROVED")
        .group_by(col(Signal.symbol))
    ).all()
    day_start = bar_ts - bar_ts % 86_400_000
    hour_start = bar_ts - HOUR_MS
    # One query for both throttle counts: approved signals in the last hour and this UTC day.
    counts = session.execute(
        select(
            func.count(case((col(Signal.bar_ts) > hour_start, 1))),
            func.count(),
        ).where(
            col(Signal.engine) == engine_name,
            col(Signal.decision) == "APPROVED",
            col(Signal.bar_ts) >= day_start,
            col(Signal.bar_ts) <= bar_ts,
        )
    ).one()
    if hour_start < day_start:  # the hour reaches into yesterday
        last_hour = int(
            session.execute(
                select(func.count()).where(
                    col(Signal.engine) == engine_name,
                    col(Signal.decision) == "APPROVED",
                    col(Signal.bar_ts) > hour_start,
                    col(Signal.bar_ts) <= bar_ts,
                )
            ).scalar_one()
        )
    else:
        last_hour = int(counts[0])
    today = int(counts[1])

    return AccountState(
        equity=account.equity,
        day_start_equity=account.day_start_equity,
        peak_equity=account.peak_equity,
        open_positions=len(open_rows),
        open_symbols=tuple(sorted({p.symbol for p in open_rows})),
        consecutive_losses=account.consecutive_losses,
        paused_until_ts=account.paused_until_ts,
        kill_switch=bool(account.kill_switch or settings.kill_switch or file_switch_on(settings)),
        last_signal_ts={sym: int(ts) for sym, ts in last if ts is not None},
        signals_last_hour=last_hour,
        signals_today=today,
        open_risk=sum(abs(p.entry - p.stop_loss) * p.size for p in open_rows),
    )


def open_position(session: Session, signal: Signal) -> Position:
    """Open the paper position of an approved signal (filled at the next bar's open)."""
    assert signal.id is not None
    assert signal.entry is not None and signal.stop_loss is not None
    assert signal.take_profit is not None and signal.size is not None
    position = Position(
        signal_id=signal.id,
        engine=signal.engine,
        exchange=signal.exchange,
        symbol=signal.symbol,
        timeframe=signal.timeframe,
        side=signal.action,
        entry=signal.entry,
        stop_loss=signal.stop_loss,
        take_profit=signal.take_profit,
        size=signal.size,
        opened_bar_ts=signal.bar_ts,
        status="open",
    )
    session.add(position)
    session.add(SignalResult(signal_id=signal.id, status="pending"))
    return position


@dataclass
class ClosedPosition:
    """A position that reached its outcome during an update."""

    signal_id: int
    symbol: str
    status: str
    r_multiple: float | None
    pnl_money: float | None


def update_positions(
    engine: Engine, settings: Settings, engine_name: str = "rules", *, symbol: str | None = None
) -> list[ClosedPosition]:
    """Follow every open position on the candles stored since it opened; close what is done."""
    from hmas.market import timeframe_ms
    from hmas.risk.account import apply_outcome
    from hmas.risk.positions import follow
    from hmas.store.candles import CandleStore

    store = CandleStore(engine)
    closed: list[ClosedPosition] = []
    with Session(engine, expire_on_commit=False) as session:
        stmt = select(Position).where(
            col(Position.engine) == engine_name, col(Position.status) == "open"
        )
        if symbol is not None:
            stmt = stmt.where(col(Position.symbol) == symbol)
        positions = list(session.execute(stmt.order_by(col(Position.id))).scalars())
        if not positions:
            return closed
        account = get_account(session, settings, engine_name)
        for pos in positions:
            bar_ms = timeframe_ms(pos.timeframe)
            later = store.frame(
                pos.exchange, pos.symbol, pos.timeframe, since=pos.opened_bar_ts + bar_ms
            )
            fee = settings.execution.taker_bps.get(
                pos.exchange, settings.execution.default_taker_bps
            )
            outcome = follow(
                pos.side,
                pos.entry,
                pos.stop_loss,
                pos.take_profit,
                pos.size,
                pos.opened_bar_ts,
                later,
                expiry_bars=settings.paper.expiry_bars,
                fee_bps=fee,
            )
            result = session.get(SignalResult, pos.signal_id) or SignalResult(
                signal_id=pos.signal_id, status="pending"
            )
            _copy_outcome(result, outcome)
            session.add(result)
            if outcome.status in ("win", "loss", "expired"):
                pos.status = "closed"
                pos.closed_ts = outcome.exit_ts
                _apply(account, outcome, settings, bar_ms, apply_outcome)
                closed.append(
                    ClosedPosition(
                        pos.signal_id,
                        pos.symbol,
                        outcome.status,
                        outcome.r_multiple,
                        outcome.pnl_money,
                    )
                )
            session.add(pos)
        account.updated_at = utcnow()
        session.add(account)
        session.commit()
    return closed


def _copy_outcome(result: SignalResult, outcome: Any) -> None:
    result.status = "pending" if outcome.status == "open" else outcome.status
    for name in (
        "fill_ts",
        "fill_price",
        "exit_ts",
        "exit_price",
        "bars_held",
        "r_multiple",
        "pnl_money",
        "pnl_pct",
        "mae_r",
        "mfe_r",
    ):
        setattr(result, name, getattr(outcome, name))
    result.updated_at = utcnow()


def _apply(account: Account, outcome: Any, settings: Settings, bar_ms: int, apply: Any) -> None:
    """Fold a closed outcome into the stored account through the pure account rules."""
    from hmas.risk.account import PaperAccount

    assert outcome.exit_ts is not None
    current = PaperAccount(
        engine=account.engine,
        starting_equity=account.starting_equity,
        equity=account.equity,
        day=account.day,
        day_start_equity=account.day_start_equity,
        peak_equity=account.peak_equity,
        consecutive_losses=account.consecutive_losses,
        paused_until_ts=account.paused_until_ts,
        kill_switch=account.kill_switch,
    )
    # The exit bar's open time is stored; the position closed by that bar's close.
    updated = apply(
        current, outcome, closed_ts=outcome.exit_ts + bar_ms, risk=settings.risk, bar_ms=bar_ms
    )
    account.equity = updated.equity
    account.peak_equity = updated.peak_equity
    account.consecutive_losses = updated.consecutive_losses
    account.paused_until_ts = updated.paused_until_ts
    if updated.day != account.day:
        account.day, account.day_start_equity = updated.day, updated.day_start_equity


def set_kill_switch(
    engine: Engine, settings: Settings, on: bool | None, engine_name: str = "rules"
) -> bool:
    """Store the kill switch (``None`` only reads it); return the stored state.

    Writes only when the state changes, so reading it, or turning off a switch that is off,
    works on a store that cannot be written.
    """
    with Session(engine, expire_on_commit=False) as session:
        account = session.get(Account, engine_name)
        current = bool(account is not None and account.kill_switch)
        if on is None or on == current:
            return current
        account = get_account(session, settings, engine_name)
        account.kill_switch = on
        account.updated_at = utcnow()
        session.add(account)
        session.commit()
        return bool(account.kill_switch)


def open_position_count(
    engine: Engine, engine_name: str = "rules", *, symbol: str | None = None
) -> int:
    """Open paper positions (of one symbol, if given)."""
    stmt = select(func.count()).where(
        col(Position.engine) == engine_name, col(Position.status) == "open"
    )
    if symbol is not None:
        stmt = stmt.where(col(Position.symbol) == symbol)
    with Session(engine) as session:
        return int(session.execute(stmt).scalar_one())
