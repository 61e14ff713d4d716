"""``hmas health``: one exit code for watchdogs and cron (0 healthy, 1 degraded, 2 down)."""

from __future__ import annotations

from typing import Annotated

import typer

from hmas.cli.common import JsonOption, settings_from

app = typer.Typer()

#: The most runs ``--runs`` may look back over.
MAX_RUNS = 100_000


@app.command("health")
def health(
    ctx: typer.Context,
    max_age: Annotated[
        str | None,
        typer.Option(
            "--max-age",
            help="Oldest the last run may be: a duration such as 90m, 2h or 1d (default: 3 x "
            "the period of the last loop, at least 5m; 2h after a single run). Example: "
            "--max-age 2h",
        ),
    ] = None,
    runs: Annotated[
        int,
        typer.Option(
            "--runs", help="How many recent runs the error rate reads (1 or more). Example: 24"
        ),
    ] = 10,
    json_out: JsonOption = False,
) -> None:
    """Check the store, the last runs, the data, the kill switch and the budget; read-only.

    Exit codes: 0 healthy, 1 degraded (a check warns: the last run or a series is stale, the
    kill switch or a guardian pause is engaged, runs had errors, the LLM budget is spent),
    2 down (no store, not at head, damaged, or every recent run failed).

    Example: hmas health --max-age 2h --json
    """
    from datetime import timedelta

    from hmas.cli import render
    from hmas.ops.health import check_health

    age: timedelta | None = None
    if max_age is not None:
        from hmas.settings import duration_ms

        try:
            age = timedelta(milliseconds=duration_ms(max_age))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--max-age") from None
    if not 1 <= runs <= MAX_RUNS:
        raise typer.BadParameter(
            f"must be a count from 1 to {MAX_RUNS}, got {runs}", param_hint="--runs"
        )
    settings = settings_from(ctx)
    report = check_health(settings, max_age=age, runs=runs)
    if json_out:
        render.print_json(report.as_dict())
    else:
        render.health_table(report)
    if report.error is not None:
        typer.echo(f"Error: {report.error}", err=True)
    raise typer.Exit(report.exit_code)
