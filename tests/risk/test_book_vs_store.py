"""The paper book in memory equals the book the ledger loads from the store, step by step.

A sequence of live decisions and settlements is played twice: on a ``PaperBook`` in memory and
through the ledger on a store (SQLite, and PostgreSQL when configured). After every step the
guardian's state at the next bar is the same from both, including the hourly window that
reaches back across midnight into the previous UTC day. A historical decision changes neither.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, select

from hmas.risk import ledger
from hmas.risk.book import BookPosition, PaperBook
from hmas.risk.positions import PositionOutcome
from hmas.settings import load_settings
from hmas.store.engine import upgrade
from hmas.store.models import Analysis, Position, Signal
from hmas.store.serial import book_session

HOUR = 3_600_000
DAY = 86_400_000
#: 2024-03-01 00:00 UTC.
MIDNIGHT = 1_709_251_200_000
#: The costs a side each approval was sized with, as its guardian record keeps them.
TERMS = {"fee_bps": 10.0, "spread_bps": 6.0, "slippage_bps": 2.0}
LIMITS = {"gap_allowance": 0.1}


def _analysis(session: Session, symbol: str, bar_ts: int) -> Analysis:
    analysis = Analysis(
        exchange="sample",
        symbol=symbol,
        timeframe="1h",
        bar_ts=bar_ts,
        engine="rules",
        config_hash="c",
        hmas_version="t",
        source="sample",
        window_first_ts=bar_ts,
        window_last_ts=bar_ts,
        window_len=1,
        snapshot_hash="h",
    )
    session.add(analysis)
    session.flush()
    return analysis


def _approve(engine: Any, settings: Any, symbol: str, bar_ts: int, *, live: bool = True) -> int:
    """Store an approved signal; a live one opens its position through the ledger."""
    with book_session(engine) as session:
        analysis = _analysis(session, symbol, bar_ts)
        assert analysis.id is not None
        signal = Signal(
            analysis_id=analysis.id,
            exchange="sample",
            symbol=symbol,
            timeframe="1h",
            bar_ts=bar_ts,
            engine="rules",
            config_hash="c",
            hmas_version="t",
            source="sample",
            decision="APPROVED",
            action="BUY",
            entry=100.0,
            stop_loss=95.0,
            take_profit=110.0,
            size=2.0,
            guardian={"proposal": TERMS | {"quote_rate": 1.0}, "verdict": {"limits": LIMITS}},
        )
        session.add(signal)
        session.flush()
        if live:  # as a live decision does: the day rolled to the bar and saved, then opened
            ledger.guardian_state(session, settings, "rules", symbol, bar_ts, HOUR)
            ledger.open_position(session, signal)
        assert signal.id is not None
        return signal.id


def _settle(engine: Any, settings: Any, signal_id: int, outcome: PositionOutcome) -> None:
    """Close a stored position with ``outcome`` as the ledger's settle step does."""
    with book_session(engine) as session:
        book = ledger.load_book(session, settings, "rules", outcome.exit_ts or 0)
        book = book.settle(signal_id, outcome, risk=settings.risk, bar_ms=HOUR)
        position = session.exec(select(Position).where(Position.signal_id == signal_id)).one()
        position.status, position.closed_ts = "closed", outcome.exit_ts
        session.add(position)
        ledger.save_account(session, book)


def _position(signal_id: int, symbol: str, bar_ts: int) -> BookPosition:
    return BookPosition(
        signal_id=signal_id,
        exchange="sample",
        symbol=symbol,
        timeframe="1h",
        side="BUY",
        entry=100.0,
        stop_loss=95.0,
        take_profit=110.0,
        size=2.0,
        opened_bar_ts=bar_ts,
        **TERMS,
        **LIMITS,
    )


def _loss(at: int) -> PositionOutcome:
    return PositionOutcome(
        status="loss", fill_ts=at - HOUR, exit_ts=at, r_multiple=-1.0, pnl_money=-10.0
    )


