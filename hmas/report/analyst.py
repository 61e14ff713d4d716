"""``hmas report``: everything the analyst reads about a period, as one JSON-able dict.

The first keys are the first report's (``queries.summary``: signals per symbol and decision,
outcomes, win rate, average R, the account, open positions), restricted to the period; then:

- ``period``: the bounds and symbol asked for, and the account's engine;
- ``performance``: counts, win rate and expectancy in R with 95% bootstrap intervals, P&L;
- ``equity``: the paper account's realised equity and drawdown after each close;
- ``attribution``: per agent, agreement with outcomes and the outcomes of signals it opposed;
  the guards and the mother's checks that refused signals;
- ``calibration``: p_win, confidence and quality by bucket against the realised win rate;
- ``costs``: LLM spend by day, agent, vendor and model, cost per approved signal;
- ``backtests``: the stored backtest runs side by side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.report.period import Period


def build(engine: Engine, engine_name: str, period: Period) -> dict[str, Any]:
    """The whole report of ``period`` for the paper account of ``engine_name``."""
    from hmas.report import attribution, calibration, costs, queries, runs
    from hmas.report import period as periods

    if period.symbol is not None:
        periods.check_symbol(engine, period.symbol)
    signals = periods.rows(engine, period)
    data = queries.summary(engine, engine_name, period)
    from hmas.store.models import utcnow

    return data | {
        "generated_at": utcnow().isoformat(timespec="seconds"),
        "period": period.as_dict() | {"engine": engine_name},
        "performance": periods.performance(signals),
        "equity": periods.equity(engine, period, engine_name),
        "attribution": {
            "agents": attribution.agents(signals),
            "refusals": attribution.refusals(signals),
        },
        "calibration": calibration.calibration_report(signals),
        "costs": costs.costs(engine, period, signals),
        "backtests": runs.comparison(engine, symbol=period.symbol),
    }
