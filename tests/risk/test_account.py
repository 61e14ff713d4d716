"""The paper account: a new account, the UTC day roll, booking outcomes, the loss-streak pause."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from hmas.risk.account import (
    PaperAccount,
    account_state,
    apply_outcome,
    new_account,
    roll_day,
    utc_day,
)
from hmas.risk.guardian import Proposal, check
from hmas.risk.positions import PositionOutcome
from hmas.settings import PaperParams, RiskParams

H = 3_600_000
DAY1 = 1_709_251_200_000  # 2024-03-01T00:00Z
DAY2 = DAY1 + 24 * H
RISK = RiskParams(max_consecutive_losses=3, pause_bars=24)


def outcome(status: str, pnl: float | None) -> PositionOutcome:
    return PositionOutcome.model_validate(
        {"status": status, "fill_ts": DAY1, "fill_price": 100.0, "pnl_money": pnl, "bars_held": 3}
    )


def book(account: PaperAccount, status: str, pnl: float | None, ts: int = DAY1 + H) -> PaperAccount:
    return apply_outcome(account, outcome(status, pnl), closed_ts=ts, risk=RISK, bar_ms=H)


@pytest.fixture
def account() -> PaperAccount:
    return new_account("rules", PaperParams(starting_equity=10_000.0), ts_ms=DAY1)


def test_new_account() -> None:
    fresh = new_account("rules", PaperParams())
    assert fresh.engine == "rules"
    assert fresh.starting_equity == fresh.equity == 100_000.0
    assert fresh.day_start_equity == fresh.peak_equity == 100_000.0
    assert fresh.day == ""
    assert (fresh.consecutive_losses, fresh.paused_until_ts, fresh.kill_switch) == (0, None, False)
    assert new_account("llm", PaperParams(), ts_ms=DAY1 + 5 * H).day == "2024-03-01"


def test_utc_day() -> None:
    assert utc_day(DAY1 - 1) == "2024-02-29"
    assert utc_day(DAY1) == "2024-03-01"


def test_roll_day(account: PaperAccount) -> None:
    down = account.model_copy(update={"equity": 9_500.0})
    assert roll_day(down, DAY1 + 23 * H) is down  # same UTC day: nothing to do
    rolled = roll_day(down, DAY2)
    assert (rolled.day, rolled.day_start_equity, rolled.equity) == ("2024-03-02", 9_500.0, 9_500.0)
    assert down.day_start_equity == 10_000.0  # the original is untouched
    assert roll_day(rolled, DAY1) is rolled  # the day never moves back
    assert roll_day(new_account("rules", PaperParams()), DAY1).day == "2024-03-01"


def test_win_raises_equity_and_peak_and_resets_the_streak(account: PaperAccount) -> None:
    streak = account.model_copy(update={"consecutive_losses": 2})
    after = book(streak, "win", 250.0)
    assert after.equity == after.peak_equity == 10_250.0
    assert after.consecutive_losses == 0
    assert after.paused_until_ts is None


def test_loss_lowers_equity_and_extends_the_streak(account: PaperAccount) -> None:
    after = book(account, "loss", -100.0)
    assert after.equity == 9_900.0
    assert after.peak_equity == 10_000.0
    assert after.day_start_equity == 10_000.0
    assert after.consecutive_losses == 1
    assert account.equity == 10_000.0


@pytest.mark.parametrize("pnl", [-40.0, 35.0])
def test_expiry_leaves_the_streak_alone(account: PaperAccount, pnl: float) -> None:
    streak = account.model_copy(update={"consecutive_losses": 2})
    after = book(streak, "expired", pnl)
    assert after.equity == 10_000.0 + pnl
    assert after.consecutive_losses == 2


def test_losing_streak_pauses_and_restarts_the_count(account: PaperAccount) -> None:
    closed = DAY1 + 5 * H
    two = book(book(account, "loss", -100.0), "loss", -100.0)
    assert (two.consecutive_losses, two.paused_until_ts) == (2, None)
    three = book(two, "loss", -100.0, ts=closed)
    assert three.paused_until_ts == closed + 24 * H
    assert three.consecutive_losses == 0
    # A later, shorter pause never shortens one in force.
    longer = three.model_copy(update={"paused_until_ts": closed + 100 * H})
    again = book(book(book(longer, "loss", -1.0), "loss", -1.0), "loss", -1.0, ts=closed + H)
    assert again.paused_until_ts == closed + 100 * H


def test_open_outcome_changes_nothing(account: PaperAccount) -> None:
    assert book(account, "open", None, ts=DAY2) is account


def test_closed_outcome_without_pnl_keeps_equity(account: PaperAccount) -> None:
    after = book(account, "loss", None)
    assert after.equity == 10_000.0
    assert after.consecutive_losses == 1


def test_outcome_on_a_new_day_rolls_the_day_first(account: PaperAccount) -> None:
    down = book(account, "loss", -300.0)
    next_day = book(down, "loss", -200.0, ts=DAY2 + H)
    assert next_day.day == "2024-03-02"
    assert next_day.day_start_equity == 9_700.0  # the loss counts against the new day
    assert next_day.equity == 9_500.0


def test_accounts_are_immutable(account: PaperAccount) -> None:
    with pytest.raises(ValidationError):
        account.equity = 1.0  # type: ignore[misc]


def test_round_trips_through_json(account: PaperAccount) -> None:
    after = book(account, "loss", -100.0)
    blob = json.dumps(after.model_dump(mode="json"), allow_nan=False)
    assert PaperAccount.model_validate_json(blob) == after


def test_state_for_the_guardian_pause_after_a_streak(account: PaperAccount) -> None:
    closed = DAY1 + 5 * H
    paused = book(book(book(account, "loss", -10.0), "loss", -10.0), "loss", -10.0, ts=closed)
    extra: dict[str, Any] = {"open_symbols": ("ETH-USD",), "open_risk": 20.0, "signals_today": 2}
    state = account_state(paused, last_signal_ts={"ETH-USD": DAY1}, **extra)
    assert state.open_positions == 1
    assert state.equity == paused.equity and state.open_risk == 20.0
    assert state.last_signal_ts == {"ETH-USD": DAY1}
    p = Proposal(
        symbol="BTC-USD", side="BUY", entry=100.0, stop=99.0, size=5.0, bar_ts=closed + H, bar_ms=H
    )
    assert [v.limit for v in check(p, state, RISK).violations] == ["paused"]
    resumed = p.model_copy(update={"bar_ts": closed + 24 * H})
    assert check(resumed, state, RISK).allowed
    assert account_state(paused, kill_switch=True).kill_switch
    killed = paused.model_copy(update={"kill_switch": True})
    assert account_state(killed).kill_switch
