"""``hmas run --json`` as a real process: one JSON object per line, each flushed as it happens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

KEYS = {
    "run_id",
    "iteration",
    "symbol",
    "status",
    "decision",
    "action",
    "signal_id",
    "created",
    "candles_added",
    "closed_positions",
    "error",
    "rejection_reason",
    "sample",
    "exit_code",
    "ts",
}


def test_run_json_streams_one_line_per_symbol_and_iteration(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HMAS_")}
    env["HMAS_DATA_DIR"] = str(tmp_path)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hmas",
            "run",
            "-s",
            "BTC-USD",
            "ETH-USD",
            "--source",
            "sample",
            "--iterations",
            "2",
            "--sleep-seconds",
            "1",
            "--json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    running = proc.poll() is None  # the first line arrived while the run was still going
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert running, "the first line came only when the process ended"
    lines = [first, *rest.splitlines(keepends=True)]
    assert all(line.endswith("\n") and "\n" not in line[:-1] for line in lines)
    records = [json.loads(line) for line in lines]
    assert [(r["iteration"], r["symbol"]) for r in records] == [
        (1, "BTC-USD"),
        (1, "ETH-USD"),
        (2, "BTC-USD"),
        (2, "ETH-USD"),
    ]
    for r in records:
        assert set(r) == KEYS
        assert r["sample"] is True
        assert r["status"] == "ok" and r["error"] is None
        assert r["ts"].endswith("Z")
    assert len({r["run_id"] for r in records}) == 2  # one run row per iteration
    assert [r["created"] for r in records[2:]] == [False, False]  # same bar: nothing new


SAMPLE_ONCE_JSON = ("--source", "sample", "--once", "--json")


def test_run_json_refuses_an_unknown_sample_symbol_before_any_line(tmp_path: Path) -> None:
    """A symbol the sample market lacks is bad usage, caught before the loop: no NDJSON line, no
    store. (A symbol failing inside the loop gets its own line: tests/cli/test_exit_codes.py.)"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HMAS_")}
    env["HMAS_DATA_DIR"] = str(tmp_path / "data")
    result = subprocess.run(
        [sys.executable, "-m", "hmas", "run", "-s", "BTC-USD", "NOPE-USD", *SAMPLE_ONCE_JSON],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "Error: the sample market has no NOPE-USD; use one of BTC-USD, ETH-USD, SOL-USD, "
        "DOGE-USD, XRP-USD, ADA-USD, LTC-USD\n"
    )
    assert not (tmp_path / "data").exists()
