"""``hmas decide``: the mother and the guardian on an analysis; the signal is stored once."""

from __future__ import annotations

from typing import Annotated

import typer

from hmas.cli.common import JsonOption, settings_from, store_from

app = typer.Typer()


@app.command("decide")
def decide(
    ctx: typer.Context,
    symbol: Annotated[
        str | None, typer.Argument(help="Symbol as BASE-QUOTE (analysed first if needed).")
    ] = None,
    analysis_id: Annotated[
        int | None,
        typer.Option("--analysis", help="Decide a stored analysis. Example: --analysis 7"),
    ] = None,
    timeframe: Annotated[
        str | None, typer.Option("--timeframe", "-t", help="Timeframe (default from config).")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Decide as of this past bar (UTC). Example: --at 2024-03-01"),
    ] = None,
    exchange: Annotated[
        str | None, typer.Option("--exchange", "-e", help="Exchange the candles are stored under.")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Turn an analysis into an APPROVED/REJECTED signal and say why (idempotent per bar).

    Exits 3 when the kill switch refused the trade.

    Example: hmas decide BTC-USD --json
    """
    from hmas.cli import render
    from hmas.data.market import datetime_to_ms, parse_when
    from hmas.decision import service

    if (symbol is None) == (analysis_id is None):
        raise typer.BadParameter(
            "give a SYMBOL or --analysis ID (one of them)", param_hint="SYMBOL"
        )
    settings = settings_from(ctx)
    engine = store_from(settings)
    if analysis_id is not None:
        analysis = service.get_analysis(engine, analysis_id)
    else:
        assert symbol is not None
        at_ms = datetime_to_ms(parse_when(at)) if at else None
        analysis = service.analyze(
            engine,
            settings,
            symbol,
            timeframe or settings.fetch.timeframe,
            exchange=exchange,
            at_ms=at_ms,
        ).analysis
    from hmas.risk import ledger

    # Close what the stored candles already settle, so the guardian judges the current account.
    ledger.update_positions(engine, settings, symbol=analysis.symbol)
    record = service.decide(engine, settings, analysis)
    if json_out:
        render.print_json(service.signal_json(record.signal) | {"created": record.created})
    else:
        render.signal_panel(record.signal, record.created)
    if (record.signal.rejection_reason or "").startswith("guardian: kill_switch"):
        from hmas.errors import EXIT_REFUSED

        raise typer.Exit(EXIT_REFUSED)
