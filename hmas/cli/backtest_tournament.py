"""``hmas backtest --tournament DIR``: parse, run ``backtest.tournament``, render, map errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hmas.cli.common import engine_overrides, settings_from, store_from
from hmas.errors import UsageError

#: The options of a single backtest that a tournament does not take (its runs are not
#: exported, plotted or checked one by one: ``backtest show ID`` and the single commands do).
REFUSED = {
    "export": "--export",
    "plot": "--plot",
    "check_lookahead": "--check-lookahead",
    "lookahead_bars": "--lookahead-bars",
    "limit": "--limit",
    "max_cost": "--max-cost",
    "no_cache": "--no-cache",
    "compare": "--compare",
    "ablate": "--ablate",
    "walk_forward": "--walk-forward",
}


def tournament_command(ctx: typer.Context, paths: list[Path], *, scope: dict[str, Any]) -> None:
    """Backtest every configuration of ``paths`` and print the tournament."""
    from hmas.cli import args, render, tournament_view

    given = [flag for key, flag in REFUSED.items() if scope.get(key)]
    if given:
        raise UsageError(f"--tournament does not take {', '.join(given)}; run them without it")
    strategy = (scope.get("strategy") or "rules").strip().lower()
    if strategy != "rules":
        raise UsageError("--tournament ranks configurations of the rules strategy; drop --strategy")
    wanted = args.symbols(scope.get("symbols"), scope.get("words"))
    lo, hi, start_name, end_name = args.date_range(
        scope.get("start"), scope.get("end"), scope.get("timerange")
    )
    overrides = engine_overrides(scope.get("engine_name"))
    settings = settings_from(ctx, **overrides)
    from hmas.backtest.tournament import check_entrants, run_tournament
    from hmas.risk.entrants import load_entrants, rules_for

    entrants = load_entrants(paths, **overrides)
    rules = rules_for(settings, len(entrants))
    check_entrants(entrants)  # before the store is opened
    tf = args.timeframe(scope.get("timeframe"), settings.fetch.timeframe)
    ex = args.exchange(scope.get("exchange"))
    engine = store_from(settings)
    source, path, json_out = scope.get("source"), scope.get("path"), bool(scope.get("json_out"))
    if source is not None:
        from hmas.cli.backtest import _fetch_first

        ex = _fetch_first(settings, engine, wanted, tf, source, ex, path, lo, json_out)
    elif path is not None:
        raise UsageError("--path is only read with --source file")
    from hmas.backtest.data import Range
    from hmas.backtest.run import BacktestRequest

    request = BacktestRequest(
        symbols=wanted, timeframe=tf, range=Range(lo, hi, start_name, end_name), exchange=ex
    )
    with render.stage_progress(enabled=not json_out) as progress:
        result = run_tournament(engine, entrants, rules, request, progress=progress)
    if json_out:
        render.print_json(result.as_dict())
    else:
        tournament_view.backtest(result.as_dict())
