"""The store from the command line: missing, read-only, corrupted, too new, full, bad URLs."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from typer.testing import Result

from hmas.store.engine import HEAD_REVISION, HMAS_TABLES, normalize_url
from tests.conftest import _postgres_database

Run = Callable[..., Result]

READ_ONLY = [
    ["signals", "list"],
    ["signals", "show", "1"],
    ["report"],
    ["candles"],
    ["candles", "BTC-USD"],
    ["replay", "1"],
    ["db", "status"],
    ["kill-switch", "status"],
    ["kill-switch"],
]
WRITING = [
    ["fetch", "--source", "sample", "-s", "BTC-USD"],
    ["run", "-s", "BTC-USD", "--source", "sample", "--once"],
    ["db", "upgrade"],
    ["kill-switch", "off"],
]


def _files(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_read_only_commands_never_create_a_store(
    hmas: Run, tmp_path: Path, args: list[str]
) -> None:
    store = tmp_path / "typo" / "x.db"
    store.parent.mkdir()
    result = hmas("--db-url", f"sqlite:///{store}", *args)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: no hmas store at {store}; check HMAS_DB_URL or --db-url, "
        "or create one with hmas db upgrade\n"
    )
    assert result.stdout == ""
    assert _files(store.parent) == set()  # no file, no -wal, no -shm


def test_the_default_store_is_not_created_by_a_read_only_command(hmas: Run, tmp_path: Path) -> None:
    result = hmas("signals", "list")
    assert result.exit_code == 2
    assert "Error: no hmas store at " in result.stderr
    assert not (tmp_path / "home" / "hmas.db").exists()
    assert hmas("config", "show").exit_code == 0
    assert not (tmp_path / "home" / "hmas.db").exists()


def test_the_env_variable_typo_case(hmas: Run, tmp_path: Path, monkeypatch: Any) -> None:
    """The issue's case: a mistyped HMAS_DB_URL used to answer "0 signals"."""
    monkeypatch.setenv("HMAS_DB_URL", f"sqlite:///{tmp_path / 'hmsa.db'}")
    result = hmas("signals", "list")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: no hmas store at {tmp_path / 'hmsa.db'}; ")
    assert not (tmp_path / "hmsa.db").exists()


@pytest.mark.parametrize("args", WRITING, ids=" ".join)
def test_writing_commands_create_and_migrate_the_store(
    hmas: Run, tmp_path: Path, args: list[str]
) -> None:
    store = tmp_path / "new.db"
    result = hmas("--db-url", f"sqlite:///{store}", *args)
    assert result.exit_code == 0, result.stderr
    status = hmas("--db-url", f"sqlite:///{store}", "db", "status", "--json")
    assert status.exit_code == 0
    assert f'"current": "{HEAD_REVISION}"' in status.stdout


@pytest.fixture
def pg_empty() -> Iterator[str]:
    yield from _postgres_database()


