"""``hmas llm check``: where each agent's LLM calls go, whether the keys are there, a ping."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hmas.cli.common import JsonOption, settings_from

HELP = "The LLM providers: routing, keys, capabilities, prices. Example: hmas llm check --ping"

app = typer.Typer(no_args_is_help=True)


def _agents() -> tuple[list[str], list[str]]:
    from hmas.agents.registry import NAMES

    agents = [*NAMES, "mother"]
    return agents, agents


@app.command("check")
def check(
    ctx: typer.Context,
    ping: Annotated[
        bool,
        typer.Option(
            "--ping",
            help="Make one tiny call per routed vendor and model; report latency, tokens and "
            "cost (a few hundredths of a cent). Example: hmas llm check --ping",
        ),
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Show which vendor and model each agent routes to, whether each key is set (never its
    value), each model's structured-output mode and prices; exit 2 if a routed key is missing.

    Example: hmas --config examples/llm-local.toml llm check --ping
    """
    import asyncio

    from hmas.cli import render
    from hmas.errors import LlmError
    from hmas.llm import ping as ping_routes
    from hmas.llm import require_keys, resolve_routes, route_report

    settings = settings_from(ctx)
    agents, known = _agents()
    rows = route_report(settings.llm, agents, known=known)
    missing = sorted({r.key.variable for r in rows if not r.key.present if r.key.variable})
    data: dict[str, Any] = {
        "routes": [render.llm_route_json(r) for r in rows],
        "missing_keys": missing,
        "pings": None,
    }
    pings = None
    if ping and not missing:
        routes = resolve_routes(settings.llm, agents, known=known)
        pings = asyncio.run(ping_routes(settings.llm, routes))
        data["pings"] = [render.llm_ping_json(p) for p in pings]
    data["ok"] = not missing and (pings is None or all(p.ok for p in pings))
    if json_out:
        render.print_json(data)
    else:
        render.llm_routes_table(rows)
        if pings is not None:
            render.llm_ping_table(pings)
    if missing:
        require_keys(resolve_routes(settings.llm, agents, known=known))  # the one-line error
    if pings is not None and not data["ok"]:
        failed = [p for p in pings if not p.ok]
        raise LlmError(
            f"{len(failed)} of {len(pings)} ping(s) failed: "
            + "; ".join(f"{p.vendor}/{p.model}: {p.error}" for p in failed)
        )
