"""Calibration of what the signals stated against what their paper trades did.

For each closed trade of the period, the stated number is set against the realised outcome
"the target was hit first" (status ``win``, as the backtest's ``calibration.trades``):

- ``p_win``: the mother's probability of the target (round 2, ``rounds.resolve.p_win``);
- ``confidence`` and ``quality``: not probabilities of a win, but a trader reads them as
  "higher means more likely to work": their buckets show whether that holds. ``quality`` is a
  0-10 score (the mother's); it is divided by 10 to share the [0, 1] buckets.

Each table has equal-width buckets over [0, 1] with counts, the stated mean and the realised
rate per bucket, and the Brier score against always stating the realised rate
(``hmas.stats.calibration``). A measure whose values are missing or outside [0, 1] is null with
the reason.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hmas.report.period import Row

#: Buckets of each reliability table: five, so a few dozen trades still fill some of them.
BINS = 5
MEASURES = ("p_win", "confidence", "quality")
#: Full scale of each measure (the stated value is divided by it).
SCALE = {"p_win": 1.0, "confidence": 1.0, "quality": 10.0}


def table(signals: list[Row], measure: str, *, bins: int = BINS) -> dict[str, Any]:
    """The reliability table of ``measure`` over the closed trades of ``signals``."""
    from hmas.stats import calibration

    closed = [r for r in signals if r.closed]
    pairs = [
        (float(v) / SCALE.get(measure, 1.0), 1.0 if r.status == "win" else 0.0)
        for r in closed
        if isinstance(v := getattr(r, measure), int | float) and math.isfinite(v)
    ]
    out: dict[str, Any] = {
        "measure": measure,
        "scale": SCALE.get(measure, 1.0),
        "closed_trades": len(closed),
    }
    if not pairs:
        reason = (
            "no closed trade in the period"
            if not closed
            else f"no closed trade has a stated {measure}"
        )
        return out | {"count": 0, "buckets": [], "brier": None, "unknown": {measure: reason}}
    if any(not 0 <= p <= 1 for p, _ in pairs):
        return out | {
            "count": 0,
            "buckets": [],
            "brier": None,
            "unknown": {
                measure: f"stated {measure} values lie outside [0, {SCALE.get(measure, 1.0):g}]"
            },
        }
    result = calibration([p for p, _ in pairs], [y for _, y in pairs], bins=bins).as_dict()
    unknown: dict[str, str] = {}
    if result["skill"] is None:
        unknown["skill"] = "every outcome is the same, so the constant forecast is perfect"
    return out | _rounded(result) | {"unknown": unknown}


def _rounded(data: dict[str, Any]) -> dict[str, Any]:
    def r(v: Any) -> Any:
        return round(v, 6) if isinstance(v, float) else v

    return {
        k: [{bk: r(bv) for bk, bv in b.items()} for b in v] if k == "buckets" else r(v)
        for k, v in data.items()
    }


def calibration_report(signals: list[Row]) -> dict[str, Any]:
    """Every measure's reliability table."""
    return {m: table(signals, m) for m in MEASURES}
