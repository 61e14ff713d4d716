"""Ablation: the same run with one agent removed from the panel, and what that changes.

Removing an agent is the setting ``decision.ablate`` (the same code path live and here: the
agent abstains on every bar, ``hmas.decision.pipeline.compute``). ``ablate`` runs the
configuration as given (the baseline) and once per agent with that agent added to
``decision.ablate``, all on the same candles (``hmas.backtest.compare``), and reports per
agent the change of

- expectancy: the mean R of the closed trades, with the 95% bootstrap interval of the
  difference (ablated minus baseline; the two runs' trades are different sets, so the two
  samples are resampled independently: ``hmas.stats.difference_ci``);
- approvals: the bars the mother approved (before the guardian);
- Brier: the score of the mother's stated p(win) of every proposal against its paper
  outcome (``proposal_calibration``).

The agents the decision cannot run without (``registry.NOT_REMOVABLE``) get a row with the
reason and no numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hmas.stats import MeanCI, difference_ci

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.backtest.compare import Comparison
    from hmas.backtest.engine import Progress
    from hmas.backtest.run import BacktestRequest, BacktestResult, LlmBudget
    from hmas.settings import Settings

#: ``--ablate all``.
ALL = "all"


def agents_of(names: Sequence[str]) -> list[str]:
    """The agents to remove in turn: ``all`` is every agent (those that cannot be removed get
    a row saying why); otherwise each name must be removable (ConfigError naming the valid)."""
    from hmas.agents import registry

    wanted = [n.strip().lower() for n in names if n.strip()]
    if ALL in wanted:
        if len(wanted) > 1:
            from hmas.errors import UsageError

            raise UsageError("--ablate all removes every agent in turn: give it alone")
        return list(registry.NAMES)
    registry.check_ablate(wanted, "--ablate")
    return list(dict.fromkeys(wanted))


def closed_r(result: BacktestResult) -> list[float]:
    """The R multiple of every closed trade of a run."""
    return [
        float(t["r_multiple"])
        for t in result.trades
        if t.get("status") != "open" and t.get("r_multiple") is not None
    ]


def _brier(result: BacktestResult) -> float | None:
    proposals = (result.metrics.get("calibration") or {}).get("proposals") or {}
    value = proposals.get("brier")
    return None if value is None else float(value)


@dataclass
class Row:
    """One agent removed: its run, or why it cannot be removed."""

    agent: str
    result: BacktestResult | None
    reason: str | None = None

    def as_dict(self, base: BacktestResult) -> dict[str, Any]:
        if self.result is None:
            return {"agent": self.agent, "removed": False, "reason": self.reason}
        r = self.result
        m, b = r.metrics, base.metrics
        delta: MeanCI = difference_ci(closed_r(r), closed_r(base))
        brier, brier_base = _brier(r), _brier(base)
        return {
            "agent": self.agent,
            "removed": True,
            "reason": None,
            "id": r.id,
            "config_hash": r.config_hash,
            "trades": m.get("trades"),
            "approvals": m.get("candidates"),
            "delta_approvals": m.get("candidates", 0) - b.get("candidates", 0),
            "expectancy_r": m.get("expectancy_r"),
            "delta_expectancy_r": delta.as_dict(),
            "delta_expectancy_reason": None
            if delta.mean is not None
            else "no closed trade in the run or the baseline",
            "brier": brier,
            "delta_brier": None if brier is None or brier_base is None else brier - brier_base,
            "total_return": m.get("total_return"),
            "delta_total_return": None
            if m.get("total_return") is None or b.get("total_return") is None
            else m["total_return"] - b["total_return"],
        }


@dataclass
class Ablation:
    """The baseline run and one row per agent."""

    baseline: BacktestResult
    rows: list[Row]
    comparison: Comparison

    def as_dict(self) -> dict[str, Any]:
        b = self.baseline
        return {
            "data_hash": self.comparison.data_hash,
            "series": self.comparison.series,
            "removed_means": "the agent abstains on every bar (decision.ablate; docs/agents.md)",
            "baseline": {
                "id": b.id,
                "config_hash": b.config_hash,
                "trades": b.metrics.get("trades"),
                "approvals": b.metrics.get("candidates"),
                "expectancy_r": b.metrics.get("expectancy_r"),
                "brier": _brier(b),
                "total_return": b.metrics.get("total_return"),
            },
            "rows": [row.as_dict(b) for row in self.rows],
        }


def ablate(
    engine: Engine,
    settings: Settings,
    request: BacktestRequest,
    agents: Sequence[str],
    *,
    progress: Progress | None = None,
    store: bool = True,
    llm: LlmBudget | None = None,
    on_estimate: Callable[[str], None] | None = None,
) -> Ablation:
    """The baseline and each agent of ``agents`` (``agents_of``) removed, on the same candles."""
    from hmas.agents import registry
    from hmas.backtest.compare import Candidate, changed, compare

    registry.ablated(settings)  # the baseline's own removals are valid
    base = Candidate("baseline", settings, "the configuration as given", llm)
    candidates = [base]
    reasons: dict[str, str] = {}
    for agent in agents:
        if agent in registry.NOT_REMOVABLE:
            reasons[agent] = f"cannot be removed: {registry.NOT_REMOVABLE[agent]}"
            continue
        if agent in settings.decision.ablate:
            reasons[agent] = "already removed in the baseline (decision.ablate)"
            continue
        removed = sorted({*settings.decision.ablate, agent})
        candidates.append(
            Candidate(f"-{agent}", changed(settings, "decision", ablate=removed), agent, llm)
        )
    if len(candidates) < 2:
        from hmas.errors import UsageError

        raise UsageError(
            "no agent to remove: "
            + "; ".join(f"{a} {why}" for a, why in reasons.items())
            + f"; agents that can be removed: {', '.join(registry.removable())}"
        )
    comparison = compare(
        engine, candidates, request, progress=progress, store=store, on_estimate=on_estimate
    )
    by_label = {e.candidate.label: e.result for e in comparison.entries}
    rows = [Row(agent, by_label.get(f"-{agent}"), reasons.get(agent)) for agent in agents]
    return Ablation(by_label["baseline"], rows, comparison)
