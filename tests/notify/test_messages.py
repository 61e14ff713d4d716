"""What a notification says about a stored signal."""

from __future__ import annotations

from typing import Any

from hmas.notify.messages import events_for
from hmas.notify.sender import Notifier, Telegram
from hmas.store.models import Signal
from tests.decision.conftest import permissive, sample_store
from tests.decision.test_service import approved_analysis
from tests.llm.stub import Reply, StubServer

__all__ = ["sample_store"]

BAR = 1_764_684_000_000  # 2025-12-02T14:00Z


def _signal(**fields: Any) -> Signal:
    base: dict[str, Any] = {
        "id": 7,
        "analysis_id": 1,
        "exchange": "sample",
        "symbol": "BTC-USD",
        "timeframe": "1h",
        "bar_ts": BAR,
        "engine": "rules",
        "config_hash": "x",
        "hmas_version": "0",
        "source": "exchange",
        "decision": "REJECTED",
        "action": "HOLD",
    }
    return Signal(**{**base, **fields})


def test_an_approved_signal_says_its_trade() -> None:
    signal = _signal(
        decision="APPROVED",
        action="BUY",
        entry=97000.0,
        stop_loss=95500.0,
        take_profit=101500.0,
        size=0.0123,
        reward_risk=3.0,
        expected_value_r=0.4,
    )
    (event,) = events_for(signal)
    assert event.kind == "approved"
    assert event.text == (
        "hmas (paper): APPROVED BUY BTC-USD 1h (bar 2025-12-02 14:00Z, signal 7)\n"
        "entry 97,000.00 stop 95,500.00 target 101,500.00 size 0.0123 R:R 3.00 EV +0.40R"
    )


def test_a_kill_switch_refusal_names_the_proposed_side() -> None:
    guardian = {"proposal": {"side": "SELL"}, "refused_by": ["kill_switch", "paused"]}
    (event,) = events_for(_signal(guardian=guardian, source="sample"))
    assert event.kind == "kill_switch"
    assert event.text == (
        "hmas (paper): kill switch on, refused SELL BTC-USD 1h (bar 2025-12-02 14:00Z, "
        "signal 7) [SAMPLE DATA]"
    )


def test_a_guardian_pause_gives_the_guardians_reason() -> None:
    guardian = {
        "proposal": {"side": "BUY"},
        "verdict": {
            "allowed": False,
            "violations": [
                {"limit": "paused", "detail": "Trading is paused until 2025-12-03 14:00Z."},
                {"limit": "cooldown", "detail": "too soon"},
            ],
        },
        "refused_by": ["paused", "cooldown"],
    }
    (event,) = events_for(_signal(guardian=guardian))
    assert event.kind == "paused"
    assert event.text.endswith("\npaused: Trading is paused until 2025-12-03 14:00Z.")


def test_a_plain_rejection_or_a_cooldown_is_no_event() -> None:
    assert events_for(_signal()) == []
    assert events_for(_signal(guardian={"refused_by": ["cooldown"]})) == []


def test_a_stored_approval_is_sent_from_the_store(sample_store: Any) -> None:
    from hmas.decision import service

    settings = permissive()
    analysis = approved_analysis(sample_store, settings)
    record = service.decide(sample_store, settings, analysis)
    assert record.signal.decision == "APPROVED"
    with StubServer() as stub:
        stub.default = Reply(body={"ok": True, "result": {}})
        notifier = Notifier([Telegram("1:tok", "5", stub.url)])
        notifier.signal(sample_store, record.signal.id)
        notifier.close()
    (seen,) = stub.seen
    assert seen.body["text"].startswith(f"hmas (paper): APPROVED {record.signal.action} ETH-USD 1h")
    assert f"signal {record.signal.id})" in seen.body["text"]


def test_pause_events_say_what_started_or_was_lifted_and_how() -> None:
    from hmas.notify.messages import pause_event

    pause = {
        "id": 8,
        "trigger": "data_quality",
        "scope": "BTC-USD",
        "reason": "14 of the last 100 candles missing (limit 10%)",
        "expires_at": "2026-12-02T18:00:00+00:00",
        "lift_reason": None,
    }
    started = pause_event("pause_started", pause)
    assert started is not None and started.kind == "paused"
    assert started.text == (
        "hmas (paper): guardian paused trading: pause #8 (data_quality, BTC-USD) until "
        "2026-12-02T18:00:00+00:00\n14 of the last 100 candles missing (limit 10%)"
    )
    lifted = pause_event("pause_lifted", {**pause, "scope": "*", "how": "expiry"})
    assert lifted is not None and lifted.kind == "resumed"
    assert lifted.text == "hmas (paper): pause #8 (data_quality, every symbol) lifted at its expiry"
    resumed = pause_event("pause_lifted", {**pause, "how": "resume", "lift_reason": "fixed"})
    assert resumed is not None
    assert resumed.text.endswith("lifted by hmas resume: fixed")
    assert pause_event("analyzing", pause) is None
