"""``hmas candles``: what the store holds for a symbol."""

from __future__ import annotations

from typing import Annotated

import typer

from hmas.cli.common import JsonOption, settings_from, store_from
from hmas.errors import UsageError

app = typer.Typer()


@app.command("candles")
def candles(
    ctx: typer.Context,
    symbol: Annotated[
        str | None, typer.Argument(help="Symbol as BASE-QUOTE; omit to list every stored series.")
    ] = None,
    timeframe: Annotated[
        str | None,
        typer.Option("--timeframe", "-t", help="Timeframe (default from config). Example: -t 1h"),
    ] = None,
    exchange: Annotated[
        str | None,
        typer.Option(
            "--exchange",
            "-e",
            help="Exchange the series is stored under (sample, coinbase, file, …). "
            "Default: the only one holding the symbol. Example: -e sample",
        ),
    ] = None,
    tail: Annotated[
        int | None,
        typer.Option(
            "--tail", "-n", help="Show the last N candles (default 10). Example: --tail 20"
        ),
    ] = None,
    gaps: Annotated[
        bool, typer.Option("--gaps", help="List the gaps of the series instead.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Show stored candles, or with --gaps the missing ones; without SYMBOL, every stored series.

    Example: hmas candles BTC-USD --timeframe 1h --tail 5
    """
    from hmas.cli import args, render
    from hmas.data.gaps import find_gaps
    from hmas.market import index_to_ms, ms_to_datetime, timeframe_ms
    from hmas.store.candles import CandleStore

    given = [o for o, v in (("-t", timeframe), ("-e", exchange), ("--tail", tail)) if v is not None]
    if symbol is None and (given or gaps):
        raise UsageError(
            f"{', '.join(given + (['--gaps'] if gaps else []))} need a SYMBOL, "
            "e.g. hmas candles BTC-USD --tail 5"
        )
    if gaps and tail is not None:
        raise UsageError("use either --gaps or --tail, not both")
    args.at_least(tail, 1, "--tail")
    sym = args.symbol(symbol) if symbol is not None else None
    settings = settings_from(ctx)
    tf = args.timeframe(timeframe, settings.fetch.timeframe)
    chosen_exchange = args.exchange(exchange)
    store = CandleStore(store_from(settings, create=False))
    if sym is None:
        series = store.series()
        if json_out:
            render.print_json([_series_dict(s) for s in series])
        elif not series:
            typer.echo(
                "The store holds no candles yet. "
                "Example: hmas fetch --source sample --symbols BTC-USD"
            )
        else:
            render.series_table(series)
        return
    chosen = store.resolve_exchange(sym, tf, chosen_exchange, settings.fetch.exchange)
    (info,) = [s for s in store.series(sym) if s.exchange == chosen and s.timeframe == tf]
    if gaps:
        found = find_gaps(store.timestamps(info.exchange, sym, tf), timeframe_ms(tf))
        if json_out:
            render.print_json({**_series_dict(info), "gaps": [g.as_dict() for g in found]})
        else:
            render.gaps_table(found, info)
        return
    frame = store.frame(info.exchange, sym, tf, tail=10 if tail is None else tail)
    if json_out:
        rows = [
            {"ts": ms_to_datetime(ms).isoformat(), **{c: float(row[c]) for c in frame.columns}}
            for ms, (_, row) in zip(index_to_ms(frame.index), frame.iterrows(), strict=True)
        ]
        render.print_json({**_series_dict(info), "candles": rows})
    else:
        render.candles_table(frame, info)


def _series_dict(s: object) -> dict[str, object]:
    from hmas.market import ms_to_datetime
    from hmas.store.candles import SeriesInfo

    assert isinstance(s, SeriesInfo)
    return {
        "symbol": s.symbol,
        "exchange": s.exchange,
        "timeframe": s.timeframe,
        "source": s.source,
        "sample_data": s.source == "sample",
        "count": s.count,
        "first": ms_to_datetime(s.first_ts).isoformat(),
        "last": ms_to_datetime(s.last_ts).isoformat(),
    }
