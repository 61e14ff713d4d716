"""``hmas candles``: what the store holds for a symbol."""

from __future__ import annotations

from typing import Annotated

import typer

from hmas.cli.common import JsonOption, settings_from, store_from

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
        int, typer.Option("--tail", "-n", min=1, help="Show the last N candles. Example: --tail 20")
    ] = 10,
    gaps: Annotated[
        bool, typer.Option("--gaps", help="List the gaps of the series instead.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Show stored candles, or with --gaps the missing ones; without SYMBOL, every stored series.

    Example: hmas candles BTC-USD --timeframe 1h --tail 5
    """
    from hmas.cli import render
    from hmas.data.gaps import find_gaps
    from hmas.data.market import index_to_ms, ms_to_datetime, normalize_symbol, timeframe_ms
    from hmas.store.candles import CandleStore

    settings = settings_from(ctx)
    store = CandleStore(store_from(settings, create=False))
    if symbol is None:
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
    sym = normalize_symbol(symbol)
    tf = timeframe or settings.fetch.timeframe
    timeframe_ms(tf)
    chosen = store.resolve_exchange(sym, tf, exchange, settings.fetch.exchange)
    (info,) = [s for s in store.series(sym) if s.exchange == chosen and s.timeframe == tf]
    if gaps:
        found = find_gaps(store.timestamps(info.exchange, sym, tf), timeframe_ms(tf))
        if json_out:
            render.print_json({**_series_dict(info), "gaps": [g.as_dict() for g in found]})
        else:
            render.gaps_table(found, info)
        return
    frame = store.frame(info.exchange, sym, tf, tail=tail)
    if json_out:
        rows = [
            {"ts": ms_to_datetime(ms).isoformat(), **{c: float(row[c]) for c in frame.columns}}
            for ms, (_, row) in zip(index_to_ms(frame.index), frame.iterrows(), strict=True)
        ]
        render.print_json({**_series_dict(info), "candles": rows})
    else:
        render.candles_table(frame, info)


def _series_dict(s: object) -> dict[str, object]:
    from hmas.data.market import ms_to_datetime
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
