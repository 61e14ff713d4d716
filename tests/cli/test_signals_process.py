"""``hmas run`` as a real process: SIGINT/SIGTERM stop it cleanly at any moment, with 130/143.

The handlers are installed first thing in the command, before settings, the store or its
migration; a signal then lets the step under way finish (a symbol, a migration: one
transaction) and the command exits 128 + the signal's number. The sweep sends signals at
several moments after the handlers are in place (read from /proc, not guessed from a clock):
whatever the moment, the exit code is the signal's and the store is consistent.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hmas.store.engine import HEAD_REVISION

SYMBOLS = ["BTC-USD", "ETH-USD"]
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


def _start(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HMAS_")}
    env["HMAS_DATA_DIR"] = str(tmp_path)
    return subprocess.Popen(
        [sys.executable, "-m", "hmas", "run", "-s", *SYMBOLS, "--source", "sample", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _forever(tmp_path: Path) -> subprocess.Popen[str]:
    """A loop that never ends by itself: every signal sent to it lands."""
    return _start(tmp_path, "--iterations", "-1", "--sleep-seconds", "60", "--json")


def _handlers_installed(pid: int, timeout: float = 60.0) -> None:
    """Wait until the process catches SIGTERM (Python alone does not: hmas run's handler)."""
    bit = 1 << (signal.SIGTERM - 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            pytest.fail("hmas run ended before installing its signal handlers")
        caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
        if int(caught.split()[1], 16) & bit:
            return
        time.sleep(0.005)
    pytest.fail("hmas run did not install its signal handlers")


def _assert_consistent(db: Path) -> None:
    """The store is absent (stopped before it was opened) or whole: at head, intact, nothing
    left running or locked, every signal with its analysis."""
    if not db.exists():
        return
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (HEAD_REVISION,)
        ]
        statuses = {s for (s,) in conn.execute("SELECT status FROM run")}
        assert statuses <= {"ok", "interrupted"}
        assert (
            conn.execute("SELECT count(*) FROM fetch_run WHERE status = 'running'").fetchone()[0]
            == 0
        )
        assert conn.execute("SELECT count(*) FROM lease WHERE owner != ''").fetchone()[0] == 0
        orphans = "SELECT count(*) FROM signal WHERE analysis_id NOT IN (SELECT id FROM analysis)"
        assert conn.execute(orphans).fetchone()[0] == 0
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("sig", "delay"),
    # Here the settings load until ~0.9 s after the handlers, the store is created and migrated
    # by ~1.0 s, the first symbol is done by ~1.2 s; slower or faster machines shift the
    # moments, never the outcome.
    [(signal.SIGTERM, d) for d in (0.0, 0.3, 0.6, 0.85, 0.95, 1.05, 1.2, 1.6)]
    + [(signal.SIGINT, d) for d in (0.0, 0.5, 1.0)],
)
def test_an_early_signal_stops_the_run_cleanly(
    tmp_path: Path, sig: signal.Signals, delay: float
) -> None:
    proc = _forever(tmp_path)
    _handlers_installed(proc.pid)
    time.sleep(delay)  # a moment in settings, the store's creation, its migration, a symbol
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT[sig], err
    assert "Traceback" not in err
    assert err.splitlines()[-1].startswith(f"hmas run: stopped by {sig.name} ")
    for line in out.splitlines():  # whatever was streamed is whole NDJSON
        assert json.loads(line)["status"] == "ok"
    _assert_consistent(tmp_path / "hmas.db")


def test_a_run_stopped_with_symbols_skipped_exits_143(tmp_path: Path) -> None:
    proc = _start(tmp_path, "--once", "--json")
    assert proc.stderr is not None
    for line in proc.stderr:  # plain log lines: stderr is not a terminal
        if " BTC-USD analyzing " in line:
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    (line,) = out.splitlines()  # BTC-USD was finished, ETH-USD never started
    assert (json.loads(line)["symbol"], json.loads(line)["status"]) == ("BTC-USD", "ok")
    assert err.splitlines()[-1] == (
        "hmas run: stopped by SIGTERM (in iteration 1: 1 of 2 symbols skipped)"
    )
    conn = sqlite3.connect(tmp_path / "hmas.db")
    try:
        assert conn.execute("SELECT status FROM run").fetchall() == [("interrupted",)]
    finally:
        conn.close()
    _assert_consistent(tmp_path / "hmas.db")


def test_sigterm_stops_the_loop_cleanly(tmp_path: Path) -> None:
    proc = _forever(tmp_path)
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    for line in proc.stderr:
        if " ETH-USD done " in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    # Stopped during the sleep after iteration 1: nothing skipped, but stopped all the same.
    assert proc.returncode == 143, err
    assert [json.loads(line)["symbol"] for line in out.splitlines()] == SYMBOLS
    assert all(json.loads(line)["status"] == "ok" for line in out.splitlines())
    assert "SIGTERM received" in err
    assert err.splitlines()[-1].startswith("hmas run: stopped by SIGTERM ")
    _assert_consistent(tmp_path / "hmas.db")
