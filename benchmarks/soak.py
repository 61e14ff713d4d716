"""``nox -s soak``: ``hmas run`` for many iterations on the sample market; its memory at the
start and at the end (target: growth under 5 MB over 10,000 iterations).

The loop runs as a user runs it (``hmas run --symbols BTC-USD --source sample --iterations N
--sleep-seconds 0 --json``, a fresh process); its resident memory is read from
``/proc/<pid>/status`` as each NDJSON line arrives. "Start" is after the first 100 iterations
(imports done, caches filled), "end" the last iteration's. ``python benchmarks/soak.py N`` runs
N iterations instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report

ITERATIONS = 10_000
WARM = 100
TARGET_MIB = 5.0


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def main(iterations: int = ITERATIONS) -> None:
    exe = shutil.which("hmas", path=str(Path(sys.executable).parent)) or shutil.which("hmas")
    cmd = [exe] if exe else [sys.executable, "-m", "hmas"]
    cmd += ["run", "--symbols", "BTC-USD", "--source", "sample", "--sleep-seconds", "0"]
    cmd += ["--iterations", str(iterations), "--json"]
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HMAS_")}
        env["HMAS_DATA_DIR"] = tmp
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert proc.stdout is not None
        first = last = None
        seen = 0
        for _line in proc.stdout:
            seen += 1
            rss = _rss_mib(proc.pid)
            if seen == min(WARM, iterations):
                first = rss
            last = rss
        code = proc.wait()
        elapsed = time.perf_counter() - start
    if code != 0 or first is None or last is None:
        raise RuntimeError(f"hmas run exited {code} after {seen} iterations")
    report(f"hmas run, {seen:,} iterations on the sample market", f"{elapsed:.0f} s")
    report(f"  RSS after {min(WARM, iterations)} iterations", f"{first:.1f} MiB")
    report(f"  RSS after {seen:,}", f"{last:.1f} MiB")
    growth = last - first
    report("  growth", f"{growth:+.1f} MiB", f"< {TARGET_MIB:g} MiB", growth < TARGET_MIB)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ITERATIONS)
