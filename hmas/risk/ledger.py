"""The paper ledger in the store: it loads the paper book and saves what changed.

The rules live in ``book``, ``positions``, ``account`` and ``guardian`` (pure); this module
reads the book's state from the store and writes its changes back, so every cron run, being a
restart, sees the same book. Every write to the book goes through one serialised step
(``hmas.store.serial.book_session``): load, judge or settle, save.

The live book holds only what live decisions put in it: a position is opened only for a live
approval, and the cooldown and the signal counters read only approved signals that opened a
position. A historical decision (``decide --at`` a past bar) never touches it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, cast

from sqlalchemy import func, literal, select, union_all
from sqlmodel import Session, col

from hmas.risk.account import PaperAccount
from hmas.risk.book import DAY_MS, HOUR_MS, Approval, BookPosition, PaperBook
from hmas.risk.guardian import AccountState
from hmas.risk.positions import PositionOutcome
from hmas.store.models import Account, Position, Signal, SignalResult, utcnow
from hmas.store.switch import file_switch_on

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.settings import Settings
    from hmas.store.candles import CandleStore

logger = logging.getLogger(__name__)


def get_account(session: Session, settings: Settings, engine_name: str) -> Account:
    """The engine's paper account row, created with the configured starting equity if new.

    Call it inside ``book_session``: the lock makes the first creation race-free.
    """
    account = session.get(Account, engine_name)
    if account is None:
        fresh = PaperBook.fresh(engine_name, settings.paper).account
        account = Account(**fresh.model_dump(exclude={"engine"}), engine=engine_name)
        session.add(account)
        session.flush()
    return account


def _paper_account(row: Account) -> PaperAccount:
    return PaperAccount(
        engine=row.engine,
        starting_equity=row.starting_equity,
        equity=row.equity,
        day=row.day,
        day_start_equity=row.day_start_equity,
        peak_equity=row.peak_equity,
        consecutive_losses=row.consecutive_losses,
        paused_until_ts=row.paused_until_ts,
        kill_switch=row.kill_switch,
    )


def position_terms(guardian: dict[str, Any], exchange: str, settings: Settings) -> dict[str, float]:
    """The costs a side, the gap allowance and the quote rate a position was sized with.

    They are read from its signal's guardian record (the proposal the guardian judged and the
    limits it applied), so the book charges what the auditor estimated and the sizing budgeted.
    A record from before the cost model names no costs: such a position is charged the
    exchange's taker fee a side and nothing else, as the book charged it then.
    """
    proposal = guardian.get("proposal") or {}
    if "fee_bps" not in proposal:
        execution = settings.execution
        return {"fee_bps": execution.taker_bps.get(exchange, execution.default_taker_bps)}
    limits = (guardian.get("verdict") or {}).get("limits") or {}
    return {
        "fee_bps": float(proposal["fee_bps"]),
        "spread_bps": float(proposal.get("spread_bps", 0.0)),
        "slippage_bps": float(proposal.get("slippage_bps", 0.0)),
        "quote_rate": float(proposal.get("quote_rate", 1.0)),
        "gap_allowance": float(limits.get("gap_allowance", 0.0)),
    }


def _book_position(p: Position, terms: dict[str, float]) -> BookPosition:
    return BookPosition(
        signal_id=p.signal_id,
        exchange=p.exchange,
        symbol=p.symbol,
        timeframe=p.timeframe,
        side=p.side,
        entry=p.entry,
        stop_loss=p.stop_loss,
        take_profit=p.take_profit,
        size=p.size,
        opened_bar_ts=p.opened_bar_ts,
        **terms,
    )


def _open_positions(
    session: Session, settings: Settings, engine_name: str, symbol: str | None = None
) -> list[tuple[Position, BookPosition]]:
    """The engine's open positions (of ``symbol``, if given), each with its book position."""
    stmt = (
        select(Position, col(Signal.guardian))
        .join(Signal, col(Signal.id) == col(Position.signal_id))
        .where(col(Position.engine) == engine_name, col(Position.status) == "open")
    )
    if symbol is not None:
        stmt = stmt.where(col(Position.symbol) == symbol)
    rows = session.execute(stmt.order_by(col(Position.id))).all()
    return [
        (p, _book_position(p, position_terms(guardian or {}, p.exchange, settings)))
        for p, guardian in rows
    ]


def _live_approvals(engine_name: str) -> Any:
    """Approved signals of the engine that opened a position in the live book."""
    return (
        select(col(Signal.symbol), col(Signal.bar_ts))
        .join(Position, col(Position.signal_id) == col(Signal.id))
        .where(col(Signal.engine) == engine_name, col(Signal.decision) == "APPROVED")
    )


