"""``hmas report``: signals, outcomes and the paper account, from the store."""

from __future__ import annotations

import typer

from hmas.cli.common import JsonOption, settings_from, store_from

app = typer.Typer()


@app.command("report")
def report(ctx: typer.Context, json_out: JsonOption = False) -> None:
    """Signals per symbol and decision, outcomes, win rate and average R, equity, open positions.

    Example: hmas report --json
    """
    from hmas.cli import render
    from hmas.report.queries import summary

    settings = settings_from(ctx)
    data = summary(store_from(settings, create=False), settings.decision.engine)
    if json_out:
        render.print_json(data)
    else:
        render.report(data)
