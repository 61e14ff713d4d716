"""Engine factory and migrations, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

from hmas.errors import MigrationError, StoreUnavailableError
from hmas.store.engine import (
    HEAD_REVISION,
    current_revision,
    head_revision,
    make_engine,
    normalize_url,
    upgrade,
)

EXPECTED = {
    "alembic_version": {"version_num"},
    "candle": {
        "exchange",
        "symbol",
        "timeframe",
        "ts",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "source",
        "fetch_id",
    },
    "fetch_run": {
        "id",
        "started_at",
        "finished_at",
        "source",
        "exchange",
        "symbol",
        "timeframe",
        "since_ts",
        "until_ts",
        "path",
        "received",
        "added",
        "first_ts",
        "last_ts",
        "gaps",
        "status",
        "error",
        "pid",
        "host",
    },
    "analysis": {
        "id",
        "created_at",
        "exchange",
        "symbol",
        "timeframe",
        "bar_ts",
        "engine",
        "config_hash",
        "hmas_version",
        "source",
        "window_first_ts",
        "window_last_ts",
        "window_len",
        "snapshot_hash",
        "context",
        "features",
        "views",
        "config",
    },
    "signal": {
        "id",
        "created_at",
        "analysis_id",
        "run_id",
        "exchange",
        "symbol",
        "timeframe",
        "bar_ts",
        "engine",
        "config_hash",
        "hmas_version",
        "source",
        "decision",
        "action",
        "confidence",
        "entry",
        "stop_loss",
        "take_profit",
        "size",
        "reward_risk",
        "expected_value_r",
        "risk_adjusted_ev_r",
        "consensus",
        "quality",
        "conviction",
        "rejection_reason",
        "rounds",
        "guardian",
        "cost_usd",
    },
    "signal_result": {
        "signal_id",
        "status",
        "fill_ts",
        "fill_price",
        "exit_ts",
        "exit_price",
        "bars_held",
        "r_multiple",
        "pnl_money",
        "pnl_pct",
        "mae_r",
        "mfe_r",
        "updated_at",
    },
    "position": {
        "id",
        "signal_id",
        "engine",
        "exchange",
        "symbol",
        "timeframe",
        "side",
        "entry",
        "stop_loss",
        "take_profit",
        "size",
        "opened_bar_ts",
        "status",
        "closed_ts",
    },
    "account": {
        "engine",
        "starting_equity",
        "equity",
        "day",
        "day_start_equity",
        "peak_equity",
        "consecutive_losses",
        "paused_until_ts",
        "kill_switch",
        "updated_at",
    },
    "run": {
        "id",
        "started_at",
        "finished_at",
        "iteration",
        "pid",
        "host",
        "engine",
        "config_hash",
        "status",
        "symbols",
        "signals_created",
        "approved",
        "errors",
    },
    "lease": {
        "key",
        "owner",
        "token",
        "pid",
        "host",
        "acquired_at",
        "renewed_at",
        "expires_at",
    },
    "backtest_run": {
        "id",
        "created_at",
        "hmas_version",
        "strategy",
        "engine",
        "timeframe",
        "symbols",
        "start_ts",
        "end_ts",
        "bars",
        "data_hash",
        "config_hash",
        "config",
        "series",
        "sample_data",
        "metrics",
        "trades",
    },
    "llm_call": {
        "id",
        "created_at",
        "day",
        "batch",
        "analysis_id",
        "signal_id",
        "agent",
        "vendor",
        "model",
        "attempt",
        "cache_key",
        "prompt",
        "response",
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "cost_usd",
        "estimate_usd",
        "latency_s",
        "status",
        "http_status",
        "error",
    },
    "pause": {
        "id",
        "engine",
        "trigger",
        "scope",
        "reason",
        "started_at",
        "expires_at",
        "lifted_at",
        "lifted_by",
        "lift_reason",
    },
}


def test_empty_database_upgrades_to_exactly_the_expected_schema(
    db_url: str, engine_factory: Any
) -> None:
    engine = engine_factory(db_url)
    assert current_revision(engine) is None
    result = upgrade(engine)
    assert result.before is None
    assert result.applied == [
        "0001_candles",
        "0002_signals",
        "0003_fetch_owner",
        "0004_backtest_run",
        "0005_llm_call",
        "0006_leases",
        "0007_pauses",
    ]
    assert current_revision(engine) == head_revision()
    insp = inspect(engine)
    tables = {t: {c["name"] for c in insp.get_columns(t)} for t in insp.get_table_names()}
    assert tables == EXPECTED
    pk = insp.get_pk_constraint("candle")["constrained_columns"]
    assert pk == ["exchange", "symbol", "timeframe", "ts"]


def test_second_upgrade_is_a_no_op(db_url: str, engine_factory: Any) -> None:
    engine = engine_factory(db_url)
    upgrade(engine)
    again = upgrade(engine)
    assert again.applied == []
    assert again.before == again.after == head_revision()


def test_models_match_the_migrations(db_url: str, engine_factory: Any) -> None:
    """The SQLModel tables and the migrated schema agree (no drift for autogenerate to find)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import hmas.store.models  # noqa: F401 - registers the tables

    engine = engine_factory(db_url)
    upgrade(engine)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(ctx, SQLModel.metadata)
    assert diff == []


