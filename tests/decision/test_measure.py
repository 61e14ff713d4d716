"""hmas.decision.measure: every proposal followed, expectancy and calibration, shift tests."""

from __future__ import annotations

import numpy as np
import pytest

from hmas.decision.history import compute_history
from hmas.decision.measure import Followed, adjustment_tests, follow_proposals, measure, shifts
from hmas.decision.pipeline import MarketInputs
from hmas.risk.positions import EXPIRED, LOSS, OPEN, WIN, follow_arrays
from hmas.settings import load_settings


def test_every_proposal_is_followed_by_the_position_rules(sample_inputs: MarketInputs) -> None:
    settings = load_settings()
    history = compute_history(sample_inputs, settings)
    decided = history.decided
    assert decided is not None
    followed = follow_proposals(history, settings)
    proposed = np.flatnonzero(decided["direction"].to_numpy() != 0)
    assert followed.bar.tolist() == proposed.tolist() and len(proposed) > 10
    ohlc = history.features[["open", "high", "low", "close"]].to_numpy()
    ms = history.index.as_unit("ms").asi8
    for k, bar in enumerate(followed.bar[:: max(1, len(followed.bar) // 8)]):
        j = int(np.flatnonzero(followed.bar == bar)[0])
        row = decided.iloc[bar]
        one = follow_arrays(
            "BUY" if row["direction"] > 0 else "SELL",
            float(row["entry"]),
            float(row["stop"]),
            float(row["target"]),
            1.0,
            ms[bar + 1 :],
            ohlc[bar + 1 :],
            expiry_bars=settings.risk.expiry_bars("1h"),
        )
        code = {"win": WIN, "loss": LOSS, "expired": EXPIRED, "open": OPEN}[one.status]
        assert followed.status[j] == code, k
        if one.closed:
            assert one.exit_price is not None and one.fill_price is not None
            risk = abs(row["entry"] - row["stop"])
            gross = row["direction"] * (one.exit_price - one.fill_price) / risk
            assert followed.gross_r[j] == pytest.approx(gross)
            # Net of the auditor's cost on that bar; unknown (NaN) where it stated none.
            assert followed.net_r[j] == pytest.approx(gross - row["cost_r"], nan_ok=True)
    assert np.isfinite(followed.net_r).sum() > 10
    assert set(followed.columns) >= {"p_win", "p_base", "consensus", "reward_risk"}


def test_measure_counts_and_intervals(sample_inputs: MarketInputs) -> None:
    settings = load_settings()
    history = compute_history(sample_inputs, settings)
    followed = follow_proposals(history, settings)
    m = measure("sample", len(history), followed)
    assert m.proposals == len(followed.bar)
    assert m.wins + m.losses + m.expired == m.resolved <= m.proposals
    assert m.expectancy.count == int(np.isfinite(followed.net_r[followed.closed]).sum())
    assert m.calibration.count == m.resolved
    assert m.calibration.brier is not None and m.calibration.brier_constant is not None
    data = m.as_dict()
    assert data["expectancy_r"]["mean"] == m.expectancy.mean
    assert data["calibration"]["count"] == m.resolved
    trades = followed.columns["base_rate_trades"]
    assert m.history_median == float(np.median(trades))
    assert m.no_history == int((trades == 0).sum())


def synthetic(seed: int, effect: float, n: int = 4000) -> Followed:
    """Resolved proposals whose win rate is 0.2 + ``effect``·x, x the votes' shift."""
    rng = np.random.default_rng(seed)
    consensus = rng.uniform(0, 1, n)
    x = 2 * consensus - 1
    won = rng.random(n) < 0.2 + effect * x
    direction = np.ones(n)
    return Followed(
        bar=np.arange(n, dtype=np.int64),
        time_ms=np.arange(n, dtype=np.int64),
        direction=direction,
        status=np.where(won, WIN, LOSS).astype(np.int8),
        gross_r=np.where(won, 3.0, -1.0),
        cost_r=np.full(n, 0.1),
        net_r=np.where(won, 2.9, -1.1),
        approved=np.zeros(n, dtype=bool),
        columns={
            "p_base": np.full(n, 0.2),
            "consensus": consensus,
            "vote_macro": rng.choice([-1.0, 0.0, 1.0], n),
            "conviction": rng.uniform(0, 1, n),
        },
    )


def test_a_shift_that_carries_information_improves_out_of_sample() -> None:
    tests = {t.name: t for t in adjustment_tests([synthetic(1, 0.15), synthetic(2, 0.15)])}
    votes = tests["votes"]
    assert votes.coefficient == pytest.approx(0.15, abs=0.03)
    assert votes.improves is True
    assert votes.brier_with is not None and votes.brier_without is not None
    assert votes.brier_with < votes.brier_without
    # Noise does not: its interval holds zero.
    assert tests["conviction"].improves is False
    assert tests["regime"].improves is False


def test_a_shift_without_information_is_not_kept() -> None:
    (votes,) = [t for t in adjustment_tests([synthetic(3, 0.0)]) if t.name == "votes"]
    assert votes.improves is False
    assert votes.gain is not None and votes.gain.low is not None and votes.gain.low <= 0


def test_shifts_are_aligned_with_the_trade() -> None:
    f = synthetic(4, 0.0, n=6)
    short = Followed(**{**f.__dict__, "direction": -np.ones(6)})
    np.testing.assert_array_equal(shifts(short)["regime"], -f.columns["vote_macro"])
    np.testing.assert_allclose(shifts(f)["votes"], 2 * f.columns["consensus"] - 1)


def test_a_fixed_shift_is_scored_on_every_resolved_proposal() -> None:
    from hmas.decision.measure import fixed_shift_test

    parts = [synthetic(5, 0.15)]
    right = fixed_shift_test(parts, "votes", 0.15)
    assert right.name == "votes (fixed)" and right.test == 4000 and right.improves is True
    # The same shift where the votes carry nothing only adds noise.
    wrong = fixed_shift_test([synthetic(6, 0.0)], "votes", 0.2)
    assert wrong.improves is False
    assert wrong.brier_with is not None and wrong.brier_without is not None
    assert wrong.brier_with > wrong.brier_without
