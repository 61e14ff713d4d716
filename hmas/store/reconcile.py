"""Reconcile work a killed process left at status ``running`` (runs and fetches).

A ``run`` row is written under a runner's leases (``hmas.store.locks``), so it is live only
while its process (pid, host) holds one; a ``fetch_run`` row records its process too. A row is
interrupted when its process is gone on this host, or, on another host, when it holds no fresh
lease and the row is older than a staleness bound (another host's processes cannot be checked
from here).
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from hmas.store.models import FetchRun, Lease, Run, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

logger = logging.getLogger(__name__)

_RUN = Run.__table__  # type: ignore[attr-defined]
_FETCH = FetchRun.__table__  # type: ignore[attr-defined]
_LOCK = Lease.__table__  # type: ignore[attr-defined]
#: A row from another host (or from before fetches recorded their process) is interrupted once
#: it is this old without a fresh lease: no fetch or iteration takes that long.
STALE_AFTER = timedelta(hours=6)
#: A lease not renewed for this long belongs to no live run (renewed at least every 100 s).
LOCK_STALE_AFTER = timedelta(minutes=10)


def process_alive(pid: int) -> bool:
    """True when a process with ``pid`` exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _dead(
    pid: Any,
    host: Any,
    started: datetime,
    locks: dict[tuple[int, str], datetime],
    *,
    needs_lock: bool,
    now: datetime,
    here: str,
) -> bool:
    if pid is None or host is None:
        return now - _aware(started) > STALE_AFTER
    if host == here:
        if not process_alive(int(pid)):
            return True
        # A live pid that holds no lease cannot own a run row: the pid was reused.
        return needs_lock and (int(pid), host) not in locks
    beat = locks.get((int(pid), host))
    fresh = beat is not None and now - _aware(beat) <= LOCK_STALE_AFTER
    return not fresh and now - _aware(started) > STALE_AFTER


def reconcile_interrupted(engine: Engine) -> dict[str, int]:
    """Mark dead processes' ``running`` rows ``interrupted``; release their leases; counts."""
    here = socket.gethostname()
    now = utcnow()
    with engine.begin() as conn:
        runs = conn.execute(
            select(_RUN.c.id, _RUN.c.pid, _RUN.c.host, _RUN.c.started_at).where(
                _RUN.c.status == "running"
            )
        ).all()
        fetches = conn.execute(
            select(_FETCH.c.id, _FETCH.c.pid, _FETCH.c.host, _FETCH.c.started_at).where(
                _FETCH.c.status == "running"
            )
        ).all()
        lock_rows = conn.execute(
            select(_LOCK.c.key, _LOCK.c.owner, _LOCK.c.pid, _LOCK.c.host, _LOCK.c.renewed_at).where(
                _LOCK.c.owner != ""
            )
        ).all()
        dead_locks = [
            (r.key, r.owner) for r in lock_rows if r.host == here and not process_alive(int(r.pid))
        ]
        locks: dict[tuple[int, str], datetime] = {}
        for r in lock_rows:
            if (r.key, r.owner) not in dead_locks:
                beat = locks.get((int(r.pid), r.host))
                locks[(int(r.pid), r.host)] = (
                    r.renewed_at if beat is None else max(beat, r.renewed_at)
                )
        dead_runs = [
            r.id
            for r in runs
            if _dead(r.pid, r.host, r.started_at, locks, needs_lock=True, now=now, here=here)
        ]
        dead_fetches = [
            r.id
            for r in fetches
            if _dead(r.pid, r.host, r.started_at, locks, needs_lock=False, now=now, here=here)
        ]
        if dead_runs:
            conn.execute(
                update(_RUN)
                .where(_RUN.c.id.in_(dead_runs), _RUN.c.status == "running")
                .values(status="interrupted")
            )
        if dead_fetches:
            conn.execute(
                update(_FETCH)
                .where(_FETCH.c.id.in_(dead_fetches), _FETCH.c.status == "running")
                .values(
                    status="interrupted",
                    error="interrupted: its process ended without recording how the fetch ended",
                )
            )
        for key, owner in dead_locks:  # released, not deleted: the key's token keeps counting
            conn.execute(
                update(_LOCK)
                .where(_LOCK.c.key == key, _LOCK.c.owner == owner)
                .values(owner="", expires_at=now)
            )
    if dead_runs or dead_fetches or dead_locks:
        logger.warning(
            "marked %d run(s) and %d fetch(es) interrupted; released %d dead lease(s)",
            len(dead_runs),
            len(dead_fetches),
            len(dead_locks),
        )
    return {"runs": len(dead_runs), "fetches": len(dead_fetches), "locks": len(dead_locks)}
