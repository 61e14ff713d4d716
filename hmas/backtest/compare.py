"""Several configurations on the same candles, ranked, and whether the top two differ.

``compare`` reads the candles once (``load_series`` with the longest warm-up any of the
configurations reads) and runs each configuration on that same ``Series``: the same bars,
the same prices, the same data hash. The runs are ranked by total return (then by expectancy
in R); each keeps its label, its config hash and its metrics.

**The paired test** (``paired_test``): the top two runs' equity curves are read at each UTC
day's last bar (the same days for both: the same bars), turned into daily returns, and
differenced day by day. The mean daily difference gets a 95% interval and a two-sided p-value
from the moving-block bootstrap (``hmas.stats.paired_block_bootstrap``: blocks of
``ceil(days^(1/3))`` consecutive days keep the correlation of positions held over several
days). The two are *distinguishable from noise* when the interval excludes 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hmas.stats import PairedTest, paired_block_bootstrap

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from sqlalchemy.engine import Engine

    from hmas.backtest.data import Series
    from hmas.backtest.engine import Progress
    from hmas.backtest.metrics import EquityCurve
    from hmas.backtest.run import BacktestRequest, BacktestResult, LlmBudget
    from hmas.settings import Settings

#: What the paired test is, as the output names it.
METHOD = (
    "paired moving-block bootstrap of the daily-return difference of the two equity curves "
    "(same days; 10,000 resamples; 95% percentile interval)"
)


@dataclass(frozen=True)
class Candidate:
    """One configuration to run: its label (a file's stem, rules, llm…) and its settings."""

    label: str
    settings: Settings
    #: Where it came from: a file path, or a word such as ``rules``.
    source: str = ""
    #: The LLM limits when it runs on the LLM engine (None: the rules).
    llm: LlmBudget | None = None


@dataclass
class Entry:
    """A finished run of one candidate, and its rank (1: best)."""

    candidate: Candidate
    result: BacktestResult
    rank: int = 0

    def as_dict(self) -> dict[str, Any]:
        m = self.result.metrics
        return {
            "rank": self.rank,
            "label": self.candidate.label,
            "source": self.candidate.source,
            "id": self.result.id,
            "engine": self.result.engine,
            "config_hash": self.result.config_hash,
            "summary": summary(m),
            "metrics": m,
        }


def summary(m: dict[str, Any]) -> dict[str, Any]:
    """The figures a comparison shows side by side."""
    proposals = (m.get("calibration") or {}).get("proposals") or {}
    return {
        "trades": m.get("trades"),
        "closed_trades": m.get("closed_trades"),
        "approvals": m.get("candidates"),
        "win_rate": m.get("win_rate"),
        "expectancy_r": m.get("expectancy_r"),
        "total_return": m.get("total_return"),
        "max_drawdown": m.get("max_drawdown"),
        "sharpe": m.get("sharpe"),
        "profit_factor": m.get("profit_factor"),
        "brier": proposals.get("brier"),
        "brier_constant": proposals.get("brier_constant"),
    }


@dataclass
class Comparison:
    """Runs of several configurations on the same candles, best first, and the paired test."""

    entries: list[Entry]
    test: PairedTest | None
    #: Why there is no test (fewer than two runs, fewer than two days).
    test_reason: str | None = None
    data_hash: str = ""
    series: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        top = self.entries[:2]
        return {
            "data_hash": self.data_hash,
            "series": self.series,
            "ranked_by": "total_return, then expectancy_r",
            "runs": [e.as_dict() for e in self.entries],
            "paired_test": {
                "method": METHOD,
                "first": top[0].candidate.label if top else None,
                "second": top[1].candidate.label if len(top) > 1 else None,
                "statistic": "mean daily return of the first minus the second",
                **(self.test.as_dict() if self.test is not None else {}),
                "verdict": verdict(self.test),
                "reason": self.test_reason,
            },
        }


def verdict(test: PairedTest | None) -> str | None:
    """The test in words."""
    if test is None or test.distinguishable is None:
        return None
    return (
        "distinguishable from noise" if test.distinguishable else "not distinguishable from noise"
    )


def daily_returns(curve: EquityCurve, start: float) -> tuple[npt.NDArray[np.int64], Any]:
    """Each UTC day's return of the curve (its last bar against the day before; the first day
    against ``start``), with the days (the metrics' convention: a bar belongs to the day it
    closes in)."""
    import numpy as np

    from hmas.backtest.metrics import DAY_MS

    day = (curve.ts + curve.bar_ms - 1) // DAY_MS
    last = np.flatnonzero(np.diff(day, append=day[-1] + 1) != 0) if len(day) else day
    equity = curve.equity[last]
    before = np.concatenate([[start], equity[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = equity / before - 1
    return day[last].astype(np.int64), returns


def paired_test(first: BacktestResult, second: BacktestResult) -> tuple[PairedTest | None, str]:
    """The paired test of two runs on the same candles (module docstring); a reason if none."""
    import numpy as np

    start_a = float(first.metrics.get("starting_equity") or 0.0)
    start_b = float(second.metrics.get("starting_equity") or 0.0)
    days_a, ra = daily_returns(first.curve, start_a)
    days_b, rb = daily_returns(second.curve, start_b)
    common, ia, ib = np.intersect1d(days_a, days_b, return_indices=True)
    if len(common) < 2:
        return None, f"{len(common)} common day(s): a paired test needs at least 2"
    diff = ra[ia] - rb[ib]
    if not np.isfinite(diff).all():
        return None, "an equity curve is not finite"
    return paired_block_bootstrap(diff), ""


def rank(entries: Sequence[Entry]) -> list[Entry]:
    """Best first: total return, then expectancy in R (unknown last); ties keep their order."""

    def key(e: Entry) -> tuple[float, float]:
        m = e.result.metrics
        total = m.get("total_return")
        mean = (m.get("expectancy_r") or {}).get("mean")
        return (
            -total if total is not None else float("inf"),
            -mean if mean is not None else float("inf"),
        )

    ordered = sorted(entries, key=key)
    for k, e in enumerate(ordered, 1):
        e.rank = k
    return ordered


def load_once(
    engine: Engine, candidates: Sequence[Candidate], request: BacktestRequest
) -> list[Series]:
    """The candles every candidate runs on, read once with the longest warm-up of them."""
    from hmas.backtest.data import load_series

    first, *others = candidates
    return load_series(
        engine,
        first.settings,
        request.symbols,
        request.timeframe,
        request.range,
        exchange=request.exchange,
        also=[c.settings for c in others],
    )


def compare(
    engine: Engine,
    candidates: Sequence[Candidate],
    request: BacktestRequest,
    *,
    progress: Progress | None = None,
    store: bool = True,
    on_estimate: Callable[[str], None] | None = None,
) -> Comparison:
    """Run every candidate on the same candles, rank them, test the top two (module docstring).

    Each run is kept as a backtest run (``store``), so ``hmas backtest show ID`` shows it.
    """
    from hmas.backtest.data import data_hash
    from hmas.backtest.run import backtest_loaded, preflight

    if len(candidates) < 2:
        raise ValueError("a comparison needs at least two configurations")
    news = [preflight(c.settings, request) for c in candidates]  # all refusals before any run
    series = load_once(engine, candidates, request)
    entries = []
    for candidate, feed in zip(candidates, news, strict=True):
        result = backtest_loaded(
            engine,
            candidate.settings,
            request,
            series,
            progress=progress,
            llm=candidate.llm,
            on_estimate=on_estimate,
            news=feed,
        )
        if store:
            from hmas.backtest.runs import save_run

            result.id = save_run(engine, result)
        entries.append(Entry(candidate, result))
    ordered = rank(entries)
    test, reason = paired_test(ordered[0].result, ordered[1].result)
    return Comparison(
        entries=ordered,
        test=test,
        test_reason=reason or None,
        data_hash=data_hash(series),
        series=[s.as_dict() for s in series],
    )


def changed(settings: Settings, section: str, **values: Any) -> Settings:
    """``settings`` with some values of one section changed, validated as a file's would be."""
    part = getattr(settings, section)
    updated = type(part).model_validate({**part.model_dump(), **values})
    result: Settings = settings.model_copy(update={section: updated})
    return result
