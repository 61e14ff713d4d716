"""``hmas kill-switch on|off|status``: refuse every new trade, stored in the account.

When the store cannot be written (a full disk, a read-only or damaged store, a server down),
``on`` engages the switch with a file beside the store instead; every deciding command honours
it, ``status`` shows it and ``off`` removes it.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hmas.cli.common import JsonOption, settings_from, store_from

app = typer.Typer()


@app.command("kill-switch")
def kill_switch(
    ctx: typer.Context,
    state: Annotated[str, typer.Argument(help="on, off or status. Example: on")] = "status",
    use_file: Annotated[
        bool,
        typer.Option(
            "--file",
            help="With on: engage the switch file beside the store, without touching the store "
            "(what hmas does by itself when the store cannot be written). Example: on --file",
        ),
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Turn the kill switch on or off, or show it; HMAS_KILL_SWITCH=1 also turns it on.

    Example: hmas kill-switch on
    """
    from hmas.cli import render
    from hmas.errors import StoreError
    from hmas.risk import ledger
    from hmas.store import switch

    if state not in ("on", "off", "status"):
        raise typer.BadParameter(f"{state!r}; use on, off or status", param_hint="STATE")
    if use_file and state != "on":
        raise typer.BadParameter(
            "--file goes with on: hmas kill-switch on --file", param_hint="--file"
        )
    settings = settings_from(ctx)
    path = switch.switch_file(settings)
    notes: list[str] = []
    stored: bool | None
    if state == "on" and use_file:
        switch.engage_file(settings, "engaged on purpose with hmas kill-switch on --file")
        stored = None
        notes.append(f"Engaged the kill-switch file {path} (the store was not touched).")
    elif state == "on":
        try:
            stored = ledger.set_kill_switch(store_from(settings), settings, True)
        except StoreError as exc:
            switch.engage_file(settings, str(exc))
            stored = None
            notes.append(
                f"The store could not be written: {exc}. Engaged the kill switch with the file "
                f"{path} instead; every command honours it, and hmas kill-switch off removes it."
            )
    elif state == "off":
        # The store first: if it cannot be written the file stays, and the switch stays on.
        stored = ledger.set_kill_switch(store_from(settings), settings, False)
        if switch.release_file(settings) is not None:
            notes.append(f"Removed the kill-switch file {path}.")
    else:
        try:
            stored = ledger.set_kill_switch(store_from(settings, create=False), settings, None)
        except StoreError:
            if not switch.file_switch_on(settings):
                raise
            stored = None  # the file alone says enough: the switch is on
    if state in ("on", "off"):
        _notify(settings, state)
    file_on = switch.file_switch_on(settings)
    data = {
        "stored": stored,
        "file": file_on,
        "file_path": str(path),
        "environment": settings.kill_switch,
        "active": bool(stored) or file_on or settings.kill_switch,
        "notes": notes,
    }
    if json_out:
        render.print_json(data)
        return
    for note in notes:
        typer.echo(note)
    stored_text = "unknown" if stored is None else ("on" if stored else "off")
    typer.echo(
        f"Kill switch is {'ON' if data['active'] else 'off'} "
        f"(stored: {stored_text}, file: {'on' if file_on else 'off'}, HMAS_KILL_SWITCH: "
        f"{'on' if settings.kill_switch else 'off'})."
    )


def _notify(settings: Any, state: str) -> None:
    """Tell the ``[notify]`` channels the switch was turned on or off (never fails the command)."""
    from hmas.notify.messages import switch_event
    from hmas.notify.sender import Notifier

    notifier = Notifier.from_settings(settings.notify)
    if notifier is None:
        return
    try:
        notifier.notify(switch_event(state == "on"))
    finally:
        notifier.close()
