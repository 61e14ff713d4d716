"""``hmas run``: the operator's loop (fetch, paper update, analyze, decide) per symbol."""

from __future__ import annotations

from typing import Annotated

import typer

from hmas.cli.common import JsonOption, settings_from, store_from, symbols_from

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
            help="Number of iterations; -1 runs until stopped. Example: --iterations 24",
        ),
    ] = None,
    sleep_seconds: Annotated[
        float,
        typer.Option(
            "--sleep-seconds", min=0, help="Pause between iterations. Example: --sleep-seconds 300"
        ),
    ] = 60.0,
    max_signals_per_day: Annotated[
        int | None,
        typer.Option(
            "--max-signals-per-day", min=0, help="Approved signals allowed per UTC day. Example: 5"
        ),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Fetch, update paper positions, analyse and decide for each symbol, in a loop.

    Exit codes: 0 all symbols done; 1 a symbol failed; 3 another run holds the lock, or the
    kill switch refused the trades.

    Example: hmas run --symbols BTC-USD ETH-USD --source sample --once
    """
    from hmas.cli import render
    from hmas.decision.loop import RunOptions, run_loop
    from hmas.errors import EXIT_ERROR, EXIT_REFUSED

    wanted = symbols_from(symbols, more_symbols)
    if once and iterations is not None:
        raise typer.BadParameter("use either --once or --iterations", param_hint="--once")
    overrides = {}
    if max_signals_per_day is not None:
        overrides["risk"] = {"max_signals_per_day": max_signals_per_day}
    settings = settings_from(ctx, **overrides)
    chosen = source or settings.fetch.source
    if chosen not in ("exchange", "sample"):
        raise typer.BadParameter(f"{chosen!r}; use exchange or sample", param_hint="--source")
    from hmas.data.market import normalize_symbol

    options = RunOptions(
        symbols=[normalize_symbol(s) for s in wanted],
        timeframe=timeframe or settings.fetch.timeframe,
        source=chosen,
        exchange=exchange,
        iterations=1 if once or iterations is None else iterations,
        sleep_seconds=sleep_seconds,
    )
    engine = store_from(settings)
    # --json streams NDJSON: one line per symbol and iteration, flushed as each symbol ends
    on_outcome = (
        (lambda res, outcome: render.print_json_line(render.run_line(res, outcome)))
        if json_out
        else None
    )
    sample = options.source == "sample"
    with render.run_view(options.symbols, live=not json_out, sample=sample) as on_event:
        results = run_loop(engine, settings, options, on_event=on_event, on_outcome=on_outcome)
    if not json_out:
        render.run_summary(results)
    last = results[-1] if results else None
    if last is not None and any(s.status == "error" for s in last.symbols):
        raise typer.Exit(EXIT_ERROR)
    if last is not None and any(
        (s.rejection_reason or "").startswith("guardian: kill_switch") for s in last.symbols
    ):
        raise typer.Exit(EXIT_REFUSED)
