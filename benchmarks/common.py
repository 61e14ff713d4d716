"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 1) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def report(name: str, value: str, target: str | None = None, ok: bool | None = None) -> None:
    """Print one figure, with its target and whether it is met."""
    verdict = "" if ok is None else ("  [meets target]" if ok else "  [MISSES target]")
    tgt = f"  (target {target})" if target else ""
    print(f"{name:<58} {value:>16}{tgt}{verdict}", flush=True)
