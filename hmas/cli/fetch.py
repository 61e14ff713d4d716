"""``hmas fetch``: candles from an exchange, the offline sample market or a file into the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hmas.cli.common import JsonOption, settings_from, store_from
from hmas.errors import UsageError

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
            "--limit", help="Fetch the latest N closed candles (1 or more). Example: --limit 1000"
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="exchange (ccxt, default), sample (offline synthetic market) or file; "
            "case-insensitive. Example: --source sample",
        ),
    ] = None,
    exchange: Annotated[
        str | None,
        typer.Option(
            "--exchange",
            "-e",
            help="ccxt exchange id (default coinbase); with --source file, the name the candles "
            "are stored under (default file). Not with --source sample. Example: -e kraken",
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
    from hmas.cli import args, render
    from hmas.data.fetch import FetchRequest, fetch_candles
    from hmas.store.candles import CandleStore

    wanted = args.symbols(symbols, more_symbols)
    if since is not None and limit is not None:
        raise UsageError("use either --since or --limit, not both")
    args.at_least(limit, 1, "--limit")
    since_ms = args.past(since, "--since") if since is not None else None
    settings = settings_from(ctx)
    chosen = args.source(source, settings.fetch.source, ("exchange", "sample", "file"))
    check_source_options(chosen, exchange=exchange, path=path, symbols=wanted)
    request = FetchRequest(
        symbols=wanted,
        timeframe=args.timeframe(timeframe, settings.fetch.timeframe),
        source=chosen,  # type: ignore[arg-type]
        exchange=args.exchange(exchange),
        since_ms=since_ms,
        limit=limit,
        path=path,
    )
    store = CandleStore(store_from(settings))
    with render.fetch_progress(enabled=not json_out) as progress:
        results = fetch_candles(store, settings, request, progress=progress)
    for result in results:
        for warning in result.warnings:
            typer.echo(f"Warning: {warning}", err=True)
    if json_out:
        render.print_json([r.as_dict() for r in results])
    else:
        render.fetch_summary(results)


def check_source_options(
    source: str,
    *,
    exchange: str | None,
    path: Path | None,
    symbols: tuple[str, ...] | list[str] = (),
) -> None:
    """Refuse options the chosen source would ignore, and symbols the sample market lacks."""
    if source == "sample" and exchange is not None:
        raise UsageError(
            "--exchange does not apply to --source sample (the offline sample market); "
            "drop --exchange or use --source exchange"
        )
    if path is not None and source != "file":
        raise UsageError(f"--path is only read with --source file, not --source {source}")
    if source == "sample":
        from hmas.data.sample import SampleMarket

        for sym in symbols:  # known offline: refused before the store is opened
            SampleMarket().check_market(sym)
