"""``hmas --help`` as a fresh process (target <= 0.15 s: no pandas/ccxt/sqlmodel on that path),
and what ``uv run`` adds to it (target <= 0.1 s from the second call on)."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import report

ROOT = Path(__file__).resolve().parent.parent


def _times(cmd: list[str], env: dict[str, str], runs: int = 15) -> list[float]:
    subprocess.run(cmd, capture_output=True, check=True, env=env, cwd=ROOT)  # warm up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True, env=env, cwd=ROOT)
        samples.append(time.perf_counter() - start)
    return samples


def _uv() -> str | None:
    """The uv binary itself: a pyenv shim in front of it adds ~0.1 s that is not uv's."""
    found = os.environ.get("UV") or shutil.which("uv")
    if found is None:
        return None
    with open(found, "rb") as fh:
        if fh.read(2) != b"#!":
            return found
    real = subprocess.run(["pyenv", "which", "uv"], capture_output=True, text=True, check=False)
    return real.stdout.strip() or found


def main() -> None:
    exe = shutil.which("hmas", path=str(Path(sys.executable).parent)) or shutil.which("hmas")
    cmd = [exe, "--help"] if exe else [sys.executable, "-m", "hmas", "--help"]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
    installed = _times(cmd, env)
    med = statistics.median(installed)
    report("hmas --help, whole process (median of 15)", f"{med:.3f} s", "<= 0.15 s", med <= 0.15)
    print(
        f"{'  min / median / max':<58} {min(installed):.3f} / {med:.3f} / {max(installed):.3f} s",
        flush=True,
    )
    uv = _uv()
    venv = Path(sys.prefix)
    if uv is None or venv != ROOT / ".venv":
        print("  uv run overhead: skipped (run from the project's .venv with uv on PATH)")
        return
    with_uv = _times([uv, "run", "hmas", "--help"], env)
    extra = statistics.median(with_uv) - med
    report(
        "uv run hmas --help minus installed (median of 15)",
        f"{extra:+.3f} s",
        "<= 0.1 s",
        extra <= 0.1,
    )
    print(
        f"{'  uv run: min / median / max':<58} "
        f"{min(with_uv):.3f} / {statistics.median(with_uv):.3f} / {max(with_uv):.3f} s",
        flush=True,
    )


if __name__ == "__main__":
    main()
