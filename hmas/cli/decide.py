"""``hmas decide``: the mother and the guardian on an analysis; the signal is stored once."""

from __future__ import annotations

from typing import Annotated

import typer

from hmas.cli.args import id_callback
from hmas.cli.common import EngineOption, JsonOption, engine_overrides, settings_from, store_from
from hmas.errors import UsageError

app = typer.Typer()


@app.command("decide")
def decide(
    ctx: typer.Context,
    symbol: Annotated[
        str | None, typer.Argument(help="Symbol as BASE-QUOTE (analysed first if needed).")
    ] = None,
    analysis_id: Annotated[
        int | None,
        typer.Option(
            "--analysis",
            help="Decide a stored analysis (instead of SYMBOL). Example: --analysis 7",
            callback=id_callback("analysis id"),
        ),
    ] = None,
    timeframe: Annotated[
        str | None, typer.Option("--timeframe", "-t", help="Timeframe (default from config).")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="Decide the stored, closed bar opening at this UTC time (refused unless that "
            "exact bar is stored). Example: --at 2024-03-01",
        ),
    ] = None,
    exchange: Annotated[
        str | None, typer.Option("--exchange", "-e", help="Exchange the candles are stored under.")
    ] = None,
    engine_name: EngineOption = None,
    json_out: JsonOption = False,
) -> None:
    """Turn an analysis into an APPROVED/REJECTED signal and say why (idempotent per bar).

    Exits 3 when the kill switch refused the trade, or an LLM budget refused a call.

    Example: hmas decide BTC-USD --json
    """
    from hmas.cli import args, render
    from hmas.decision import service
    from hmas.store import records

    if (symbol is None) == (analysis_id is None):
        raise UsageError("give a SYMBOL or --analysis ID (one of them)")
    if analysis_id is not None:
        ignored = [
            o for o, v in (("--at", at), ("-t", timeframe), ("-e", exchange)) if v is not None
        ]
        if ignored:
            raise UsageError(
                f"{', '.join(ignored)} cannot be used with --analysis (the analysis fixes its "
                "bar); give SYMBOL instead"
            )
    sym = args.symbol(symbol) if symbol is not None else None
    at_ms = args.when(at, "--at") if at is not None else None
    settings = settings_from(ctx, **engine_overrides(engine_name))
    tf = args.timeframe(timeframe, settings.fetch.timeframe)
    engine = store_from(settings, create=False, check="small")  # candles: stored already
    if analysis_id is not None:
        analysis = records.get_analysis(engine, analysis_id)
    else:
        assert sym is not None
        analysis = service.analyze(
            engine, settings, sym, tf, exchange=args.exchange(exchange), at_ms=at_ms
        ).analysis
    from hmas.live.settle import settle_then_decide

    # Live (the latest bar): settle what the stored candles already close, then judge the
    # current book. A past bar (--at, --analysis) is historical: the live book is left alone.
    live = True if analysis_id is None and at_ms is None else None
    record = settle_then_decide(engine, settings, analysis, live=live).record
    if json_out:
        render.print_json(records.signal_json(record.signal) | {"created": record.created})
    else:
        render.signal_panel(record.signal, record.created)
    from hmas.decision.verdict import KILL_SWITCH, refused_by

    if KILL_SWITCH in refused_by(record.signal.guardian):
        from hmas.errors import EXIT_REFUSED

        raise typer.Exit(EXIT_REFUSED)