def load_book(session: Session, settings: Settings, engine_name: str, bar_ts: int) -> PaperBook:
    """The live book as of ``bar_ts``, read from the store (the account row created if new).

    Approvals are loaded as far back as the counters at ``bar_ts`` read them, plus each
    symbol's latest (the cooldown): ``PaperBook.approvals_since(bar_ts)`` of the full book.
    """
    account = _paper_account(get_account(session, settings, engine_name))
    positions = [book for _, book in _open_positions(session, settings, engine_name)]
    keep_from = bar_ts - bar_ts % DAY_MS - HOUR_MS
    # One statement: the approvals the counters read (after ``keep_from``), then each
    # symbol's latest (the cooldown), told apart by ``part``.
    recent = (
        _live_approvals(engine_name)
        .add_columns(literal(0).label("part"))
        .where(col(Signal.bar_ts) > keep_from)
    )
    latest = (
        select(col(Signal.symbol), func.max(col(Signal.bar_ts)), literal(1).label("part"))
        .join(Position, col(Position.signal_id) == col(Signal.id))
        .where(col(Signal.engine) == engine_name, col(Signal.decision) == "APPROVED")
        .group_by(col(Signal.symbol))
    )
    rows = [
        (s, int(t))
        for s, t, part in session.execute(union_all(recent, latest)).all()
        if t is not None and (part == 0 or int(t) <= keep_from)
    ]
    return PaperBook(
        account=account,
        positions=tuple(positions),
        approvals=tuple(Approval(symbol=s, bar_ts=t) for s, t in sorted(rows, key=lambda r: r[1])),
    )


def save_account(session: Session, book: PaperBook) -> None:
    """Write the book's account into its row."""
    row = session.get(Account, book.account.engine)
    assert row is not None, "load_book creates the account row"
    for name, value in book.account.model_dump(exclude={"engine"}).items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.add(row)


def kill_switch_on(settings: Settings) -> bool:
    """The kill switch from the settings or the switch file (the account's own is in the book)."""
    return bool(settings.kill_switch or file_switch_on(settings))


def engine_switch_on(session: Session, engine_name: str) -> bool:
    """For a tournament book (``<engine>@<name>``): the kill switch of its engine's own book.

    ``hmas kill-switch on`` sets the switch of the engine's book (``rules``); every tournament
    book of that engine honours it too, including books created after it was turned on.
    """
    base, at, _ = engine_name.partition("@")
    if not at:
        return False
    account = session.get(Account, base)
    return bool(account is not None and account.kill_switch)


def guardian_state(
    session: Session,
    settings: Settings,
    engine_name: str,
    symbol: str,
    bar_ts: int,
    bar_ms: int,
    *,
    exchange: str | None = None,
    timeframe: str | None = None,
    now: datetime | None = None,
) -> AccountState:
    """What the guardian needs to judge a proposal at ``bar_ts``, from the live book.

    The book's day is rolled to ``bar_ts`` and saved (the session's transaction commits it).
    The auto-pause triggers run first (``hmas.risk.pauses``; the data-quality one on this
    symbol's series when ``exchange`` and ``timeframe`` are given), and the stored pauses in
    force that cover ``symbol`` go into the state.
    """
    from hmas.risk import pauses
    from hmas.store import pauses as store_pauses

    del bar_ms  # kept for callers' signature
    now = now or utcnow()
    book = load_book(session, settings, engine_name, bar_ts).at(bar_ts)
    save_account(session, book)
    # The engine's pauses, read once: the triggers ask when each last ended, and the state
    # holds those in force (with any a trigger starts now).
    history = store_pauses.of_engine(session, engine_name)
    started = pauses.evaluate(
        session,
        settings,
        engine_name,
        book,
        now,
        symbol=symbol,
        exchange=exchange,
        timeframe=timeframe,
        bar_ts=bar_ts,
        history=history,
    )
    for pause in started:
        logger.warning("paused (%s): %s", pause.trigger, pause.reason)
    killed = kill_switch_on(settings) or engine_switch_on(session, engine_name)
    state = book.state(bar_ts, kill_switch=killed)
    held = pauses.active_pauses(session, engine_name, now, symbol, rows=[*history, *started])
    return state.model_copy(update={"pauses": held}) if held else state


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


