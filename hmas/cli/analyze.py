"""``hmas analyze``: features and every agent's view for one bar, stored."""

from __future__ import annotations

from typing import Annotated

import typer

from hmas.cli.common import EngineOption, JsonOption, engine_overrides, settings_from, store_from

app = typer.Typer()


@app.command("analyze")
def analyze(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="Symbol as BASE-QUOTE. Example: BTC-USD")],
    timeframe: Annotated[
        str | None, typer.Option("--timeframe", "-t", help="Timeframe (default from config).")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="Analyse the stored, closed bar opening at this UTC time, seeing only bars up "
            "to it (refused unless that exact bar is stored). Example: --at 2024-03-01T12:00",
        ),
    ] = None,
    exchange: Annotated[
        str | None, typer.Option("--exchange", "-e", help="Exchange the candles are stored under.")
    ] = None,
    engine_name: EngineOption = None,
    json_out: JsonOption = False,
) -> None:
    """Run the agents on the latest closed bar (or --at a past one) and store the analysis.

    With --engine llm each agent answers from its model (docs/llm.md); the calls are logged and
    count against the LLM budgets (exit 3 when a budget refuses a call). With news.file the
    sentiment agent gets the headlines published in the bar's window (the rules count them;
    an LLM reads them as quoted data).

    Example: hmas analyze BTC-USD --timeframe 1h
    """
    from hmas.cli import args, render
    from hmas.decision.service import analyze as run_analysis

    sym = args.symbol(symbol)
    at_ms = args.when(at, "--at") if at is not None else None
    settings = settings_from(ctx, **engine_overrides(engine_name))
    tf = args.timeframe(timeframe, settings.fetch.timeframe)
    engine = store_from(settings, create=False, check="small")  # candles: stored already
    record = run_analysis(engine, settings, sym, tf, exchange=args.exchange(exchange), at_ms=at_ms)
    if json_out:
        render.print_json(render.analysis_json(record.analysis, record.created))
    else:
        render.analysis_panels(record.analysis, record.created)
