"""The run lock: exclusive, released, stale locks taken over safely."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from hmas.store.engine import upgrade
from hmas.store.locks import LockHeldError, acquire
from hmas.store.models import RunLock, utcnow

T = RunLock.__table__  # type: ignore[attr-defined]


@pytest.fixture
def engine(db_url: str, engine_factory: Any) -> Any:
    e = engine_factory(db_url)
    upgrade(e)
    return e


def test_second_run_is_refused_with_exit_3(engine: Any) -> None:
    lock = acquire(engine)
    with pytest.raises(LockHeldError) as info:
        acquire(engine)
    assert "another hmas run holds the store lock" in str(info.value)
    assert info.value.exit_code == 3
    lock.release()
    acquire(engine).release()


def test_stale_heartbeat_is_taken_over(engine: Any) -> None:
    old = acquire(engine)
    with engine.begin() as conn:
        conn.execute(update(T).values(heartbeat_at=utcnow() - timedelta(hours=1)))
    new = acquire(engine, stale_after=60)
    assert new.owner != old.owner
    old.release()  # the old owner no longer holds it: releasing is a no-op
    with pytest.raises(LockHeldError):
        acquire(engine)
    new.release()


def test_lock_of_a_dead_process_on_this_host_is_taken_over(engine: Any) -> None:
    acquire(engine)
    with engine.begin() as conn:
        conn.execute(update(T).values(pid=2**22 + 12345))  # no such process
    acquire(engine).release()
