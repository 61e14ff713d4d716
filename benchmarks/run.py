"""Run every benchmark and print its figures.

``nox -s bench`` or ``uv run python benchmarks/run.py [name ...]``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODULES = [
    "bench_cli",
    "bench_store",
    "bench_indicators",
    "bench_signal",
    "bench_backtest",
    "bench_reference",
    "bench_llm",
]


def main(selected: list[str]) -> None:
    print(f"hmas benchmarks (Python {sys.version.split()[0]})")
    for name in MODULES:
        if selected and not any(s in name for s in selected):
            continue
        print(f"\n[{name}]", flush=True)
        importlib.import_module(f"benchmarks.{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
