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
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlmodel import Session

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

#: The advisory lock key of the paper book ("hmasBook").
PG_BOOK_LOCK_KEY = 0x686D6173_426F6F6B
#: The advisory lock key of the LLM spend ledger ("hmasLlm$").
PG_LEDGER_LOCK_KEY = 0x686D6173_4C6C6D24

_SQLITE_LOCK_ENGINES: dict[str, Engine] = {}


def _sqlite_lock_engine(engine: Engine) -> Engine:
    """The store's lock engine (``engine.sqlite_lock_engine``), one per SQLite file."""
    from hmas.store.engine import sqlite_lock_engine

    key = str(engine.url)
    cached = _SQLITE_LOCK_ENGINES.get(key)
    if cached is None:
        cached = _SQLITE_LOCK_ENGINES[key] = sqlite_lock_engine(engine)
    return cached


@contextmanager
def book_session(engine: Engine) -> Iterator[Session]:
    """A session whose transaction holds the book lock; committed on a clean exit.

    Use ``session.flush()`` inside (never ``session.commit()``): the transaction is committed
    here, once, after the block, and rolled back if the block raises.
    """
    with _locked_session(engine, PG_BOOK_LOCK_KEY) as session:
        yield session


@contextmanager
def ledger_session(engine: Engine) -> Iterator[Session]:
    """Like ``book_session``, for the LLM spend ledger: check the budget and reserve at once."""
    with _locked_session(engine, PG_LEDGER_LOCK_KEY) as session:
        yield session


@contextmanager
def _locked_session(engine: Engine, pg_key: int) -> Iterator[Session]:
    backend = engine.dialect.name
    bind = _sqlite_lock_engine(engine) if backend == "sqlite" else engine
    with bind.connect() as conn:
        if backend == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif backend == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": pg_key})
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
