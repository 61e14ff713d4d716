"""The tournament's ranking and weighting core: weights by rank, re-rank times, no lookahead."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hmas.risk.tournament import (
    Rules,
    blend,
    compare,
    curve_figures,
    linear_weights,
    rank,
    rerank_times,
    schedule,
)
from hmas.settings import check_weights

DAY = 86_400_000
WEEK = 7 * DAY
# 2024-01-04 00:00 UTC, a Thursday: a multiple of 7 days since the epoch (a Thursday too).
THU = 1_704_326_400_000
START = 10_000.0


def test_the_default_weights_of_four_are_40_30_20_10() -> None:
    assert linear_weights(4) == pytest.approx((0.4, 0.3, 0.2, 0.1))
    assert linear_weights(1) == (1.0,)
    assert sum(linear_weights(7)) == pytest.approx(1.0)
    w3 = linear_weights(3)
    assert w3 == pytest.approx((3 / 6, 2 / 6, 1 / 6))


@pytest.mark.parametrize(
    ("weights", "problem"),
    [
        ([0.5, 0.3, 0.1], "must sum to 1, not 0.9"),
        ([0.5, 0.6, -0.1], "must all be above 0, not -0.1"),
        ([1.0, 0.0], "must all be above 0, not 0.0"),
        ([], "is empty"),
        ([0.5, math.nan, 0.5], "must all be above 0, not nan"),
    ],
)
def test_bad_weights_are_named(weights: list[float], problem: str) -> None:
    found = check_weights(weights)
    assert found is not None and problem in found


def test_good_weights_pass() -> None:
    assert check_weights([0.4, 0.3, 0.2, 0.1]) is None
    assert check_weights([0.7, 0.3]) is None


def test_weights_must_match_the_member_count() -> None:
    rules = Rules(WEEK, WEEK, (0.5, 0.3, 0.2))
    with pytest.raises(ValueError, match="3 weights for 4 configurations"):
        rules.weights_for(4)
    assert rules.weights_for(3) == (0.5, 0.3, 0.2)


def test_rerank_times_are_epoch_aligned_after_the_first_bar() -> None:
    assert rerank_times(THU, THU + 3 * WEEK, WEEK) == [THU + WEEK, THU + 2 * WEEK, THU + 3 * WEEK]
    # A start mid-week: the next Thursday is the first re-rank.
    assert rerank_times(THU + DAY, THU + WEEK + 1, WEEK) == [THU + WEEK]
    assert rerank_times(THU, THU + WEEK - 1, WEEK) == []


def test_rank_best_first_ties_keep_order_unknown_last() -> None:
    assert rank([5.0, 10.0, -1.0]) == (2, 1, 3)
    assert rank([3.0, 3.0, 4.0]) == (2, 3, 1)
    assert rank([None, 1.0, 0.0]) == (3, 1, 2)


def _daily_axis(days: int) -> np.ndarray:
    """Daily bars opening at THU: their close times."""
    return THU + DAY * np.arange(1, days + 1, dtype=np.int64)


def test_weights_follow_the_realised_pnl_over_the_trailing_window() -> None:
    ts = _daily_axis(28)
    # Member a gains 10 a day, b gains 30 a day in week two only, c loses 5 a day.
    a = START + 10.0 * np.arange(1, 29)
    b = START + 30.0 * np.clip(np.arange(1, 29) - 7, 0, 7)
    c = START - 5.0 * np.arange(1, 29)
    rules = Rules(WEEK, WEEK)
    reranks = schedule(ts, [a, b, c], START, THU, rules)
    assert [r.ts for r in reranks] == [THU + WEEK, THU + 2 * WEEK, THU + 3 * WEEK, THU + 4 * WEEK]
    first = reranks[0]  # THU + 7d - 7d = THU: the first full window
    assert first.full_window
    assert first.pnl == pytest.approx((70.0, 0.0, -35.0))
    assert first.ranks == (1, 2, 3)
    second = reranks[1]  # week two: b made 210, a 70, c -35
    assert second.pnl == pytest.approx((70.0, 210.0, -35.0))
    assert second.ranks == (2, 1, 3)
    assert second.weights == pytest.approx((2 / 6, 3 / 6, 1 / 6))
    third = reranks[2]  # week three: b flat
    assert third.ranks == (1, 2, 3)


def test_equal_weights_before_the_first_full_window() -> None:
    ts = _daily_axis(21)
    a = START + 10.0 * np.arange(1, 22)
    b = START - 10.0 * np.arange(1, 22)
    reranks = schedule(ts, [a, b], START, THU + DAY, Rules(2 * WEEK, WEEK))
    # First open THU+1d: the re-rank at THU+7d and THU+14d lack 14 days of history.
    assert [r.full_window for r in reranks] == [False, False, True]
    assert reranks[0].weights == (0.5, 0.5)
    assert reranks[0].ranks == (None, None)
    assert reranks[2].ranks == (1, 2)


def test_no_lookahead_changing_pnl_after_a_rerank_leaves_earlier_weights() -> None:
    rng = np.random.default_rng(7)
    ts = _daily_axis(70)
    realised = START + np.cumsum(rng.normal(0, 50, size=(4, 70)), axis=1)
    rules = Rules(2 * WEEK, WEEK)
    before = schedule(ts, realised, START, THU, rules)
    cut = before[4].ts  # a re-rank time
    changed = realised.copy()
    after_cut = ts > cut
    changed[:, after_cut] += rng.normal(0, 5_000, size=(4, int(after_cut.sum())))
    after = schedule(ts, changed, START, THU, rules)
    assert [r for r in after if r.ts <= cut] == [r for r in before if r.ts <= cut]
    assert after[5:] != before[5:]  # the change is seen once it is in the past
    # And the blend up to the cut does not move either.
    eq_before = blend(ts, realised, START, before)
    eq_after = blend(ts, changed, START, after)
    upto = ts <= cut
    np.testing.assert_allclose(eq_before[upto], eq_after[upto])


def test_the_blend_moves_each_share_with_its_member() -> None:
    ts = _daily_axis(14)
    a = np.full(14, START)
    a[6:] = START * 1.10  # +10 % on day 7 (realised)
    b = np.full(14, START)
    b[10:] = START * 0.90  # -10 % on day 11
    reranks = schedule(ts, [a, b], START, THU, Rules(WEEK, WEEK))
    eq = blend(ts, [a, b], START, reranks)
    # Week one equal: half the capital gains 10 %.
    assert eq[6] == pytest.approx(START * 1.05)
    # Re-rank at day 7's close: a (1st, 2/3), b (2nd, 1/3); b then loses 10 % of its share.
    assert reranks[0].weights == pytest.approx((2 / 3, 1 / 3))
    assert eq[-1] == pytest.approx(START * 1.05 * (2 / 3 + 1 / 3 * 0.9))
    same = blend(ts, [a, b], START, reranks, equal=True)
    assert same[-1] == pytest.approx(START * 1.05 * (1 / 2 + 1 / 2 * 0.9))


def test_compare_reports_the_blend_best_single_and_equal_weight() -> None:
    ts = _daily_axis(35)
    a = START + 20.0 * np.arange(1, 36)
    b = START + 5.0 * np.arange(1, 36)
    standing = compare(["a", "b"], ts, THU, [a, b], [a, b], START, Rules(WEEK, WEEK))
    data = standing.as_dict()
    assert data["best_single"]["name"] == "a"
    assert "hindsight" in data["best_single"]["chosen"]
    assert data["best_single"]["total_return"] == pytest.approx(700 / START)
    # a always ranks first: the blend lies between equal weights and a alone.
    eq_ret = data["equal_weight"]["total_return"]
    bl_ret = data["blended"]["total_return"]
    assert eq_ret < bl_ret < data["best_single"]["total_return"]
    assert data["current"]["members"][0] == {
        "name": "a",
        "window_pnl": 140.0,
        "rank": 1,
        "weight": pytest.approx(2 / 3, abs=1e-6),
    }
    assert len(data["reranks"]) == 5


def test_a_member_at_zero_equity_ranks_last_and_its_share_is_cash() -> None:
    ts = _daily_axis(14)
    a = np.full(14, START)
    a[3:] = 0.0
    b = np.full(14, START)
    reranks = schedule(ts, [a, a], START, THU, Rules(WEEK, WEEK), alive=[a, b])
    assert reranks[0].ranks == (2, 1)
    eq = blend(ts, [a, b], START, schedule(ts, [a, b], START, THU, Rules(WEEK, WEEK)))
    assert np.isfinite(eq).all()


def test_curve_figures_never_nan() -> None:
    ts = _daily_axis(3)
    flat = curve_figures(ts, np.full(3, START), START)
    assert flat["sharpe"] is None and flat["unknown"]["sharpe"] == "the daily returns do not vary"
    assert flat["total_return"] == 0.0 and flat["max_drawdown"] == 0.0
    down = curve_figures(ts, np.array([START, START * 0.8, START * 0.9]), START)
    assert down["max_drawdown"] == pytest.approx(0.2)
