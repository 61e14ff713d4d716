"""``hmas backtest``: the one decision over stored history; ``backtest list`` and ``show ID``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hmas.cli.common import EngineOption, JsonOption, engine_overrides, settings_from, store_from
from hmas.errors import UsageError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.backtest.run import LlmBudget
    from hmas.settings import Settings

app = typer.Typer()

ACTIONS = ("list", "show")


@app.command("backtest")
def backtest(
    ctx: typer.Context,
    symbols: Annotated[
        list[str] | None,
        typer.Option(
            "--symbols",
            "-s",
            help="Symbols as BASE-QUOTE; several after one flag or comma-separated. "
            "Example: --symbols BTC-USD ETH-USD",
        ),
    ] = None,
    rest: Annotated[
        list[str] | None,
        typer.Argument(
            hidden=True,
            help="More symbols after --symbols, or: list, or: show ID.",
            metavar="list | show ID",
        ),
    ] = None,
    timeframe: Annotated[
        str | None,
        typer.Option(
            "--timeframe", "-t", help="Candle timeframe (default from config: 1h). Example: -t 1h"
        ),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option("--start", help="First bar (UTC, included). Example: --start 2018-01-01"),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--end",
            help="End of the range (UTC, the bar opening then excluded). Example: --end 2019-01-01",
        ),
    ] = None,
    timerange: Annotated[
        str | None,
        typer.Option(
            "--timerange",
            help="START-END as YYYYMMDD, either side may be empty (end excluded). "
            "Example: --timerange 20180101-20190101",
        ),
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy",
            help="rules (the agents, the mother and the guardian; default) or reference "
            "(RSI/Bollinger with ATR stop and target). Example: --strategy reference",
        ),
    ] = None,
    exchange: Annotated[
        str | None,
        typer.Option(
            "--exchange",
            "-e",
            help="The exchange the candles are stored under (default: the only one). "
            "Example: -e coinbase",
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="Fetch first from: exchange (ccxt), sample (offline synthetic market) or file "
            "(with --path). Example: --source sample",
        ),
    ] = None,
    path: Annotated[
        Path | None,
        typer.Option(
            "--path", help="File to import first with --source file. Example: --path btc_1h.csv"
        ),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            help="Directory to write run.json, trades and equity as JSON and CSV. "
            "Example: --export out/",
            file_okay=True,
            dir_okay=True,
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="PNG of prices with entries and exits, equity and drawdown. "
            "Example: --plot backtest.png",
        ),
    ] = None,
    check_lookahead: Annotated[
        bool,
        typer.Option(
            "--check-lookahead",
            help="Re-decide every entry, exit and a sample of other bars on history cut at "
            "them; exit 1 if any decision or feature changes. Nothing is stored.",
        ),
    ] = False,
    lookahead_bars: Annotated[
        int | None,
        typer.Option(
            "--lookahead-bars",
            help="Other bars per symbol --check-lookahead re-decides (default 50). "
            "Example: --lookahead-bars 200",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", help="With list: at most N runs (default 20). Example: 50"),
    ] = None,
    engine_name: EngineOption = None,
    max_cost: Annotated[
        float | None,
        typer.Option(
            "--max-cost",
            help="With --engine llm (required): the most the run may spend on LLM calls, USD; "
            "a call past it is not made and the run exits 3. Example: --max-cost 5",
        ),
    ] = None,
    no_cache: Annotated[
        bool,
        typer.Option(
            "--no-cache",
            help="With --engine llm: ask the models again even where the call log has the "
            "answer to the same question. Example: --no-cache",
        ),
    ] = False,
    tournament: Annotated[
        list[Path] | None,
        typer.Option(
            "--tournament",
            help="Backtest each configuration of a directory (its .toml files, sorted) or of "
            "several files on the same candles, then rank them by realised P&L and blend "
            "([tournament] weights, window, rerank). Example: --tournament cfgs/",
        ),
    ] = None,
    compare: Annotated[
        list[str] | None,
        typer.Option(
            "--compare",
            help="Run several configurations on the same candles and rank them: TOML files, "
            "or rules / llm (this configuration on that engine; llm answers from the call log "
            "only unless --max-cost is given), several after one flag. "
            "Example: --compare rules strict.toml",
        ),
    ] = None,
    ablate: Annotated[
        list[str] | None,
        typer.Option(
            "--ablate",
            help="Run with an agent removed from the panel, against the configuration as given "
            "(repeatable); all: each agent in turn. Example: --ablate all",
        ),
    ] = None,
    walk_forward: Annotated[
        int | None,
        typer.Option(
            "--walk-forward",
            help="Split the range into N consecutive windows, each decided on base rates "
            "frozen at its start; out-of-sample figures per window and pooled. "
            "Example: --walk-forward 4",
        ),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Backtest the decision on stored candles; list and show stored backtests.

    The bars are decided by the same code as hmas decide (live equals history) and walked in
    time order on one paper book: fills at the next bar's open, the paper position rules,
    costs per side, sizes at the simulated equity, the guardian on the simulated account.
    Each run is stored: hmas backtest list, hmas backtest show ID.

    With --engine llm every simulated bar is asked of the agents' models: --max-cost is
    required, the worst-case cost is printed first, answers already in the call log are reused
    ($0), an agent that abstains counts as it does live (alpha: HOLD), and the spend is reported.

    Exit codes: 0 done; 1 --check-lookahead found a change, or an error; 2 bad usage
    (a range outside the stored candles, an unknown symbol, a bad --timerange, --engine llm
    without --max-cost); 3 an LLM budget refused a call.

    Example: hmas backtest --symbols BTC-USD --timeframe 1h --timerange 20180101-20190101

    With --tournament DIR each configuration is backtested and the books ranked and blended
    (docs/backtest.md#tournament). Example: hmas backtest -s BTC-USD --source sample
    --tournament cfgs/

    Also: hmas backtest list [--limit N] [--json]; hmas backtest show ID [--json].

    Workbench: --compare A.toml B.toml (configurations ranked on the same candles, the top two
    tested for a difference), --ablate all (each agent removed in turn), --walk-forward 4
    (windows decided on base rates frozen at their start). docs/backtest.md.
    """
    words = list(rest or [])
    if words and words[0] in ACTIONS:
        _stored(ctx, words, json_out=json_out, limit=limit, given=_given(locals()))
        return
    if tournament is not None:
        from hmas.cli.backtest_tournament import tournament_command

        tournament_command(ctx, tournament, scope=locals())
        return
    from hmas.cli import args, backtest_view, render
    from hmas.cli import backtest_compare as compare_cli
    from hmas.errors import EXIT_ERROR

    words, compare = compare_cli.split_words(words, compare)
    wanted = args.symbols(symbols, words)
    if limit is not None:
        raise UsageError("--limit applies to hmas backtest list only")
    lo, hi, start_name, end_name = args.date_range(start, end, timerange)
    chosen = (strategy or "rules").strip().lower()
    from hmas.backtest.strategy import STRATEGIES

    if chosen not in STRATEGIES:
        raise UsageError(f"unknown --strategy {strategy!r}; use rules or reference")
    args.at_least(lookahead_bars, 0, "--lookahead-bars")
    if lookahead_bars is not None and not check_lookahead:
        raise UsageError("--lookahead-bars applies with --check-lookahead only")
    if check_lookahead and (export is not None or plot is not None):
        raise UsageError("--check-lookahead runs a check only; drop --export and --plot")
    from hmas.backtest import export as exporting
    from hmas.backtest import plot as plotting

    if export is not None:
        exporting.check_dir(export)
    if plot is not None:
        plotting.check_file(plot)
    workbench = compare_cli.chosen(compare, ablate, walk_forward, check_lookahead, export, plot)
    if workbench is not None and compare:
        settings = settings_from(ctx)
        llm_budget = None
    else:
        settings = settings_from(ctx, **engine_overrides(engine_name))
        llm_budget = _llm_budget(settings, chosen, max_cost, no_cache, check_lookahead)
    tf = args.timeframe(timeframe, settings.fetch.timeframe)
    ex = args.exchange(exchange)
    engine = store_from(settings)
    if source is not None:
        ex = _fetch_first(settings, engine, wanted, tf, source, ex, path, lo, json_out)
    elif path is not None:
        raise UsageError("--path is only read with --source file")
    from hmas.backtest.data import Range
    from hmas.backtest.run import BacktestRequest, run_backtest

    request = BacktestRequest(
        symbols=wanted,
        timeframe=tf,
        range=Range(lo, hi, start_name, end_name),
        exchange=ex,
        strategy=chosen,  # type: ignore[arg-type]
    )
    if workbench is not None:
        compare_cli.run(
            ctx,
            workbench,
            engine,
            settings,
            request,
            compare=compare or [],
            ablate=ablate or [],
            windows=walk_forward,
            engine_name=engine_name,
            llm=llm_budget,
            max_cost=max_cost,
            json_out=json_out,
        )
        return
    with render.stage_progress(enabled=not json_out) as progress:
        result = run_backtest(
            engine,
            settings,
            request,
            progress=progress,
            store=not check_lookahead,
            llm=llm_budget,
            on_estimate=render.note,
        )
        if check_lookahead:
            from hmas.backtest.lookahead import SAMPLE_BARS, check

            bars = SAMPLE_BARS if lookahead_bars is None else lookahead_bars
            report = check(result, settings, sample=bars, progress=progress)
    if check_lookahead:
        if json_out:
            render.print_json(report)
        else:
            backtest_view.lookahead(report)
        if not report["ok"]:
            raise typer.Exit(EXIT_ERROR)
        return
    if export is not None:
        exporting.write(result, export)
    if plot is not None:
        plotting.write(result, plot)
    if json_out:
        render.print_json(result.as_dict())
        return
    backtest_view.run(result.as_dict())
    if export is not None:
        render.text_line(f"Exported to {export}/: run.json, trades.json/csv, equity.json/csv")
    if plot is not None:
        render.text_line(f"Plot written to {plot}")


