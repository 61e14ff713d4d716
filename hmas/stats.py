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
