"""``hmas backtest --tournament``: every configuration backtested on the same candles, ranked.

Each entrant (``hmas.risk.entrants``) is backtested as ``hmas backtest --config FILE`` would
on the same stored candles and range; then ``hmas.risk.tournament`` (the rules ``hmas run
--tournament`` applies live) ranks their books by realised P&L, weights capital by rank and
compares the blended curve with the best single entrant (in hindsight) and an equal-weight
blend. The runs are stored only once every entrant is done: a failure stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hmas.errors import UsageError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
    from sqlalchemy.engine import Engine

    from hmas.backtest.engine import Progress, Trade
    from hmas.backtest.run import BacktestRequest, BacktestResult
    from hmas.risk.entrants import Entrant
    from hmas.risk.tournament import Rules, Standing


@dataclass
class TournamentResult:
    """The entrants' backtests and the tournament over them."""

    entrants: list[Entrant]
    results: list[BacktestResult]
    rules: Rules
    standing: Standing

    def as_dict(self) -> dict[str, Any]:
        """The JSON ``hmas backtest --tournament --json`` prints."""
        from hmas.backtest.data import iso
        from hmas.risk.tournament import describe

        first = self.results[0]
        members = []
        for entrant, result, figures in zip(
            self.entrants, self.results, self.standing.members, strict=True
        ):
            m = result.metrics
            members.append(
                {
                    "name": entrant.name,
                    "file": str(entrant.path),
                    "backtest_id": result.id,
                    "config_hash": result.config_hash,
                    "trades": m.get("trades"),
                    "closed_trades": m.get("closed_trades"),
                    "realised_pnl": _pnl(m.get("realised_equity"), m.get("starting_equity")),
                    **{k: v for k, v in figures.items() if k != "name"},
                }
            )
        return {
            "tournament": describe(self.rules, len(self.entrants)),
            "symbols": first.symbols,
            "timeframe": first.timeframe,
            "start": iso(first.start_ts),
            "end": iso(first.end_ts),
            "bars": first.bars,
            "sample_data": first.sample_data,
            "starting_equity": first.metrics.get("starting_equity"),
            **{**self.standing.as_dict(), "members": members},
        }


def _pnl(final: Any, start: Any) -> float | None:
    if final is None or start is None:
        return None
    return round(float(final) - float(start), 2)


def realised_curve(ts: NDArray[np.int64], trades: list[Trade], start: float) -> NDArray[np.float64]:
    """The book's realised equity at each bar's close: a trade counts at its exit bar's close
    (as ``metrics.equity_curve`` books it)."""
    import numpy as np

    booked = np.zeros(len(ts))
    for t in trades:
        if t.closed and t.exit_ts is not None and t.pnl_money is not None:
            at = int(np.searchsorted(ts, t.exit_ts))
            if at < len(ts):
                booked[at] += t.pnl_money
    out: NDArray[np.float64] = start + np.cumsum(booked)
    return out


def check_entrants(entrants: list[Entrant]) -> None:
    """UsageError for an entrant a tournament backtest cannot run (one on the LLM engine)."""
    for entrant in entrants:
        if entrant.settings.uses_llm():
            raise UsageError(
                f"--tournament {entrant.path} runs the LLM engine; a tournament backtest runs "
                "the rules engine only (each entrant would call the models for every bar)"
            )


def run_tournament(
    engine: Engine,
    entrants: list[Entrant],
    rules: Rules,
    request: BacktestRequest,
    *,
    progress: Progress | None = None,
    store: bool = True,
) -> TournamentResult:
    """Backtest every entrant on the same candles, rank and blend; store the runs at the end."""
    import numpy as np

    from hmas.backtest.run import run_backtest
    from hmas.risk.tournament import compare

    check_entrants(entrants)
    results: list[BacktestResult] = []
    for entrant in entrants:
        results.append(
            run_backtest(engine, entrant.settings, request, progress=progress, store=False)
        )
    ts = results[0].curve.ts
    for entrant, result in zip(entrants[1:], results[1:], strict=True):
        if not np.array_equal(result.curve.ts, ts):  # pragma: no cover - same range, same bars
            raise UsageError(f"--tournament {entrant.path} simulated other bars than the first")
    start = float(results[0].metrics["starting_equity"])
    bar_ms = results[0].curve.bar_ms
    close_ts = ts + bar_ms
    equity = np.stack([r.curve.equity for r in results])
    realised = np.stack([realised_curve(ts, r.simulation.trades, start) for r in results])
    standing = compare(
        [e.name for e in entrants], close_ts, int(ts[0]), equity, realised, start, rules
    )
    if store:
        from hmas.backtest.runs import save_run

        for result in results:
            result.id = save_run(engine, result)
    return TournamentResult(entrants, results, rules, standing)
