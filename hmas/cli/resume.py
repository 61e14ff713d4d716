"""``hmas resume``: lift the pauses in force (all, or one trigger's), recording who and why."""

from __future__ import annotations

import getpass
import socket
from typing import Annotated

import typer

from hmas.cli.common import JsonOption, settings_from, store_from

app = typer.Typer()

#: The triggers ``--trigger`` accepts (hmas.store.pauses.TRIGGERS; kept here so --help is fast).
TRIGGERS = ("loss_streak", "daily_loss", "api_errors", "slippage", "data_quality")


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@app.command("resume")
def resume(
    ctx: typer.Context,
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason",
            help="Why trading resumes, stored with the lift. Example: --reason "
            "'exchange outage over'",
        ),
    ] = None,
    trigger: Annotated[
        str | None,
        typer.Option(
            "--trigger",
            help="Lift only this trigger's pauses: loss_streak, daily_loss, api_errors, "
            "slippage or data_quality. Example: --trigger api_errors",
        ),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Lift the auto-pauses in force; a daily-loss pause stays until the UTC day ends.

    Example: hmas resume --reason "exchange outage over"
    """
    from hmas.cli import render
    from hmas.risk import ledger

    if trigger is not None and trigger not in TRIGGERS:
        raise typer.BadParameter(
            f"{trigger!r}; use one of {', '.join(TRIGGERS)}", param_hint="--trigger"
        )
    settings = settings_from(ctx)
    data = ledger.resume(store_from(settings), settings, trigger=trigger, by=_who(), reason=reason)
    if json_out:
        render.print_json(data)
        return
    for p in data["lifted"]:
        typer.echo(f"Lifted pause #{p['id']} ({p['trigger']}, {p['scope']}): {p['reason']}")
    for p in data["kept"]:
        typer.echo(
            f"Kept pause #{p['id']} (daily_loss) until {p['expires_at']}: the daily loss limit "
            "holds until the UTC day ends; no command lifts it."
        )
    if not data["lifted"] and not data["kept"]:
        typer.echo("No pause in force" + (f" for {trigger}." if trigger else "."))
