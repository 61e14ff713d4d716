"""Integrity checks on real stores with real damage, and what opening a damaged store does."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from hmas.errors import StoreCorruptError
from hmas.settings import Settings
from hmas.store import integrity, open_store
from hmas.store.candles import CandleStore
from hmas.store.engine import make_engine, translate_error, upgrade
from hmas.store.integrity import integrity_check, quick_check, small_sqlite_file, verify
from tests.conftest import _postgres_database
from tests.store.damage import damage, overwrite_page, pages_of
from tests.store.test_candles import rows


def _store(path: Path, candles: int = 3000) -> None:
    """A store at head holding ``candles`` hourly candles; every connection closed after."""
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
        CandleStore(engine).upsert("sample", "BTC-USD", "1h", rows(candles), source="sample")
    finally:
        engine.dispose()


def _settings(path: Path) -> Settings:
    return Settings(db_url=f"sqlite:///{path}")


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    _store(path)
    damage(path, "middle")
    return path


def test_an_intact_store_passes_both_checks(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    _store(path)
    engine = make_engine(f"sqlite:///{path}", create=False)
    try:
        quick, full = quick_check(engine), integrity_check(engine)
    finally:
        engine.dispose()
    assert (quick.ok, quick.check, quick.problems) == (True, "quick_check", [])
    assert (full.ok, full.check, full.problems) == (True, "integrity_check", [])


def test_a_page_of_garbage_is_found_by_both_checks(damaged: Path) -> None:
    engine = make_engine(f"sqlite:///{damaged}", create=False)
    try:
        quick, full = quick_check(engine), integrity_check(engine)
        with pytest.raises(StoreCorruptError) as caught:
            verify(engine, str(damaged))
    finally:
        engine.dispose()
    assert not quick.ok and not full.ok
    assert quick.problems[0] and full.problems[0]
    assert str(caught.value) == (
        f"the store {damaged} is corrupted (quick_check: {quick.problems[0]}); restore it from "
        "a backup or point HMAS_DB_URL elsewhere"
    )


def test_a_check_lists_at_most_the_lines_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    _store(path, candles=20_000)
    size, _root, leaves = pages_of(path, "candle")
    for page in leaves[len(leaves) // 4 :: len(leaves) // 4][:3]:  # several damaged pages
        overwrite_page(path, page, size)
    engine = make_engine(f"sqlite:///{path}", create=False)
    try:
        assert len(integrity_check(engine, limit=2).problems) == 2
        assert len(integrity_check(engine).problems) > 2
    finally:
        engine.dispose()


def test_a_store_opened_for_writing_is_checked_first(damaged: Path) -> None:
    before = damaged.read_bytes()
    for check in ("small", "always"):
        with pytest.raises(StoreCorruptError, match=r"is corrupted \(quick_check: "):
            open_store(_settings(damaged), check=check)  # type: ignore[arg-type]
    with pytest.raises(StoreCorruptError):  # decide and analyze: an existing store, written to
        open_store(_settings(damaged), create=False, check="small")
    assert damaged.read_bytes() == before  # refused before the upgrade or anything else


def test_read_only_commands_open_a_damaged_store_without_the_check(damaged: Path) -> None:
    engine = open_store(_settings(damaged), create=False)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM account")).scalar_one() == 0
    finally:
        engine.dispose()


def test_a_large_file_is_checked_on_open_only_when_asked(
    damaged: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store stands in for one past the size limit (50 MB of candles: 0.14 s to check).
    monkeypatch.setattr(integrity, "CHECK_ON_OPEN_MAX_BYTES", 4096)
    engine = open_store(_settings(damaged), check="small")
    try:
        assert not small_sqlite_file(engine)
    finally:
        engine.dispose()
    with pytest.raises(StoreCorruptError):
        open_store(_settings(damaged), check="always")  # hmas run, at its start


def test_a_statement_that_reads_a_damaged_page_stops_with_the_message(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    _store(path)
    damage(path, "root")
    store = CandleStore(make_engine(f"sqlite:///{path}", create=False))
    try:
        with pytest.raises(StoreCorruptError) as caught:
            store.last_ts("sample", "BTC-USD", "1h")
    finally:
        store.engine.dispose()
    assert str(caught.value) == (
        f"the store {path} is corrupted (database disk image is malformed); restore it from a "
        "backup or point HMAS_DB_URL elsewhere"
    )


def test_sqlite_corrupt_codes_are_translated_by_code_or_text() -> None:
    by_text = sqlite3.DatabaseError("database disk image is malformed")
    by_code = sqlite3.DatabaseError("unexpected wording")
    by_code.sqlite_errorcode = 779  # SQLITE_CORRUPT_INDEX: extended code of SQLITE_CORRUPT (11)
    for exc in (by_text, by_code):
        err = translate_error(exc, "/x/hmas.db")
        assert isinstance(err, StoreCorruptError)
        assert str(err).startswith("the store /x/hmas.db is corrupted (")
    other = translate_error(sqlite3.DatabaseError("file is not a database"), "/x/hmas.db")
    assert str(other).startswith("/x/hmas.db is not an hmas store or is corrupted (")


def test_every_table_is_read_on_another_backend(db_url: str, engine_factory: object) -> None:
    engine = engine_factory(db_url)  # type: ignore[operator]
    upgrade(engine)
    result = integrity_check(engine)
    assert result.ok, result.problems
    assert result.check == (
        "integrity_check" if db_url.startswith("sqlite") else "read every table"
    )


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database (skips without HMAS_TEST_POSTGRES_URL)."""
    yield from _postgres_database()


@pytest.mark.postgres
def test_postgres_damage_is_a_missing_table_or_revision(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE position"))
            conn.execute(text("UPDATE alembic_version SET version_num = '0004_backtest_run'"))
        result = integrity_check(engine)
    finally:
        engine.dispose()
    assert result.check == "read every table"
    assert result.problems[0] == "schema revision 0004_backtest_run is not the head (0007_pauses)"
    assert any(p.startswith("table position: ") for p in result.problems)
    assert quick_check(engine).check == "none"
