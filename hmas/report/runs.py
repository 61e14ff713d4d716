"""The stored backtest runs, side by side: the figures that make two runs comparable."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from hmas.store.models import BacktestRun

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

#: Runs listed at most (the newest).
LIMIT = 50


def _f(value: Any) -> float | None:
    return round(float(value), 6) if isinstance(value, int | float) else None


def comparison(engine: Engine, *, symbol: str | None = None, limit: int = LIMIT) -> dict[str, Any]:
    """The newest ``limit`` runs (those with ``symbol`` when given), one row each."""
    from hmas.market import ms_to_datetime

    stmt = select(BacktestRun).order_by(col(BacktestRun.id).desc())
    with Session(engine) as session:
        stored = list(session.exec(stmt))
    if symbol is not None:
        stored = [r for r in stored if symbol in (r.symbols or [])]
    rows = []
    for run in stored[:limit]:
        m = run.metrics or {}
        exp = m.get("expectancy_r") or {}
        cal = (m.get("calibration") or {}).get("trades") or {}
        rows.append(
            {
                "id": run.id,
                "created_at": run.created_at.isoformat(),
                "strategy": run.strategy,
                "engine": run.engine,
                "symbols": run.symbols,
                "timeframe": run.timeframe,
                "start": ms_to_datetime(run.start_ts).isoformat(),
                "end": ms_to_datetime(run.end_ts).isoformat(),
                "bars": run.bars,
                "sample_data": run.sample_data,
                "trades": m.get("trades"),
                "win_rate": _f(m.get("win_rate")),
                "expectancy_r": _f(exp.get("mean")),
                "expectancy_r_ci_low": _f(exp.get("ci_low")),
                "expectancy_r_ci_high": _f(exp.get("ci_high")),
                "total_return": _f(m.get("total_return")),
                "max_drawdown": _f(m.get("max_drawdown")),
                "sharpe": _f(m.get("sharpe")),
                "brier": _f(cal.get("brier")),
                "config_hash": run.config_hash,
                "data_hash": run.data_hash,
            }
        )
    return {"count": len(stored), "shown": len(rows), "runs": rows}
