"""``hmas signals list`` and ``hmas signals show ID``."""

from __future__ import annotations

from typing import Annotated

import typer

from hmas.cli.args import id_callback
from hmas.cli.common import JsonOption, settings_from, store_from
from hmas.errors import UsageError

HELP = "List stored signals and show why one was decided. Example: hmas signals show 42"

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    symbol: Annotated[
        str | None, typer.Option("--symbol", "-s", help="Only this symbol. Example: -s BTC-USD")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Bars at or after (UTC). Example: --since 2024-03-01"),
    ] = None,
    decision: Annotated[
        str | None,
        typer.Option(
            "--decision",
            help="APPROVED or REJECTED (any case). Example: --decision APPROVED",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", help="At most N signals (1 or more). Example: --limit 20")
    ] = 50,
    json_out: JsonOption = False,
) -> None:
    """List signals, newest bar first.

    Example: hmas signals list --symbol BTC-USD --decision APPROVED
    """
    from hmas.cli import args, render
    from hmas.report.queries import list_signals
    from hmas.store.records import signal_json

    wanted = decision.strip().upper() if decision is not None else None
    if wanted is not None and wanted not in ("APPROVED", "REJECTED"):
        raise UsageError(f"unknown --decision {decision!r}; use APPROVED or REJECTED")
    sym = args.symbol(symbol) if symbol is not None else None
    since_ms = args.when(since, "--since") if since is not None else None
    args.at_least(limit, 1, "--limit")
    settings = settings_from(ctx)
    engine = store_from(settings, create=False)
    rows = list_signals(engine, symbol=sym, since_ms=since_ms, decision=wanted, limit=limit)
    if json_out:
        render.print_json([signal_json(s) for s in rows])
    else:
        render.signals_table(rows)


@app.command("show")
def show(
    ctx: typer.Context,
    signal_id: Annotated[
        int, typer.Argument(help="The signal's id. Example: 42", callback=id_callback("signal id"))
    ],
    json_out: JsonOption = False,
) -> None:
    """Everything stored for a signal: rounds, agents' views, guardian verdict, outcome.

    Example: hmas signals show 42 --json
    """
    from hmas.cli import render
    from hmas.report.queries import document_text, signal_detail, signal_document

    settings = settings_from(ctx)
    engine = store_from(settings, create=False)
    if json_out:
        render.print_text(document_text(signal_document(engine, signal_id)))
    else:
        render.signal_detail(signal_detail(engine, signal_id))
