"""A hand-made store whose every report figure is worked out by hand in the tests.

Four closed BTC-USD trades (a win +2R, two losses -1R, an expiry +0.5R), one pending, three
rejected signals (two by guards, one by the mother's checks; one of them ETH-USD), three LLM
calls and two backtest runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hmas.store.models import (
    Account,
    Analysis,
    BacktestRun,
    LlmCall,
    Position,
    Signal,
    SignalResult,
)

H = 3_600_000


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def votes(**sides: str | None) -> list[dict[str, Any]]:
    return [
        {"agent": name, "abstained": side is None, "view": side or "abstained: no view"}
        for name, side in sides.items()
    ]


def rounds(
    side: str, voted: list[dict[str, Any]], p_win: float | None, failed: tuple[str, ...] = ()
):
    checks = [
        {"rule": r, "passed": r not in failed}
        for r in ("trade proposed", "positive Kelly edge", "confidence >= threshold")
    ]
    return {
        "gather": {"proposal": {"agent": "alpha", "side": side}, "votes": voted},
        "resolve": {"p_win": p_win},
        "decide": {"checks": checks},
    }


#: (id, symbol, bar, decision, side, votes, p_win, confidence, quality, refused_by, failed,
#:  result: (status, r, pnl, exit) or None, cost_usd)
SIGNALS: list[tuple[Any, ...]] = [
    (
        1,
        "BTC-USD",
        "2024-03-01T00:00",
        "APPROVED",
        "long",
        votes(technical="long", sentiment="short", macro=None),
        0.65,
        0.65,
        6.5,
        [],
        (),
        ("win", 2.0, 2000.0, "2024-03-01T10:00"),
        0.01,
    ),
    (
        2,
        "BTC-USD",
        "2024-03-02T00:00",
        "APPROVED",
        "short",
        votes(technical="short", sentiment="short", macro="neutral"),
        0.45,
        0.45,
        4.5,
        [],
        (),
        ("loss", -1.0, -1000.0, "2024-03-02T05:00"),
        0.03,
    ),
    (
        3,
        "BTC-USD",
        "2024-03-03T00:00",
        "APPROVED",
        "long",
        votes(technical="long", sentiment="long", macro="long"),
        0.75,
        0.75,
        7.5,
        [],
        (),
        ("loss", -1.0, -1000.0, "2024-03-03T05:00"),
        None,
    ),
    (
        4,
        "BTC-USD",
        "2024-03-04T00:00",
        "APPROVED",
        "long",
        votes(technical="short", sentiment="long", macro=None),
        0.35,
        0.35,
        3.5,
        [],
        (),
        ("expired", 0.5, 500.0, "2024-03-05T00:00"),
        None,
    ),
    (
        5,
        "BTC-USD",
        "2024-03-05T00:00",
        "REJECTED",
        "long",
        votes(technical="long", sentiment="long"),
        0.5,
        0.6,
        5.0,
        ["cooldown"],
        (),
        None,
        None,
    ),
    (
        6,
        "BTC-USD",
        "2024-03-06T00:00",
        "REJECTED",
        "none",
        [],
        None,
        0.1,
        1.0,
        [],
        ("trade proposed",),
        None,
        None,
    ),
    (
        7,
        "ETH-USD",
        "2024-03-02T00:00",
        "REJECTED",
        "long",
        votes(technical="short"),
        0.5,
        0.5,
        5.0,
        ["max_open_positions", "cooldown"],
        (),
        None,
        0.02,
    ),
    (
        8,
        "BTC-USD",
        "2024-04-01T00:00",
        "APPROVED",
        "long",
        votes(technical="long"),
        0.5,
        0.5,
        5.0,
        [],
        (),
        ("pending", None, None, None),
        None,
    ),
]


def stock(url: str) -> None:
    from sqlmodel import Session

    from hmas.store.engine import make_engine, upgrade

    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        for (
            sid,
            sym,
            bar,
            decision,
            side,
            voted,
            p_win,
            conf,
            quality,
            refused,
            failed,
            res,
            cost,
        ) in SIGNALS:
            bar_ts = ms(bar)
            session.add(
                Analysis(
                    id=sid,
                    exchange="coinbase",
                    symbol=sym,
                    timeframe="1h",
                    bar_ts=bar_ts,
                    engine="rules",
                    config_hash="c",
                    hmas_version="t",
                    source="file",
                    window_first_ts=bar_ts - 299 * H,
                    window_last_ts=bar_ts,
                    window_len=300,
                    snapshot_hash="s",
                )
            )
            session.flush()
            guardian: dict[str, Any] = {"checked": bool(refused)}
            if refused:
                guardian["refused_by"] = refused
            session.add(
                Signal(
                    id=sid,
                    analysis_id=sid,
                    exchange="coinbase",
                    symbol=sym,
                    timeframe="1h",
                    bar_ts=bar_ts,
                    engine="rules",
                    config_hash="c",
                    hmas_version="t",
                    source="file",
                    decision=decision,
                    action={"long": "BUY", "short": "SELL"}.get(side, "HOLD")
                    if decision == "APPROVED"
                    else "HOLD",
                    confidence=conf,
                    quality=quality,
                    rounds=rounds(side, voted, p_win, failed),
                    guardian=guardian,
                    cost_usd=cost,
                )
            )
            session.flush()
            if res is not None:
                status, r, pnl, exit_at = res
                session.add(
                    Position(
                        signal_id=sid,
                        engine="rules",
                        exchange="coinbase",
                        symbol=sym,
                        timeframe="1h",
                        side="BUY" if side == "long" else "SELL",
                        entry=100.0,
                        stop_loss=90.0,
                        take_profit=120.0,
                        size=1.0,
                        opened_bar_ts=bar_ts,
                        status="open" if status == "pending" else "closed",
                        closed_ts=ms(exit_at) if exit_at else None,
                    )
                )
                session.add(
                    SignalResult(
                        signal_id=sid,
                        status=status,
                        r_multiple=r,
                        pnl_money=pnl,
                        exit_ts=ms(exit_at) if exit_at else None,
                    )
                )
        session.add(
            Account(
                engine="rules",
                starting_equity=100_000.0,
                equity=100_500.0,
                day="2024-04-01",
                day_start_equity=100_500.0,
                peak_equity=102_000.0,
            )
        )
        for day, sid, agent, usd in (
            ("2024-03-01", 1, "alpha", 0.01),
            ("2024-03-02", 7, "sentiment", 0.02),
            ("2024-03-02", 2, "alpha", 0.03),
        ):
            session.add(
                LlmCall(
                    day=day,
                    batch=f"b{sid}",
                    signal_id=sid,
                    agent=agent,
                    vendor="v",
                    model="m",
                    prompt={},
                    input_tokens=100,
                    output_tokens=10,
                    cost_usd=usd,
                    status="ok",
                )
            )
        for strategy, symbols, trades, exp, brier, sample in (
            ("rules", ["BTC-USD"], 10, {"mean": -0.2, "ci_low": -0.5, "ci_high": 0.1}, 0.2, False),
            (
                "reference",
                ["ETH-USD"],
                5,
                {"mean": 0.3, "ci_low": None, "ci_high": None},
                None,
                True,
            ),
        ):
            session.add(
                BacktestRun(
                    hmas_version="t",
                    strategy=strategy,
                    engine="rules",
                    timeframe="1h",
                    symbols=symbols,
                    start_ts=ms("2024-01-01T00:00"),
                    end_ts=ms("2024-02-01T00:00"),
                    bars=744,
                    data_hash="d",
                    config_hash="c",
                    sample_data=sample,
                    metrics={
                        "trades": trades,
                        "win_rate": 0.3,
                        "expectancy_r": exp,
                        "total_return": -0.05,
                        "max_drawdown": 0.08,
                        "sharpe": None,
                        "calibration": {"trades": {"brier": brier}},
                    },
                )
            )
        session.commit()
    engine.dispose()


@pytest.fixture
def book_url(tmp_path: Path) -> str:
    """The hand-made store's URL."""
    url = f"sqlite:///{tmp_path / 'book.db'}"
    stock(url)
    return url


@pytest.fixture
def book(book_url: str) -> Iterator[Any]:
    """An engine on the hand-made store."""
    from hmas.store.engine import make_engine

    engine = make_engine(book_url, create=False)
    yield engine
    engine.dispose()
