"""``hmas fetch``: candles from an exchange, the offline sample market or a file into the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hmas.cli.common import JsonOption, settings_from, store_from, symbols_from

app = typer.Typer()


@app.command("fetch")
def fetch(
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
    more_symbols: Annotated[
        list[str] | None, typer.Argument(hidden=True, help="More symbols after --symbols.")
    ] = None,
    timeframe: Annotated[
        str | None,
        typer.Option(
            "--timeframe", "-t", help="Candle timeframe (default from config: 1h). Example: -t 15m"
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Fetch from this UTC date/time. Example: --since 2024-03-01"),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", help="Fetch the latest N closed candles. Example: --limit 1000", min=1
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="exchange (ccxt, default), sample (offline synthetic market) or file. "
            "Example: --source sample",
        ),
    ] = None,
    exchange: Annotated[
        str | None,
        typer.Option(
            "--exchange", "-e", help="ccxt exchange id (default coinbase). Example: -e kraken"
        ),
    ] = None,
    path: Annotated[
        Path | None,
        typer.Option(
            "--path",
            help="File to import with --source file (CSV, JSON, feather). "
            "Example: --path btc_1h.csv",
        ),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Fetch closed candles into the store: incremental, idempotent, gaps reported.

    Without --since or --limit, resumes after the last stored candle (or takes the latest
    fetch.default_limit candles the first time). The still-open candle is never stored.

    Example: hmas fetch --symbols BTC-USD ETH-USD --timeframe 1h --limit 500
    """
    from hmas.cli import render
    from hmas.data.fetch import FetchRequest, fetch_candles
    from hmas.data.market import datetime_to_ms, parse_when
    from hmas.store.candles import CandleStore

    wanted = symbols_from(symbols, more_symbols)
    if since is not None and limit is not None:
        raise typer.BadParameter("use either --since or --limit, not both", param_hint="--since")
    settings = settings_from(ctx)
    chosen = source or settings.fetch.source
    if chosen not in ("exchange", "sample", "file"):
        raise typer.BadParameter(f"{chosen!r}; use exchange, sample or file", param_hint="--source")
    request = FetchRequest(
        symbols=wanted,
        timeframe=timeframe or settings.fetch.timeframe,
        source=chosen,  # type: ignore[arg-type]
        exchange=exchange,
        since_ms=datetime_to_ms(parse_when(since)) if since else None,
        limit=limit,
        path=path,
    )
    store = CandleStore(store_from(settings))
    with render.fetch_progress(enabled=not json_out) as progress:
        results = fetch_candles(store, settings, request, progress=progress)
    if json_out:
        render.print_json([r.as_dict() for r in results])
    else:
        render.fetch_summary(results)
