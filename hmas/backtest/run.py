"""One backtest: read the candles, decide every bar, walk the book, measure, keep the run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hmas import __version__
from hmas.backtest.data import Range, Series, data_hash, iso, load_series
from hmas.backtest.engine import Progress, Simulation, trade_dicts, walk, walk_reference
from hmas.backtest.strategy import Strategy, build_plans
from hmas.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.backtest.metrics import EquityCurve
    from hmas.backtest.strategy import Plan, RulesPlan
    from hmas.settings import Settings


@dataclass(frozen=True)
class BacktestRequest:
    """What ``hmas backtest`` was asked: symbols, timeframe, range, strategy."""

    symbols: list[str]
    timeframe: str
    range: Range = field(default_factory=Range)
    exchange: str | None = None
    strategy: Strategy = "rules"


@dataclass(frozen=True)
class LlmBudget:
    """An LLM-engine backtest's limits: ``max_cost`` USD in all, the cache on or off;
    ``offline``: answers from the call log only, no model called (a question it does not hold
    is an abstention)."""

    max_cost: float
    use_cache: bool = True
    offline: bool = False


@dataclass
class BacktestResult:
    """A finished run: what it read, its metrics and trades; ``id`` once stored."""

    strategy: str
    engine: str
    timeframe: str
    series: list[Series]
    config_hash: str
    config: dict[str, Any]
    data_hash: str
    metrics: dict[str, Any]
    trades: list[dict[str, Any]]
    #: Not stored: the per-bar curve and the plans (their prices) for export and plots.
    curve: EquityCurve
    plans: list[Plan]
    simulation: Simulation
    id: int | None = None

    @property
    def symbols(self) -> list[str]:
        return [s.symbol for s in self.series]

    @property
    def sample_data(self) -> bool:
        return any(s.sample for s in self.series)

    @property
    def start_ts(self) -> int:
        return min(s.first for s in self.series)

    @property
    def end_ts(self) -> int:
        return max(s.last for s in self.series)

    @property
    def bars(self) -> int:
        return len(self.curve.ts)

    def as_dict(self) -> dict[str, Any]:
        """The JSON of the run, as ``hmas backtest --json`` and ``show ID --json`` print it."""
        return {
            "id": self.id,
            "strategy": self.strategy,
            "engine": self.engine,
            "hmas_version": __version__,
            "symbols": self.symbols,
            "timeframe": self.timeframe,
            "start": iso(self.start_ts),
            "end": iso(self.end_ts),
            "bars": self.bars,
            "series": [s.as_dict() for s in self.series],
            "sample_data": self.sample_data,
            "config_hash": self.config_hash,
            "data_hash": self.data_hash,
            "metrics": self.metrics,
            "trades": self.trades,
        }


def llm_report(engine: Engine, batch: str, answerers: list[Any]) -> dict[str, Any]:
    """An LLM backtest's spend and answers: how many were asked, cached, abstained."""
    from hmas.store.llm_calls import calls_of

    rows = calls_of(engine, batch=batch)
    answers: dict[str, int] = {}
    for made in answerers:
        for status, count in made.summary().items():
            answers[status] = answers.get(status, 0) + count
    priced = [r.cost_usd for r in rows if r.cost_usd is not None]
    return {
        "spend_usd": round(sum(priced), 6) if priced or not rows else None,
        "calls": sum(1 for r in rows if r.status != "cached"),
        "cached": sum(1 for r in rows if r.status == "cached"),
        "answers": dict(sorted(answers.items())),
        "abstentions": sum(v for k, v in answers.items() if k not in ("ok", "not_asked")),
    }


