"""Work a killed process left ``running`` reads ``interrupted`` on the next start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from hmas.cli import app
from hmas.store.engine import make_engine, upgrade
from hmas.store.models import FetchRun, Lease, Run, utcnow
from hmas.store.reconcile import reconcile_interrupted

RUN = Run.__table__  # type: ignore[attr-defined]
FETCH = FetchRun.__table__  # type: ignore[attr-defined]
LOCK = Lease.__table__  # type: ignore[attr-defined]
HERE = socket.gethostname()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def engine(db_url: str) -> Iterator[Any]:
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


def _add_run(engine: Any, pid: int, host: str, age: timedelta = timedelta(0)) -> int:
    with engine.begin() as conn:
        key = conn.execute(
            insert(RUN).values(
                started_at=utcnow() - age,
                iteration=1,
                pid=pid,
                host=host,
                engine="rules",
                config_hash="x",
                status="running",
                symbols=["BTC-USD"],
                signals_created=0,
                approved=0,
                errors={},
            )
        ).inserted_primary_key
    return int(key[0])


def _add_fetch(
    engine: Any, pid: int | None, host: str | None, age: timedelta = timedelta(0)
) -> int:
    with engine.begin() as conn:
        key = conn.execute(
            insert(FETCH).values(
                started_at=utcnow() - age,
                source="sample",
                exchange="sample",
                symbol="BTC-USD",
                timeframe="1h",
                received=0,
                added=0,
                gaps=0,
                status="running",
                pid=pid,
                host=host,
            )
        ).inserted_primary_key
    return int(key[0])


def _add_lock(engine: Any, pid: int, host: str, beat_age: timedelta = timedelta(0)) -> None:
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            insert(LOCK).values(
                key="sample/BTC-USD/1h",
                owner="o",
                token=1,
                pid=pid,
                host=host,
                acquired_at=now - beat_age,
                renewed_at=now - beat_age,
                expires_at=now - beat_age + timedelta(minutes=5),
            )
        )


def _status(engine: Any, table: Any, row_id: int) -> str:
    with engine.connect() as conn:
        return str(conn.execute(select(table.c.status).where(table.c.id == row_id)).scalar_one())


def test_rows_of_a_dead_process_on_this_host_are_interrupted(engine: Any) -> None:
    dead = _dead_pid()
    run_id, fetch_id = _add_run(engine, dead, HERE), _add_fetch(engine, dead, HERE)
    _add_lock(engine, dead, HERE)
    assert reconcile_interrupted(engine) == {"runs": 1, "fetches": 1, "locks": 1}
    assert _status(engine, RUN, run_id) == "interrupted"
    assert _status(engine, FETCH, fetch_id) == "interrupted"
    with engine.connect() as conn:
        assert conn.execute(select(LOCK).where(LOCK.c.owner != "")).all() == []  # released
        error = conn.execute(select(FETCH.c.error).where(FETCH.c.id == fetch_id)).scalar_one()
    assert error.startswith("interrupted: ")
    assert reconcile_interrupted(engine) == {"runs": 0, "fetches": 0, "locks": 0}


def test_a_live_run_holding_the_lock_is_left_alone(engine: Any) -> None:
    me = os.getpid()
    _add_lock(engine, me, HERE)
    run_id, fetch_id = _add_run(engine, me, HERE), _add_fetch(engine, me, HERE)
    assert reconcile_interrupted(engine) == {"runs": 0, "fetches": 0, "locks": 0}
    assert _status(engine, RUN, run_id) == "running"
    assert _status(engine, FETCH, fetch_id) == "running"


def test_a_live_pid_without_the_run_lock_is_a_reused_pid(engine: Any) -> None:
    run_id = _add_run(engine, os.getpid(), HERE)
    reconcile_interrupted(engine)
    assert _status(engine, RUN, run_id) == "interrupted"


def test_rows_of_other_hosts_wait_for_the_staleness_bound(engine: Any) -> None:
    recent = _add_run(engine, 4242, "elsewhere", age=timedelta(minutes=5))
    old = _add_run(engine, 4243, "elsewhere", age=timedelta(days=1))
    old_fetch = _add_fetch(engine, 4243, "elsewhere", age=timedelta(days=1))
    legacy_old = _add_fetch(engine, None, None, age=timedelta(days=1))
    legacy_recent = _add_fetch(engine, None, None, age=timedelta(minutes=1))
    reconcile_interrupted(engine)
    assert _status(engine, RUN, recent) == "running"
    assert _status(engine, RUN, old) == "interrupted"
    assert _status(engine, FETCH, old_fetch) == "interrupted"
    assert _status(engine, FETCH, legacy_old) == "interrupted"
    assert _status(engine, FETCH, legacy_recent) == "running"


def test_a_long_run_on_another_host_with_a_fresh_lock_is_left_alone(engine: Any) -> None:
    _add_lock(engine, 777, "elsewhere", beat_age=timedelta(seconds=20))
    long_run = _add_run(engine, 777, "elsewhere", age=timedelta(days=2))
    reconcile_interrupted(engine)
    assert _status(engine, RUN, long_run) == "running"


def _env(tmp_path: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HMAS_")}
    env["HMAS_DATA_DIR"] = str(tmp_path / "home")
    env["HMAS_DB_URL"] = url
    return env


def _statuses(url: str) -> tuple[list[str], list[str], int]:
    eng = make_engine(url)
    try:
        with eng.connect() as conn:
            runs = [r[0] for r in conn.execute(select(RUN.c.status).order_by(RUN.c.id))]
            fetches = [r[0] for r in conn.execute(select(FETCH.c.status).order_by(FETCH.c.id))]
            locks = len(conn.execute(select(LOCK).where(LOCK.c.owner != "")).all())
    finally:
        eng.dispose()
    return runs, fetches, locks


@pytest.mark.parametrize("stage", [" BTC-USD fetching", " BTC-USD analyzing"])
def test_kill_9_of_a_real_run_reads_interrupted_on_the_next_start(
    db_url: str, tmp_path: Path, stage: str
) -> None:
    env = _env(tmp_path, db_url)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hmas",
            "run",
            "-s",
            "BTC-USD",
            "--source",
            "sample",
            "--iterations",
            "-1",
            "--sleep-seconds",
            "30",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    for line in proc.stderr:  # the run row is stored before the first stage is announced
        if stage in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    runs, _fetches, locks = _statuses(db_url)
    assert runs == ["running"] and locks == 1  # what the kill left behind
    result = CliRunner().invoke(
        app, ["run", "-s", "ETH-USD", "--source", "sample", "--once"], env=env
    )
    assert result.exit_code == 0, result.stderr
    runs, fetches, locks = _statuses(db_url)
    assert runs == ["interrupted", "ok"]
    assert "running" not in fetches
    assert locks == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 3 MB tmpfs mount (root only): a disk that can honestly be filled."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(disk: Path, leave_kib: int) -> Path:
    """Fill ``disk`` until ``leave_kib`` KiB are free; the filler file to delete."""
    filler = disk / "filler"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize // 1024
    with filler.open("wb") as out:
        out.write(b"\0" * max(0, free - leave_kib) * 1024)
    return filler


def test_a_run_failing_on_a_full_disk_leaves_nothing_running_after_the_next_start(
    small_disk: Path, tmp_path: Path
) -> None:
    """With a little space left, a run stores its lock and run row, then the disk fills up.

    Whatever the failed run left behind (its lock row, a 'running' row), the next start
    reconciles: nothing reads 'running' and no lock is left.
    """
    url = f"sqlite:///{small_disk / 'hmas.db'}"
    env = _env(tmp_path, url)
    runner = CliRunner()
    args = ["run", "-s", "BTC-USD", "--source", "sample", "--once"]
    assert runner.invoke(app, args, env=env).exit_code == 0
    failures, leftovers = 0, 0
    for i, leave in enumerate((40, 48, 56, 64, 128)):
        symbol = ["ETH-USD", "SOL-USD", "XRP-USD", "ADA-USD", "DOGE-USD"][i]
        filler = fill(small_disk, leave)
        proc = subprocess.run(
            [sys.executable, "-m", "hmas", "run", "-s", symbol, "--source", "sample", "--once"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        filler.unlink()
        if proc.returncode != 0:
            failures += 1
            assert proc.returncode == 1, proc.stderr
            # The command's error, or the symbol's (the disk filled while it wrote)
            assert (
                f"cannot write to the store {small_disk / 'hmas.db'}: the database or "
                "disk is full; free space on that disk or point HMAS_DB_URL elsewhere"
            ) in proc.stderr.strip().splitlines()[-1]
        runs, _fetches, locks = _statuses(url)
        leftovers += runs.count("running") + locks
        result = runner.invoke(app, args, env=env)  # the next start, with space again
        assert result.exit_code == 0, result.stderr
        runs, fetches, locks = _statuses(url)
        assert "running" not in runs and "running" not in fetches and locks == 0
    assert failures > 0, "the disk never filled: the test did not test anything"
    print(f"{failures} runs failed on the full disk, leaving {leftovers} rows to reconcile")
