"""Read-only queries behind ``hmas signals`` and ``hmas report``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlmodel import Session

from hmas.store.models import Account, Analysis, Position, Signal, SignalResult

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


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
        stmt = stmt.where(Signal.symbol == symbol)  # type: ignore[arg-type]
    if since_ms is not None:
        stmt = stmt.where(Signal.bar_ts >= since_ms)  # type: ignore[arg-type]
    if decision is not None:
        stmt = stmt.where(Signal.decision == decision)  # type: ignore[arg-type]
    stmt = stmt.order_by(Signal.bar_ts.desc(), Signal.id.desc()).limit(limit)  # type: ignore[attr-defined,union-attr]
    with Session(engine, expire_on_commit=False) as session:
        return list(session.execute(stmt).scalars())


def signal_detail(engine: Engine, signal_id: int) -> dict[str, Any]:
    """Everything stored for one signal: the signal, its analysis, position and result."""
    from hmas.decision.service import get_signal, signal_json

    signal = get_signal(engine, signal_id)
    with Session(engine, expire_on_commit=False) as session:
        analysis = session.get(Analysis, signal.analysis_id)
        result = session.get(SignalResult, signal_id)
        position = (
            session.execute(
                select(Position).where(Position.signal_id == signal_id)  # type: ignore[arg-type]
            )
            .scalars()
            .first()
        )
    return {
        "signal": signal_json(signal),
        "rounds": signal.rounds,
        "guardian": signal.guardian,
        "views": analysis.views if analysis else {},
        "features": analysis.features if analysis else {},
        "snapshot": {
            "window_first_ts": analysis.window_first_ts if analysis else None,
            "window_last_ts": analysis.window_last_ts if analysis else None,
            "window_len": analysis.window_len if analysis else None,
            "snapshot_hash": analysis.snapshot_hash if analysis else None,
            "hmas_version": signal.hmas_version,
            "config_hash": signal.config_hash,
        },
        "position": position.model_dump(mode="json") if position else None,
        "result": result.model_dump(mode="json") if result else None,
    }


def summary(engine: Engine, engine_name: str = "rules") -> dict[str, Any]:
    """Signals per symbol and decision, outcomes, win rate and average R, equity, positions."""
    with Session(engine, expire_on_commit=False) as session:
        per = session.execute(
            select(Signal.symbol, Signal.decision, func.count())
            .group_by(Signal.symbol, Signal.decision)
            .order_by(Signal.symbol)
        ).all()
        outcomes = session.execute(
            select(
                SignalResult.status,
                func.count(),
                func.avg(SignalResult.r_multiple),
                func.sum(SignalResult.pnl_money),
            ).group_by(SignalResult.status)
        ).all()
        account = session.get(Account, engine_name)
        open_positions = list(
            session.execute(
                select(Position).where(Position.status == "open", Position.engine == engine_name)  # type: ignore[arg-type]
            ).scalars()
        )
        closed_r = [
            float(r)
            for r in session.execute(
                select(SignalResult.r_multiple).where(
                    SignalResult.status.in_(("win", "loss", "expired")),  # type: ignore[attr-defined]
                    SignalResult.r_multiple.is_not(None),  # type: ignore[union-attr]
                )
            ).scalars()
        ]
        sample = session.execute(select(func.count()).where(Signal.source == "sample")).scalar_one()
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
    wins = outcome_rows.get("win", {}).get("count", 0)
    closed = len(closed_r)
    return {
        "signals": by_symbol,
        "outcomes": outcome_rows,
        "closed_trades": closed,
        "win_rate": wins / closed if closed else None,
        "average_r": sum(closed_r) / closed if closed else None,
        "account": account.model_dump(mode="json") if account else None,
        "open_positions": [p.model_dump(mode="json") for p in open_positions],
        "sample_data_signals": int(sample),
    }
