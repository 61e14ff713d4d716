"""The plans: the rules' candidates, costs and proposals; the reference strategy's signals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from hmas.backtest.data import Range, load_series
from hmas.backtest.run import proposal_calibration, voter_agreement
from hmas.backtest.strategy import ReferencePlan, RulesPlan, reference_signals, taker_bps
from hmas.risk.book import PaperBook
from hmas.risk.positions import WIN, simulate
from hmas.settings import Settings, load_settings
from tests.backtest.conftest import permissive


@pytest.fixture(scope="module")
def loose() -> Settings:
    return permissive()


@pytest.fixture
def plan(sample_engine: Any, loose: Settings) -> RulesPlan:
    (series,) = load_series(sample_engine, loose, ["ETH-USD"], "1h", Range())
    return RulesPlan.build(series, loose)


def test_the_rules_candidates_are_the_bars_the_mother_approved(plan: RulesPlan) -> None:
    approved = plan.decided["approved"].to_numpy(dtype=bool)
    assert plan.candidates().tolist() == np.flatnonzero(approved).tolist()
    assert len(plan.candidates()) > 0
    assert set(plan.candidates().tolist()) <= set(plan.proposals().tolist())
    assert len(plan.decided) == len(plan.ts) == plan.series.bars


def test_an_order_costs_the_taker_fee_and_half_the_auditors_round_trip(
    plan: RulesPlan, loose: Settings
) -> None:
    row = int(plan.candidates()[0])
    book = PaperBook.fresh("rules", loose.paper, ts_ms=int(plan.ts[0]))
    order = plan.decide(row, book)
    assert order is not None and not hasattr(order, "refused_by")
    part, at = plan.history.locate(plan.offset + row)
    execution = part.output.frames["execution"].iloc[part.position(at)]
    assert order.fee_bps == taker_bps(loose, "sample") == 10.0  # type: ignore[union-attr]
    expected = (execution["spread_bps"] + execution["slippage_bps"]) / 2
    assert order.slippage_bps == pytest.approx(expected)  # type: ignore[union-attr]
    assert order.p_win == plan.decided["p_win"].iloc[row]  # type: ignore[union-attr]


def test_the_proposals_calibration_follows_every_proposal(plan: RulesPlan, loose: Settings) -> None:
    table = proposal_calibration([plan], loose)
    rows = plan.proposals()
    d = plan.decided.iloc[rows]
    sim = simulate(
        plan.ohlc,
        rows,
        d["direction"].to_numpy() > 0,
        d["stop"].to_numpy(dtype=float),
        d["target"].to_numpy(dtype=float),
        expiry_bars=loose.risk.expiry_bars("1h"),
    )
    resolved = sim.closed
    assert table["proposals"] == len(rows)
    assert table["approved_by_mother"] == len(plan.candidates())
    assert table["count"] == int(resolved.sum())
    assert table["base_rate"] == pytest.approx((sim.status[resolved] == WIN).mean())


def test_the_voters_agreement_over_the_simulated_bars(plan: RulesPlan) -> None:
    data = voter_agreement([plan])
    assert data["bars"] == len(plan.decided) and data["proposer"] == "alpha"
    assert data["voters"] == ["technical", "sentiment", "macro"]
    # The proposer is judged, never a voter; each voter's row on alpha's proposals counts them.
    (row,) = [q for q in data["proposals"] if q["voter"] == "technical" and q["setup"] is None]
    assert row["proposals"] == len(plan.proposals())
    pair = data["pairs"][0]
    votes = plan.decided[["vote_technical", "vote_sentiment"]].to_numpy()
    both = (votes[:, 0] != 0) & (votes[:, 1] != 0)
    assert (pair["first"], pair["second"], pair["both"]) == (
        "technical",
        "sentiment",
        int(both.sum()),
    )
    assert pair["agree"] == int((votes[both, 0] == votes[both, 1]).sum())


def test_the_reference_signals() -> None:
    features = pd.DataFrame(
        {
            "rsi_14": [25.0, 25.0, 35.0, 75.0, np.nan, 20.0],
            "close": [90.0, 100.0, 90.0, 120.0, 90.0, 90.0],
            "bb_lower": [95.0, 95.0, 95.0, 95.0, 95.0, 95.0],
            "atr_14": [2.0, 2.0, 2.0, 2.0, 2.0, 0.0],
        }
    )
    signals = reference_signals(features)
    # Entry: RSI < 30 and close below the band with a usable ATR; exit: RSI > 70.
    assert signals["entry"].tolist() == [True, False, False, False, False, False]
    assert signals["exit"].tolist() == [False, False, False, True, False, False]


def test_a_reference_order_sizes_95_percent_and_exits_after_the_next_signal(
    sample_engine: Any,
) -> None:
    settings = load_settings()
    (series,) = load_series(sample_engine, settings, ["BTC-USD"], "1h", Range())
    plan = ReferencePlan(series, settings)
    row = int(plan.candidates()[0])
    book = PaperBook.fresh("reference", settings.paper, ts_ms=int(plan.ts[0]))
    order = plan.decide(row, book)
    assert order is not None and not hasattr(order, "refused_by")
    close, atr = plan.ohlc[row, 3], plan.atr[row]
    assert order.entry == close  # type: ignore[union-attr]
    assert (order.stop, order.target) == (close - 2 * atr, close + 3 * atr)  # type: ignore[union-attr]
    assert order.size == pytest.approx(0.95 * settings.paper.starting_equity / close)  # type: ignore[union-attr]
    later = plan.exits[plan.exits >= row + 1]
    assert order.exit_at == int(later[0]) + 1  # type: ignore[union-attr]
