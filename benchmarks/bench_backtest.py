"""``hmas backtest`` as a user runs it: a fresh process, its wall time and peak memory.

On 525,600 one-minute sample bars of one symbol (target, DESIGN §9: <= 1.0 s and <= 600 MiB
for the rules pipeline and the simulation), with the reference strategy on the same bars, and
both strategies on the real BTC hourly file of ``../shared/data`` when it is there. The
in-process comparison of the reference strategy with vectorbt and backtesting.py is
``bench_reference``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import report

ROOT = Path(__file__).resolve().parent.parent
BTC_FILE = ROOT.parent / "shared" / "data" / "ohlcv" / "coinbase_btc_usd_1h.csv"
MINUTES = 525_600


def _command() -> list[str]:
    exe = shutil.which("hmas", path=str(Path(sys.executable).parent)) or shutil.which("hmas")
    return [exe] if exe else [sys.executable, "-m", "hmas"]


#: Starts the command from a small process and reports its wall time and peak RSS. Linux
#: carries a process's peak RSS into the children it forks, so timing ``hmas`` straight from
#: this process (grown by the in-process benchmarks run before it) would report this
#: process's peak instead of hmas's own.
_LAUNCHER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
_, status, usage = os.wait4(child.pid, 0)
elapsed = time.perf_counter() - start
code = os.waitstatus_to_exitcode(status)
err = child.stderr.read().decode() if code else ""
print(json.dumps({"code": code, "wall": elapsed, "rss_kib": usage.ru_maxrss, "stderr": err}))
"""


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``hmas args`` in a fresh process: (wall seconds, peak RSS in MiB)."""
    done = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *_command(), *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    if result["code"] != 0:
        raise RuntimeError(f"hmas {' '.join(args)} failed: {result['stderr']}")
    return float(result["wall"]), result["rss_kib"] / 1024  # ru_maxrss is in KiB on Linux


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HMAS_")}
        env["HMAS_DATA_DIR"] = tmp
        env["HMAS_DB_URL"] = f"sqlite:///{Path(tmp) / 'bench.db'}"
        fetch = ["fetch", "--source", "sample", "-s", "BTC-USD", "-t", "1m"]
        _run([*fetch, "--limit", str(MINUTES), "--json"], env)
        base = ["backtest", "-s", "BTC-USD", "-t", "1m", "--json"]
        wall, rss = _run(base, env)
        report(
            f"hmas backtest, {MINUTES:,} 1m sample bars, fresh process",
            f"{wall:.2f} s",
            "<= 1.0 s",
            wall <= 1.0,
        )
        report("  its peak memory (RSS)", f"{rss:.0f} MiB", "<= 600 MiB", rss <= 600)
        wall, rss = _run([*base, "--strategy", "reference"], env)
        report("hmas backtest --strategy reference, the same bars", f"{wall:.2f} s")
        report("  its peak memory (RSS)", f"{rss:.0f} MiB")
        if not BTC_FILE.exists():
            print(f"(skipped the real BTC hourly file: {BTC_FILE} is absent)")
            return
        imported = ["fetch", "--source", "file", "--path", str(BTC_FILE), "-s", "BTC-USD"]
        _run([*imported, "-e", "coinbase", "--json"], env)
        real = ["backtest", "-s", "BTC-USD", "-t", "1h", "-e", "coinbase", "--json"]
        wall, rss = _run(real, env)
        report("hmas backtest, real BTC hourly file (20,111 bars)", f"{wall:.2f} s")
        report("  its peak memory (RSS)", f"{rss:.0f} MiB")
        wall, rss = _run([*real, "--strategy", "reference"], env)
        report("hmas backtest --strategy reference, the same file", f"{wall:.2f} s")
        report("  its peak memory (RSS)", f"{rss:.0f} MiB")


if __name__ == "__main__":
    main()
