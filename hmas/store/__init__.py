"""The store: the SQLModel database that holds hmas's state (candles, fetch history, …)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

#: When a store is checked with ``PRAGMA quick_check`` as it is opened (SQLite only).
IntegrityCheck = Literal["always", "small", "never"]

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.settings import Settings

logger = logging.getLogger(__name__)


def open_store(
    settings: Settings,
    *,
    migrate: bool = True,
    create: bool = True,
    check: IntegrityCheck | None = None,
) -> Engine:
    """Open the configured store.

    ``create=True`` (commands that write): create the store if needed, bring its schema to head
    (unless ``migrate=False``) and mark rows killed processes left ``running`` as interrupted.
    ``create=False`` (read-only commands): the store must exist (``StoreMissingError``); no file
    or schema is ever created.
    ``check``: whether a SQLite file must pass ``PRAGMA quick_check`` before anything is done
    (the upgrade included; ``StoreCorruptError`` otherwise): ``always`` (``hmas run``, once at
    its start), ``small`` (only while the file is small: the check reads all of it; the default
    of commands that write, ``create=True``) or ``never`` (the default of read-only commands).
    See ``hmas.store.integrity``. A lock conflict SQLite reports at once (processes starting
    together on a new file) is tried again (``engine.retry_quick_busy``).
    """
    from hmas.store.engine import retry_quick_busy

    return retry_quick_busy(
        lambda: _open_store(settings, migrate=migrate, create=create, check=check)
    )


def _open_store(
    settings: Settings, *, migrate: bool, create: bool, check: IntegrityCheck | None
) -> Engine:
    from hmas.errors import HmasError
    from hmas.store.engine import ensure_store, make_engine, upgrade

    engine = make_engine(settings.resolved_db_url(), create=create)
    try:
        check = check or ("small" if create else "never")
        if check != "never":
            from hmas.store.engine import where_of
            from hmas.store.integrity import small_sqlite_file, verify

            if check == "always" or small_sqlite_file(engine):
                verify(engine, where_of(engine))
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
