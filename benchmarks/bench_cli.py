"""``hmas --help`` as a fresh process (target <= 0.15 s: no pandas/ccxt/sqlmodel on that path)."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import report


def main() -> None:
    exe = shutil.which("hmas", path=str(Path(sys.executable).parent)) or shutil.which("hmas")
    cmd = [exe, "--help"] if exe else [sys.executable, "-m", "hmas", "--help"]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
    subprocess.run(cmd, capture_output=True, check=True, env=env)  # warm the bytecode cache
    samples = []
    for _ in range(15):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True, env=env)
        samples.append(time.perf_counter() - start)
    med = statistics.median(samples)
    report("hmas --help, whole process (median of 15)", f"{med:.3f} s", "<= 0.15 s", med <= 0.15)


if __name__ == "__main__":
    main()
