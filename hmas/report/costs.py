"""What the period's LLM calls cost: by day, agent, vendor and model, and per approved signal.

The call log is read by UTC day (``llm_call.day``): a period's costs are those of the UTC days
it spans, which for a ``--since``/``--until`` given with a time may take in a few calls of the
day's other hours. The signals' own ``cost_usd`` (what each signal's calls cost) gives the
cost per approved signal: every signal's spend over the approved signals of the period.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.report.period import Period, Row


def day_of(ms: int | None, *, end: bool = False) -> str | None:
    from hmas.market import ms_to_datetime

    if ms is None:
        return None
    # ``until`` is exclusive: the last day is the one holding the millisecond before it.
    return ms_to_datetime(ms - 1 if end else ms).strftime("%Y-%m-%d")


def costs(engine: Engine, period: Period, signals: list[Row]) -> dict[str, Any]:
    """The call log's spend over the period's days and the cost per approved signal."""
    from hmas.store.llm_calls import cost_report

    data = cost_report(
        engine,
        first_day=day_of(period.since_ms),
        last_day=day_of(period.until_ms, end=True),
        symbol=period.symbol,
    )
    approved = sum(r.decision == "APPROVED" for r in signals)
    priced = [r.cost_usd for r in signals if r.cost_usd is not None]
    spent = round(sum(priced), 6)
    unknown: dict[str, str] = {}
    if not approved:
        per: float | None = None
        unknown["cost_per_approved_signal_usd"] = "no approved signal in the period"
    elif not priced:
        per = None
        unknown["cost_per_approved_signal_usd"] = (
            "no signal of the period has a known LLM cost (rules engine, or unpriced models)"
        )
    else:
        per = round(spent / approved, 6)
    return data | {
        "signals_cost_usd": spent if priced else None,
        "signals_priced": len(priced),
        "approved_signals": approved,
        "cost_per_approved_signal_usd": per,
        "unknown": unknown,
    }
