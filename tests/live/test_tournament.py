"""The live tournament: one paper book per entrant in the store, and standings read from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session

from hmas.live.loop import RunOptions, run_loop
from hmas.live.tournament import standings
from hmas.market import index_to_ms
from hmas.risk.entrants import Entrant
from hmas.risk.tournament import Rules
from hmas.store.candles import CandleStore
from hmas.store.engine import upgrade
from hmas.store.models import Account, Analysis, Position, Signal, SignalResult
from tests.decision.conftest import permissive, sample_frame
from tests.decision.test_concurrent_verdicts import approvable_bar

DAY = 86_400_000
HOUR = 3_600_000
THU = 1_704_326_400_000  # 2024-01-04 00:00 UTC: a multiple of 7 days since the epoch
WEEK = 7 * DAY


@pytest.fixture
def approvable(db_url: str, engine_factory: Any) -> Any:
    """A store whose latest ETH-USD bar is one the mother approves under permissive thresholds."""
    frames = {s: sample_frame(s) for s in ("BTC-USD", "ETH-USD")}
    bar = approvable_bar("ETH-USD", frames)
    assert bar is not None
    engine = engine_factory(db_url)
    upgrade(engine)
    store = CandleStore(engine)
    for symbol, frame in frames.items():
        ms = index_to_ms(frame.index)
        rows = [[t, *v] for t, v in zip(ms, frame.to_numpy().tolist(), strict=True) if t <= bar]
        store.upsert("sample", symbol, "1h", rows, source="sample")
    return engine


def _entrants(tmp: Path) -> list[Entrant]:
    return [
        Entrant("a", tmp / "a.toml", permissive()),
        Entrant("b", tmp / "b.toml", permissive(risk={"risk_per_trade": 0.005})),
    ]


def _options(entrants: list[Entrant]) -> RunOptions:
    return RunOptions(
        symbols=["ETH-USD"], timeframe="1h", source="sample", fetch=False, entrants=entrants
    )


def _rows(engine: Any, model: Any) -> list[Any]:
    with Session(engine) as session:
        return list(session.execute(select(model)).scalars())


def test_two_books_are_kept_apart_and_a_second_run_decides_nothing_new(
    approvable: Any, tmp_path: Path
) -> None:
    entrants = _entrants(tmp_path)
    (first,) = run_loop(approvable, permissive(), _options(entrants), install_signal_handlers=False)
    assert [(o.book, o.decision, o.created) for o in first.symbols] == [
        ("rules@a", "APPROVED", True),
        ("rules@b", "APPROVED", True),
    ]
    # One book would have refused b (ETH-USD already held): each book is judged on its own.
    assert {a.engine for a in _rows(approvable, Account)} == {"rules@a", "rules@b"}
    positions = {p.engine: p for p in _rows(approvable, Position)}
    assert set(positions) == {"rules@a", "rules@b"}
    assert positions["rules@b"].size == pytest.approx(positions["rules@a"].size / 2, rel=0.02)
    signals = _rows(approvable, Signal)
    assert {s.engine for s in signals} == {"rules@a", "rules@b"}
    assert len({s.config_hash for s in signals}) == 2
    assert {a.engine for a in _rows(approvable, Analysis)} == {"rules@a", "rules@b"}
    # The same bar again: nothing new.
    (again,) = run_loop(approvable, permissive(), _options(entrants), install_signal_handlers=False)
    assert [(o.book, o.created) for o in again.symbols] == [("rules@a", False), ("rules@b", False)]
    assert len(_rows(approvable, Position)) == 2 and len(_rows(approvable, Signal)) == 2
    table = standings(approvable, entrants, Rules(WEEK, WEEK))
    assert [(m["book"], m["open_positions"], m["realised_pnl"]) for m in table["members"]] == [
        ("rules@a", 1, 0.0),
        ("rules@b", 1, 0.0),
    ]
    assert sum(m["weight"] for m in table["members"]) == pytest.approx(1.0)
    # The single-configuration run keeps its own book, as before: the engine's name.
    (single,) = run_loop(
        approvable,
        permissive(),
        RunOptions(symbols=["ETH-USD"], timeframe="1h", source="sample", fetch=False),
        install_signal_handlers=False,
    )
    (outcome,) = single.symbols
    assert outcome.decision == "APPROVED" and outcome.created
    assert "book" not in outcome.as_dict()
    assert {a.engine for a in _rows(approvable, Account)} == {"rules", "rules@a", "rules@b"}


def _closed(session: Session, book: str, bar_ts: int, exit_ts: int, pnl: float) -> None:
    """An approved signal of ``book`` at ``bar_ts`` whose position closed at ``exit_ts``."""
    analysis = Analysis(
        exchange="x",
        symbol="BTC-USD",
        timeframe="1h",
        bar_ts=bar_ts,
        engine=book,
        config_hash="h",
        hmas_version="t",
        source="sample",
        window_first_ts=bar_ts,
        window_last_ts=bar_ts,
        window_len=1,
        snapshot_hash="s",
    )
    session.add(analysis)
    session.flush()
    assert analysis.id is not None
    signal = Signal(
        analysis_id=analysis.id,
        exchange="x",
        symbol="BTC-USD",
        timeframe="1h",
        bar_ts=bar_ts,
        engine=book,
        config_hash="h",
        hmas_version="t",
        source="sample",
        decision="APPROVED",
        action="BUY",
    )
    session.add(signal)
    session.flush()
    assert signal.id is not None
    status = "win" if pnl > 0 else "loss"
    session.add(SignalResult(signal_id=signal.id, status=status, exit_ts=exit_ts, pnl_money=pnl))


def test_standings_rank_the_stored_books_by_the_backtest_rules(
    db_url: str, engine_factory: Any, tmp_path: Path
) -> None:
    engine = engine_factory(db_url)
    upgrade(engine)
    with Session(engine) as session:
        _closed(session, "rules@a", THU, THU + 2 * DAY, 100.0)
        _closed(session, "rules@b", THU + HOUR, THU + 3 * DAY, 300.0)
        _closed(session, "rules@a", THU + 8 * DAY, THU + 9 * DAY, 500.0)
        _closed(session, "rules", THU, THU + DAY, 9_999.0)  # another book: not an entrant
        session.commit()
    entrants = _entrants(tmp_path)
    table = standings(engine, entrants, Rules(WEEK, WEEK))
    assert table["started"] == "2024-01-04T00:00Z"
    assert table["as_of"] == "2024-01-13T01:00Z"  # a's last exit bar's close
    assert table["reranks"] == 1
    current = table["current"]
    assert current["at"] == "2024-01-11T00:00Z" and current["full_window"] is True
    # At the re-rank only the first week counts: b made 300, a 100; a's 500 came after it.
    assert [(m["name"], m["window_pnl"], m["rank"]) for m in current["members"]] == [
        ("a", 100.0, 2),
        ("b", 300.0, 1),
    ]
    assert [
        (m["realised_pnl"], m["closed_trades"], m["rank"], m["weight"]) for m in table["members"]
    ] == [(600.0, 2, 2, pytest.approx(1 / 3, abs=1e-6)), (300.0, 1, 1, pytest.approx(2 / 3))]
    # Two weeks of history: the window is not full before THU + 14d: equal weights.
    equal = standings(engine, entrants, Rules(2 * WEEK, WEEK))
    assert equal["current"]["full_window"] is False
    assert [m["weight"] for m in equal["members"]] == [0.5, 0.5]
    assert [m["rank"] for m in equal["members"]] == [None, None]


def test_standings_before_any_decision(db_url: str, engine_factory: Any, tmp_path: Path) -> None:
    engine = engine_factory(db_url)
    upgrade(engine)
    table = standings(engine, _entrants(tmp_path), Rules(WEEK, WEEK))
    assert table["started"] is None and table["current"] is None and table["reranks"] == 0
    assert [m["weight"] for m in table["members"]] == [0.5, 0.5]
    assert [m["realised_pnl"] for m in table["members"]] == [0.0, 0.0]
