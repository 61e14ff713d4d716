"""A lock row in the store that keeps two ``hmas run`` loops off one database.

A lock whose heartbeat is older than ``stale_after`` seconds, or whose process is gone on this
host, is stale: the next run takes it over with a compare-and-swap on the owner token, so two
runs racing for a stale lock cannot both win.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from hmas.errors import EXIT_REFUSED, HmasError
from hmas.store.models import RunLock, utcnow
from hmas.store.reconcile import process_alive

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

logger = logging.getLogger(__name__)
_T = RunLock.__table__  # type: ignore[attr-defined]


class LockHeldError(HmasError):
    """Raised when another live run holds the lock."""

    exit_code = EXIT_REFUSED


@dataclass
class StoreLock:
    """A held lock; ``heartbeat`` keeps it fresh, ``release`` gives it back."""

    engine: Engine
    name: str
    owner: str

    def heartbeat(self) -> None:
        """Refresh the heartbeat (a lock that stops beating goes stale)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(_T)
                .where(_T.c.name == self.name, _T.c.owner == self.owner)
                .values(heartbeat_at=utcnow())
            )

    def release(self) -> None:
        """Release the lock if this owner still holds it."""
        with self.engine.begin() as conn:
            conn.execute(delete(_T).where(_T.c.name == self.name, _T.c.owner == self.owner))


def acquire(engine: Engine, name: str = "run", *, stale_after: float = 300.0) -> StoreLock:
    """Take the lock or raise ``LockHeldError`` naming who holds it."""
    owner = uuid.uuid4().hex
    host = socket.gethostname()
    now = utcnow()
    row = {
        "name": name,
        "owner": owner,
        "pid": os.getpid(),
        "host": host,
        "acquired_at": now,
        "heartbeat_at": now,
    }
    try:
        with engine.begin() as conn:
            conn.execute(insert(_T).values(**row))
        return StoreLock(engine, name, owner)
    except IntegrityError:
        pass
    with engine.connect() as conn:
        held = conn.execute(select(_T).where(_T.c.name == name)).mappings().first()
    if held is None:  # released in between: try once more
        return acquire(engine, name, stale_after=stale_after)
    beat = held["heartbeat_at"]
    if beat.tzinfo is None:  # SQLite returns naive datetimes
        from datetime import UTC

        beat = beat.replace(tzinfo=UTC)
    dead = held["host"] == host and not process_alive(int(held["pid"]))
    stale = now - beat > timedelta(seconds=stale_after)
    if not (dead or stale):
        raise LockHeldError(
            f"another hmas run holds the store lock (pid {held['pid']} on {held['host']}, "
            f"last heartbeat {beat.isoformat(timespec='seconds')}); wait for it to finish"
        )
    with engine.begin() as conn:
        taken = conn.execute(
            update(_T).where(_T.c.name == name, _T.c.owner == held["owner"]).values(**row)
        ).rowcount
    if taken != 1:
        raise LockHeldError("another hmas run took over the stale store lock first")
    logger.warning("took over a stale run lock from pid %s on %s", held["pid"], held["host"])
    return StoreLock(engine, name, owner)
