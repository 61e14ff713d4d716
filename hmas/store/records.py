"""Analyses and signals in the store: lookups by bar and by id, and a signal's JSON contract."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlmodel import Session, col

from hmas.errors import UsageError
from hmas.store.engine import id_in_range
from hmas.store.models import Analysis, Signal

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def _find_bar(
    engine: Engine,
    model: type[Analysis] | type[Signal],
    exchange: str,
    symbol: str,
    timeframe: str,
    bar_ts: int,
    engine_name: str,
    config_hash: str,
) -> Any:
    """The row of ``model`` stored for one bar and config (both tables share that key)."""
    with Session(engine, expire_on_commit=False) as session:
        stmt = select(model).where(
            col(model.exchange) == exchange,
            col(model.symbol) == symbol,
            col(model.timeframe) == timeframe,
            col(model.bar_ts) == bar_ts,
            col(model.engine) == engine_name,
            col(model.config_hash) == config_hash,
        )
        return session.execute(stmt).scalars().first()


def find_analysis(
    engine: Engine,
    exchange: str,
    symbol: str,
    timeframe: str,
    bar_ts: int,
    engine_name: str,
    config_hash: str,
) -> Analysis | None:
    """The stored analysis of one bar, if any."""
    found: Analysis | None = _find_bar(
        engine, Analysis, exchange, symbol, timeframe, bar_ts, engine_name, config_hash
    )
    return found


def get_analysis(engine: Engine, analysis_id: int) -> Analysis:
    """A stored analysis by id."""
    with Session(engine, expire_on_commit=False) as session:
        found = session.get(Analysis, analysis_id) if id_in_range(engine, analysis_id) else None
    if found is None:
        raise UsageError(f"no analysis with id {analysis_id}; see hmas signals list")
    return found


def find_signal(engine: Engine, analysis: Analysis) -> Signal | None:
    """The signal already decided for an analysis's bar and config, if any."""
    found: Signal | None = _find_bar(
        engine,
        Signal,
        analysis.exchange,
        analysis.symbol,
        analysis.timeframe,
        analysis.bar_ts,
        analysis.engine,
        analysis.config_hash,
    )
    return found


def get_signal(engine: Engine, signal_id: int) -> Signal:
    """A stored signal by id."""
    with Session(engine, expire_on_commit=False) as session:
        found = session.get(Signal, signal_id) if id_in_range(engine, signal_id) else None
    if found is None:
        raise UsageError(f"no signal with id {signal_id}; list them with hmas signals list")
    return found


def signal_json(signal: Signal) -> dict[str, Any]:
    """The JSON contract of a signal (other fields may follow)."""
    from hmas.market import ms_to_datetime

    data = {
        "id": signal.id,
        "symbol": signal.symbol,
        "timeframe": signal.timeframe,
        "bar_ts": ms_to_datetime(signal.bar_ts).isoformat(),
        "engine": signal.engine,
        "decision": signal.decision,
        "action": signal.action,
        "confidence": signal.confidence,
        "entry": signal.entry,
        "stop_loss": signal.stop_loss,
        "take_profit": signal.take_profit,
        "size": signal.size,
        "reward_risk": signal.reward_risk,
        "expected_value_r": signal.expected_value_r,
        "consensus": signal.consensus,
        "quality": signal.quality,
        "rejection_reason": signal.rejection_reason,
        "exchange": signal.exchange,
        "risk_adjusted_ev_r": signal.risk_adjusted_ev_r,
        "conviction": signal.conviction,
        "sample_data": signal.source == "sample",
        "config_hash": signal.config_hash,
        "analysis_id": signal.analysis_id,
        "created_at": signal.created_at.isoformat() if signal.created_at else None,
    }
    if signal.cost_usd is not None:  # an LLM signal: what its calls cost
        data["cost_usd"] = signal.cost_usd
    return data
