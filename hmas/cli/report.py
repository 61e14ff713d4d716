"""``hmas report``: signals, outcomes and the paper account, from the store; LLM costs."""

from __future__ import annotations

from typing import Annotated

import typer

from hmas.cli.common import JsonOption, settings_from, store_from

app = typer.Typer()


@app.command("report")
def report(
    ctx: typer.Context,
    costs: Annotated[
        bool,
        typer.Option(
            "--costs",
            help="LLM spend by day, agent, vendor and model, from the call log. "
            "Example: hmas report --costs --days 7",
        ),
    ] = False,
    days: Annotated[
        int | None,
        typer.Option(
            "--days", help="With --costs: the last N UTC days only (1 or more). Example: 7"
        ),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Signals per symbol and decision, outcomes, win rate and average R, equity, open positions.

    With --costs: what the LLM calls cost, by day, agent, vendor and model.

    Example: hmas report --json
    """
    from hmas.cli import args, render

    settings = settings_from(ctx)
    if days is not None and not costs:
        raise typer.BadParameter("--days needs --costs", param_hint="--days")
    args.at_least(days, 1, "--days")
    engine = store_from(settings, create=False)
    if costs:
        from hmas.store.llm_calls import cost_report

        data = cost_report(engine, days=days)
        data["daily_budget_usd"] = settings.llm.daily_budget_usd
        if json_out:
            render.print_json(data)
        else:
            render.cost_report(data)
        return
    from hmas.report.queries import summary

    data = summary(engine, settings.decision.engine)
    if json_out:
        render.print_json(data)
    else:
        render.report(data)
