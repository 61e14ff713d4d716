"""``hmas kill-switch on|off|status``: refuse every new trade, stored in the account."""

from __future__ import annotations

from typing import Annotated

import typer

from hmas.cli.common import JsonOption, settings_from, store_from

app = typer.Typer()


@app.command("kill-switch")
def kill_switch(
    ctx: typer.Context,
    state: Annotated[str, typer.Argument(help="on, off or status. Example: on")] = "status",
    json_out: JsonOption = False,
) -> None:
    """Turn the kill switch on or off, or show it; HMAS_KILL_SWITCH=1 also turns it on.

    Example: hmas kill-switch on
    """
    from hmas.cli import render
    from hmas.risk import ledger

    if state not in ("on", "off", "status"):
        raise typer.BadParameter(f"{state!r}; use on, off or status", param_hint="STATE")
    settings = settings_from(ctx)
    engine = store_from(settings)
    stored = ledger.set_kill_switch(engine, settings, None if state == "status" else state == "on")
    data = {
        "stored": stored,
        "environment": settings.kill_switch,
        "active": stored or settings.kill_switch,
    }
    if json_out:
        render.print_json(data)
    else:
        typer.echo(
            f"Kill switch is {'ON' if data['active'] else 'off'} "
            f"(stored: {'on' if stored else 'off'}, HMAS_KILL_SWITCH: "
            f"{'on' if settings.kill_switch else 'off'})."
        )
