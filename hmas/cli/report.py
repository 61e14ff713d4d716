"""``hmas report``: signals, outcomes, attribution, calibration, costs and backtests, from the
store; ``--html`` one self-contained page, ``--png`` the figures; ``--costs`` the LLM spend."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hmas.cli.common import JsonOption, settings_from, store_from

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.report.period import Period
    from hmas.settings import Settings

app = typer.Typer()


@app.command("report")
def report(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Signals whose bar opens at or after this UTC date/time. Example: --since "
            "2024-03-01",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Signals whose bar opens before this UTC time (a date alone includes that "
            "day). Example: --until 2024-03-31",
        ),
    ] = None,
    symbol: Annotated[
        str | None,
        typer.Option("--symbol", help="One symbol's signals only. Example: --symbol BTC-USD"),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write the report as one self-contained HTML page (tables and figures "
            "inline, no network needed). Example: --html report.html",
        ),
    ] = None,
    png: Annotated[
        Path | None,
        typer.Option(
            "--png",
            help="Also write equity.png, drawdown.png, reliability.png and costs.png into DIR "
            "(created if missing). Example: --png figures/",
        ),
    ] = None,
    costs: Annotated[
        bool,
        typer.Option(
            "--costs",
            help="Only the LLM spend by day, agent, vendor and model, from the call log. "
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
    """Signals and outcomes of a period: win rate and expectancy in R with intervals, the paper
    equity and drawdown, per-agent attribution, guardian refusals, calibration, LLM costs and
    the stored backtest runs side by side.

    With --costs: only what the LLM calls cost, by day, agent, vendor and model.

    Example: hmas report --since 2024-03-01 --symbol BTC-USD --html report.html
    """
    from hmas.cli import args, render
    from hmas.errors import UsageError
    from hmas.report import period as periods

    settings = settings_from(ctx)
    if days is not None and not costs:
        raise typer.BadParameter("--days needs --costs", param_hint="--days")
    args.at_least(days, 1, "--days")
    if days is not None and (since is not None or until is not None):
        raise UsageError("use either --days or --since/--until, not both")
    if costs and (html is not None or png is not None):
        raise UsageError("--costs prints the spend only; drop it to write --html or --png")
    period = periods.parse_period(since, until, args.symbol(symbol) if symbol is not None else None)
    if html is not None:
        from hmas.report.html import check_file

        check_file(html)
    if png is not None and png.exists() and not png.is_dir():
        raise UsageError(f"--png {png} is a file, not a directory")
    engine = store_from(settings, create=False)
    if costs:
        _costs(engine, settings, period, days, json_out)
        return
    from hmas.report import analyst

    data = analyst.build(engine, settings.decision.engine, period)
    if html is not None or png is not None:
        from hmas.report import html as pages
        from hmas.report import plots

        figures, skipped = plots.figures(data)
        if png is not None:
            written = plots.write(figures, plots.check_dir(png))
            data["png"] = {"written": written, "skipped": skipped}
        if html is not None:
            pages.write(html, pages.render(data, figures, skipped))
            data["html"] = str(html)
    if json_out:
        render.print_json(data)
    else:
        from hmas.cli.report_view import analysis

        render.report(data)
        analysis(data)


def _costs(
    engine: Engine, settings: Settings, period: Period, days: int | None, as_json: bool
) -> None:
    """``--costs``: the call log's spend (of the period's days and symbol, when given)."""
    from hmas.cli import render
    from hmas.report.costs import day_of
    from hmas.store.llm_calls import cost_report

    data = cost_report(
        engine,
        days=days,
        first_day=day_of(period.since_ms),
        last_day=day_of(period.until_ms, end=True),
        symbol=period.symbol,
    )
    data["daily_budget_usd"] = settings.llm.daily_budget_usd
    if as_json:
        render.print_json(data)
    else:
        render.cost_report(data)
