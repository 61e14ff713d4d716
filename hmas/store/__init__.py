"""The store: the SQLModel database that holds hmas's state (candles, fetch history, …)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.settings import Settings


def open_store(settings: Settings, *, migrate: bool = True) -> Engine:
    """Open the configured database and bring its schema to head (unless ``migrate=False``)."""
    from hmas.store.engine import make_engine, upgrade

    engine = make_engine(settings.resolved_db_url())
    if migrate:
        upgrade(engine)
    return engine
