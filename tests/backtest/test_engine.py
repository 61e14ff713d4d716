"""The walk: one paper book in time order, the paper position rules, the guardian, no lookahead."""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np
import pytest

from hmas.backtest.data import Range, load_series
from hmas.backtest.engine import Trade, walk
from hmas.backtest.run import BacktestRequest, BacktestResult, run_backtest
from hmas.backtest.strategy import RulesPlan
from hmas.decision.verdict import DecidedBar, verdict
from hmas.risk.book import PaperBook
from hmas.risk.positions import follow_arrays
from hmas.settings import Settings
from tests.backtest.conftest import permissive

BOTH = ["BTC-USD", "ETH-USD"]


def backtest(engine: Any, settings: Settings, symbols: list[str] = BOTH) -> BacktestResult:
    return run_backtest(engine, settings, BacktestRequest(symbols, "1h"), store=False)


@pytest.fixture(scope="module")
def loose() -> Settings:
    return permissive()


def test_every_trade_is_the_paper_position_rules_own_outcome(
    sample_engine: Any, loose: Settings
) -> None:
    result = backtest(sample_engine, loose)
    trades = result.simulation.trades
    assert len(trades) >= 3
    plans = {p.series.symbol: p for p in result.plans}
    for t in trades:
        plan = plans[t.symbol]
        row = int(np.searchsorted(plan.ts, t.signal_ts))
        one = follow_arrays(
            t.side,  # type: ignore[arg-type]
            t.entry,
            t.stop,
            t.target,
            t.size,
            plan.ts[row + 1 :],
            plan.ohlc[row + 1 :],
            expiry_bars=loose.risk.expiry_bars("1h"),
            fee_bps=t.fee_bps,
            slippage_bps=t.slippage_bps,
            gap_allowance=loose.risk.gap_allowance,
        )
        assert (t.status, t.fill_ts, t.fill_price, t.exit_ts) == (
            one.status,
            one.fill_ts,
            one.fill_price,
            one.exit_ts,
        )
        assert t.pnl_money == one.pnl_money and t.r_multiple == one.r_multiple
        # Fills at the open of the bar after the signal, costs from the auditor and the fee.
        assert t.fill_ts == int(plan.ts[row + 1])
        assert t.fee_bps == 10.0  # the sample exchange's taker fee
        assert t.slippage_bps > 0


def test_a_result_reaches_the_book_only_after_its_exit_bar(
    sample_engine: Any, loose: Settings
) -> None:
    result = backtest(sample_engine, loose)
    start = loose.paper.starting_equity
    trades = result.simulation.trades
    for t in trades:
        # Settled before a decision at t: the trades that exited at or before its bar.
        known = [x.pnl_money or 0.0 for x in trades if x.closed and x.exit_ts <= t.signal_ts]  # type: ignore[operator]
        assert t.equity_before == pytest.approx(start + sum(known), abs=1e-6)
    closed = sum(t.pnl_money or 0.0 for t in trades if t.closed)
    assert result.simulation.book.account.equity == pytest.approx(start + closed, abs=1e-6)


def test_a_symbol_never_holds_two_positions_and_the_sizes_follow_the_equity(
    sample_engine: Any, loose: Settings
) -> None:
    trades = backtest(sample_engine, loose).simulation.trades
    for symbol in BOTH:
        mine = [t for t in trades if t.symbol == symbol]
        for a, b in itertools.pairwise(mine):
            assert a.exit_ts is not None and b.signal_ts >= a.exit_ts
    for t in trades:
        # The verdict sized every trade to risk at most risk_per_trade of the equity then.
        risk = t.size * abs(t.entry - t.stop)
        assert risk <= loose.risk.risk_per_trade * t.equity_before * (1 + 1e-9)


def test_the_guardian_refuses_on_the_simulated_account(sample_engine: Any) -> None:
    one_at_a_time = permissive(
        risk={"max_open_positions": 1, "cooldown_bars": 0, "max_drawdown": 0.5}
    )
    result = backtest(sample_engine, one_at_a_time)
    trades = result.simulation.trades
    assert trades
    spaced = permissive(risk={"cooldown_bars": 10_000, "max_drawdown": 0.5})
    refused = backtest(sample_engine, spaced).metrics["refusals"]
    # One trade a symbol: every later approval of a symbol is refused by the cooldown.
    assert refused.get("cooldown", 0) > 0, refused
    spans = sorted((t.signal_ts, t.exit_ts or 2**62) for t in trades)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end  # never two positions at once, whatever the symbol


