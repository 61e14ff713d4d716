"""``hmas metrics``: the store's Prometheus metrics, printed or written as a textfile."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hmas.cli.common import JsonOption, settings_from, store_from
from hmas.errors import UsageError

app = typer.Typer()


@app.command("metrics")
def metrics(
    ctx: typer.Context,
    textfile: Annotated[
        Path | None,
        typer.Option(
            "--textfile",
            help="Write the metrics to this *.prom file for node-exporter's textfile collector "
            "(atomically; its directory must exist). "
            "Example: --textfile /var/lib/node_exporter/textfile/hmas.prom",
        ),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Prometheus metrics of the store: signals, guardian refusals, the paper account, runs,
    errors, LLM spend today and the kill switch (docs/running.md, "Metrics").

    Prints the Prometheus text format on stdout, or writes it to --textfile (for cron).

    Example: hmas metrics --textfile /var/lib/node_exporter/textfile/hmas.prom
    """
    from prometheus_client import CollectorRegistry, generate_latest

    from hmas.cli import render
    from hmas.metrics.exposition import check_textfile, write_textfile
    from hmas.metrics.store import StoreCollector

    if textfile is not None and json_out:
        raise UsageError("use either --textfile or --json, not both")
    if textfile is not None:
        check_textfile(textfile)  # before the store is opened
    settings = settings_from(ctx)
    registry = CollectorRegistry()
    registry.register(StoreCollector(store_from(settings, create=False), settings))
    if textfile is not None:
        write_textfile(registry, textfile)
    elif json_out:
        render.print_json(
            [
                {"name": s.name, "labels": s.labels, "value": s.value}
                for family in registry.collect()
                for s in family.samples
            ]
        )
    else:
        render.print_text(generate_latest(registry).decode("utf-8"))