def _win(at: int) -> PositionOutcome:
    return PositionOutcome(
        status="win", fill_ts=at - HOUR, exit_ts=at, r_multiple=2.0, pnl_money=20.0
    )


def _stored_state(engine: Any, settings: Any, bar_ts: int) -> Any:
    with Session(engine) as session:
        book = ledger.load_book(session, settings, "rules", bar_ts)
        session.rollback()
    return book.state(bar_ts)


def test_the_book_in_memory_equals_the_book_loaded_from_the_store(
    db_url: str, engine_factory: Any
) -> None:
    engine = engine_factory(db_url)
    upgrade(engine)
    settings = load_settings(risk={"max_consecutive_losses": 2, "pause_bars": 5})
    book = PaperBook.fresh("rules", settings.paper)
    # Late on day 1, across midnight, into day 2; a settlement on each side of midnight.
    steps: list[tuple[str, str, int, Any]] = [
        ("open", "BTC-USD", MIDNIGHT - 3 * HOUR, None),
        ("open", "ETH-USD", MIDNIGHT - HOUR, None),
        ("settle", "BTC-USD", MIDNIGHT - 2 * HOUR, _loss),
        ("open", "SOL-USD", MIDNIGHT, None),
        ("historical", "XRP-USD", MIDNIGHT - HOUR // 2, None),
        ("open", "ADA-USD", MIDNIGHT + HOUR, None),
        ("settle", "ETH-USD", MIDNIGHT + 2 * HOUR, _loss),
        ("settle", "SOL-USD", MIDNIGHT + 3 * HOUR, _win),
        ("open", "BTC-USD", MIDNIGHT + 4 * HOUR, None),
    ]
    ids: dict[str, int] = {}
    checked = 0
    for action, symbol, ts, outcome in steps:
        if action == "open":
            ids[symbol] = _approve(engine, settings, symbol, ts)
            book = book.at(ts).open(_position(ids[symbol], symbol, ts))
        elif action == "historical":
            _approve(engine, settings, symbol, ts, live=False)  # never in the live book
        else:
            done = outcome(ts)
            _settle(engine, settings, ids[symbol], done)
            book = book.settle(ids[symbol], done, risk=settings.risk, bar_ms=HOUR)
        # The state at several later bars: within the hour, just after midnight, a day on.
        for probe in (ts, ts + HOUR // 2, MIDNIGHT, MIDNIGHT + HOUR // 2, ts + DAY):
            if probe < ts:
                continue
            assert book.state(probe) == _stored_state(engine, settings, probe), (action, probe)
            checked += 1
    assert checked > 20
    # At 00:30 the hour reaches back to 23:30 (ETH at 23:00 is out, the historical XRP at 23:30
    # never counts); the day counts SOL at 00:00 only.
    state = book.state(MIDNIGHT + HOUR // 2)
    assert (state.signals_last_hour, state.signals_today) == (1, 1)
    assert book.state(MIDNIGHT + HOUR).signals_last_hour == 1  # ADA at 01:00; SOL at 00:00 out
    # Two losses in a row paused the book; the win after them reset the streak.
    assert book.account.paused_until_ts == MIDNIGHT + 3 * HOUR + 5 * HOUR
    assert book.account.consecutive_losses == 0
    assert "XRP-USD" not in book.state(MIDNIGHT + 5 * HOUR).last_signal_ts


@pytest.mark.parametrize("hour", [0, 1])
def test_the_hour_before_midnight_counts_in_the_hourly_but_not_the_daily_window(
    db_url: str, engine_factory: Any, hour: int
) -> None:
    engine = engine_factory(db_url)
    upgrade(engine)
    settings = load_settings()
    _approve(engine, settings, "BTC-USD", MIDNIGHT - HOUR // 2)  # 23:30 the day before
    probe = MIDNIGHT + hour * HOUR // 4  # 00:00 or 00:15
    state = _stored_state(engine, settings, probe)
    assert (state.signals_last_hour, state.signals_today) == (1, 0)
    assert state.open_positions == 1