@pytest.mark.postgres
@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_an_empty_postgres_database_is_no_store_for_read_only_commands(
    hmas: Run, pg_empty: str, args: list[str]
) -> None:
    result = hmas("--db-url", pg_empty, *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: no hmas store at postgresql+psycopg://")
    assert result.stderr.endswith(
        "; check HMAS_DB_URL or --db-url, or create one with hmas db upgrade\n"
    )
    engine = create_engine(normalize_url(pg_empty))
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_user_without_create_rights_gets_a_one_line_migration_error(
    hmas: Run, pg_empty: str
) -> None:
    """PostgreSQL 15 lets only the owner create tables in public: a real failed migration."""
    from sqlalchemy.engine import make_url

    admin = create_engine(normalize_url(pg_empty), isolation_level="AUTOCOMMIT")
    role = "hmas_test_norights"
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
            conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        url = make_url(normalize_url(pg_empty)).set(username=role, password=None)
        result = hmas("--db-url", url.render_as_string(hide_password=False), "db", "upgrade")
        assert result.exit_code == 2
        assert result.stderr.startswith("Error: schema upgrade of postgresql+psycopg://")
        assert "failed (permission denied for schema public); nothing was changed. " in (
            result.stderr
        )
        assert result.stderr.count("\n") == 1 and "CREATE" not in result.stderr
        assert inspect(admin).get_table_names() == []
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


# --- damaged stores ------------------------------------------------------------------------


def _real_store(hmas: Run, path: Path) -> None:
    result = hmas("--db-url", f"sqlite:///{path}", "fetch", "--source", "sample", "-s", "BTC-USD")
    assert result.exit_code == 0, result.stderr


def _damage(kind: str, path: Path, hmas: Run) -> None:
    if kind == "random bytes":
        path.write_bytes(os.urandom(64 * 1024))
    elif kind == "text file":
        path.write_text("[risk]\nmax_drawdown = 0.1\n" * 50)
    elif kind.startswith("truncated"):
        _real_store(hmas, path)
        pages = int(kind.split()[1])
        with path.open("r+b") as f:
            f.truncate(pages * 4096)


@pytest.mark.parametrize("kind", ["random bytes", "text file", "truncated 1", "truncated 8"])
@pytest.mark.parametrize("args", [["signals", "list"], WRITING[0], ["db", "upgrade"]])
def test_a_corrupted_file_is_named_with_the_fix(
    hmas: Run, tmp_path: Path, kind: str, args: list[str]
) -> None:
    path = tmp_path / "damaged.db"
    _damage(kind, path, hmas)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    result = hmas("--db-url", f"sqlite:///{path}", *args)
    assert result.exit_code == 2
    if kind.startswith("truncated"):  # an SQLite file with pages missing: SQLITE_CORRUPT
        assert result.stderr.startswith(
            f"Error: the store {path} is corrupted (database disk image is malformed)"
        )
    else:  # not an SQLite file at all
        assert result.stderr.startswith(f"Error: {path} is not an hmas store or is corrupted (")
    assert result.stderr.endswith("); restore it from a backup or point HMAS_DB_URL elsewhere\n")
    assert result.stderr.count("\n") == 1
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before  # nothing written


@pytest.mark.parametrize("args", [["signals", "list"], WRITING[0]])
def test_another_programs_tables_without_a_revision(
    hmas: Run, tmp_path: Path, args: list[str]
) -> None:
    import sqlite3

    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE candle (x INTEGER)")
    conn.commit()
    conn.close()
    result = hmas("--db-url", f"sqlite:///{path}", *args)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {path} is not an hmas store or is damaged (table candle exists but no schema "
        "revision); restore it from a backup or point HMAS_DB_URL elsewhere\n"
    )


def test_hmas_tables_constant_matches_the_models() -> None:
    from sqlmodel import SQLModel

    import hmas.store.models  # noqa: F401 - registers the tables

    assert set(SQLModel.metadata.tables) == HMAS_TABLES


@pytest.mark.parametrize(
    "args", [["signals", "list"], ["db", "status"], ["db", "upgrade"], WRITING[1]]
)
def test_a_store_from_a_newer_hmas(hmas: Run, tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "new.db"
    _real_store(hmas, path)
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0042_from_the_future'"))
    engine.dispose()
    result = hmas("--db-url", f"sqlite:///{path}", *args)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: the store {path} is at revision 0042_from_the_future, newer than this hmas "
        f"(head {HEAD_REVISION}); upgrade hmas\n"
    )


# --- read-only stores ------------------------------------------------------------------------


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory hmas cannot write: a read-only tmpfs as root, else chmod."""
    directory = tmp_path / "ro"
    directory.mkdir()
    if os.geteuid() != 0:
        yield directory
        return
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"root cannot be denied by permissions and mount failed: {done.stderr}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def _make_read_only(directory: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True)
    else:
        for p in directory.iterdir():
            p.chmod(0o444)
        directory.chmod(0o555)


@pytest.mark.parametrize(
    "args", [["signals", "list"], ["db", "status"], WRITING[0], WRITING[1], ["db", "upgrade"]]
)
def test_a_read_only_store_says_so(hmas: Run, read_only_dir: Path, args: list[str]) -> None:
    path = read_only_dir / "hmas.db"
    _real_store(hmas, path)
    _make_read_only(read_only_dir)
    try:
        result = hmas("--db-url", f"sqlite:///{path}", *args)
    finally:
        if os.geteuid() != 0:
            read_only_dir.chmod(0o755)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: the store {path} is read-only; give this user write permission on the file "
        "and its directory (or a writable mount), or point HMAS_DB_URL at another path\n"
    )


def test_a_new_store_in_a_read_only_directory(hmas: Run, read_only_dir: Path) -> None:
    _make_read_only(read_only_dir)
    path = read_only_dir / "hmas.db"
    result = hmas("--db-url", f"sqlite:///{path}", *WRITING[0])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: the store {path} is read-only; ")
    assert not path.exists()


# --- bad URLs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "port"),
    [
        ("postgresql://u:s3cret@127.0.0.1:99999/db", "99999"),
        ("postgresql://u:s3cret@127.0.0.1:abc/db", "abc"),
        ("postgresql://u:s3cret@127.0.0.1:-1/db", "-1"),
        ("postgresql://u:s3cret@127.0.0.1:0/db", "0"),
        ("postgresql://u:s3cret@127.0.0.1:/db", ""),
        ("postgresql://u:s3cret@[::1]:70000/db", "70000"),
        ("postgres://127.0.0.1:5432x/db", "5432x"),
    ],
)
@pytest.mark.parametrize("args", [["signals", "list"], ["db", "upgrade"]])
def test_a_bad_port_is_bad_configuration(hmas: Run, url: str, port: str, args: list[str]) -> None:
    result = hmas("--db-url", url, *args)
    # The settings catch it before any engine is made; the engine's own check (for URLs that
    # reach it some other way) says the same.
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"Error: invalid configuration: db_url (HMAS_DB_URL): has an invalid port {port!r}; "
        "use a number from 1 to 65535 after the host (e.g. :5432)\n"
    )
    assert "s3cret" not in result.stderr


# --- a full store ---------------------------------------------------------------------------


def test_a_full_database_is_a_clear_error_and_writes_nothing(
    hmas: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's max_page_count caps the file where it is: every write that needs a page fails."""
    import sqlite3

    from hmas.store import engine as store_engine

    path = tmp_path / "full.db"
    _real_store(hmas, path)
    real = store_engine._sqlite_pragmas

    def capped(dbapi_conn: Any, record: Any) -> None:
        real(dbapi_conn, record)
        pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
        dbapi_conn.execute(f"PRAGMA max_page_count={pages}")

    monkeypatch.setattr(store_engine, "_sqlite_pragmas", capped)

    def candles() -> int:
        conn = sqlite3.connect(path)
        try:
            return int(conn.execute("SELECT count(*) FROM candle").fetchone()[0])
        finally:
            conn.close()

    before = candles()
    result = hmas("--db-url", f"sqlite:///{path}", *WRITING[0], "ETH-USD")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: cannot write to the store {path}: the database or disk is full; "
        "free space on that disk or point HMAS_DB_URL elsewhere\n"
    )
    assert candles() == before
    assert hmas("--db-url", f"sqlite:///{path}", "signals", "list").exit_code == 0


