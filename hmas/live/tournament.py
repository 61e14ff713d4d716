"""The live tournament's standings: each entrant's stored book ranked by the backtest's rules.

``hmas run --tournament`` decides every symbol into one paper book per entrant
(``<engine>@<name>``). The standings read each book's realised P&L from the store (the P&L of
its closed positions, each counted at its exit bar's close) and apply ``hmas.risk.tournament``
to it, the same core ``hmas backtest --tournament`` applies to simulated books:

- the tournament starts at the first bar any entrant decided (its first signal);
- it stands as of the close of the latest bar any entrant decided (or of a later exit bar),
  so a second run on the same bar prints the same standings;
- re-rank times, the window, the weights by rank and the equal split before the first full
  window are the backtest's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from hmas.store.models import Position, Signal, SignalResult

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.risk.entrants import Entrant
    from hmas.risk.tournament import Rules


def _pnl_events(session: Session, book: str) -> list[tuple[int, float]]:
    """(close time of the exit bar, P&L in the account currency) of each closed position."""
    from hmas.market import timeframe_ms

    rows = session.execute(
        select(col(SignalResult.exit_ts), col(SignalResult.pnl_money), col(Signal.timeframe))
        .join(Signal, col(Signal.id) == col(SignalResult.signal_id))
        .where(
            col(Signal.engine) == book,
            col(SignalResult.exit_ts).is_not(None),
            col(SignalResult.pnl_money).is_not(None),
        )
    ).all()
    return sorted((int(ts) + timeframe_ms(tf), float(pnl)) for ts, pnl, tf in rows)


def standings(engine: Engine, entrants: list[Entrant], rules: Rules) -> dict[str, Any]:
    """Each entrant's book: realised P&L, open positions, and its rank and weight now."""
    import numpy as np

    from hmas.market import ms_to_datetime, timeframe_ms
    from hmas.risk.tournament import describe, schedule

    books = [e.book for e in entrants]
    start = entrants[0].settings.paper.starting_equity
    with Session(engine) as session:
        events = [_pnl_events(session, book) for book in books]
        decided = session.execute(
            select(col(Signal.bar_ts), col(Signal.timeframe)).where(col(Signal.engine).in_(books))
        ).all()
        open_counts = dict(
            session.execute(
                select(col(Position.engine), func.count())
                .where(col(Position.engine).in_(books), col(Position.status) == "open")
                .group_by(col(Position.engine))
            ).all()
        )
    reranks = []
    first_open = as_of = None
    if decided:
        first_open = min(int(ts) for ts, _ in decided)
        closes = [int(ts) + timeframe_ms(tf) for ts, tf in decided]
        as_of = max(closes + [t for per in events for t, _ in per])
        times = sorted({t for per in events for t, _ in per} | {as_of})
        axis = np.array(times, dtype=np.int64)
        realised = np.full((len(books), len(axis)), float(start))
        for k, per in enumerate(events):
            booked = np.zeros(len(axis))
            for t, pnl in per:
                booked[int(np.searchsorted(axis, t))] += pnl
            realised[k] = start + np.cumsum(booked)
        reranks = schedule(axis, realised, start, first_open, rules, until_ms=as_of)
    current = reranks[-1] if reranks else None
    names = [e.name for e in entrants]
    weights = current.weights if current is not None else tuple(1 / len(books) for _ in books)
    members = [
        {
            "name": e.name,
            "file": str(e.path),
            "book": e.book,
            "realised_pnl": round(float(sum(p for _, p in per)), 2),
            "closed_trades": len(per),
            "open_positions": int(open_counts.get(e.book, 0)),
            "window_pnl": None
            if current is None
            else current.as_dict(names)["members"][k]["window_pnl"],
            "rank": None if current is None else current.ranks[k],
            "weight": round(weights[k], 6),
        }
        for k, (e, per) in enumerate(zip(entrants, events, strict=True))
    ]

    def when(ms: int | None) -> str | None:
        return None if ms is None else ms_to_datetime(ms).strftime("%Y-%m-%dT%H:%MZ")

    return {
        "tournament": describe(rules, len(books)),
        "started": when(first_open),
        "as_of": when(as_of),
        "members": members,
        "current": None if current is None else current.as_dict(names),
        "reranks": len(reranks),
    }
