"""Leases that let several ``hmas run`` loops share one store, one series each at a time.

A runner holds a lease per series it works on (key ``exchange/symbol/timeframe``): a row in
``lease`` with its owner id, a fencing ``token`` that grows on every acquisition, and an expiry
it pushes forward (``renew``, on a heartbeat and with every write). A lease that expired, or
whose process is gone on this host, may be taken over with a compare-and-swap on (owner, token),
so two runners racing for it cannot both win.

Fencing: while a runner holds leases (``fenced``), every transaction of this process that
writes to its store ends with a conditional update of the runner's lease rows (owner and token
as acquired) just before its commit. When a row no longer matches, another runner took the
lease over: the transaction is rolled back and ``LeaseLostError`` raised, so a runner that was
paused (SIGSTOP, a stalled fetch) past its lease never writes after the takeover. The update
also locks the rows until the commit (PostgreSQL row locks; the write lock on SQLite), so a
takeover waits for a write already checked, never the other way round.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, event, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from hmas.errors import EXIT_REFUSED, HmasError
from hmas.store.models import Lease, utcnow
from hmas.store.reconcile import process_alive

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

logger = logging.getLogger(__name__)
_T = Lease.__table__  # type: ignore[attr-defined]

#: How long a lease lasts without renewal (``[run] lease_seconds``).
LEASE_SECONDS = 300.0
#: The key of the lease on the whole store (``acquire``'s default): no series, one runner.
STORE_KEY = "store"
#: Statements that write (a transaction that ran one is fenced at its commit).
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")
#: A connection with this key in its ``info`` is not fenced (the leases' own statements).
UNFENCED = "hmas_lease_op"
_WROTE = "hmas_wrote"
#: The leases each store URL is fenced by in this process (one runner per process).
_FENCES: dict[str, Leases] = {}


class LockHeldError(HmasError):
    """Raised when another live run holds the lease of every series asked for."""

    exit_code = EXIT_REFUSED


class LeaseLostError(HmasError):
    """Raised when a runner finds another runner took over one of its leases; nothing written."""

    exit_code = EXIT_REFUSED


def lease_key(exchange: str, symbol: str, timeframe: str) -> str:
    """The lease key of a series."""
    return f"{exchange}/{symbol}/{timeframe}"


def describe(key: str) -> str:
    """``BTC-USD 1h on coinbase`` for ``coinbase/BTC-USD/1h``."""
    parts = key.split("/")
    if len(parts) != 3:
        return key
    exchange, symbol, timeframe = parts
    return f"{symbol} {timeframe} on {exchange}"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass
class Leases:
    """The leases one runner holds on one store: ``take``, ``renew``, ``release``, fencing."""

    engine: Engine
    seconds: float = LEASE_SECONDS
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    #: key -> the token this runner acquired it with.
    held: dict[str, int] = field(default_factory=dict)

    def holds(self, key: str) -> bool:
        """True while ``key`` is among the leases this runner acquired (and did not lose)."""
        return key in self.held

    def take(self, keys: Iterable[str]) -> dict[str, str]:
        """Acquire each free or expired lease of ``keys``; returns the others: key -> holder."""
        refused: dict[str, str] = {}
        for key in keys:
            if key in self.held:
                continue
            holder = self._take_one(key)
            if holder is not None:
                refused[key] = holder
        return refused

    def _take_one(self, key: str, *, again: bool = True) -> str | None:
        now = utcnow()
        row = {
            "owner": self.owner,
            "pid": self.pid,
            "host": self.host,
            "acquired_at": now,
            "renewed_at": now,
            "expires_at": now + timedelta(seconds=self.seconds),
        }
        with self._lease_op() as conn:
            current = conn.execute(select(_T).where(_T.c.key == key)).mappings().first()
        if current is None:  # never leased: the first insert wins
            try:
                with self._lease_op() as conn:
                    conn.execute(insert(_T).values(key=key, token=1, **row))
            except IntegrityError:  # another runner inserted it first: judge its row
                return (
                    self._take_one(key, again=False)
                    if again
                    else f"(another runner, just now) for {describe(key)}"
                )
            self.held[key] = 1
            return None
        released = current["owner"] == ""
        expired = _aware(current["expires_at"]) <= now
        dead = current["host"] == self.host and not process_alive(int(current["pid"]))
        if not (released or expired or dead):
            return (
                f"(pid {current['pid']} on {current['host']}) for {describe(key)}, lease renewed "
                f"{_aware(current['renewed_at']).isoformat(timespec='seconds')}, expires "
                f"{_aware(current['expires_at']).isoformat(timespec='seconds')}"
            )
        token = int(current["token"]) + 1
        with self._lease_op() as conn:
            taken = conn.execute(
                update(_T)
                .where(
                    _T.c.key == key,
                    _T.c.owner == current["owner"],
                    _T.c.token == current["token"],
                )
                .values(token=token, **row)
            ).rowcount
        if taken != 1:
            return f"(a concurrent runner took it over first) for {describe(key)}"
        if not released:
            logger.warning(
                "took over the %s lease on %s from pid %s on %s",
                "dead process's" if dead else "expired",
                describe(key),
                current["pid"],
                current["host"],
            )
        self.held[key] = token
        return None

    def renew(self) -> None:
        """Push every held lease's expiry forward; ``LeaseLostError`` if one was taken over."""
        if not self.held:
            return
        with self._lease_op() as conn:
            self._check(conn)

    def release(self) -> None:
        """Give back the leases this runner still holds (the rows and their tokens stay)."""
        if not self.held:
            return
        now = utcnow()
        with self._lease_op() as conn:
            conn.execute(
                update(_T).where(self._mine()).values(owner="", renewed_at=now, expires_at=now)
            )
        self.held.clear()

    @contextmanager
    def fenced(self) -> Iterator[Leases]:
        """Fence every write of this process to the store by these leases for the block."""
        _listen()
        _FENCES[self._url] = self
        try:
            yield self
        finally:
            if _FENCES.get(self._url) is self:
                del _FENCES[self._url]

    @property
    def _url(self) -> str:
        return str(self.engine.url)

    def _mine(self) -> Any:
        return and_(
            _T.c.owner == self.owner,
            or_(*(and_(_T.c.key == k, _T.c.token == t) for k, t in self.held.items())),
        )

    def _check(self, conn: Connection) -> None:
        now = utcnow()
        renewed = conn.execute(
            update(_T)
            .where(self._mine())
            .values(renewed_at=now, expires_at=now + timedelta(seconds=self.seconds))
        ).rowcount
        if renewed != len(self.held):
            raise self._lost(conn)

    def _lost(self, conn: Connection) -> LeaseLostError:
        rows = conn.execute(select(_T).where(_T.c.key.in_(list(self.held)))).mappings().all()
        lost = [r for r in rows if r["owner"] != self.owner or r["token"] != self.held[r["key"]]]
        first = lost[0] if lost else None
        if first is None:
            where = "its leases"
            by = "another runner"
        else:
            where = f"its lease on {describe(first['key'])}"
            by = (
                "a release by hand"
                if first["owner"] == ""
                else f"pid {first['pid']} on {first['host']}"
            )
        return LeaseLostError(
            f"this runner lost {where} to {by} (it was paused or stalled past the "
            f"{self.seconds:g} s lease); it stopped without writing"
        )

    @contextmanager
    def _lease_op(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.info[UNFENCED] = True
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop(UNFENCED, None)


def acquire(
    engine: Engine, keys: Iterable[str] = (STORE_KEY,), *, seconds: float = LEASE_SECONDS
) -> Leases:
    """Take every lease of ``keys`` or none: ``LockHeldError`` names who holds the first."""
    leases = Leases(engine, seconds)
    refused = leases.take(keys)
    if refused:
        leases.release()
        raise held_error(refused)
    return leases


def held_error(refused: dict[str, str]) -> LockHeldError:
    """The error for series another runner holds (the first named, the count of the others)."""
    first = next(iter(refused.values()))
    more = f"; and {len(refused) - 1} more series" if len(refused) > 1 else ""
    return LockHeldError(
        f"another hmas run holds the store lock {first}{more}; wait for it to finish, or give "
        "this run other symbols"
    )


def _listen() -> None:
    if event.contains(Engine, "commit", _fence_commit):
        return
    event.listen(Engine, "before_cursor_execute", _note_write)
    event.listen(Engine, "commit", _fence_commit)
    event.listen(Engine, "rollback", _forget_write)


def _note_write(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
    if _FENCES and statement.lstrip()[:7].upper().startswith(_WRITES):
        conn.info[_WROTE] = True


def _forget_write(conn: Connection) -> None:
    conn.info.pop(_WROTE, None)


def _fence_commit(conn: Connection) -> None:
    wrote = conn.info.pop(_WROTE, False)
    if not wrote or conn.info.get(UNFENCED):
        return
    leases = _FENCES.get(str(conn.engine.url))
    if leases is None or not leases.held:
        return
    conn.info[UNFENCED] = True  # the check is a write of its own: not fenced again
    try:
        leases._check(conn)
    except LeaseLostError:
        # Roll back at the driver, here: whatever the caller does with the error, the
        # transaction's writes are gone and its locks (SQLite's write lock) are released.
        conn.connection.dbapi_connection.rollback()  # type: ignore[union-attr]
        raise
    finally:
        conn.info.pop(UNFENCED, None)
        conn.info.pop(_WROTE, None)
