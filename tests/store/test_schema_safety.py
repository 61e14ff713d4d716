"""The schema under races and crashes: upgrades serialised across processes, atomic on SQLite."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from hmas.errors import MigrationError, StoreTooNewError, UsageError
from hmas.store.engine import (
    HEAD_REVISION,
    KNOWN_REVISIONS,
    current_revision,
    make_engine,
    upgrade,
)
from tests.conftest import _postgres_database

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HMAS_")}
    env["HMAS_DATA_DIR"] = str(tmp_path / "home")
    return env


def _start_runs(url: str, n: int, env: dict[str, str]) -> list[subprocess.Popen[str]]:
    args = ["run", "-s", "BTC-USD", "--source", "sample", "--once"]
    return [
        subprocess.Popen(
            [sys.executable, "-m", "hmas", "--db-url", url, *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]


def _assert_run_or_refused(procs: list[subprocess.Popen[str]]) -> None:
    outcomes = []
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        last = err.strip().splitlines()[-1] if err.strip() else ""
        outcomes.append((proc.returncode, last))
    for code, last in outcomes:
        assert code in (0, 3), outcomes
        if code == 3:
            assert last.startswith("Error: another hmas run holds the store lock"), outcomes
        assert "already exists" not in last and "UniqueViolation" not in last
    assert any(code == 0 for code, _ in outcomes), outcomes


def test_simultaneous_runs_on_a_new_sqlite_store_run_or_exit_3(tmp_path: Path) -> None:
    env = _env(tmp_path)
    for trial, n in enumerate((4, 2, 3)):
        url = f"sqlite:///{tmp_path / f'new{trial}.db'}"
        _assert_run_or_refused(_start_runs(url, n, env))
        engine = make_engine(url)
        assert current_revision(engine) == HEAD_REVISION
        engine.dispose()


@pytest.fixture
def pg_urls() -> Iterator[Any]:
    made: list[Iterator[str]] = []

    def new() -> str:
        gen = _postgres_database()
        made.append(gen)
        return next(gen)

    yield new
    for gen in made:
        for _ in gen:  # runs the generator's clean-up (drops the database)
            pass


@pytest.mark.postgres
def test_simultaneous_runs_on_a_new_postgres_store_run_or_exit_3(
    tmp_path: Path, pg_urls: Any
) -> None:
    env = _env(tmp_path)
    for n in (4, 3, 2):
        url = pg_urls()
        _assert_run_or_refused(_start_runs(url, n, env))
        engine = make_engine(url)
        assert current_revision(engine) == HEAD_REVISION
        engine.dispose()


def test_upgrades_in_threads_wait_for_each_other(db_url: str) -> None:
    """The lock also holds within one process: every upgrader finds the schema whole."""
    from concurrent.futures import ThreadPoolExecutor

    engines = [make_engine(db_url) for _ in range(4)]
    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(upgrade, engines))
        assert sorted(len(r.applied) for r in results) == [0, 0, 0, len(KNOWN_REVISIONS)]
    finally:
        for engine in engines:
            engine.dispose()


# --- atomic first upgrade on SQLite -------------------------------------------------------

_UPGRADER = """
import sys, time
import alembic.command, alembic.script, alembic.runtime.migration  # warm imports, as a CLI would
from sqlalchemy import event
from sqlalchemy.engine import Engine
from hmas.store.engine import make_engine, upgrade
engine = make_engine(sys.argv[1])
ddl = []
if sys.argv[2] == "calibrate":  # test-only instrumentation: when does the DDL run?
    @event.listens_for(Engine, "before_cursor_execute")
    def mark(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith(("CREATE", "ALTER")):
            ddl.append(time.perf_counter())
print("ready", flush=True)
t0 = time.perf_counter()
upgrade(engine)
t1 = time.perf_counter()
print(f"done {t1 - t0:.6f} {(ddl or [t0])[0] - t0:.6f}", flush=True)
"""


def _spawn_upgrader(url: str, env: dict[str, str], mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _UPGRADER, url, mode],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _schema(path: Path) -> tuple[set[str], str | None]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = None
        if "alembic_version" in tables:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            version = row[0] if row else None
        return tables, version
    finally:
        conn.close()


def test_kill_9_during_the_first_upgrade_never_leaves_a_partial_schema(tmp_path: Path) -> None:
    """SIGKILL at random points of a real first upgrade: the store is empty or whole, and usable.

    Calibration runs measure the upgrade and when its DDL starts (an event listener in the
    child, test code only); most kill delays are then sampled across the DDL and commit, the
    rest across the whole upgrade. Without one transaction around the upgrade, this finds
    stores with some tables and no version (checked by hand against the old code).
    """
    from typer.testing import CliRunner

    from hmas.cli import app

    env = _env(tmp_path)
    totals, starts = [], []
    for i in range(3):
        proc = _spawn_upgrader(f"sqlite:///{tmp_path / f'calib{i}.db'}", env, "calibrate")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        total, ddl_start = (float(x) for x in out.split("done ")[1].split())
        totals.append(total)
        starts.append(ddl_start)
    total, ddl_start = max(totals), min(starts)
    rng = random.Random(20261202)
    trials, whole, empty = 26, 0, 0
    delays = [rng.uniform(0.0, total * 1.1) for _ in range(6)]
    delays += [rng.uniform(ddl_start * 0.9, total * 1.05) for _ in range(trials - 6)]
    stores = []
    for pair in range(0, trials, 2):  # two at a time: the machine's cores, steady timing
        procs = []
        for i, delay in enumerate(delays[pair : pair + 2]):
            path = tmp_path / f"kill{pair + i}.db"
            procs.append((path, _spawn_upgrader(f"sqlite:///{path}", env, "trial"), delay))
        for _path, proc, _delay in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready", proc.stderr
        start = time.perf_counter()
        for _path, proc, delay in sorted(procs, key=lambda p: p[2]):
            time.sleep(max(0.0, delay - (time.perf_counter() - start)))
            proc.kill()
        for path, proc, _delay in procs:
            proc.communicate(timeout=30)
            stores.append(path)
    runner = CliRunner()
    expected = {"alembic_version", *_head_tables()}
    for path in stores:
        tables, version = _schema(path)
        # Atomic: either nothing of the schema, or all of it at head.
        assert (tables, version) in ((set(), None), (expected, HEAD_REVISION)), (path, tables)
        whole += version == HEAD_REVISION
        empty += version is None
        result = runner.invoke(app, ["--db-url", f"sqlite:///{path}", "kill-switch", "on"])
        assert result.exit_code == 0, result.stderr
        assert result.stdout.startswith("Kill switch is ON (stored: on")
        assert _schema(path) == (expected, HEAD_REVISION)
    assert whole + empty == trials
    # Kills before the commit leave an empty store; some must land inside the upgrade.
    assert empty > 0, "no kill landed inside the upgrade: the test did not test anything"


def _head_tables() -> set[str]:
    from sqlmodel import SQLModel

    import hmas.store.models  # noqa: F401 - registers the tables

    return set(SQLModel.metadata.tables)


def test_a_failed_migration_rolls_back_everything_and_says_why(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migration failing halfway (here: its last step) leaves the store as it was."""
    from alembic.operations import Operations

    real = Operations.batch_alter_table

    def failing(self: Any, table: str, *args: Any, **kwargs: Any) -> Any:
        if table == "fetch_run":
            self.execute("THIS IS NOT SQL planted_statement")
        return real(self, table, *args, **kwargs)

    monkeypatch.setattr(Operations, "batch_alter_table", failing)
    engine = make_engine(db_url)
    try:
        with pytest.raises(MigrationError) as info:
            upgrade(engine)
        message = str(info.value)
        assert "\n" not in message and "SELECT" not in message
        assert message.startswith("schema upgrade of ")
        assert "syntax error" in message  # the driver's one-line reason
        assert "planted_statement" not in message
        assert info.value.exit_code == 2
        assert current_revision(engine) is None
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_a_store_from_a_newer_hmas_is_refused(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
        with pytest.raises(StoreTooNewError) as info:
            upgrade(engine)
        assert str(info.value).endswith(
            f"is at revision 0099_future, newer than this hmas (head {HEAD_REVISION}); upgrade hmas"
        )
        assert info.value.exit_code == 2
    finally:
        engine.dispose()


@pytest.mark.parametrize("signal_id", [2**63, 10**20, -(2**63) - 1])
def test_ids_beyond_64_bits_never_reach_sql(db_url: str, signal_id: int) -> None:
    from hmas.store.records import get_signal

    engine = make_engine(db_url)
    try:
        upgrade(engine)
        with pytest.raises(UsageError) as info:
            get_signal(engine, signal_id)
        assert str(info.value) == f"no signal with id {signal_id}; list them with hmas signals list"
    finally:
        engine.dispose()
