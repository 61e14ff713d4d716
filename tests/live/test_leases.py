"""Several ``hmas run`` processes on one store: fenced leases, real processes, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from hmas.store.engine import make_engine, upgrade

RUN = [sys.executable, "-m", "hmas", "run", "--source", "sample"]


def _env(tmp_path: Path, url: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HMAS_")}
    env["HMAS_DATA_DIR"] = str(tmp_path / "home")
    env["HMAS_DB_URL"] = url
    env.update(settings)
    return env


@pytest.fixture
def store(db_url: str) -> Iterator[Any]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _one(engine: Any, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def _wait(what: str, until: Callable[[], bool], timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not until():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _written_by(engine: Any, pid: int) -> tuple[int, int, int]:
    """The run rows, signals and fetches a process wrote."""
    return (
        _one(engine, "SELECT count(*) FROM run WHERE pid = :p", p=pid),
        _one(
            engine,
            "SELECT count(*) FROM signal WHERE run_id IN (SELECT id FROM run WHERE pid = :p)",
            p=pid,
        ),
        _one(engine, "SELECT count(*) FROM fetch_run WHERE pid = :p", p=pid),
    )


def test_a_runner_paused_past_its_lease_stops_without_writing_after_the_takeover(
    store: Any, db_url: str, tmp_path: Path
) -> None:
    env = _env(tmp_path, db_url, HMAS_RUN__LEASE_SECONDS="1.5")
    args = [*RUN, "-s", "BTC-USD", "--iterations", "-1", "--sleep-seconds", "4"]
    first = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    second = None
    try:
        done = "SELECT count(*) FROM run WHERE pid = :p AND status = 'ok'"
        _wait("the first runner's iteration", lambda: _one(store, done, p=first.pid) >= 1)
        os.kill(first.pid, signal.SIGSTOP)  # asleep between iterations: holds no transaction
        before = _written_by(store, first.pid)
        time.sleep(2.0)  # past its lease
        second = subprocess.Popen(
            args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        _wait("the takeover", lambda: _one(store, done, p=second.pid) >= 1)
        token = _one(store, "SELECT token FROM lease WHERE key = 'sample/BTC-USD/1h'")
        assert token == 2
        os.kill(first.pid, signal.SIGCONT)
        _out, err = first.communicate(timeout=60)
        assert first.returncode == 3, err
        assert err.strip().splitlines()[-1] == (
            f"Error: this runner lost its lease on BTC-USD 1h on sample to pid {second.pid} on "
            f"{os.uname().nodename} (it was paused or stalled past the 1.5 s lease); it stopped "
            "without writing"
        )
        assert _written_by(store, first.pid) == before  # nothing after the takeover
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=60)
        assert second.returncode == 143
        assert _written_by(store, second.pid)[0] >= 1  # the bar's signal exists: not made twice
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
                proc.communicate()


#: Four runners: three with a symbol of their own and two shared with a neighbour, the last
#: with shared symbols only (the sample market has seven).
SETS = [
    ["ADA-USD", "BTC-USD", "ETH-USD"],
    ["DOGE-USD", "ETH-USD", "SOL-USD"],
    ["LTC-USD", "SOL-USD", "XRP-USD"],
    ["XRP-USD", "BTC-USD", "ETH-USD"],
]
#: Settings that approve nearly every setup (the sample market's bars offer a few, depending on
#: the hour), so the global open-positions limit of one is what stops trades.
EAGER = {
    "HMAS_ALPHA__MIN_REWARD_RISK": "0.1",
    "HMAS_ALPHA__TREND_RSI_LOW": "0",
    "HMAS_ALPHA__TREND_RSI_HIGH": "100",
    "HMAS_ALPHA__PULLBACK_ATR": "100",
    "HMAS_MOTHER__MIN_EXPECTED_VALUE_R": "-100",
    "HMAS_MOTHER__MIN_CONSENSUS": "0",
    "HMAS_MOTHER__MIN_CONFIDENCE": "0",
    "HMAS_EXECUTION__MAX_COST_R": "100",
    "HMAS_EXECUTION__MAX_COST_TO_TARGET": "100",
    "HMAS_MACRO__HIGH_VOL_PCT": "1",
    "HMAS_RISK__MAX_OPEN_POSITIONS": "1",
}


@pytest.mark.postgres
def test_four_runners_with_overlapping_symbols_on_one_postgresql_store(
    tmp_path: Path,
) -> None:
    from tests.conftest import _postgres_database

    databases = _postgres_database()
    url = next(databases)
    try:
        engine = make_engine(url)
        upgrade(engine)
        env = _env(tmp_path, url, **EAGER)
        procs = [
            subprocess.Popen(
                [*RUN, "-s", *symbols, "--iterations", "3", "--sleep-seconds", "1", "--json"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for symbols in SETS
        ]
        outputs = [p.communicate(timeout=600) for p in procs]
        for proc, (_out, err) in zip(procs[:3], outputs, strict=False):
            assert proc.returncode == 0, err  # a symbol of its own: never refused
        # The last proceeds on what is free, or is refused when the others hold all of it.
        last, (_out, err) = procs[3], outputs[3]
        assert last.returncode == 0 or (
            last.returncode == 3 and err.startswith("Error: another hmas run holds the store lock")
        ), err
        with engine.connect() as conn:
            duplicates = conn.execute(
                text(
                    "SELECT symbol, bar_ts, engine, config_hash, count(*) FROM signal "
                    "GROUP BY symbol, bar_ts, engine, config_hash HAVING count(*) > 1"
                )
            ).all()
            decided = {r[0] for r in conn.execute(text("SELECT DISTINCT symbol FROM signal"))}
            # One runner at a time per series: a bar's analysis is made once, by its holder.
            analyses = conn.execute(
                text(
                    "SELECT symbol, bar_ts, count(*) FROM analysis "
                    "GROUP BY symbol, bar_ts, engine, config_hash HAVING count(*) > 1"
                )
            ).all()
            open_positions = conn.execute(
                text("SELECT count(*) FROM position WHERE status = 'open'")
            ).scalar()
            approved = conn.execute(
                text("SELECT count(*) FROM signal WHERE decision = 'APPROVED'")
            ).scalar()
            held = conn.execute(text("SELECT count(*) FROM lease WHERE owner != ''")).scalar()
            runners = conn.execute(text("SELECT count(DISTINCT pid) FROM run")).scalar()
        assert duplicates == [] and analyses == []
        assert decided == {s for symbols in SETS for s in symbols}  # no symbol lost
        assert open_positions <= 1, "the open-positions limit is global across runners"
        assert approved <= 1
        assert held == 0  # every runner gave its leases back
        print(
            f"{approved} approved, {open_positions} open; the last runner exited {last.returncode}"
        )
        assert runners == (4 if last.returncode == 0 else 3)
        engine.dispose()
    finally:
        databases.close()


def test_a_symbol_another_run_holds_is_skipped_until_it_is_free(hmas: Any) -> None:
    import json

    from hmas.settings import load_settings
    from hmas.store import open_store
    from hmas.store.locks import acquire, lease_key

    engine = open_store(load_settings())
    other = acquire(engine, [lease_key("sample", "BTC-USD", "1h")])
    args = ("run", "-s", "BTC-USD", "ETH-USD", "--source", "sample", "--once", "--json")
    result = hmas(*args)
    assert result.exit_code == 0, result.stderr
    btc, eth = (json.loads(line) for line in result.stdout.splitlines())
    assert (btc["status"], btc["signal_id"], eth["status"]) == ("held", None, "ok")
    assert btc["error"].startswith(f"another hmas run holds it (pid {os.getpid()} on ")
    other.release()
    btc, eth = (json.loads(line) for line in hmas(*args).stdout.splitlines())
    assert (btc["status"], btc["created"], eth["status"], eth["created"]) == (
        "ok",
        True,
        "ok",
        False,
    )
    engine.dispose()
