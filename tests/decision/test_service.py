"""Signals in the store: idempotence, atomicity, replay, the guardian, the run loop."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import Session, col

from hmas.decision import service
from hmas.decision.replay import replay
from hmas.errors import UsageError
from hmas.live.loop import RunOptions, StopFlag, run_loop
from hmas.risk import ledger
from hmas.settings import DECISION_MODEL
from hmas.store import records
from hmas.store.models import Analysis, Position, Run, Signal, SignalResult
from tests.decision.conftest import permissive, setup_bars


def count(engine: Any, model: Any) -> int:
    with Session(engine) as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def approved_analysis(engine: Any, settings: Any) -> Any:
    inputs = service.load_inputs(engine, settings, "sample", "ETH-USD", "1h")
    bars = setup_bars(inputs, settings)
    assert bars, "the sample history must contain a proposal"
    for bar in bars:
        analysis = service.analyze(engine, settings, "ETH-USD", "1h", at_ms=bar).analysis
        if analysis.views["alpha"]["action"] != "HOLD":
            return analysis
    raise AssertionError("no analysed proposal")


def test_analyze_and_decide_are_idempotent(sample_store: Any) -> None:
    settings = permissive()
    first = service.analyze(sample_store, settings, "ETH-USD", "1h")
    again = service.analyze(sample_store, settings, "ETH-USD", "1h")
    assert first.created and not again.created
    assert first.analysis.id == again.analysis.id
    s1 = service.decide(sample_store, settings, first.analysis)
    s2 = service.decide(sample_store, settings, again.analysis)
    assert s1.created and not s2.created
    assert s1.signal.id == s2.signal.id
    assert count(sample_store, Signal) == 1
    other = permissive(
        mother={"min_expected_value_r": -50.0, "min_consensus": 0.0, "min_confidence": 0.0}
    )
    assert service.analyze(sample_store, other, "ETH-USD", "1h").created  # another config


def test_approved_signal_opens_a_position_atomically(
    sample_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = permissive()
    analysis = approved_analysis(sample_store, settings)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed midway")

    monkeypatch.setattr(ledger, "open_position", crash)
    with pytest.raises(RuntimeError, match="killed midway"):
        service.decide(sample_store, settings, analysis)
    assert count(sample_store, Signal) == 0  # no partial signal
    assert count(sample_store, Position) == 0
    monkeypatch.undo()
    record = service.decide(sample_store, settings, analysis)
    assert record.created
    assert record.signal.decision == "APPROVED"
    assert count(sample_store, Position) == 1
    with Session(sample_store) as session:
        result = session.get(SignalResult, record.signal.id)
    assert result is not None and result.status == "pending"


def test_every_stored_signal_replays_identically(sample_store: Any) -> None:
    settings = permissive()
    analysis = approved_analysis(sample_store, settings)
    approved = service.decide(sample_store, settings, analysis).signal
    latest = service.decide(
        sample_store, settings, service.analyze(sample_store, settings, "BTC-USD", "1h").analysis
    ).signal
    for sig in (approved, latest):
        result = replay(sample_store, sig.id)
        assert result.identical, result.differences
        assert result.as_dict() == {
            "signal_id": sig.id,
            "identical": True,
            "differences": [],
            "config_changed": False,
            "model_changed": False,
            "stored_model": DECISION_MODEL,
            "model": DECISION_MODEL,
        }


def test_replay_with_another_config_shows_what_changes(sample_store: Any) -> None:
    settings = permissive()
    signal = service.decide(
        sample_store, settings, approved_analysis(sample_store, settings)
    ).signal
    assert signal.decision == "APPROVED"
    strict = permissive(
        mother={"min_expected_value_r": 50.0, "min_consensus": 0.0, "min_confidence": 0.0}
    )
    result = replay(sample_store, signal.id, strict)
    assert not result.identical and result.config_changed
    fields = {d["field"]: d for d in result.differences}
    assert fields["decision"] == {"field": "decision", "stored": "APPROVED", "replayed": "REJECTED"}
    assert fields["entry"]["replayed"] is None


def test_guardian_kill_switch_rejects_an_approved_proposal(sample_store: Any) -> None:
    settings = permissive()
    ledger.set_kill_switch(sample_store, settings, True)
    signal = service.decide(
        sample_store, settings, approved_analysis(sample_store, settings)
    ).signal
    assert signal.decision == "REJECTED"
    assert signal.rejection_reason is not None
    assert signal.rejection_reason.startswith("guardian: kill_switch")
    assert signal.entry is None and signal.action == "HOLD"
    assert signal.guardian["checked"] is True
    assert replay(sample_store, signal.id).identical


def test_guardian_max_open_positions_is_named(sample_store: Any) -> None:
    settings = permissive(risk={"max_open_positions": 0})
    signal = service.decide(
        sample_store, settings, approved_analysis(sample_store, settings)
    ).signal
    assert signal.decision == "REJECTED"
    assert "max_open_positions" in (signal.rejection_reason or "")


def test_analyze_errors(sample_store: Any) -> None:
    settings = permissive()
    with pytest.raises(UsageError, match=r"no SOL-USD 1h candles stored; fetch them first"):
        service.analyze(sample_store, settings, "SOL-USD", "1h")
    with pytest.raises(UsageError, match="no signal with id 999"):
        records.get_signal(sample_store, 999)


def test_run_once_twice_in_the_same_bar_adds_nothing(sample_store: Any) -> None:
    settings = permissive()
    options = RunOptions(symbols=["BTC-USD", "ETH-USD"], timeframe="1h", fetch=False)
    events: list[tuple[str, str]] = []
    first = run_loop(
        sample_store,
        settings,
        options,
        install_signal_handlers=False,
        on_event=lambda sym, stage, _d: events.append((sym, stage)),
    )
    assert [s.created for s in first[0].symbols] == [True, True]
    assert first[0].status == "ok"
    signals, analyses = count(sample_store, Signal), count(sample_store, Analysis)
    second = run_loop(sample_store, settings, options, install_signal_handlers=False)
    assert [s.created for s in second[0].symbols] == [False, False]
    assert (count(sample_store, Signal), count(sample_store, Analysis)) == (signals, analyses)
    assert ("BTC-USD", "done") in events and ("ETH-USD", "analyzing") in events
    assert count(sample_store, Run) == 2


def test_one_failing_symbol_does_not_stop_the_others(sample_store: Any) -> None:
    options = RunOptions(symbols=["SOL-USD", "BTC-USD"], timeframe="1h", fetch=False)
    (result,) = run_loop(sample_store, permissive(), options, install_signal_handlers=False)
    assert result.status == "partial"
    assert result.symbols[0].status == "error"
    assert "no SOL-USD 1h candles stored" in (result.symbols[0].error or "")
    assert result.symbols[1].status == "ok"


def test_stop_flag_finishes_the_current_symbol(sample_store: Any) -> None:
    stop = StopFlag()
    options = RunOptions(symbols=["BTC-USD", "ETH-USD"], timeframe="1h", fetch=False, iterations=-1)

    def on_event(symbol: str, stage: str, _detail: dict[str, Any]) -> None:
        if stage == "analyzing":
            stop.event.set()  # as SIGTERM would, mid-symbol

    results = run_loop(
        sample_store,
        permissive(),
        options,
        stop=stop,
        on_event=on_event,
        install_signal_handlers=False,
    )
    assert len(results) == 1
    assert results[0].status == "interrupted"
    assert [s.symbol for s in results[0].symbols] == ["BTC-USD"]
    assert results[0].symbols[0].status == "ok"


def test_paper_update_closes_positions_and_books_the_account(sample_store: Any) -> None:
    from hmas.report.queries import summary
    from hmas.store.models import Account

    settings = permissive()
    signal = service.decide(
        sample_store, settings, approved_analysis(sample_store, settings)
    ).signal
    assert signal.decision == "APPROVED"
    closed = ledger.update_positions(sample_store, settings, settings.decision.engine)
    assert [c.signal_id for c in closed] == [signal.id]
    with Session(sample_store) as session:
        result = session.get(SignalResult, signal.id)
        position = session.execute(select(Position)).scalars().one()
        account = session.get(Account, "rules")
    assert result is not None and account is not None
    assert result.status in ("win", "loss", "expired")
    assert result.fill_ts == signal.bar_ts + 3_600_000  # filled at the next bar's open
    assert result.r_multiple is not None and result.pnl_money is not None
    assert position.status == "closed"
    assert account.equity == pytest.approx(settings.paper.starting_equity + result.pnl_money)
    # Nothing left open.
    assert ledger.update_positions(sample_store, settings, settings.decision.engine) == []
    report = summary(sample_store, "rules")
    assert report["closed_trades"] == 1
    assert report["outcomes"][result.status]["count"] == 1
    assert report["open_positions"] == []


def test_the_paper_book_charges_the_costs_the_auditor_assumed(sample_store: Any) -> None:
    from hmas.risk.costs import SideCosts
    from hmas.risk.positions import follow
    from hmas.store.candles import CandleStore

    settings = permissive()
    analysis = approved_analysis(sample_store, settings)
    signal = service.decide(sample_store, settings, analysis).signal
    assert signal.decision == "APPROVED"
    audit = analysis.views["execution"]
    side = SideCosts.from_audit(audit["fee_bps"], audit["spread_bps"], audit["slippage_bps"])
    # The proposal the guardian judged carries one side of the auditor's round trip.
    proposal = signal.guardian["proposal"]
    assert {k: proposal[k] for k in ("fee_bps", "spread_bps", "slippage_bps")} == side.as_record()
    assert 2 * side.total_bps == pytest.approx(audit["total_cost_bps"])
    ledger.update_positions(sample_store, settings, settings.decision.engine)
    with Session(sample_store) as session:
        result = session.get(SignalResult, signal.id)
    assert result is not None and result.status in ("win", "loss", "expired")
    candles = CandleStore(sample_store).frame("sample", "ETH-USD", "1h")
    assert signal.entry is not None and signal.stop_loss is not None
    assert signal.take_profit is not None and signal.size is not None
    args = (signal.entry, signal.stop_loss, signal.take_profit, signal.size, signal.bar_ts, candles)
    charged = follow(
        signal.action,  # type: ignore[arg-type]
        *args,
        expiry_bars=48,
        costs=side,
        gap_allowance=settings.risk.gap_allowance,
    )
    assert (result.pnl_money, result.r_multiple) == (charged.pnl_money, charged.r_multiple)
    assert (result.fill_price, result.exit_price) == (charged.fill_price, charged.exit_price)
    # The fee alone (what the book charged before) would have booked more.
    fee_only = follow(signal.action, *args, expiry_bars=48, fee_bps=side.fee_bps)  # type: ignore[arg-type]
    assert charged.pnl_money is not None and fee_only.pnl_money is not None
    assert charged.pnl_money < fee_only.pnl_money


def test_fear_greed_index_is_snapshotted_so_replay_needs_no_network(
    sample_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    from hmas.data import feargreed

    days = pd.date_range("2025-09-01", "2026-01-01", freq="D", tz="UTC")
    history = pd.Series([20.0 + (i % 60) for i in range(len(days))], index=days)
    monkeypatch.setattr(feargreed.FearGreedClient, "history", lambda self, limit=30: history)
    settings = permissive(sentiment={"use_fear_greed_index": True})
    analysis = service.analyze(sample_store, settings, "BTC-USD", "1h").analysis
    assert analysis.views["sentiment"]["fear_greed_index"] is not None
    assert "fear_greed" in analysis.context
    signal = service.decide(sample_store, settings, analysis).signal

    def offline(self: Any, limit: int = 30) -> None:
        raise AssertionError("replay must not fetch the index")

    monkeypatch.setattr(feargreed.FearGreedClient, "history", offline)
    assert replay(sample_store, signal.id).identical


def test_fear_greed_failure_is_noted_not_fatal(
    sample_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hmas.data import feargreed

    def down(self: Any, limit: int = 30) -> None:
        self.last_error = "ConnectError: network down"

    monkeypatch.setattr(feargreed.FearGreedClient, "history", down)
    settings = permissive(sentiment={"use_fear_greed_index": True})
    analysis = service.analyze(sample_store, settings, "BTC-USD", "1h").analysis
    view = analysis.views["sentiment"]
    assert view["fear_greed_index"] is None
    assert any("network down" in note for note in view["notes"])


def test_signal_limits_hold_across_runs(sample_store: Any) -> None:
    settings = permissive(risk={"max_signals_per_day": 1, "cooldown_bars": 0})
    inputs = service.load_inputs(sample_store, settings, "sample", "ETH-USD", "1h")
    bars = setup_bars(inputs, settings, limit=40)
    decided = []
    for bar in bars:
        analysis = service.analyze(sample_store, settings, "ETH-USD", "1h", at_ms=bar).analysis
        decided.append(service.decide(sample_store, settings, analysis).signal)
        ledger.update_positions(sample_store, settings, settings.decision.engine)
    approved_days = [s.bar_ts // 86_400_000 for s in decided if s.decision == "APPROVED"]
    assert approved_days, "some proposal must be approved"
    assert len(approved_days) == len(set(approved_days))  # at most one a day
    limited = [s for s in decided if "signals_per_day" in (s.rejection_reason or "")]
    assert limited, "a second proposal on an approved day is refused by the daily limit"


def test_a_gap_in_the_recent_candles_fails_closed(sample_store: Any) -> None:
    from sqlalchemy import delete

    from hmas.store.models import Candle

    settings = permissive()
    inputs = service.load_inputs(sample_store, settings, "sample", "ETH-USD", "1h")
    bar = setup_bars(inputs, settings)[0]
    with sample_store.begin() as conn:
        conn.execute(
            delete(Candle).where(
                col(Candle.symbol) == "ETH-USD", col(Candle.ts) == bar - 5 * 3_600_000
            )
        )
    analysis = service.analyze(sample_store, settings, "ETH-USD", "1h", at_ms=bar).analysis
    assert analysis.context["recent_missing"] == 1
    assert analysis.views["alpha"]["action"] != "HOLD"  # the proposal survives the gap...
    signal = service.decide(sample_store, settings, analysis).signal
    assert signal.decision == "REJECTED"  # ...but is not traded
    assert signal.rejection_reason == "data quality: 1 candle(s) missing in the last 50 bars"
    assert signal.entry is None
    check = signal.rounds["decide"]["checks"][-1]
    assert check == {
        "rule": "candles missing in the last 50 bars <= limit",
        "value": 1,
        "threshold": 0,
        "passed": False,
    }
    assert replay(sample_store, signal.id).identical


def test_every_signal_of_a_session_replays_identically(sample_store: Any) -> None:
    from hmas.report.queries import list_signals

    settings = permissive(risk={"cooldown_bars": 0})
    inputs = service.load_inputs(sample_store, settings, "sample", "ETH-USD", "1h")
    for bar in setup_bars(inputs, settings, limit=12):
        ledger.update_positions(sample_store, settings, settings.decision.engine)
        analysis = service.analyze(sample_store, settings, "ETH-USD", "1h", at_ms=bar).analysis
        service.decide(sample_store, settings, analysis)
    for symbol in ("BTC-USD", "ETH-USD"):
        analysis = service.analyze(sample_store, settings, symbol, "1h").analysis
        service.decide(sample_store, settings, analysis)
    signals = list_signals(sample_store, limit=100)
    assert len(signals) >= 10
    assert {s.decision for s in signals} == {"APPROVED", "REJECTED"}
    for sig in signals:
        result = replay(sample_store, sig.id)
        assert result.identical, (sig.id, result.differences)


def test_a_long_loop_holds_only_the_results_it_keeps(sample_store: Any) -> None:
    """A loop that runs for weeks must not grow with every iteration: with ``keep=1`` (what
    ``hmas run`` asks) it holds one iteration's result however long it runs; without it,
    every iteration's result stays alive until the loop returns."""
    import gc

    from hmas.live.loop import IterationResult

    settings = permissive()

    def alive_per_iteration(n: int, keep: int | None) -> list[int]:
        seen: list[int] = []

        def count(_result: Any, _outcome: Any) -> None:
            gc.collect()
            seen.append(sum(isinstance(o, IterationResult) for o in gc.get_objects()))

        options = RunOptions(
            symbols=["BTC-USD"], timeframe="1h", fetch=False, iterations=n, sleep_seconds=0
        )
        results = run_loop(
            sample_store,
            settings,
            options,
            install_signal_handlers=False,
            keep=keep,
            on_outcome=count,
        )
        assert [r.iteration for r in results] == list(range(n + 1 - len(results), n + 1))
        assert len(results) == (n if keep is None else keep)
        return seen

    # the one running, and the last one kept
    assert max(alive_per_iteration(8, 1)) <= 2
    assert alive_per_iteration(8, None) == list(range(1, 9))


def test_hmas_run_keeps_only_the_last_iteration(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from hmas.cli import app
    from hmas.live import loop

    asked: list[int | None] = []
    real = loop.run_loop

    def spy(*args: Any, **kwargs: Any) -> Any:
        asked.append(kwargs.get("keep"))
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "run_loop", spy)
    monkeypatch.setenv("HMAS_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(
        app,
        [
            "run",
            "-s",
            "BTC-USD",
            "--source",
            "sample",
            "--iterations",
            "2",
            "--sleep-seconds",
            "0",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert asked == [1]
    assert [json.loads(line)["iteration"] for line in result.stdout.splitlines()] == [1, 2]
