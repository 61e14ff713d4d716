"""``hmas run``: the operator's loop (fetch, paper update, analyze, decide) per symbol."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hmas.cli.common import EngineOption, JsonOption, engine_overrides, settings_from, store_from
from hmas.cli.run_extras import ArtifactsOption, MetricsHostOption, MetricsPortOption
from hmas.errors import UsageError

if TYPE_CHECKING:
    from hmas.live.loop import IterationResult
    from hmas.live.stop import StopFlag

app = typer.Typer()


@app.command("run")
def run(
    ctx: typer.Context,
    symbols: Annotated[
        list[str] | None,
        typer.Option(
            "--symbols", "-s", help="Symbols as BASE-QUOTE. Example: --symbols BTC-USD ETH-USD"
        ),
    ] = None,
    more_symbols: Annotated[list[str] | None, typer.Argument(hidden=True)] = None,
    timeframe: Annotated[
        str | None, typer.Option("--timeframe", "-t", help="Timeframe (default from config).")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source", help="exchange (default) or sample (offline). Example: --source sample"
        ),
    ] = None,
    exchange: Annotated[
        str | None, typer.Option("--exchange", "-e", help="ccxt exchange id. Example: -e kraken")
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="One iteration, then exit (for cron).")
    ] = False,
    iterations: Annotated[
        int | None,
        typer.Option(
            "--iterations",
            help="Number of iterations (1 or more); -1 runs until stopped. "
            "Example: --iterations 24",
        ),
    ] = None,
    sleep_seconds: Annotated[
        float | None,
        typer.Option(
            "--sleep-seconds",
            help="Pause between iterations, 0 to 86400 (default 60); not with --once. "
            "Example: --sleep-seconds 300",
        ),
    ] = None,
    max_signals_per_day: Annotated[
        int | None,
        typer.Option(
            "--max-signals-per-day",
            help="Approved signals allowed per UTC day (0 or more). Example: 5",
        ),
    ] = None,
    engine_name: EngineOption = None,
    json_out: JsonOption = False,
    metrics_port: MetricsPortOption = None,
    metrics_host: MetricsHostOption = None,
    artifacts: ArtifactsOption = None,
    tournament: Annotated[
        list[Path] | None,
        typer.Option(
            "--tournament",
            help="Decide every symbol with each configuration of a directory (its .toml files, "
            "sorted), each into its own paper book (rules@NAME), and print the standings: "
            "realised P&L, rank and weight ([tournament]). Example: --tournament cfgs/",
        ),
    ] = None,
) -> None:
    """Fetch, update paper positions, analyse and decide for each symbol, in a loop.

    Exit codes: 0 all symbols done; 1 a symbol failed; 2 bad usage (checked before the loop
    starts: a missing LLM key or a bad news.file too), or a symbol the exchange does not list;
    3 another run holds the lock, the kill switch refused the trades, or an LLM budget refused
    a call; 130 stopped by SIGINT, 143 by SIGTERM (the current symbol is finished first; from
    the command's start).

    With --engine llm the spend so far today is shown after the iteration (on stderr).

    --metrics-port serves Prometheus metrics while the loop runs; --artifacts writes each new
    signal as JSON; notifications go to the channels set under [notify] (docs/running.md).

    With --tournament DIR each configuration decides into its own paper book and the
    standings are printed at the end (with --json: a last line {"standings": ...});
    docs/running.md#tournament.

    Example: hmas run --symbols BTC-USD ETH-USD --source sample --once
    """
    from hmas.live.stop import stop_on_signals

    # First of all: from here on SIGINT/SIGTERM only set the flag, so a signal while settings
    # load, the store opens or migrates (one transaction) stops the command cleanly after it.
    with stop_on_signals() as stop:
        _run(
            ctx,
            stop,
            symbols=symbols,
            more_symbols=more_symbols,
            timeframe=timeframe,
            source=source,
            exchange=exchange,
            once=once,
            iterations=iterations,
            sleep_seconds=sleep_seconds,
            max_signals_per_day=max_signals_per_day,
            engine_name=engine_name,
            json_out=json_out,
            metrics_port=metrics_port,
            metrics_host=metrics_host,
            artifacts=artifacts,
            tournament=tournament,
        )


def _stopped(stop: StopFlag, where: str) -> typer.Exit:
    """The exit of a run a signal stopped: 130 (SIGINT) or 143 (SIGTERM)."""
    typer.echo(f"hmas run: stopped by {stop.signal_name} {where}", err=True)
    return typer.Exit(stop.exit_code)


def _run(
    ctx: typer.Context,
    stop: StopFlag,
    *,
    symbols: list[str] | None,
    more_symbols: list[str] | None,
    timeframe: str | None,
    source: str | None,
    exchange: str | None,
    once: bool,
    iterations: int | None,
    sleep_seconds: float | None,
    max_signals_per_day: int | None,
    engine_name: str | None,
    json_out: bool,
    metrics_port: int | None,
    metrics_host: str | None,
    artifacts: Path | None,
    tournament: list[Path] | None = None,
) -> None:
    from hmas.cli import args, render
    from hmas.errors import EXIT_REFUSED, EXIT_USAGE
    from hmas.live.loop import RunOptions, run_loop

    wanted = args.symbols(symbols, more_symbols)
    if once and iterations is not None:
        raise UsageError("use either --once or --iterations, not both")
    args.iterations(iterations)
    args.sleep_seconds(sleep_seconds)
    if sleep_seconds is not None and (once or iterations in (None, 1)):
        raise UsageError(
            "--sleep-seconds needs --iterations N (N > 1) or -1; one iteration never waits"
        )
    args.at_least(max_signals_per_day, 0, "--max-signals-per-day")
    overrides = engine_overrides(engine_name)
    if max_signals_per_day is not None:
        overrides["risk"] = {"max_signals_per_day": max_signals_per_day}
    settings = settings_from(ctx, **overrides)
    entrants, rules = [], None
    if tournament is not None:
        from hmas.risk.entrants import load_entrants, rules_for

        entrants = load_entrants(tournament, **overrides)
        rules = rules_for(settings, len(entrants))
    chosen = args.source(source, settings.fetch.source, ("exchange", "sample"))
    from hmas.cli.fetch import check_source_options

    check_source_options(chosen, exchange=exchange, path=None, symbols=wanted)
    options = RunOptions(
        symbols=wanted,
        timeframe=args.timeframe(timeframe, settings.fetch.timeframe),
        source=chosen,
        exchange=args.exchange(exchange),
        iterations=1 if once or iterations is None else iterations,
        sleep_seconds=60.0 if sleep_seconds is None else sleep_seconds,
        entrants=entrants,
    )
    from hmas.data.news import load_feed

    for each in [settings, *(e.settings for e in entrants)]:
        if each.uses_llm():  # every route and key, before any fetch or call
            from hmas.decision.llm_engine import resolve

            resolve(each)
        load_feed(each)  # a bad news file: exit 2 before the store is touched (read again per bar)
    from hmas.cli.run_extras import RunExtras

    # A bad port, host or artifacts directory: exit 2 before the store is touched.
    extras = RunExtras(
        settings, metrics_port=metrics_port, metrics_host=metrics_host, artifacts=artifacts
    )
    ctx.call_on_close(extras.close)
    if stop.stopped:
        raise _stopped(stop, "before the store was opened")
    # The whole file is checked once here, before anything is written (docs/store.md).
    engine = store_from(settings, check="always")
    extras.attach(engine)
    if stop.stopped:
        raise _stopped(stop, "before the first iteration (the store is ready; nothing was run)")
    # --json streams NDJSON: one line per symbol and iteration, flushed as each symbol ends
    on_outcome = (
        (lambda res, outcome: render.print_json_line(render.run_line(res, outcome)))
        if json_out
        else None
    )
    on_outcome = extras.hook(on_outcome)
    sample = options.source == "sample"
    with render.run_view(options.rows(), live=not json_out, sample=sample) as view:
        on_event = extras.events(view)
        # Only the last iteration is shown and decides the exit code: the loop keeps no more.
        results = run_loop(
            engine,
            settings,
            options,
            on_event=on_event,
            on_outcome=on_outcome,
            stop=stop,
            install_signal_handlers=False,
            keep=1,
        )
    if not json_out:
        render.run_summary(results)
    if rules is not None:
        from hmas.cli import tournament_view
        from hmas.live.tournament import standings

        table = standings(engine, entrants, rules)
        if json_out:
            render.print_json_line({"standings": table})
        else:
            tournament_view.standings(table)
    if settings.uses_llm():
        from hmas.store.llm_calls import spent_on

        render.llm_spend(spent_on(engine), settings.llm.daily_budget_usd)
    if stop.stopped:
        # Stopped by a signal: whatever the symbols did, the run did not end as asked.
        skipped = _skipped(results, options.symbols)
        raise _stopped(stop, f"({skipped})")
    last = results[-1] if results else None
    failed = [s for s in last.symbols if s.status == "error"] if last is not None else []
    if failed:
        # A symbol the exchange does not list (exit 2) is a mistake in the command; it wins over
        # a budget's refusal (exit 3), which wins over a failure that may pass next run (exit 1).
        codes = {s.exit_code for s in failed}
        raise typer.Exit(
            EXIT_USAGE if EXIT_USAGE in codes else EXIT_REFUSED if EXIT_REFUSED in codes else 1
        )
    from hmas.decision.verdict import KILL_SWITCH

    if last is not None and any(KILL_SWITCH in s.refused_by for s in last.symbols):
        raise typer.Exit(EXIT_REFUSED)
    extras.check()


def _skipped(results: list[IterationResult], symbols: list[str]) -> str:
    """What a stopped run left undone, for its last line."""
    if not results:
        return "before the first iteration"
    last = results[-1]
    left = len(symbols) - len(last.symbols)
    if left > 0:
        return f"in iteration {last.iteration}: {left} of {len(symbols)} symbols skipped"
    return f"after iteration {last.iteration}: no symbol skipped"
