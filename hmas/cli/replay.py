"""``hmas replay``: recompute a stored signal offline and report any difference."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hmas.cli.args import id_callback
from hmas.cli.common import JsonOption, settings_from, store_from

app = typer.Typer()


@app.command("replay")
def replay(
    ctx: typer.Context,
    signal_id: Annotated[
        int, typer.Argument(help="The signal's id. Example: 42", callback=id_callback("signal id"))
    ],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Replay under another TOML config: what would change. "
            "Example: --config strict.toml",
            dir_okay=False,
        ),
    ] = None,
    no_cache: Annotated[
        bool,
        typer.Option(
            "--no-cache",
            help="LLM signals: ask the providers again instead of reading their answers from "
            "the call log (costs money; needs the keys). Example: hmas replay 42 --no-cache",
        ),
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Recompute a signal from its stored snapshot (no network): identical, or what differs.

    An LLM signal's answers are read from the call log ($0) unless --no-cache.

    Example: hmas replay 42 --json
    """
    from hmas.cli import render
    from hmas.decision.replay import replay as do_replay
    from hmas.settings import load_settings

    settings = settings_from(ctx)
    engine = store_from(settings, create=False)
    other = load_settings(config) if config is not None else None
    result = do_replay(engine, signal_id, other, no_cache=no_cache, current=settings)
    if json_out:
        render.print_json(result.as_dict())
    else:
        render.replay_result(result)
