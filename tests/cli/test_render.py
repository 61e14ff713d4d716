"""What ``hmas signals show`` prints of the mother's round 2, new and stored records alike."""

from __future__ import annotations

from typing import Any

import pytest

from hmas.cli import render
from hmas.decision import mother
from hmas.settings import Settings
from tests.decision.test_mother import HISTORY, LONG, decide


def detail(rounds: dict[str, Any]) -> dict[str, Any]:
    return {
        "signal": {"id": 7, "decision": "REJECTED", "symbol": "BTC-USD"},
        "rounds": rounds,
        "guardian": {"checked": False},
        "views": {},
        "result": None,
        "features": None,
    }


def test_round_two_shows_the_history_the_prior_and_the_scenarios(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = Settings()
    row = decide(settings)
    rounds = mother.render(row, {"alpha": LONG, "rationale": HISTORY}, settings).rounds
    render.signal_detail(detail(rounds))
    text = " ".join(capsys.readouterr().out.split())
    assert "comparable setups mean_reversion BUY 3-4R" in text
    assert "20 resolved in 30d (12 won, 6 lost, 2 expired); raw win rate 0.60" in text
    assert "p(win) 0.42 (no-edge prior 0.25 worth 20 trades; history weight 0.50)" in text
    # In R of the risk budget: 0.8706 of a stop distance at the auditor's costs and the gap.
    assert "scenario expiry p=0.05 payoff 0.39R" in text
    assert "EV 0.65R" in text


def test_round_two_of_a_stored_older_record(capsys: pytest.CaptureFixture[str]) -> None:
    rounds = {
        "resolve": {
            "base_rate": 0.5,
            "base_rate_trades": 4,
            "prior_win_rate": 0.45,
            "p_win": 0.46,
            "scenarios": {"bull": {"probability": 0.39, "payoff_r": 3.0}},
        }
    }
    render.signal_detail(detail(rounds))
    text = " ".join(capsys.readouterr().out.split())
    assert "base rate 0.50 over 4 trades" in text
    assert "p(win) 0.46 (prior 0.45)" in text


def test_replay_says_which_model_decided_a_stored_signal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from hmas.decision.replay import ReplayResult

    differs = [{"field": "decision", "stored": "APPROVED", "replayed": "REJECTED"}]
    render.replay_result(ReplayResult(41, False, differs, False, 1, 3))
    text = " ".join(capsys.readouterr().out.split())
    assert "Signal 41 was decided by decision model 1; this hmas decides with model 3." in text
    assert "Signal 41 is decided differently by model 3" in text
    assert "APPROVED" in text and "REJECTED" in text
    render.replay_result(ReplayResult(42, True, [], False, 3, 3))
    text = " ".join(capsys.readouterr().out.split())
    assert text == "Signal 42 replays identically."
