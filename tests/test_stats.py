"""hmas.stats: bootstrap intervals, reliability tables and Brier scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hmas.stats import SEED, brier, calibration, mean_ci, mean_cis


def test_mean_ci_covers_the_mean_and_is_reproducible() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0.3, 1.0, 400)
    ci = mean_ci(x)
    assert ci.count == 400
    assert ci.mean == pytest.approx(float(x.mean()))
    assert ci.low is not None and ci.high is not None
    assert ci.low < ci.mean < ci.high
    # About 1.96 standard errors either side.
    se = float(x.std(ddof=1)) / math.sqrt(400)
    assert ci.high - ci.low == pytest.approx(2 * 1.96 * se, rel=0.1)
    assert mean_ci(x) == ci


def bootstrap(x: np.ndarray, resamples: int) -> tuple[float, float]:
    """The percentile bootstrap by its definition: one draw of every resample at once."""
    picks = np.random.default_rng(SEED).integers(0, len(x), size=(resamples, len(x)))
    tail = (1 - 0.95) / 2
    low, high = np.quantile(x[picks].mean(axis=1), [tail, 1 - tail])
    return float(low), float(high)


def test_samples_of_one_length_share_the_draws_and_each_interval_is_its_own() -> None:
    rng = np.random.default_rng(2)
    a, b, c = rng.normal(0, 1, 300), rng.exponential(1, 300), rng.normal(1, 2, 7)
    cis = mean_cis([a, [*b, math.nan], c, [4.0], []], resamples=2_000)
    assert [ci.count for ci in cis] == [300, 300, 7, 1, 0]
    for ci, x in zip(cis, (a, b, c), strict=False):
        assert (ci.low, ci.high) == bootstrap(x, 2_000)
        assert ci == mean_ci(x, resamples=2_000)
    assert (cis[3].mean, cis[3].low, cis[4].mean) == (4.0, None, None)


def test_mean_ci_of_nothing_and_of_one_value() -> None:
    assert mean_ci([]).mean is None
    assert mean_ci([float("nan"), float("inf")]).count == 0
    one = mean_ci([1.5])
    assert (one.count, one.mean, one.low, one.high) == (1, 1.5, None, None)
    with pytest.raises(ValueError, match="level"):
        mean_ci([1.0, 2.0], level=1.5)


def test_calibration_buckets_and_brier_against_a_constant() -> None:
    stated = [0.05, 0.15, 0.15, 0.95, 1.0, float("nan")]
    won = [0, 0, 1, 1, 1, 1]
    cal = calibration(stated, won, bins=10)
    assert cal.count == 5  # the unknown probability is left out
    counts = [b.count for b in cal.buckets]
    assert counts == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert cal.buckets[1].realised_rate == 0.5
    assert cal.buckets[2].stated_mean is None
    assert cal.brier == pytest.approx(
        np.mean((np.array([0.05, 0.15, 0.15, 0.95, 1.0]) - [0, 0, 1, 1, 1]) ** 2)
    )
    assert cal.base_rate == pytest.approx(0.6)
    assert cal.brier_constant == pytest.approx(0.24)
    assert cal.skill is not None and cal.skill > 0
    assert set(cal.as_dict()) >= {"brier", "brier_constant", "skill", "buckets"}


def test_calibration_refuses_what_is_not_a_probability_or_an_outcome() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        calibration([1.2], [1])
    with pytest.raises(ValueError, match="0 or 1"):
        calibration([0.5], [2])
    with pytest.raises(ValueError, match="outcomes"):
        calibration([0.5, 0.5], [1])
    assert calibration([], []).brier is None
    assert brier([], []) is None


def test_proportion_ci_is_wilson_and_honest_at_the_edges() -> None:
    from hmas.stats import proportion_ci

    one_in_four = proportion_ci(1, 4)
    assert one_in_four.mean == 0.25
    assert one_in_four.low == pytest.approx(0.04559, abs=1e-4)
    assert one_in_four.high == pytest.approx(0.69936, abs=1e-4)
    none_in_three = proportion_ci(0, 3)
    assert (none_in_three.low, none_in_three.mean) == (0.0, 0.0)
    assert none_in_three.high == pytest.approx(0.56149, abs=1e-4)
    assert proportion_ci(3, 3).high == 1.0 and proportion_ci(3, 3).low < 1.0
    assert proportion_ci(0, 0).as_dict()["mean"] is None
    with pytest.raises(ValueError, match="5 successes in 4 trials"):
        proportion_ci(5, 4)
