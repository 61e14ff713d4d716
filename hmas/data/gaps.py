"""Gap detection in a candle series: reported, never silently filled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Gap:
    """A run of missing candles: the open times of the first and last missing candle."""

    first_missing_ts: int
    last_missing_ts: int
    missing: int

    def as_dict(self) -> dict[str, int | str]:
        """JSON form with ISO timestamps."""
        from hmas.market import ms_to_datetime

        return {
            "first_missing": ms_to_datetime(self.first_missing_ts).isoformat(),
            "last_missing": ms_to_datetime(self.last_missing_ts).isoformat(),
            "missing": self.missing,
        }


def find_gaps(timestamps: Sequence[int], step_ms: int) -> list[Gap]:
    """Every gap in ascending open times ``timestamps`` on a grid of ``step_ms``."""
    gaps: list[Gap] = []
    prev: int | None = None
    for ts in timestamps:
        if prev is not None and ts - prev > step_ms:
            missing = (ts - prev) // step_ms - 1
            if missing > 0:
                gaps.append(Gap(prev + step_ms, prev + missing * step_ms, missing))
        prev = ts
    return gaps
