"""The paper book in memory: opening, settling, counters, and what a load may leave out."""

from __future__ import annotations

import pytest

from hmas.risk.book import BookPosition, PaperBook
from hmas.risk.positions import PositionOutcome
from hmas.settings import load_settings

HOUR = 3_600_000
MIDNIGHT = 1_709_251_200_000  # 2024-03-01 00:00 UTC


def pos(signal_id: int, symbol: str, ts: int) -> BookPosition:
    return BookPosition(
        signal_id=signal_id,
        exchange="x",
        symbol=symbol,
        timeframe="1h",
        side="BUY",
        entry=100.0,
        stop_loss=90.0,
        take_profit=120.0,
        size=1.5,
        opened_bar_ts=ts,
    )


def test_open_counts_the_position_its_risk_and_its_approval() -> None:
    settings = load_settings()
    book = PaperBook.fresh("rules", settings.paper).open(pos(1, "BTC-USD", MIDNIGHT))
    state = book.state(MIDNIGHT + HOUR)
    assert (state.open_positions, state.open_symbols, state.open_risk) == (1, ("BTC-USD",), 15.0)
    assert state.last_signal_ts == {"BTC-USD": MIDNIGHT}
    assert (state.signals_last_hour, state.signals_today) == (0, 1)  # the hour excludes 00:00
    with pytest.raises(ValueError, match="already has an open position"):
        book.open(pos(1, "BTC-USD", MIDNIGHT))


def test_settle_books_the_outcome_once() -> None:
    settings = load_settings()
    book = PaperBook.fresh("rules", settings.paper).open(pos(1, "BTC-USD", MIDNIGHT))
    loss = PositionOutcome(status="loss", exit_ts=MIDNIGHT + HOUR, pnl_money=-15.0)
    still = PositionOutcome(status="open")
    assert book.settle(1, still, risk=settings.risk, bar_ms=HOUR) is book
    settled = book.settle(1, loss, risk=settings.risk, bar_ms=HOUR)
    assert settled.positions == ()
    assert settled.account.equity == settings.paper.starting_equity - 15.0
    assert settled.account.consecutive_losses == 1
    with pytest.raises(ValueError, match="no open position"):
        settled.settle(1, loss, risk=settings.risk, bar_ms=HOUR)


def test_what_a_load_leaves_out_changes_no_state_from_that_bar_on() -> None:
    settings = load_settings()
    book = PaperBook.fresh("rules", settings.paper)
    for i, ts in enumerate(range(MIDNIGHT - 3 * 86_400_000, MIDNIGHT + 5 * HOUR, 7 * HOUR)):
        book = book.open(pos(i, ("BTC-USD", "ETH-USD")[i % 2], ts))
    at = MIDNIGHT + 2 * HOUR
    trimmed = book.approvals_since(at)
    assert len(trimmed.approvals) < len(book.approvals)
    for probe in (at, at + HOUR, at + 22 * HOUR):
        assert trimmed.state(probe) == book.state(probe)


def test_the_open_risk_and_notional_count_costs_the_gap_allowance_and_the_quote_rate() -> None:
    settings = load_settings()
    plain = pos(1, "BTC-USD", MIDNIGHT)
    costly = plain.model_copy(
        update={"signal_id": 2, "symbol": "ETH-BTC", "fee_bps": 60.0, "spread_bps": 10.0}
    )
    costly = costly.model_copy(update={"gap_allowance": 0.1, "quote_rate": 20_000.0})
    book = PaperBook.fresh("rules", settings.paper).open(plain).open(costly)
    state = book.state(MIDNIGHT + HOUR)
    # 1.5 x (100.05 x 1.006 - 89 x 0.9995 x 0.994) per unit of BTC, at 20,000 USD a BTC.
    unit = 100.05 * 1.006 - 89.0 * 0.9995 * 0.994
    assert state.open_risk == pytest.approx(15.0 + 1.5 * unit * 20_000)
    assert state.open_notional == pytest.approx(150.0 + 150.0 * 20_000)