def _llm_budget(
    settings: Settings, strategy: str, max_cost: float | None, no_cache: bool, lookahead: bool
) -> LlmBudget | None:
    """The limits of an LLM backtest; UsageError for flags that do not fit the engine."""
    from hmas.backtest.run import LlmBudget

    if not settings.uses_llm():
        if max_cost is not None or no_cache:
            raise UsageError("--max-cost and --no-cache apply with --engine llm only")
        return None
    if strategy != "rules":
        raise UsageError("--engine llm runs the agents: use it with --strategy rules")
    if lookahead:
        raise UsageError(
            "--check-lookahead re-decides bars on cut history, which would ask the models "
            "again; run it on the rules engine"
        )
    if max_cost is None:
        raise UsageError(
            "a backtest on the LLM engine calls the models for every bar: give --max-cost USD "
            "(the estimated cost is printed first), e.g. --max-cost 5"
        )
    if not (max_cost > 0 and math.isfinite(max_cost)):
        raise typer.BadParameter(
            f"expected a cost above 0, got {max_cost}", param_hint="--max-cost"
        )
    from hmas.decision.llm_engine import resolve

    resolve(settings)  # every route and key before any work
    return LlmBudget(max_cost, use_cache=not no_cache)


def _given(scope: dict[str, object]) -> list[str]:
    """The run options given with list/show (they are refused: they would be ignored)."""
    names = {
        "symbols": "--symbols",
        "timeframe": "--timeframe",
        "start": "--start",
        "end": "--end",
        "timerange": "--timerange",
        "strategy": "--strategy",
        "exchange": "--exchange",
        "source": "--source",
        "path": "--path",
        "export": "--export",
        "plot": "--plot",
        "lookahead_bars": "--lookahead-bars",
        "tournament": "--tournament",
        "compare": "--compare",
        "ablate": "--ablate",
        "walk_forward": "--walk-forward",
    }
    found = [flag for key, flag in names.items() if scope.get(key) is not None]
    if scope.get("check_lookahead"):
        found.append("--check-lookahead")
    return found


