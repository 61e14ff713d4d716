"""``hmas config show`` and ``hmas config check``."""

from __future__ import annotations

import typer

from hmas.cli.common import JsonOption, settings_from

HELP = "Show and validate the configuration. Example: hmas config show --json"

app = typer.Typer(no_args_is_help=True)


@app.command("show")
def show(ctx: typer.Context, json_out: JsonOption = False) -> None:
    """Print the effective settings, secrets masked.

    Example: HMAS_FETCH__EXCHANGE=kraken hmas config show --json
    """
    from hmas.cli import render
    from hmas.settings import config_file_for

    settings = settings_from(ctx)
    data = settings.public_dict()
    data["resolved_db_url"] = data["db_url"] or settings.resolved_db_url()
    if json_out:
        render.print_json(data)
        return
    path = config_file_for(ctx.find_root().obj.get("config"))
    render.config_table(data, str(path) if path else None)


@app.command("check")
def check(ctx: typer.Context, json_out: JsonOption = False) -> None:
    """Validate the configuration (file, environment, .env); exit 2 naming what is wrong.

    The headlines file of news.file is read and checked too.

    With --json, an invalid configuration prints {"valid": false, "errors": [...]} on stdout
    (one message per problem) and the usual one-line error on stderr, exit 2.

    Example: hmas --config hmas.toml config check
    """
    from hmas.cli import render
    from hmas.data.news import load_feed
    from hmas.errors import ConfigError, InvalidSettingsError
    from hmas.settings import config_file_for

    try:
        settings = settings_from(ctx)  # raises ConfigError (exit 2) naming each bad setting
        load_feed(settings)  # NewsFileError (a ConfigError) naming the file, the line, the fix
    except ConfigError as exc:
        if json_out:
            errors = exc.problems if isinstance(exc, InvalidSettingsError) else [str(exc)]
            render.print_json({"valid": False, "errors": errors})
        raise
    path = config_file_for(ctx.find_root().obj.get("config"))
    if json_out:
        render.print_json({"valid": True, "errors": [], "config_file": str(path) if path else None})
    else:
        typer.echo(f"Configuration is valid{f' (file: {path})' if path else ''}.")
