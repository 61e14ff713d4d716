"""One serialised step on the paper book, across processes and hosts.

Loading the book, judging a trade and saving the result must happen as one step, or two
``decide``/``run`` processes can each read "two positions open" and both open a third. The
step runs in one transaction that first takes the store's book lock:

- SQLite: a connection in driver autocommit mode that emits ``BEGIN IMMEDIATE`` itself, so the
  transaction holds the database's write lock from its first statement (a second writer waits
  up to the busy timeout);
- PostgreSQL: ``pg_advisory_xact_lock`` on a fixed key, released when the transaction ends;
  each statement after it (READ COMMITTED) sees what the previous holder committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.pool import NullPool
from sqlmodel import Session

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

#: The advisory lock key of the paper book ("hmasBook").
PG_BOOK_LOCK_KEY = 0x686D6173_426F6F6B

_SQLITE_LOCK_ENGINES: dict[str, Engine] = {}


def _sqlite_lock_engine(engine: Engine) -> Engine:
    """A NullPool engine on the same SQLite file whose connections leave BEGIN to hmas."""
    from hmas.store.engine import (
        SQLITE_BUSY_TIMEOUT_MS,
        _sqlite_pragmas,
        install_error_translation,
        where_of,
    )

    key = str(engine.url)
    cached = _SQLITE_LOCK_ENGINES.get(key)
    if cached is not None:
        return cached
    lock_engine = create_engine(
        engine.url,
        poolclass=NullPool,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )

    def autocommit_driver(dbapi_conn: Any, record: Any) -> None:
        _sqlite_pragmas(dbapi_conn, record)
        dbapi_conn.isolation_level = None  # hmas emits BEGIN IMMEDIATE and COMMIT

    event.listen(lock_engine, "connect", autocommit_driver)
    install_error_translation(lock_engine, where_of(engine))
    _SQLITE_LOCK_ENGINES[key] = lock_engine
    return lock_engine


@contextmanager
def book_session(engine: Engine) -> Iterator[Session]:
    """A session whose transaction holds the book lock; committed on a clean exit.

    Use ``session.flush()`` inside (never ``session.commit()``): the transaction is committed
    here, once, after the block, and rolled back if the block raises.
    """
    backend = engine.dialect.name
    bind = _sqlite_lock_engine(engine) if backend == "sqlite" else engine
    with bind.connect() as conn:
        if backend == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif backend == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_BOOK_LOCK_KEY})
        if not conn.in_transaction():  # the session must join, not own, the transaction
            conn.begin()
        session = Session(bind=conn, expire_on_commit=False, autoflush=True)
        try:
            yield session
            session.flush()
        except BaseException:
            session.close()
            conn.rollback()
            raise
        session.close()
        conn.commit()
