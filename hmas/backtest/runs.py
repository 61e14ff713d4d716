"""Backtest runs in the store: keep one, list them, read one back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from hmas import __version__
from hmas.errors import StoreError, UsageError
from hmas.store.models import BacktestRun

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.backtest.run import BacktestResult


def save_run(engine: Engine, result: BacktestResult) -> int:
    """Store a finished run; return its id."""
    row = BacktestRun(
        hmas_version=__version__,
        strategy=result.strategy,
        engine=result.engine,
        timeframe=result.timeframe,
        symbols=result.symbols,
        start_ts=result.start_ts,
        end_ts=result.end_ts,
        bars=result.bars,
        data_hash=result.data_hash,
        config_hash=result.config_hash,
        config=result.config,
        series=[s.as_dict() for s in result.series],
        sample_data=result.sample_data,
        metrics=result.metrics,
        trades=result.trades,
    )
    try:
        with Session(engine, expire_on_commit=False) as session:
            session.add(row)
            session.commit()
    except SQLAlchemyError as exc:
        from hmas.store.engine import translate_error, where_of

        translated = translate_error(exc, where_of(engine))
        if translated is not None:
            raise translated from exc
        raise StoreError(f"could not store the backtest run: {exc.__class__.__name__}") from exc
    assert row.id is not None
    return row.id


def list_runs(engine: Engine, *, limit: int = 50) -> list[dict[str, Any]]:
    """The newest runs first, each as a summary row (the headline figures)."""
    stmt = select(BacktestRun).order_by(col(BacktestRun.id).desc()).limit(limit)
    with Session(engine) as session:
        rows = list(session.exec(stmt))
    return [summary(r) for r in rows]


def summary(row: BacktestRun) -> dict[str, Any]:
    """The headline of a stored run."""
    m = row.metrics
    return {
        "id": row.id,
        "created_at": row.created_at.isoformat(),
        "strategy": row.strategy,
        "symbols": row.symbols,
        "timeframe": row.timeframe,
        "start": _iso(row.start_ts),
        "end": _iso(row.end_ts),
        "bars": row.bars,
        "sample_data": row.sample_data,
        "trades": m.get("trades"),
        "total_return": m.get("total_return"),
        "max_drawdown": m.get("max_drawdown"),
        "sharpe": m.get("sharpe"),
        "expectancy_r": (m.get("expectancy_r") or {}).get("mean"),
        "config_hash": row.config_hash,
        "data_hash": row.data_hash,
    }


def get_run(engine: Engine, run_id: int) -> dict[str, Any]:
    """A stored run as ``BacktestResult.as_dict`` wrote it (``UsageError`` if there is none)."""
    with Session(engine) as session:
        row = session.get(BacktestRun, run_id)
    if row is None:
        raise UsageError(f"no backtest with id {run_id}; list them with hmas backtest list")
    return {
        "id": row.id,
        "created_at": row.created_at.isoformat(),
        "strategy": row.strategy,
        "engine": row.engine,
        "hmas_version": row.hmas_version,
        "symbols": row.symbols,
        "timeframe": row.timeframe,
        "start": _iso(row.start_ts),
        "end": _iso(row.end_ts),
        "bars": row.bars,
        "series": row.series,
        "sample_data": row.sample_data,
        "config_hash": row.config_hash,
        "data_hash": row.data_hash,
        "metrics": row.metrics,
        "trades": row.trades,
    }


def _iso(ms: int) -> str:
    from hmas.backtest.data import iso

    return iso(ms)