def test_sqlite_uses_wal(tmp_path: Path, engine_factory: Any) -> None:
    engine = engine_factory(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "cannot parse database URL 'not a url'"),
        ("sqlite:////nonexistent/dir/hmas.db", "directory /nonexistent/dir does not exist"),
        (
            "postgresql://u:secret@127.0.0.1:1/db",
            "cannot open database postgresql+psycopg://u:***@127.0.0.1:1/db",
        ),
        ("mysql+nodriver://u@h/db", "no driver for 'mysql+nodriver'"),
    ],
)
def test_unopenable_urls_raise_a_clear_error(url: str, message: str) -> None:
    with pytest.raises(StoreUnavailableError) as info:
        make_engine(url)
    assert message in str(info.value)
    assert "secret" not in str(info.value)
    assert info.value.exit_code == 2


def test_plain_postgres_urls_use_psycopg3() -> None:
    assert normalize_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


def test_head_constant_matches_the_migration_scripts() -> None:
    from alembic.script import ScriptDirectory

    from hmas.store.engine import HEAD_REVISION, KNOWN_REVISIONS, alembic_config

    assert head_revision() == HEAD_REVISION
    script = ScriptDirectory.from_config(alembic_config(None))  # type: ignore[arg-type]
    scripts = [r.revision for r in reversed(list(script.walk_revisions("base", "heads")))]
    assert tuple(scripts) == KNOWN_REVISIONS


# --- lock conflicts SQLite reports at once ---------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_quick_busy_error_is_tried_again_and_a_long_one_is_not() -> None:
    from hmas.errors import StoreBusyError
    from hmas.store.engine import BUSY_RETRIES, QUICK_BUSY_S, retry_quick_busy

    clock, pauses = _Clock(), []
    failures = iter([True, True, False])

    def step() -> str:
        if next(failures):
            raise StoreBusyError("busy")
        return "opened"

    assert retry_quick_busy(step, clock=clock, sleep=pauses.append) == "opened"
    assert len(pauses) == 2 and all(0 < p <= 0.5 for p in pauses)

    def always() -> str:
        raise StoreBusyError("busy")

    pauses.clear()
    with pytest.raises(StoreBusyError):
        retry_quick_busy(always, clock=clock, sleep=pauses.append)
    assert len(pauses) == BUSY_RETRIES - 1  # then it gives up

    def waited() -> str:  # the busy timeout ran out: another process holds the store
        clock.now += QUICK_BUSY_S + 1
        raise StoreBusyError("busy")

    pauses.clear()
    with pytest.raises(StoreBusyError):
        retry_quick_busy(waited, clock=clock, sleep=pauses.append)
    assert pauses == []

    def other() -> str:
        raise MigrationError("not a lock conflict")

    with pytest.raises(MigrationError):
        retry_quick_busy(other, clock=clock, sleep=pauses.append)
    assert pauses == []


def test_open_store_tries_a_quick_busy_error_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first opening meets a lock conflict reported at once (as when two processes switch
    a new file to WAL together); the second opens the store at head."""
    import hmas.store as store_package
    from hmas.errors import StoreBusyError
    from hmas.settings import load_settings

    real = store_package._open_store
    calls: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise StoreBusyError("the store is busy")
        return real(*args, **kwargs)

    monkeypatch.setattr(store_package, "_open_store", flaky)
    engine = store_package.open_store(load_settings(db_url=f"sqlite:///{tmp_path / 'x.db'}"))
    try:
        assert len(calls) == 2
        assert current_revision(engine) == HEAD_REVISION
    finally:
        engine.dispose()


def test_the_switch_to_wal_is_tried_again_when_sqlite_reports_a_lock_at_once() -> None:
    import sqlite3

    from hmas.store.engine import _wal

    class Cursor:
        def __init__(self, fails: int) -> None:
            self.fails, self.seen = fails, 0

        def execute(self, sql: str) -> None:
            assert sql == "PRAGMA journal_mode=WAL"
            self.seen += 1
            if self.seen <= self.fails:
                raise sqlite3.OperationalError("database is locked")

    cur = Cursor(fails=2)
    _wal(cur)
    assert cur.seen == 3
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _wal(Cursor(fails=99), attempts=3)

    class Broken(Cursor):
        def execute(self, sql: str) -> None:
            raise sqlite3.OperationalError("disk I/O error")

    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        _wal(Broken(0))