def proposal_calibration(plans: list[RulesPlan], settings: Settings) -> dict[str, Any]:
    """Every proposal of alpha followed by the paper rules: the mother's p(win) vs what happened.

    Approved or not, each bar where alpha proposed a trade is followed from the next open with
    ``positions.simulate`` (the status needs no costs: costs move prices, not which level is
    hit first); its stated probability is the mother's ``p_win`` at that bar.
    """
    import numpy as np

    from hmas.risk.positions import EXPIRED, LOSS, WIN, simulate
    from hmas.stats import calibration

    stated: list[float] = []
    won: list[float] = []
    count = 0
    approved = 0
    for plan in plans:
        rows = plan.proposals()
        count += len(rows)
        approved += len(plan.candidates())
        if not len(rows):
            continue
        d = plan.decided.iloc[rows]
        sim = simulate(
            plan.ohlc,
            rows,
            d["direction"].to_numpy(dtype=np.float64) > 0,
            d["stop"].to_numpy(dtype=np.float64),
            d["target"].to_numpy(dtype=np.float64),
            expiry_bars=settings.risk.expiry_bars(plan.series.timeframe),
        )
        resolved = np.isin(sim.status, (WIN, LOSS, EXPIRED))
        p = d["p_win"].to_numpy(dtype=np.float64)[resolved]
        stated += p.tolist()
        won += (sim.status[resolved] == WIN).astype(np.float64).tolist()
    table = calibration(stated, won).as_dict()
    return {"proposals": count, "approved_by_mother": approved, **table}


def voter_agreement(plans: list[RulesPlan]) -> dict[str, Any]:
    """How often the mother's voters agreed over the simulated bars of every symbol, with each
    other and with alpha's proposals (``hmas.decision.agreement``): a consensus of voters that
    always agree is one opinion counted several times."""
    import pandas as pd

    from hmas.decision.agreement import measure_agreement

    decided = [p.decided for p in plans]
    frame = pd.concat(decided, ignore_index=True) if len(decided) > 1 else decided[0]
    return measure_agreement(frame).as_dict()


def backtest_series(
    series: list[Series],
    settings: Settings,
    request: BacktestRequest,
    *,
    progress: Progress | None = None,
    ask_for: Callable[[Series], Any] | None = None,
) -> BacktestResult:
    """The backtest of candles already read (``load_series``): plans, walk, metrics, trades.

    ``ask_for(series)``: the LLM engine's answerer of a series' simulated bars.
    """
    from hmas.backtest import metrics
    from hmas.backtest.strategy import ReferencePlan, RulesPlan

    plans = build_plans(request.strategy, series, settings, progress, ask_for)
    engine_name = settings.decision.engine if request.strategy == "rules" else request.strategy
    if request.strategy == "reference":
        references = [p for p in plans if isinstance(p, ReferencePlan)]
        sim = walk_reference(references, settings, progress=progress)
    else:
        sim = walk(plans, settings, engine_name=engine_name, progress=progress)
    start = settings.paper.starting_equity
    curve = metrics.equity_curve(plans, sim.trades, start)
    proposals = agreement = None
    if request.strategy == "rules":
        rules = [p for p in plans if isinstance(p, RulesPlan)]
        proposals = proposal_calibration(rules, settings)
        agreement = voter_agreement(rules)
    figures = metrics.compute(plans, sim, curve, start, proposals=proposals, agreement=agreement)
    return BacktestResult(
        strategy=request.strategy,
        engine=engine_name,
        timeframe=request.timeframe,
        series=series,
        config_hash=settings.config_hash(),
        config=settings.decision_config(),
        data_hash=data_hash(series),
        metrics=figures,
        trades=trade_dicts(sim.trades),
        curve=curve,
        plans=list(plans),
        simulation=sim,
    )


