"""The period: its parsing, the signals and outcomes in it, the paper equity curve."""

from __future__ import annotations

from typing import Any

import pytest

from hmas.errors import UsageError
from hmas.report.period import Period, check_symbol, equity, parse_period, performance, rows

from .conftest import ms

NOW = ms("2026-01-01T00:00")


def test_parse_period_bounds() -> None:
    p = parse_period("2024-03-02", "2024-03-03", "BTC-USD", now_ms=NOW)
    # A date alone as --until includes that day.
    assert (p.since_ms, p.until_ms, p.symbol) == (
        ms("2024-03-02T00:00"),
        ms("2024-03-04T00:00"),
        "BTC-USD",
    )
    timed = parse_period("2024-03-02T00:00", "2024-03-03T12:00Z", None, now_ms=NOW)
    assert timed.until_ms == ms("2024-03-03T12:00")
    assert parse_period(None, None, None, now_ms=NOW) == Period()
    assert parse_period("2024-03-02", "2024-03-02", None, now_ms=NOW).until_ms == ms(
        "2024-03-03T00:00"
    )


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        (
            "yesterday",
            None,
            "--since 'yesterday' is not a date; use ISO format, e.g. 2024-03-01 or "
            "2024-03-01T12:00Z",
        ),
        (
            None,
            "2024-02-30",
            "--until '2024-02-30' is not a date; use ISO format, e.g. 2024-03-01 or "
            "2024-03-01T12:00Z",
        ),
        (
            "",
            None,
            "--since '' is not a date; use ISO format, e.g. 2024-03-01 or 2024-03-01T12:00Z",
        ),
        (
            "2024-05-01",
            "2024-04-01",
            "--since 2024-05-01 is not before --until 2024-04-01; swap them or widen",
        ),
        (
            "2024-04-01T12:00",
            "2024-04-01T12:00",
            "--since 2024-04-01T12:00 is not before --until 2024-04-01T12:00; swap them or widen",
        ),
        ("2027-01-01", None, "--since 2027-01-01 is in the future; give a past date"),
    ],
)
def test_parse_period_refuses(since: str | None, until: str | None, message: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_period(since, until, None, now_ms=NOW)
    assert str(err.value) == message


def test_check_symbol(book: Any) -> None:
    check_symbol(book, "ETH-USD")
    with pytest.raises(
        UsageError,
        match=r"^--symbol XRP-USD: no signal stored for it; the store "
        r"has signals for BTC-USD, ETH-USD$",
    ):
        check_symbol(book, "XRP-USD")


def test_performance_by_hand(book: Any) -> None:
    perf = performance(rows(book, Period()))
    assert {
        k: perf[k] for k in ("signals", "approved", "rejected", "pending", "closed_trades")
    } == {
        "signals": 8,
        "approved": 5,
        "rejected": 3,
        "pending": 1,
        "closed_trades": 4,
    }
    assert (perf["wins"], perf["losses"], perf["expired"]) == (1, 2, 1)
    assert perf["win_rate"]["mean"] == 0.25
    # Wilson's interval of 1 win in 4 (see tests/test_stats.py).
    assert (perf["win_rate"]["ci_low"], perf["win_rate"]["ci_high"]) == (0.045587, 0.699358)
    assert perf["expectancy_r"]["mean"] == 0.125  # (2 - 1 - 1 + 0.5) / 4
    low, high = perf["expectancy_r"]["ci_low"], perf["expectancy_r"]["ci_high"]
    assert -1.0 <= low < 0.125 < high <= 2.0
    assert perf["pnl"] == 500.0
    assert perf["by_symbol"][1] == {
        "symbol": "ETH-USD",
        "signals": 1,
        "approved": 0,
        "closed_trades": 0,
        "win_rate": None,
        "expectancy_r": None,
        "pnl": None,
    }


def test_performance_of_nothing_is_null_with_reasons() -> None:
    perf = performance([])
    assert perf["win_rate"]["mean"] is None and perf["expectancy_r"]["mean"] is None
    assert perf["unknown"] == {
        "win_rate": "no closed trade in the period",
        "expectancy_r": "no closed trade in the period",
        "pnl": "no closed trade in the period",
    }


def test_period_and_symbol_filter(book: Any) -> None:
    period = parse_period("2024-03-02", "2024-03-03", None, now_ms=NOW)
    assert [r.id for r in rows(book, period)] == [2, 7, 3]
    assert [r.id for r in rows(book, Period(symbol="ETH-USD"))] == [7]


def test_equity_curve_by_hand(book: Any) -> None:
    curve = equity(book, Period(), "rules")
    assert [p["equity"] for p in curve["points"]] == [100_000, 102_000, 101_000, 100_000, 100_500]
    assert curve["max_drawdown"] == round(1 - 100_000 / 102_000, 6)
    assert curve["period_end_equity"] == 100_500  # the account's stored equity
    inside = equity(book, parse_period("2024-03-02", "2024-03-03", None, now_ms=NOW), "rules")
    # The win of 03-01 closed before the period: the period starts at 102,000.
    assert [p["equity"] for p in inside["points"]] == [102_000, 101_000, 100_000]
    assert inside["points"][0]["ts"] == ms("2024-03-02T00:00")
    none = equity(book, Period(), "llm")
    assert none["points"] == [] and none["unknown"] == {
        "equity": "no paper account for engine llm in the store yet"
    }