def settle(
    session: Session,
    engine: Engine,
    settings: Settings,
    engine_name: str,
    *,
    symbol: str | None = None,
) -> list[ClosedPosition]:
    """Follow the open positions (of ``symbol``, if given) on the stored candles; book the closed.

    Runs on ``session`` (inside ``book_session``); candles are read through ``engine``.
    """
    from hmas.market import timeframe_ms
    from hmas.risk.positions import follow
    from hmas.store.candles import CandleStore

    rows = _open_positions(session, settings, engine_name, symbol)
    closed: list[ClosedPosition] = []
    if not rows:
        return closed
    store = CandleStore(engine)
    book = PaperBook(
        account=_paper_account(get_account(session, settings, engine_name)),
        positions=tuple(held for _, held in rows),
    )
    for pos, held in rows:
        bar_ms = timeframe_ms(pos.timeframe)
        later = store.frame(
            pos.exchange, pos.symbol, pos.timeframe, since=pos.opened_bar_ts + bar_ms
        )
        outcome = follow(
            cast(Literal["BUY", "SELL"], pos.side),
            pos.entry,
            pos.stop_loss,
            pos.take_profit,
            pos.size,
            pos.opened_bar_ts,
            later,
            expiry_bars=settings.risk.expiry_bars(pos.timeframe),
            costs=held.costs,
            gap_allowance=held.gap_allowance,
        )
        if outcome.closed and outcome.pnl_money is not None:
            # The account is kept in its own currency: the P&L (in quote) is converted.
            rate = _exit_rate(store, settings, pos, held, outcome)
            outcome = outcome.model_copy(update={"pnl_money": outcome.pnl_money * rate})
        result = session.get(SignalResult, pos.signal_id) or SignalResult(
            signal_id=pos.signal_id, status="pending"
        )
        _copy_outcome(result, outcome)
        session.add(result)
        if outcome.closed:
            book = book.settle(pos.signal_id, outcome, risk=settings.risk, bar_ms=bar_ms)
            pos.status = "closed"
            pos.closed_ts = outcome.exit_ts
            closed.append(
                ClosedPosition(
                    pos.signal_id, pos.symbol, outcome.status, outcome.r_multiple, outcome.pnl_money
                )
            )
        session.add(pos)
    save_account(session, book)
    return closed


def _exit_rate(
    store: CandleStore,
    settings: Settings,
    pos: Position,
    held: BookPosition,
    outcome: PositionOutcome,
) -> float:
    """The account currency per unit of quote when the position closed (its exit bar); the
    rate it opened at, with a warning, when no stored price is recent enough."""
    from hmas.errors import ConversionMissingError
    from hmas.risk import currency

    if not currency.needs_conversion(pos.symbol, settings) or outcome.exit_ts is None:
        return held.quote_rate
    try:
        return currency.rate_at(
            store, settings, pos.exchange, pos.symbol, pos.timeframe, outcome.exit_ts
        )
    except ConversionMissingError as exc:
        logger.warning(
            "%s; the P&L of signal %s is converted at its entry's rate %g",
            exc,
            pos.signal_id,
            held.quote_rate,
        )
        return held.quote_rate


def update_positions(
    engine: Engine, settings: Settings, engine_name: str, *, symbol: str | None = None
) -> list[ClosedPosition]:
    """Settle the open positions (of ``symbol``, if given) as one serialised step."""
    from hmas.store.serial import book_session

    with book_session(engine) as session:
        return settle(session, engine, settings, engine_name, symbol=symbol)


def _copy_outcome(result: SignalResult, outcome: PositionOutcome) -> None:
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


def set_kill_switch(
    engine: Engine, settings: Settings, on: bool | None, engine_name: str | None = None
) -> bool:
    """Store the kill switch (``None`` only reads it); return the stored state.

    Writes only when the state changes, so reading it, or turning off a switch that is off,
    works on a store that cannot be written.
    """
    from hmas.store.serial import book_session

    engine_name = engine_name or settings.decision.engine
    with Session(engine) as session:
        account = session.get(Account, engine_name)
        current = bool(account is not None and account.kill_switch)
    if on is None or on == current:
        return current
    with book_session(engine) as session:
        account = get_account(session, settings, engine_name)
        account.kill_switch = on
        account.updated_at = utcnow()
        session.add(account)
        return bool(on)


def open_position_count(engine: Engine, engine_name: str, *, symbol: str | None = None) -> int:
    """Open paper positions (of one symbol, if given)."""
    stmt = select(func.count()).where(
        col(Position.engine) == engine_name, col(Position.status) == "open"
    )
    if symbol is not None:
        stmt = stmt.where(col(Position.symbol) == symbol)
    with Session(engine) as session:
        return int(session.execute(stmt).scalar_one())


def resume(
    engine: Engine,
    settings: Settings,
    *,
    trigger: str | None = None,
    by: str,
    reason: str | None = None,
    engine_name: str | None = None,
) -> dict[str, Any]:
    """Lift the pauses in force (of ``trigger``, if given) as one serialised step; return what
    was lifted and what was kept (a daily-loss pause: the limit holds until the UTC day ends)."""
    from hmas.risk import pauses
    from hmas.store.pauses import as_dict
    from hmas.store.serial import book_session

    engine_name = engine_name or settings.decision.engine
    now = utcnow()
    with book_session(engine) as session:
        get_account(session, settings, engine_name)
        done = pauses.resume(
            session, settings, engine_name, now, trigger=trigger, by=by, reason=reason
        )
        return {
            "engine": engine_name,
            "lifted": [as_dict(p, now) for p in done.lifted],
            "kept": [as_dict(p, now) for p in done.kept],
        }