def test_the_kill_switch_refuses_every_trade_and_no_trade_leaves_figures_unknown(
    sample_engine: Any,
) -> None:
    result = backtest(sample_engine, permissive(kill_switch=True))
    m = result.metrics
    assert m["trades"] == 0
    assert set(m["refusals"]) == {"kill_switch"}
    assert m["refusals"]["kill_switch"] == m["candidates"] > 0
    # Nothing traded: the figures that need trades or variance are null, each with its reason.
    json.dumps(result.as_dict(), allow_nan=False)
    assert m["total_return"] == 0.0 and m["max_drawdown"] == 0.0
    assert m["sharpe"] is None and m["unknown"]["sharpe"] == "the daily returns do not vary"
    assert m["expectancy_r"]["mean"] is None and m["unknown"]["expectancy_r"] == "no closed trade"
    assert m["profit_factor"] is None and m["unknown"]["profit_factor"] == "no closed trade"


def test_each_decision_is_the_verdict_on_the_book_state(
    sample_engine: Any, loose: Settings
) -> None:
    """The engine asks ``verdict`` with the book it holds: replaying the trades in a fresh book
    and asking the verdict at each trade's bar approves the same trade at the same size."""
    (series,) = load_series(sample_engine, loose, ["ETH-USD"], "1h", Range())
    plan = RulesPlan.build(series, loose)
    sim = walk([plan], loose, engine_name="rules")
    book = PaperBook.fresh("rules", loose.paper, ts_ms=int(plan.ts[0]))
    pending: list[Trade] = []
    for t in sim.trades:
        for done in sorted(
            (p for p in pending if p.exit_ts <= t.signal_ts), key=lambda p: p.exit_ts
        ):  # type: ignore[operator,arg-type,return-value]
            book = book.settle(done.id, _outcome(done), risk=loose.risk, bar_ms=3_600_000)
            pending.remove(done)
        book = book.at(t.signal_ts).approvals_since(t.signal_ts)
        row = int(np.searchsorted(plan.ts, t.signal_ts))
        decided = {str(k): v for k, v in plan.decided.iloc[row].items()}
        bar = DecidedBar(
            "ETH-USD", "1h", t.signal_ts, decided, plan.history.views_at(plan.offset + row)
        )
        judged = verdict(bar, book.state(t.signal_ts), loose)
        assert judged.decision == "APPROVED"
        assert (judged.entry, judged.stop_loss, judged.size) == (t.entry, t.stop, t.size)
        from hmas.risk.book import BookPosition

        book = book.open(
            BookPosition(
                signal_id=t.id,
                exchange="sample",
                symbol="ETH-USD",
                timeframe="1h",
                side=t.side,
                entry=t.entry,
                stop_loss=t.stop,
                take_profit=t.target,
                size=t.size,
                opened_bar_ts=t.signal_ts,
            )
        )
        if t.closed:
            pending.append(t)


def _outcome(t: Trade) -> Any:
    from hmas.risk.positions import PositionOutcome

    return PositionOutcome(
        status=t.status,  # type: ignore[arg-type]
        fill_ts=t.fill_ts,
        fill_price=t.fill_price,
        exit_ts=t.exit_ts,
        exit_price=t.exit_price,
        bars_held=t.bars_held,
        r_multiple=t.r_multiple,
        pnl_money=t.pnl_money,
        pnl_pct=t.pnl_pct,
        mae_r=t.mae_r,
        mfe_r=t.mfe_r,
    )


def test_the_run_json_has_no_nan_or_infinity(sample_engine: Any, loose: Settings) -> None:
    data = backtest(sample_engine, loose).as_dict()
    json.dumps(data, allow_nan=False)
    assert data["metrics"]["trades"] == len(data["trades"]) > 0
    assert data["sample_data"] is True
