"""Per-agent attribution and refusals on the hand-made store (every figure worked by hand)."""

from __future__ import annotations

from typing import Any

from hmas.report.attribution import agents, refusals
from hmas.report.period import Period, rows


def test_agents_by_hand(book: Any) -> None:
    by = {a["agent"]: a for a in agents(rows(book, Period()))}
    # Trades proved right: 1 long (+2R), 2 long (a short that lost), 3 short (a long that
    # lost), 4 long (+0.5R). technical voted long, short, long, short: right on 1 only.
    tech = by["technical"]
    assert (tech["judged"], tech["agreed"], tech["agreement_rate"]) == (4, 1, 0.25)
    assert tech["opposed"] == {"count": 1, "wins": 0, "win_rate": 0.0, "mean_r": 0.5}
    assert tech["backed"] == {"count": 3, "wins": 1, "win_rate": 0.333333, "mean_r": 0.0}
    assert tech["votes"] == {"long": 4, "short": 3, "neutral": 0, "silent": 1}
    sent = by["sentiment"]
    assert (sent["judged"], sent["agreed"]) == (4, 1)
    assert sent["opposed"] == {"count": 1, "wins": 1, "win_rate": 1.0, "mean_r": 2.0}
    assert sent["backed"]["mean_r"] == -0.5
    macro = by["macro"]
    # Abstained on 1 and 4, neutral on 2 (neither agrees nor disagrees), long on 3 (wrong).
    assert (macro["judged"], macro["agreed"], macro["agreement_rate"]) == (1, 0, 0.0)
    assert macro["opposed"]["win_rate"] is None
    assert macro["unknown"] == {"opposed": "macro opposed no closed trade in the period"}


def test_agents_without_closed_trades_are_null_with_reason(book: Any) -> None:
    (tech,) = agents(rows(book, Period(symbol="ETH-USD")))
    assert tech["agreement_rate"] is None
    assert tech["unknown"]["agreement_rate"] == "no closed trade in the period"


def test_refusals_by_hand(book: Any) -> None:
    assert refusals(rows(book, Period())) == {
        "rejected": 3,
        "refused_by_guardian": 2,
        "guardian": [
            {"rule": "cooldown", "count": 2, "share_of_rejected": 0.666667},
            {"rule": "max_open_positions", "count": 1, "share_of_rejected": 0.333333},
        ],
        "mother": [{"check": "trade proposed", "count": 1, "share_of_rejected": 0.333333}],
    }


def test_refusals_read_older_guardian_records() -> None:
    from hmas.report.period import Row

    old = Row(
        id=1,
        symbol="BTC-USD",
        bar_ts=0,
        engine="rules",
        source="file",
        decision="REJECTED",
        action="HOLD",
        confidence=None,
        quality=None,
        p_win=None,
        side="long",
        votes={},
        refused_by=["daily_loss"],
        failed_checks=[],
        cost_usd=None,
    )
    assert refusals([old])["guardian"] == [
        {"rule": "daily_loss", "count": 1, "share_of_rejected": 1.0}
    ]
