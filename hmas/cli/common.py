"""Helpers shared by the command modules: settings from the context, the store, options."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.settings import Settings
    from hmas.store import IntegrityCheck

# The root context of the command being run, so helpers that are not handed one (``store_from``)
# can tie resources to its end. Set by the root group for the length of one invocation.
_ROOT_CONTEXT: ContextVar[typer.Context | None] = ContextVar("hmas_root_context", default=None)


@contextmanager
def command_scope(ctx: typer.Context) -> Iterator[None]:
    """Within this block, ``store_from`` disposes what it opens when ``ctx`` (the root) closes."""
    token = _ROOT_CONTEXT.set(ctx)
    try:
        yield
    finally:
        _ROOT_CONTEXT.reset(token)


JsonOption = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON on stdout (nothing else).")
]


EngineOption = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="rules (offline, free; the default) or llm (each agent on its llm.routing model; "
        "docs/llm.md). Example: --engine llm",
    ),
]


def engine_overrides(engine: str | None) -> dict[str, Any]:
    """The settings override of ``--engine`` (none when not given)."""
    if engine is None:
        return {}
    value = engine.strip().lower()
    if value not in ("rules", "llm"):
        raise typer.BadParameter(f"expected rules or llm, got {engine!r}", param_hint="--engine")
    return {"decision": {"engine": value}}


def symbols_from(*groups: list[str] | None) -> list[str]:
    """Symbols given after ``--symbols`` (several after one flag, or comma-separated)."""
    wanted = [s for group in groups for item in group or [] for s in item.split(",") if s]
    if not wanted:
        raise typer.BadParameter(
            "give at least one symbol, e.g. --symbols BTC-USD", param_hint="--symbols"
        )
    return wanted


def settings_from(ctx: typer.Context, **overrides: Any) -> Settings:
    """Settings with the global flags (and any command flags) as the highest-precedence source."""
    from hmas.settings import load_settings

    obj = ctx.find_root().obj or {}
    if obj.get("db_url"):
        overrides.setdefault("db_url", obj["db_url"])
    return load_settings(obj.get("config"), **overrides)


def store_from(
    settings: Settings, *, create: bool = True, check: IntegrityCheck | None = None
) -> Engine:
    """The store's engine, migrated to head; disposed when the command ends.

    ``create=True`` for commands that write (the store is created if missing); ``create=False``
    for read-only commands, which never create a file or schema: a missing store is an error.
    ``check``: when a SQLite file must first pass ``PRAGMA quick_check`` (``open_store``);
    commands that write to an existing store without creating one pass ``"small"``.
    """
    from hmas.store import open_store

    engine = open_store(settings, create=create, check=check)
    ctx = _ROOT_CONTEXT.get()
    if ctx is not None:
        # Close pooled connections with the command, not at garbage collection.
        ctx.call_on_close(engine.dispose)
    return engine