@contextmanager
def _busy_store(
    hmas: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, Any]]:
    """A real store whose write lock another connection holds (hmas waits 0.3 s for it)."""
    import sqlite3

    from hmas.store import engine as store_engine

    path = tmp_path / "busy.db"
    _real_store(hmas, path)
    monkeypatch.setattr(store_engine, "SQLITE_BUSY_TIMEOUT_MS", 300)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process's long write
        yield path, holder
    finally:
        holder.close()


@pytest.mark.parametrize(
    "args",
    [
        ["fetch", "--source", "sample", "-s", "ETH-USD"],
        ["run", "-s", "BTC-USD", "--source", "sample", "--once"],
    ],
    ids=" ".join,
)
def test_a_store_another_process_keeps_locked_is_busy_exit_1_nothing_written(
    hmas: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    with _busy_store(hmas, tmp_path, monkeypatch) as (path, holder):
        before = holder.execute("SELECT count(*) FROM candle").fetchone()[0]
        result = hmas("--db-url", f"sqlite:///{path}", *args)
        assert result.exit_code == 1, result.output
        assert result.stderr == (
            f"Error: the store {path} is busy: another process kept its write lock past the "
            "0.3 s hmas waits; retry when it is done\n"
        ), result.stderr
        holder.execute("ROLLBACK")
        assert holder.execute("SELECT count(*) FROM candle").fetchone()[0] == before
    assert hmas("--db-url", f"sqlite:///{path}", *args).exit_code == 0  # free again: it works


def test_kill_switch_on_engages_with_a_file_when_the_store_is_busy(
    hmas: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _busy_store(hmas, tmp_path, monkeypatch) as (path, _holder):
        result = hmas("--db-url", f"sqlite:///{path}", "kill-switch", "on")
    assert result.exit_code == 0, result.output
    assert "is busy" in result.output and "Kill switch is ON" in result.output
    assert Path(f"{path}.kill-switch").exists()
    status = hmas("--db-url", f"sqlite:///{path}", "kill-switch", "status")
    assert status.exit_code == 0 and "Kill switch is ON" in status.output, status.output


# --- huge ids -------------------------------------------------------------------------------


@pytest.mark.parametrize("big", [str(2**63), "99999999999999999999"])
@pytest.mark.parametrize("command", [["signals", "show"], ["replay"]])
def test_huge_ids_are_bad_usage_not_unexpected(
    hmas: Run, tmp_path: Path, big: str, command: list[str]
) -> None:
    path = tmp_path / "ids.db"
    assert hmas("--db-url", f"sqlite:///{path}", "db", "upgrade").exit_code == 0
    result = hmas("--db-url", f"sqlite:///{path}", *command, big)
    assert result.exit_code == 2
    assert big in result.stderr
    assert "unexpected" not in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("url", "start"),
    [
        ("postgresql://u:Pl4nted/ZQX@127.0.0.1:99999/db", "Error: invalid configuration: db_url"),
        ("postgresql://u:Pl4nted/ZQX@127.0.0.1:1/db", "Error: cannot open database "),
        ("post gres://u:Pl4nted/ZQX@h/db", "Error: cannot parse database URL "),
        ("postgresql://u:Pl4nted:ZQX@127.0.0.1:abc/db", "Error: invalid configuration: db_url"),
        ("postgresql://u:Pl4nted:ZQX@127.0.0.1:1/db", "Error: cannot open database "),
    ],
)
def test_unparseable_urls_never_show_the_password(hmas: Run, url: str, start: str) -> None:
    result = hmas("--db-url", url, "signals", "list")
    assert result.exit_code == 2
    assert result.stderr.startswith(start)
    assert result.stderr.count("\n") == 1
    assert "Pl4nted" not in result.stderr and "ZQX" not in result.stderr


def test_a_store_missing_one_of_its_tables_is_damaged(hmas: Run, tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "holed.db"
    _real_store(hmas, path)
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE account")
    conn.commit()
    conn.close()
    result = hmas("--db-url", f"sqlite:///{path}", "report")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {path} is not an hmas store or is corrupted (no such table: account); "
        "restore it from a backup or point HMAS_DB_URL elsewhere\n"
    )


def test_any_other_database_error_is_one_line_without_sql_or_parameters(tmp_path: Path) -> None:
    from hmas.errors import StoreQueryError
    from hmas.store.engine import make_engine

    path = tmp_path / "q.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with pytest.raises(StoreQueryError) as info, engine.connect() as conn:
            conn.execute(text("SELECT abs(:v) AS planted_sql"), {"v": -(2**63)})
    finally:
        engine.dispose()
    assert str(info.value) == (
        f"the store {path} failed: integer overflow; check it with hmas db status, and restore "
        "it from a backup if it is damaged"
    )
    assert info.value.exit_code == 1
