"""Read-only queries behind ``hmas signals`` and ``hmas report``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from hmas.store.models import Account, Analysis, Position, Signal, SignalResult

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.report.period import Period


def with_iso(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """``data`` plus an ISO 8601 UTC ``<key>_iso`` beside every epoch-ms ``*_ts`` key."""
    from hmas.market import ms_to_datetime

    if data is None:
        return None
    extra = {
        f"{k}_iso": None if v is None else ms_to_datetime(v).isoformat()
        for k, v in data.items()
        if k.endswith("_ts") and (v is None or (isinstance(v, int) and not isinstance(v, bool)))
    }
    return data | extra


def list_signals(
    engine: Engine,
    *,
    symbol: str | None = None,
    since_ms: int | None = None,
    decision: str | None = None,
    limit: int = 50,
) -> list[Signal]:
    """Stored signals, newest bar first, filtered."""
    stmt = select(Signal)
    if symbol is not None:
        stmt = stmt.where(col(Signal.symbol) == symbol)
    if since_ms is not None:
        stmt = stmt.where(col(Signal.bar_ts) >= since_ms)
    if decision is not None:
        stmt = stmt.where(col(Signal.decision) == decision)
    stmt = stmt.order_by(col(Signal.bar_ts).desc(), col(Signal.id).desc()).limit(limit)
    with Session(engine, expire_on_commit=False) as session:
        return list(session.execute(stmt).scalars())


def signal_detail(engine: Engine, signal_id: int) -> dict[str, Any]:
    """Everything stored for one signal: the signal, its analysis, position and result."""
    from hmas.store.records import get_signal, signal_json

    signal = get_signal(engine, signal_id)
    with Session(engine, expire_on_commit=False) as session:
        analysis = session.get(Analysis, signal.analysis_id)
        result = session.get(SignalResult, signal_id)
        position = (
            session.execute(select(Position).where(col(Position.signal_id) == signal_id))
            .scalars()
            .first()
        )
    return {
        "signal": signal_json(signal),
        "rounds": signal.rounds,
        "guardian": signal.guardian,
        "views": analysis.views if analysis else {},
        "features": analysis.features if analysis else {},
        "snapshot": with_iso(
            {
                "window_first_ts": analysis.window_first_ts if analysis else None,
                "window_last_ts": analysis.window_last_ts if analysis else None,
                "window_len": analysis.window_len if analysis else None,
                "snapshot_hash": analysis.snapshot_hash if analysis else None,
                "hmas_version": signal.hmas_version,
                "config_hash": signal.config_hash,
            }
        ),
        "position": with_iso(position.model_dump(mode="json")) if position else None,
        "result": with_iso(result.model_dump(mode="json")) if result else None,
    }


def signal_document(engine: Engine, signal_id: int) -> dict[str, Any]:
    """What ``hmas signals show --json`` prints (and ``run --artifacts`` writes) for a signal:
    ``signal_detail`` with each agent's view as shown."""
    from hmas.agents.registry import shown

    detail = signal_detail(engine, signal_id)
    return {**detail, "views": shown(detail["views"])}


def document_text(document: dict[str, Any]) -> str:
    """A signal document as JSON text: indented, numbers as stored, other values as strings."""
    import json

    return json.dumps(document, indent=2, default=str) + "\n"


def summary(engine: Engine, engine_name: str, period: Period | None = None) -> dict[str, Any]:
    """Signals per symbol and decision, outcomes, win rate and average R, equity, positions.

    ``period`` keeps the signals whose bar is in it (and their outcomes, and the open
    positions of its symbol); the account is the whole account's.
    """
    chosen: list[Any] = []
    if period is not None and period.symbol is not None:
        chosen.append(col(Signal.symbol) == period.symbol)
    if period is not None and period.since_ms is not None:
        chosen.append(col(Signal.bar_ts) >= period.since_ms)
    if period is not None and period.until_ms is not None:
        chosen.append(col(Signal.bar_ts) < period.until_ms)
    ids = select(col(Signal.id)).where(*chosen)
    with Session(engine, expire_on_commit=False) as session:
        per = session.execute(
            select(col(Signal.symbol), col(Signal.decision), func.count())
            .where(*chosen)
            .group_by(col(Signal.symbol), col(Signal.decision))
            .order_by(col(Signal.symbol))
        ).all()
        outcomes = session.execute(
            select(
                col(SignalResult.status),
                func.count(),
                func.avg(col(SignalResult.r_multiple)),
                func.sum(col(SignalResult.pnl_money)),
            )
            .where(col(SignalResult.signal_id).in_(ids))
            .group_by(col(SignalResult.status))
        ).all()
        account = session.get(Account, engine_name)
        open_positions = list(
            session.execute(
                select(Position).where(
                    col(Position.status) == "open",
                    col(Position.engine) == engine_name,
                    col(Position.signal_id).in_(ids),
                )
            ).scalars()
        )
        closed_r = [
            float(r)
            for r in session.execute(
                select(col(SignalResult.r_multiple)).where(
                    col(SignalResult.status).in_(("win", "loss", "expired")),
                    col(SignalResult.r_multiple).is_not(None),
                    col(SignalResult.signal_id).in_(ids),
                )
            ).scalars()
        ]
        sample = session.execute(
            select(func.count()).where(col(Signal.source) == "sample", *chosen)
        ).scalar_one()
    by_symbol: dict[str, dict[str, int]] = {}
    for sym, decision, count in per:
        by_symbol.setdefault(sym, {"APPROVED": 0, "REJECTED": 0})[decision] = int(count)
    outcome_rows = {
        status: {
            "count": int(n),
            "avg_r": None if avg is None else float(avg),
            "pnl": None if pnl is None else float(pnl),
        }
        for status, n, avg, pnl in outcomes
    }
    wins = int(outcome_rows.get("win", {}).get("count") or 0)
    closed = len(closed_r)
    return {
        "signals": by_symbol,
        "outcomes": outcome_rows,
        "closed_trades": closed,
        "win_rate": wins / closed if closed else None,
        "average_r": sum(closed_r) / closed if closed else None,
        "account": with_iso(account.model_dump(mode="json")) if account else None,
        "open_positions": [with_iso(p.model_dump(mode="json")) for p in open_positions],
        "sample_data_signals": int(sample),
    }