def _stored(
    ctx: typer.Context, words: list[str], *, json_out: bool, limit: int | None, given: list[str]
) -> None:
    """``hmas backtest list`` and ``hmas backtest show ID``."""
    from hmas.cli import args, backtest_view, render

    action = words[0]
    if given:
        raise UsageError(
            f"hmas backtest {action} takes {'--limit and ' if action == 'list' else ''}--json "
            f"only, not {', '.join(given)}"
        )
    if action == "list":
        if len(words) > 1:
            raise UsageError(f"hmas backtest list takes no argument, not {' '.join(words[1:])}")
        args.at_least(limit, 1, "--limit")
        from hmas.backtest.runs import list_runs

        rows = list_runs(store_from(settings_from(ctx), create=False), limit=limit or 20)
        if json_out:
            render.print_json(rows)
        else:
            backtest_view.runs(rows)
        return
    if limit is not None:
        raise UsageError("--limit applies to hmas backtest list only")
    if len(words) != 2:
        raise UsageError("give one backtest id, e.g. hmas backtest show 3")
    try:
        run_id = int(words[1])
    except ValueError:
        raise UsageError(f"backtest id must be a whole number, not {words[1]!r}") from None
    args.id_callback("backtest id")(run_id)
    from hmas.backtest.runs import get_run

    data = get_run(store_from(settings_from(ctx), create=False), run_id)
    if json_out:
        render.print_json(data)
    else:
        backtest_view.run(data)


def _fetch_first(
    settings: Settings,
    engine: Engine,
    symbols: list[str],
    timeframe: str,
    source: str,
    exchange: str | None,
    path: Path | None,
    start_ms: int | None,
    json_out: bool,
) -> str:
    """``--source``: fetch the candles into the store first, as ``hmas fetch`` does.

    Returns the exchange they are stored under, which the backtest then reads.
    """
    from hmas.cli import args, render
    from hmas.cli.fetch import check_source_options
    from hmas.data.fetch import FetchRequest, fetch_candles
    from hmas.decision.history import windowing
    from hmas.store.candles import CandleStore

    chosen = args.source(source, "exchange", ("exchange", "sample", "file"))
    check_source_options(chosen, exchange=exchange, path=path, symbols=symbols)
    since = None
    if start_ms is not None and chosen != "file":
        # The range's first bar needs its warm-up: fetch from the start of its window.
        since = windowing(settings, timeframe).start(start_ms)
    request = FetchRequest(
        symbols=symbols,
        timeframe=timeframe,
        source=chosen,  # type: ignore[arg-type]
        exchange=exchange,
        since_ms=since,
        path=path,
    )
    store = CandleStore(engine)
    with render.fetch_progress(enabled=not json_out) as progress:
        results = fetch_candles(store, settings, request, progress=progress)
    for result in results:
        for warning in result.warnings:
            typer.echo(f"Warning: {warning}", err=True)
    return results[0].exchange
