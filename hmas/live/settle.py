"""Settle, then decide: the one library call ``hmas decide`` and ``hmas run`` make on a bar.

A live decision first settles the open paper positions of its symbol on the stored candles, so
the guardian judges the current book, then judges and saves the signal under the book lock.
A historical decision (a bar older than the series' latest stored bar, asked with
``decide --at`` or ``decide --analysis``) is an analyst's question: it settles nothing and is
judged against a fresh book as of its bar, never the live one (``service.decide``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.decision.service import SignalRecord
    from hmas.risk.ledger import ClosedPosition
    from hmas.settings import Settings
    from hmas.store.models import Analysis


@dataclass
class Decided:
    """What ``settle_then_decide`` did: the signal, whether it was historical, what closed."""

    record: SignalRecord
    historical: bool
    closed: list[ClosedPosition] = field(default_factory=list)


def is_historical(engine: Engine, analysis: Analysis) -> bool:
    """True when the analysis' bar is older than the latest bar stored for its series."""
    from sqlalchemy import func, select
    from sqlmodel import Session, col

    from hmas.store.models import Candle

    with Session(engine) as session:
        latest = session.execute(
            select(func.max(col(Candle.ts))).where(
                col(Candle.exchange) == analysis.exchange,
                col(Candle.symbol) == analysis.symbol,
                col(Candle.timeframe) == analysis.timeframe,
            )
        ).scalar_one()
    return latest is not None and analysis.bar_ts < int(latest)


def settle_then_decide(
    engine: Engine,
    settings: Settings,
    analysis: Analysis,
    *,
    run_id: int | None = None,
    live: bool | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> Decided:
    """Settle the symbol's open positions, then decide ``analysis`` on the live book.

    ``live=None`` decides from the store: the latest stored bar of the series is live, an
    older one historical. ``live=True`` (``hmas run``, ``hmas decide`` without ``--at``, which
    have just analysed the latest bar) skips that look-up. ``on_stage`` hears "paper update"
    and "deciding" as each starts.
    """
    from hmas.decision import service
    from hmas.risk import ledger

    historical = not live if live is not None else is_historical(engine, analysis)
    if historical:
        if on_stage is not None:
            on_stage("deciding")
        record = service.decide(engine, settings, analysis, run_id=run_id, historical=True)
        return Decided(record, historical=True)
    stage = on_stage or (lambda _stage: None)
    stage("paper update")
    closed = ledger.update_positions(engine, settings, analysis.engine, symbol=analysis.symbol)
    stage("deciding")
    record = service.decide(engine, settings, analysis, run_id=run_id)
    return Decided(record, historical=False, closed=closed)
