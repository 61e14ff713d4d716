"""Leases: exclusive per series, released, expired ones taken over safely, writes fenced."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from hmas.store.engine import upgrade
from hmas.store.locks import (
    UNFENCED,
    LeaseLostError,
    Leases,
    LockHeldError,
    acquire,
    lease_key,
)
from hmas.store.models import Lease, Run, utcnow

T = Lease.__table__  # type: ignore[attr-defined]
RUN = Run.__table__  # type: ignore[attr-defined]
BTC = lease_key("sample", "BTC-USD", "1h")
ETH = lease_key("sample", "ETH-USD", "1h")


@pytest.fixture
def engine(db_url: str, engine_factory: Any) -> Any:
    e = engine_factory(db_url)
    upgrade(e)
    return e


def _expire(engine: Any, key: str) -> None:
    """What time does to a lease (unfenced: in a fenced block the write would renew it)."""
    with engine.connect() as conn:
        conn.info[UNFENCED] = True
        conn.execute(update(T).where(T.c.key == key).values(expires_at=utcnow() - timedelta(1)))
        conn.commit()
        del conn.info[UNFENCED]


def _token(engine: Any, key: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(T.c.token).where(T.c.key == key)).scalar_one())


def _add_run(conn: Any) -> None:
    conn.execute(
        insert(RUN).values(
            started_at=utcnow(),
            iteration=1,
            pid=1,
            host="h",
            engine="rules",
            config_hash="x",
            status="ok",
            symbols=[],
            signals_created=0,
            approved=0,
            errors={},
        )
    )


def _runs(engine: Any) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(RUN.c.id)).all())


def test_second_run_on_the_same_series_is_refused_with_exit_3(engine: Any) -> None:
    lock = acquire(engine, [BTC])
    with pytest.raises(LockHeldError) as info:
        acquire(engine, [BTC])
    assert str(info.value).startswith("another hmas run holds the store lock (pid ")
    assert "for BTC-USD 1h on sample" in str(info.value)
    assert info.value.exit_code == 3
    lock.release()
    acquire(engine, [BTC]).release()


def test_runs_on_disjoint_series_both_hold_their_leases(engine: Any) -> None:
    first, second = acquire(engine, [BTC]), acquire(engine, [ETH])
    assert first.holds(BTC) and second.holds(ETH)
    both = Leases(engine)
    assert set(both.take([BTC, ETH])) == {BTC, ETH}  # each held elsewhere: nothing taken
    assert not both.held
    first.release()
    assert both.take([BTC, ETH]) == {ETH: both.take([ETH])[ETH]}  # BTC is free now
    assert both.holds(BTC) and not both.holds(ETH)


def test_an_expired_lease_is_taken_over_with_a_higher_token(engine: Any) -> None:
    old = acquire(engine, [BTC])
    _expire(engine, BTC)
    new = acquire(engine, [BTC])
    assert new.owner != old.owner and new.held[BTC] == old.held[BTC] + 1 == _token(engine, BTC)
    old.release()  # the old owner no longer holds it: releasing is a no-op
    with pytest.raises(LockHeldError):
        acquire(engine, [BTC])
    new.release()
    assert acquire(engine, [BTC]).held[BTC] == 3  # a released key's token keeps counting


def test_a_lease_of_a_dead_process_on_this_host_is_taken_over(engine: Any) -> None:
    acquire(engine, [BTC])
    with engine.begin() as conn:
        conn.execute(update(T).values(pid=2**22 + 12345))  # no such process
    acquire(engine, [BTC]).release()


def test_renewal_pushes_the_expiry_and_notices_a_takeover(engine: Any) -> None:
    mine = acquire(engine, [BTC], seconds=60)
    _expire(engine, BTC)
    mine.renew()  # expired but not taken: still ours, renewed
    with pytest.raises(LockHeldError):
        acquire(engine, [BTC])
    _expire(engine, BTC)
    thief = acquire(engine, [BTC])
    with pytest.raises(LeaseLostError) as info:
        mine.renew()
    assert str(info.value).startswith("this runner lost its lease on BTC-USD 1h on sample to pid ")
    assert str(info.value).endswith("it stopped without writing")
    assert info.value.exit_code == 3
    thief.release()


def test_a_write_after_a_takeover_is_rolled_back(engine: Any) -> None:
    mine = acquire(engine, [BTC])
    with mine.fenced():
        with engine.begin() as conn:  # still the holder: written
            _add_run(conn)
        with engine.connect() as conn:  # reads are not fenced
            conn.execute(select(RUN.c.id)).all()
            conn.commit()
        _expire(engine, BTC)
        thief = acquire(engine, [BTC])
        with pytest.raises(LeaseLostError), engine.begin() as conn:
            _add_run(conn)
    assert _runs(engine) == 1
    with engine.begin() as conn:  # outside the block nothing is fenced
        _add_run(conn)
    assert _runs(engine) == 2
    thief.release()


def test_a_sessions_commit_and_the_book_lock_are_fenced(engine: Any) -> None:
    from sqlmodel import Session

    from hmas.store.serial import book_session

    mine = acquire(engine, [BTC])
    with mine.fenced():
        _expire(engine, BTC)
        thief = acquire(engine, [BTC])
        with pytest.raises(LeaseLostError), Session(engine) as session:
            session.add(Run(engine="rules", config_hash="x"))
            session.commit()
        with pytest.raises(LeaseLostError), book_session(engine) as session:
            session.add(Run(engine="rules", config_hash="x"))
    assert _runs(engine) == 0
    thief.release()
