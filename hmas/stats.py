"""Statistics every measured number shares: intervals of a mean, calibration, Brier scores.

A figure computed here is either a finite float or ``None`` (with the reason where the caller
reports it): never NaN or infinity, so JSON output needs no special case.

- ``proportion_ci``: a rate (a win rate) and its Wilson score interval;
- ``mean_ci``: the mean and its 95% interval by the percentile bootstrap (``resamples``
  resamples drawn with a fixed seed, so a report is reproducible). The bootstrap makes no
  normality assumption: R multiples are skewed (many -1R, a few +3R).
- ``calibration``: stated probabilities in equal-width buckets against the realised rate, with
  counts, and the Brier score of the stated probabilities against that of a constant forecast
  (the realised base rate of the same outcomes), the skill a forecast has to beat.

numpy is imported inside the functions, so importing ``hmas.stats`` stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

#: Resamples of the bootstrap (the interval's bounds move by about 0.01 of a standard error).
RESAMPLES = 10_000
SEED = 20_180_101


@dataclass(frozen=True)
class MeanCI:
    """A sample mean with its interval; ``None`` where the sample cannot give one."""

    count: int
    mean: float | None
    low: float | None
    high: float | None
    level: float = 0.95

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mean": self.mean,
            "ci_low": self.low,
            "ci_high": self.high,
            "level": self.level,
        }


def _finite(values: Sequence[float] | npt.ArrayLike) -> np.ndarray[Any, np.dtype[np.float64]]:
    import numpy as np

    array = np.asarray(values, dtype=np.float64).reshape(-1)
    finite: np.ndarray[Any, np.dtype[np.float64]] = array[np.isfinite(array)]
    return finite


def mean_ci(
    values: Sequence[float] | npt.ArrayLike,
    *,
    level: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> MeanCI:
    """The mean of the finite ``values`` and its bootstrap percentile interval.

    No value: everything ``None``. One value: its mean, no interval (a single draw says
    nothing of its spread).
    """
    return mean_cis([values], level=level, resamples=resamples, seed=seed)[0]


def mean_cis(
    samples: Sequence[Sequence[float] | npt.ArrayLike],
    *,
    level: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> list[MeanCI]:
    """``mean_ci`` of each sample, each exactly as its own call gives it.

    Samples with as many finite values share the bootstrap's draws (the same seed draws the
    same resample indices for the same length), so they cost one draw, not one each.
    """
    import numpy as np

    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    xs = [_finite(values) for values in samples]
    out: list[MeanCI | None] = [None] * len(xs)
    for n in sorted({len(x) for x in xs}):
        same = [i for i, x in enumerate(xs) if len(x) == n]
        if n <= 1:
            for i in same:
                mean = float(xs[i].mean()) if n else None
                out[i] = MeanCI(n, mean, None, None, level)
            continue
        group = [xs[i] for i in same]
        rng = np.random.default_rng(seed)
        means = np.empty((len(group), resamples))
        # In chunks, so a long series never needs n x resamples indices at once.
        chunk = max(1, 2_000_000 // n)
        for start in range(0, resamples, chunk):
            stop = min(resamples, start + chunk)
            picks = rng.integers(0, n, size=(stop - start, n))
            for k, x in enumerate(group):
                means[k, start:stop] = x[picks].mean(axis=1)
        tail = (1 - level) / 2
        for k, i in enumerate(same):
            low, high = np.quantile(means[k], [tail, 1 - tail])
            out[i] = MeanCI(n, float(group[k].mean()), float(low), float(high), level)
    return [ci for ci in out if ci is not None]


def proportion_ci(successes: int, count: int, *, level: float = 0.95) -> MeanCI:
    """A rate ``successes / count`` with its Wilson score interval.

    Unlike the bootstrap, it stays honest at the edges: 0 wins in 3 trades gives 0% to 56%,
    not 0% to 0%. No trial: everything ``None``.
    """
    from statistics import NormalDist

    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    if not 0 <= successes <= count:
        raise ValueError(f"{successes} successes in {count} trials")
    if count == 0:
        return MeanCI(0, None, None, None, level)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    rate = successes / count
    denominator = 1 + z * z / count
    centre = (rate + z * z / (2 * count)) / denominator
    half = z * ((rate * (1 - rate) / count + z * z / (4 * count * count)) ** 0.5) / denominator
    return MeanCI(count, rate, max(0.0, centre - half), min(1.0, centre + half), level)


@dataclass(frozen=True)
class Bucket:
    """Stated probabilities in ``[low, high)`` (the last bucket includes 1.0)."""

    low: float
    high: float
    count: int
    stated_mean: float | None
    realised_rate: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "low": self.low,
            "high": self.high,
            "count": self.count,
            "stated_mean": self.stated_mean,
            "realised_rate": self.realised_rate,
        }


@dataclass(frozen=True)
class Calibration:
    """A reliability table and Brier scores (lower is better; ``None`` without outcomes).

    ``brier_constant`` is the score of always stating the realised rate of these outcomes: a
    forecast with skill beats it (``skill`` > 0, ``1 - brier / brier_constant``).
    """

    count: int
    buckets: list[Bucket]
    brier: float | None
    brier_constant: float | None
    base_rate: float | None

    @property
    def skill(self) -> float | None:
        if self.brier is None or not self.brier_constant:
            return None
        return 1 - self.brier / self.brier_constant

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "brier": self.brier,
            "brier_constant": self.brier_constant,
            "skill": self.skill,
            "base_rate": self.base_rate,
            "buckets": [b.as_dict() for b in self.buckets],
        }


def brier(stated: npt.ArrayLike, outcome: npt.ArrayLike) -> float | None:
    """Mean squared error of probabilities against 0/1 outcomes (``None`` when empty)."""
    import numpy as np

    p = np.asarray(stated, dtype=np.float64).reshape(-1)
    y = np.asarray(outcome, dtype=np.float64).reshape(-1)
    if len(p) != len(y):
        raise ValueError(f"{len(p)} probabilities for {len(y)} outcomes")
    if not len(p):
        return None
    return float(np.mean((p - y) ** 2))


def calibration(stated: npt.ArrayLike, outcome: npt.ArrayLike, *, bins: int = 10) -> Calibration:
    """Reliability of stated probabilities against 0/1 outcomes, in ``bins`` equal buckets.

    Pairs where the probability is not finite (an unknown number) are left out; probabilities
    must lie in [0, 1] and outcomes be 0 or 1.
    """
    import numpy as np

    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    p = np.asarray(stated, dtype=np.float64).reshape(-1)
    y = np.asarray(outcome, dtype=np.float64).reshape(-1)
    if len(p) != len(y):
        raise ValueError(f"{len(p)} probabilities for {len(y)} outcomes")
    keep = np.isfinite(p)
    p, y = p[keep], y[keep]
    if ((p < 0) | (p > 1)).any():
        raise ValueError("stated probabilities must lie in [0, 1]")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("outcomes must be 0 or 1")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    buckets = []
    for k in range(bins):
        inside = which == k
        count = int(inside.sum())
        buckets.append(
            Bucket(
                low=float(edges[k]),
                high=float(edges[k + 1]),
                count=count,
                stated_mean=float(p[inside].mean()) if count else None,
                realised_rate=float(y[inside].mean()) if count else None,
            )
        )
    if not len(p):
        return Calibration(0, buckets, None, None, None)
    rate = float(y.mean())
    return Calibration(
        count=len(p),
        buckets=buckets,
        brier=brier(p, y),
        brier_constant=brier(np.full(len(y), rate), y),
        base_rate=rate,
    )


@dataclass(frozen=True)
class PairedTest:
    """A paired difference of means with its interval and a two-sided p-value.

    ``distinguishable`` is True when the interval excludes 0 (equivalently, at the interval's
    level, ``p_value`` < 1 - level); None when there are too few pairs to say.
    """

    count: int
    mean: float | None
    low: float | None
    high: float | None
    p_value: float | None
    block: int
    level: float = 0.95

    @property
    def distinguishable(self) -> bool | None:
        if self.low is None or self.high is None:
            return None
        return self.low > 0 or self.high < 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mean": self.mean,
            "ci_low": self.low,
            "ci_high": self.high,
            "level": self.level,
            "p_value": self.p_value,
            "block": self.block,
            "distinguishable": self.distinguishable,
        }


def paired_block_bootstrap(
    differences: Sequence[float] | npt.ArrayLike,
    *,
    level: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    block: int | None = None,
) -> PairedTest:
    """The mean of paired ``differences`` (in time order), by the moving-block bootstrap.

    Consecutive differences of two equity curves are correlated (a position is held over
    several days), which the plain bootstrap would ignore and so narrow the interval: each
    resample joins blocks of ``block`` consecutive differences (default ``ceil(n ** (1/3))``,
    the usual rate for the mean) drawn at random starts, cut to ``n``. The interval is the
    percentile interval of the resampled means; the p-value is twice the smaller share of
    resampled means on either side of 0 (at most 1, at least ``1 / resamples``), the test the
    interval inverts.
    """
    import math

    import numpy as np

    d = _finite(differences)
    n = len(d)
    size = block if block is not None else max(1, math.ceil(n ** (1 / 3))) if n else 1
    if n < 2:
        return PairedTest(n, float(d.mean()) if n else None, None, None, None, size, level)
    size = min(size, n)
    rng = np.random.default_rng(seed)
    blocks = math.ceil(n / size)
    # Sums of every block of ``size`` consecutive differences, by their start.
    csum = np.concatenate([[0.0], np.cumsum(d)])
    sums = csum[size:] - csum[:-size]
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // blocks)
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        starts = rng.integers(0, n - size + 1, size=(stop - start, blocks))
        total = sums[starts].sum(axis=1)
        if blocks * size > n:  # the last block is cut to n values in all
            extra = blocks * size - n
            last = starts[:, -1]
            total -= csum[last + size] - csum[last + size - extra]
        means[start:stop] = total / n
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    # A bootstrap cannot tell p below one resample: it says at most "under 1/resamples".
    p = min(1.0, max(1 / resamples, 2 * min(float((means <= 0).mean()), (means >= 0).mean())))
    return PairedTest(n, float(d.mean()), float(low), float(high), p, size, level)


def difference_ci(
    first: Sequence[float] | npt.ArrayLike,
    second: Sequence[float] | npt.ArrayLike,
    *,
    level: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> MeanCI:
    """``mean(first) - mean(second)`` of two independent samples and its bootstrap percentile
    interval (each resampled on its own); ``count`` is the smaller sample. None where either
    sample is empty; no interval where either has one value."""
    import numpy as np

    a, b = _finite(first), _finite(second)
    if not len(a) or not len(b):
        return MeanCI(min(len(a), len(b)), None, None, None, level)
    mean = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return MeanCI(min(len(a), len(b)), mean, None, None, level)
    rng = np.random.default_rng(seed)
    diffs = np.empty(resamples)
    chunk = max(1, 2_000_000 // max(len(a), len(b)))
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        ia = rng.integers(0, len(a), size=(stop - start, len(a)))
        ib = rng.integers(0, len(b), size=(stop - start, len(b)))
        diffs[start:stop] = a[ia].mean(axis=1) - b[ib].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(diffs, [tail, 1 - tail])
    return MeanCI(min(len(a), len(b)), mean, float(low), float(high), level)
