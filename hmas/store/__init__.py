"""The store: the SQLModel database that holds hmas's state (candles, fetch history, …)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.settings import Settings

logger = logging.getLogger(__name__)


def open_store(settings: Settings, *, migrate: bool = True, create: bool = True) -> Engine:
    """Open the configured store.

    ``create=True`` (commands that write): create the store if needed, bring its schema to head
    (unless ``migrate=False``) and mark rows killed processes left ``running`` as interrupted.
    ``create=False`` (read-only commands): the store must exist (``StoreMissingError``); no file
    or schema is ever created.
    """
    from hmas.errors import HmasError
    from hmas.store.engine import ensure_store, make_engine, upgrade

    engine = make_engine(settings.resolved_db_url(), create=create)
    try:
        if not create:
            ensure_store(engine)
        elif migrate:
            upgrade(engine)
            try:
                from hmas.store.reconcile import reconcile_interrupted

                reconcile_interrupted(engine)
            except HmasError as exc:  # e.g. a full disk: the command itself will say so
                logger.warning("could not reconcile interrupted work: %s", exc)
    except BaseException:
        engine.dispose()
        raise
    return engine
