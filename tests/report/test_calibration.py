"""Calibration of the stated numbers against the realised target-first rate."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hmas.report.calibration import calibration_report, table
from hmas.report.period import Period, rows


def test_p_win_by_hand(book: Any) -> None:
    t = table(rows(book, Period()), "p_win")
    # Closed: 0.65 won; 0.45, 0.75, 0.35 did not.
    assert t["count"] == 4
    assert t["brier"] == round((0.35**2 + 0.45**2 + 0.75**2 + 0.35**2) / 4, 6)
    assert t["brier_constant"] == 0.1875  # always 0.25: 0.25 * 0.75
    assert t["skill"] == round(1 - 0.2525 / 0.1875, 6)
    assert [(b["count"], b["realised_rate"]) for b in t["buckets"]] == [
        (0, None),
        (1, 0.0),
        (1, 0.0),
        (2, 0.5),
        (0, None),
    ]
    assert t["buckets"][3]["stated_mean"] == 0.7


def test_quality_is_a_score_out_of_ten(book: Any) -> None:
    report = calibration_report(rows(book, Period()))
    assert report["quality"]["scale"] == 10.0
    assert report["quality"]["buckets"] == report["p_win"]["buckets"]


def test_missing_or_out_of_range_is_null_with_reason(book: Any) -> None:
    signals = rows(book, Period())
    assert table([], "p_win")["unknown"] == {"p_win": "no closed trade in the period"}
    unstated = [replace(r, p_win=None) for r in signals]
    assert table(unstated, "p_win")["unknown"] == {"p_win": "no closed trade has a stated p_win"}
    odd = [replace(r, confidence=1.5) for r in signals]
    bad = table(odd, "confidence")
    assert bad["brier"] is None
    assert bad["unknown"] == {"confidence": "stated confidence values lie outside [0, 1]"}