def run_backtest(
    engine: Engine,
    settings: Settings,
    request: BacktestRequest,
    *,
    progress: Progress | None = None,
    store: bool = True,
    llm: LlmBudget | None = None,
    on_estimate: Callable[[str], None] | None = None,
) -> BacktestResult:
    """Run a backtest on the stored candles and (``store``) keep it as a backtest run.

    On the LLM engine (``settings.decision.engine = "llm"``) every simulated bar is asked of
    the models, within ``llm.max_cost`` (a call past it is not made:
    BudgetExceededError) and the daily budget, answered from the call log when asked before;
    ``on_estimate`` hears the worst-case cost first. An agent that abstains counts as it
    does live (alpha abstaining: HOLD). ``metrics.llm`` reports the spend and the answers.
    With a news source (``news.file``, read before anything else) each simulated bar's
    sentiment question quotes the headlines of that bar's window, as live: published by its
    close, never after.
    """
    news = preflight(settings, request)
    series = load_series(
        engine,
        settings,
        request.symbols,
        request.timeframe,
        request.range,
        exchange=request.exchange,
    )
    result = backtest_loaded(
        engine,
        settings,
        request,
        series,
        progress=progress,
        llm=llm,
        on_estimate=on_estimate,
        news=news,
    )
    if store:
        from hmas.backtest.runs import save_run

        result.id = save_run(engine, result)
    return result


def preflight(settings: Settings, request: BacktestRequest) -> Any:
    """What refuses a run before any read: the news file of an LLM run (returned, read), the
    Fear & Greed index (ConfigError)."""
    news = None
    if request.strategy == "rules" and settings.uses_llm():
        from hmas.data.news import load_feed

        news = load_feed(settings)  # a bad file refuses the run before any read or call
    if request.strategy == "rules" and settings.sentiment.use_fear_greed_index:
        # Live decisions would read the index fetched over the network; a backtest reads the
        # store only, so its decisions would not be the live ones.
        raise ConfigError(
            "sentiment.use_fear_greed_index is on, and a backtest reads only stored candles "
            "(its decisions would differ from live ones that read the index); turn it off for "
            "the backtest, e.g. HMAS_SENTIMENT__USE_FEAR_GREED_INDEX=false"
        )
    return news


def backtest_loaded(
    engine: Engine,
    settings: Settings,
    request: BacktestRequest,
    series: list[Series],
    *,
    progress: Progress | None = None,
    llm: LlmBudget | None = None,
    on_estimate: Callable[[str], None] | None = None,
    news: Any = None,
) -> BacktestResult:
    """``run_backtest`` on candles already read (``preflight`` first): the LLM engine's
    answerers, the run, its LLM report; nothing stored."""
    answerers: list[Any] = []
    ask_for = None
    batch = None
    if request.strategy == "rules" and settings.uses_llm():
        import uuid

        from hmas.decision import llm_engine

        if llm is None:
            raise ConfigError(
                "a backtest on the LLM engine calls a model for every bar: give --max-cost USD"
            )
        per_bar, calls = (None, 0) if llm.offline else llm_engine.estimate_per_bar(settings)
        bars = sum(s.bars for s in series)
        if on_estimate is not None and not llm.offline:
            worst = (
                "unknown (a model has no price)" if per_bar is None else f"${per_bar * bars:.2f}"
            )
            on_estimate(
                f"LLM backtest: {bars} bars x {calls} agents = {bars * calls} calls; estimated "
                f"cost at most {worst} (every answer at llm.max_output_tokens, before the "
                f"cache); stopping at --max-cost ${llm.max_cost:.2f}"
            )
        batch = f"backtest-{uuid.uuid4().hex}"

        def ask_for(s: Series) -> Any:
            import pandas as pd

            index = pd.DatetimeIndex(s.inputs.candles.index)
            wanted = index[index.as_unit("ms").asi8 >= s.first]
            made = llm_engine.open_answerer(
                engine,
                settings,
                batch=batch,
                wanted=wanted,
                cap=llm.max_cost,
                use_cache=llm.use_cache,
                deadline_s=None,
                news=news,
                offline=llm.offline,
            )
            answerers.append(made)
            return made

    try:
        result = backtest_series(series, settings, request, progress=progress, ask_for=ask_for)
    finally:
        for made in answerers:
            made.close()
    if batch is not None:
        result.metrics["llm"] = llm_report(engine, batch, answerers)
    return result
