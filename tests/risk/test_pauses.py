"""The auto-pause triggers: each fires at its threshold and not below it, expires, is lifted
by resume, and a stored pause refuses new trades as the guardian's ``paused`` limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from hmas.risk import pauses
from hmas.risk.book import PaperBook
from hmas.risk.guardian import AccountState, ActivePause, Proposal, check
from hmas.settings import RiskParams, load_settings
from hmas.store import pauses as store
from hmas.store.engine import make_engine, upgrade
from hmas.store.models import Candle, FetchRun, LlmCall

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
HOUR = 3_600_000


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    eng = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(eng)
    yield eng
    eng.dispose()


def _book(equity: float = 100_000.0, day_start: float = 100_000.0) -> PaperBook:
    book = PaperBook.fresh("rules", load_settings().paper, ts_ms=int(NOW.timestamp() * 1000))
    account = book.account.model_copy(update={"equity": equity, "day_start_equity": day_start})
    return book.model_copy(update={"account": account})


# --- the pure rules at their thresholds ---------------------------------------------------


def test_daily_loss_fires_at_the_guardian_limit_and_not_below() -> None:
    assert pauses.daily_loss_reason(100_000, 95_001, 0.05) is None
    reason = pauses.daily_loss_reason(100_000, 95_000, 0.05)
    assert reason == (
        "today's loss is 5.00% of the day-start equity 100,000.00, at or beyond the 5.00% "
        "daily loss limit"
    )


def test_api_errors_fire_at_n_and_not_below_and_zero_disables() -> None:
    assert pauses.api_errors_reason(6, 3, 10, "15m") is None
    assert pauses.api_errors_reason(7, 3, 10, "15m") == (
        "10 errors within 15m (7 exchange fetch(es), 3 LLM call(s)), at or above the limit of 10"
    )
    assert pauses.api_errors_reason(100, 100, 0, "15m") is None


def test_data_quality_fires_above_the_missing_fraction() -> None:
    step = HOUR
    full = [i * step for i in range(101)]
    ten_missing = [t for i, t in enumerate(full) if not 40 <= i < 50]
    eleven_missing = [t for i, t in enumerate(full) if not 40 <= i < 51]
    assert pauses.data_quality_reason(full, step, 100, 0.1) is None
    assert pauses.data_quality_reason(ten_missing, step, 100, 0.1) is None
    assert pauses.data_quality_reason(eleven_missing, step, 100, 0.1) == (
        "11 of the last 100 candles are missing (11%), more than the 10% allowed"
    )
    assert pauses.data_quality_reason(eleven_missing, step, 0, 0.1) is None


def test_slippage_fires_beyond_the_multiple_of_the_estimate() -> None:
    at_limit = [pauses.Fill(realised_bps=30.0, estimated_bps=10.0)] * 5
    beyond = [pauses.Fill(realised_bps=31.0, estimated_bps=10.0)] * 5
    assert pauses.slippage_reason(at_limit, 5, 3.0, 5.0) is None
    assert pauses.slippage_reason(beyond[:4], 5, 3.0, 5.0) is None  # too few fills
    assert pauses.slippage_reason(beyond, 5, 3.0, 5.0) == (
        "the last 5 fills slipped 31.0 bps on average against the model's 10.0 bps, more than "
        "3x the estimate"
    )
    tiny = [pauses.Fill(realised_bps=4.0, estimated_bps=0.1)] * 5
    assert pauses.slippage_reason(tiny, 5, 3.0, 5.0) is None  # under the floor


# --- the refusal --------------------------------------------------------------------------


def _proposal(symbol: str = "BTC-USD") -> Proposal:
    return Proposal(
        symbol=symbol, side="BUY", entry=100.0, stop=95.0, size=1.0, bar_ts=0, bar_ms=HOUR
    )


def test_a_stored_pause_refuses_as_paused_naming_it() -> None:
    state = AccountState(
        equity=100_000,
        day_start_equity=100_000,
        peak_equity=100_000,
        pauses=(
            ActivePause(id=7, trigger="data_quality", scope="ETH-USD", reason="gaps"),
            ActivePause(id=8, trigger="api_errors", reason="12 errors", expires_ts=HOUR),
        ),
    )
    verdict = check(_proposal(), state, RiskParams())
    assert [v.limit for v in verdict.violations] == ["paused"]
    assert verdict.violations[0].detail == (
        "Trading is paused: pause #8 (api_errors, until 1970-01-01T01:00Z): 12 errors "
        "(hmas resume lifts it)."
    )
    eth = check(_proposal("ETH-USD"), state, RiskParams())
    assert "pause #7 (data_quality, ETH-USD" in eth.violations[0].detail
    assert check(_proposal(), state.model_copy(update={"pauses": ()}), RiskParams()).allowed


# --- the triggers on the store, expiry and resume ------------------------------------------


def test_api_error_burst_pauses_expires_and_does_not_refire_on_the_same_errors(
    engine: Any,
) -> None:
    settings = load_settings()
    with Session(engine) as session:
        for i in range(9):
            session.add(
                FetchRun(
                    source="exchange",
                    exchange="coinbase",
                    symbol="BTC-USD",
                    timeframe="1h",
                    started_at=NOW - timedelta(minutes=i),
                    status="error",
                )
            )
        session.commit()
        assert pauses.evaluate(session, settings, "rules", _book(), NOW) == []
        session.add(
            LlmCall(
                day="2024-03-01",
                batch="b",
                agent="alpha",
                vendor="x",
                model="m",
                status="deadline",
                created_at=NOW - timedelta(minutes=1),
            )
        )
        session.commit()
        started = pauses.evaluate(session, settings, "rules", _book(), NOW)
        assert [p.trigger for p in started] == ["api_errors"]
        assert started[0].reason.startswith("10 errors within 15m (9 exchange fetch(es), 1 LLM")
        assert [p.trigger for p in pauses.active_pauses(session, "rules", NOW, "BTC-USD")] == [
            "api_errors"
        ]
        # A second evaluation does not store it twice; after its 30m it has expired.
        assert pauses.evaluate(session, settings, "rules", _book(), NOW) == []
        later = NOW + timedelta(minutes=31)
        assert pauses.active_pauses(session, "rules", later, "BTC-USD") == ()
        assert pauses.evaluate(session, settings, "rules", _book(), later) == []
        session.commit()
    events = store.events_between(engine, NOW - timedelta(seconds=1), later)
    assert [(e["event"], e["trigger"]) for e in events] == [
        ("pause_started", "api_errors"),
        ("pause_lifted", "api_errors"),
    ]
    assert events[1]["how"] == "expiry"


def test_daily_loss_pause_lasts_the_day_and_resume_keeps_it(engine: Any) -> None:
    settings = load_settings()
    with Session(engine) as session:
        assert pauses.evaluate(session, settings, "rules", _book(95_001), NOW) == []
        [pause] = pauses.evaluate(session, settings, "rules", _book(95_000), NOW)
        assert pause.trigger == "daily_loss"
        assert store.aware(pause.expires_at) == datetime(2024, 3, 2, tzinfo=UTC)  # type: ignore[arg-type]
        # The limit itself refuses; the stored pause is not a second refusal.
        assert pauses.active_pauses(session, "rules", NOW, "BTC-USD") == ()
        done = pauses.resume(
            session, settings, "rules", NOW, trigger=None, by="op", reason="checked"
        )
        assert (done.lifted, [p.trigger for p in done.kept]) == ([], ["daily_loss"])


def test_data_quality_pauses_the_symbol_only_and_resume_lifts_it(engine: Any) -> None:
    settings = load_settings()
    bar = int(NOW.timestamp() * 1000)
    with Session(engine) as session:
        for i in range(101):
            if 40 <= i < 52:
                continue
            session.add(
                Candle(
                    exchange="coinbase",
                    symbol="BTC-USD",
                    timeframe="1h",
                    ts=bar - (100 - i) * HOUR,
                    open=1,
                    high=1,
                    low=1,
                    close=1,
                    volume=1,
                    source="test",
                )
            )
        session.commit()
        kwargs: dict[str, Any] = {
            "symbol": "BTC-USD",
            "exchange": "coinbase",
            "timeframe": "1h",
            "bar_ts": bar,
        }
        [pause] = pauses.evaluate(session, settings, "rules", _book(), NOW, **kwargs)
        assert (pause.trigger, pause.scope) == ("data_quality", "BTC-USD")
        assert pause.reason == (
            "BTC-USD 1h: 12 of the last 100 candles are missing (12%), more than the 10% allowed"
        )
        assert pauses.active_pauses(session, "rules", NOW, "ETH-USD") == ()
        done = pauses.resume(
            session, settings, "rules", NOW, trigger="data_quality", by="op", reason="refetched"
        )
        assert [(p.trigger, p.lifted_by, p.lift_reason) for p in done.lifted] == [
            ("data_quality", "op", "refetched")
        ]
        # The same gaps, older than the lift, do not pause it again.
        later = NOW + timedelta(minutes=1)
        assert pauses.evaluate(session, settings, "rules", _book(), later, **kwargs) == []


def test_loss_streak_is_stored_and_resume_clears_the_account_pause(engine: Any) -> None:
    from hmas.risk import ledger

    settings = load_settings()
    until = int((NOW + timedelta(hours=24)).timestamp() * 1000)
    with Session(engine) as session:
        row = ledger.get_account(session, settings, "rules")
        row.paused_until_ts = until
        session.add(row)
        book = _book()
        book = book.model_copy(
            update={"account": book.account.model_copy(update={"paused_until_ts": until})}
        )
        [pause] = pauses.evaluate(session, settings, "rules", book, NOW)
        assert pause.trigger == "loss_streak"
        done = pauses.resume(
            session, settings, "rules", NOW, trigger="loss_streak", by="op", reason=None
        )
        assert [p.trigger for p in done.lifted] == ["loss_streak"]
        assert ledger.get_account(session, settings, "rules").paused_until_ts is None
