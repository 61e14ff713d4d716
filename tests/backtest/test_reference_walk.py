"""``walk_reference`` jumps from event to event and gives exactly the trades ``walk`` gives.

``walk`` asks the reference plan at every entry signal on the one paper book and follows each
order with ``follow_arrays``; ``walk_reference`` finds each symbol's positions first and sizes
them in the same order by the realised equity. Same trades, field for field, on several
symbols sharing one equity, with unusable bars in the data, a position left open at the end
and an order at the last bar that finds no bar to fill on.
"""

from __future__ import annotations

import copy
import itertools
from pathlib import Path

import numpy as np
import pytest

from hmas.backtest.data import Range, load_series
from hmas.backtest.engine import Simulation, trade_dicts, walk, walk_reference
from hmas.backtest.strategy import ReferencePlan
from hmas.settings import load_settings
from hmas.store.engine import upgrade
from tests.backtest.conftest import store_frame
from tests.decision.conftest import sample_frame

SYMBOLS = ["BTC-USD", "ETH-USD", "SOL-USD"]


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> list[ReferencePlan]:
    """Reference plans of three symbols over 6,000 hourly sample bars each."""
    from sqlalchemy import create_engine

    path = Path(tmp_path_factory.mktemp("walk")) / "ref.db"
    engine = create_engine(f"sqlite:///{path}")
    upgrade(engine)
    for symbol in SYMBOLS:
        store_frame(engine, "sample", symbol, "1h", sample_frame(symbol, 6_000))
    settings = load_settings()
    series = load_series(engine, settings, SYMBOLS, "1h", Range())
    engine.dispose()
    return [ReferencePlan(s, settings) for s in series]


def both(plans: list[ReferencePlan]) -> tuple[Simulation, Simulation]:
    settings = load_settings()
    return (
        walk(plans, settings, engine_name="reference"),
        walk_reference(plans, settings),
    )


def same(slow: Simulation, fast: Simulation) -> None:
    assert fast.trades == slow.trades
    assert trade_dicts(fast.trades) == [t.as_dict() for t in slow.trades]
    assert (fast.candidates, fast.unfilled) == (slow.candidates, slow.unfilled)
    assert fast.refusals == slow.refusals and not fast.refusals
    assert fast.realised_equity == slow.realised_equity


def with_exit_signals(plan: ReferencePlan) -> ReferencePlan:
    """The plan with an exit signal 3 bars after every other entry (more market exits)."""
    changed = copy.copy(plan)
    extra = plan.entries[::2] + 3
    changed.exits = np.unique(np.concatenate([plan.exits, extra[extra < len(plan.ts)]]))
    return changed


def test_the_event_walk_gives_the_bar_walks_trades(plans: list[ReferencePlan]) -> None:
    slow, fast = both([with_exit_signals(p) for p in plans])
    same(slow, fast)
    assert len(fast.trades) > 60
    assert {t.symbol for t in fast.trades} == set(SYMBOLS)
    assert {t.exit_reason for t in fast.trades} >= {"target", "stop", "signal"}
    # Positions of different symbols overlap: they share (and size by) one equity.
    spans = sorted((t.fill_ts, t.exit_ts or 0, t.symbol) for t in fast.trades)
    assert any(b[0] < a[1] and a[2] != b[2] for a, b in itertools.pairwise(spans))


def test_unusable_bars_an_open_position_and_an_order_at_the_last_bar(
    plans: list[ReferencePlan],
) -> None:
    btc, eth, sol = (copy.copy(plan) for plan in plans)
    for plan in (btc, eth, sol):
        plan.ohlc = plan.ohlc.copy()
    # Unusable rows (skipped by the paper rules) inside positions and at fills.
    for plan in (btc, eth):
        rows = plan.entries[::3] + 1
        plan.ohlc[rows[rows < len(plan.ohlc)], 1] = np.nan
        rows = plan.entries[1::4] + 2
        plan.ohlc[rows[rows < len(plan.ohlc)], 2] = -1.0
    # ETH: an entry two bars before the end, flat bars after it and no exit signal, so its
    # position stays open. SOL: an entry on the last bar, long after its previous position
    # closed, whose order finds no bar to fill on.
    last = len(eth.ts) - 1
    eth.entries = np.append(eth.entries[eth.entries < last - 50], [last - 2])
    eth.exits = eth.exits[eth.exits < last - 60]
    eth.ohlc[last - 1 :] = eth.ohlc[last - 2, 3]
    last = len(sol.ts) - 1
    sol.entries = np.append(sol.entries[sol.entries < last - 1_000], [last])
    slow, fast = both([btc, eth, sol])
    same(slow, fast)
    assert fast.unfilled == 1
    assert [t.status for t in fast.trades if t.symbol == "ETH-USD"][-1] == "open"


def test_the_one_symbol_event_walk_is_the_bar_walk(plans: list[ReferencePlan]) -> None:
    for plan in plans:
        slow, fast = both([plan])
        same(slow, fast)
