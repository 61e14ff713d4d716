"""What the metrics say, read from the store at each scrape (one source for both paths).

``read`` queries the store and returns plain numbers; ``StoreCollector`` turns them into
Prometheus metric families when a registry is collected (an HTTP scrape, or ``hmas metrics``
writing a textfile). Reading at collection time, instead of filling a registry as the loop
goes, means a scrape of ``hmas run --metrics-port`` and a textfile written by cron say the
same, whichever process stored what.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, or_, select
from sqlmodel import Session, col

from hmas.store.models import Account, FetchRun, LlmCall, Position, Run, Signal

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.settings import Settings

#: LLM call statuses that are failures (the agent abstained, or the mother went without).
FAILED_CALLS = ("error", "deadline")


@dataclass
class AccountFigures:
    """One engine's paper account as the metrics show it."""

    currency: str
    equity: float
    drawdown: float
    daily_pnl: float
    open_positions: int
    paused: bool
    kill_switch: bool


@dataclass
class Figures:
    """Every number the metrics expose, read from the store at one moment."""

    signals: Counter[tuple[str, str]] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    accounts: dict[str, AccountFigures] = field(default_factory=dict)
    runs: Counter[str] = field(default_factory=Counter)
    last_run_duration: float | None = None
    last_run_finished: float | None = None
    symbol_errors: Counter[str] = field(default_factory=Counter)
    fetch_errors: Counter[str] = field(default_factory=Counter)
    agent_errors: Counter[str] = field(default_factory=Counter)
    llm_spend_today: float = 0.0
    kill_switch: bool = False


def read(engine: Engine, settings: Settings, *, now_ms: int | None = None) -> Figures:
    """The figures as the store holds them now."""
    from hmas.decision.verdict import refused_by
    from hmas.risk.account import utc_day
    from hmas.risk.ledger import kill_switch_on
    from hmas.store.llm_calls import spent_on

    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    today = utc_day(now_ms)
    switch = kill_switch_on(settings)
    out = Figures()
    with Session(engine) as session:
        for symbol, decision, n in session.execute(
            select(col(Signal.symbol), col(Signal.decision), func.count()).group_by(
                col(Signal.symbol), col(Signal.decision)
            )
        ).all():
            out.signals[(str(symbol), str(decision))] = int(n)
        # Only the signals a guard refused carry a refusal; their reason says so.
        guarded = select(col(Signal.guardian)).where(
            or_(
                col(Signal.rejection_reason).like("guardian: %"),
                col(Signal.rejection_reason).like("data quality: %"),
            )
        )
        for (guardian,) in session.execute(guarded).all():
            out.refusals.update(refused_by(guardian or {}))
        open_by_engine = dict(
            session.execute(
                select(col(Position.engine), func.count())
                .where(col(Position.status) == "open")
                .group_by(col(Position.engine))
            ).all()
        )
        for account in session.execute(select(Account)).scalars():
            peak = max(account.peak_equity, account.equity)
            out.accounts[account.engine] = AccountFigures(
                currency=settings.paper.account_currency,
                equity=account.equity,
                drawdown=(peak - account.equity) / peak if peak > 0 else 0.0,
                # A day the account has not rolled into yet has made nothing so far.
                daily_pnl=account.equity - account.day_start_equity
                if account.day == today
                else 0.0,
                open_positions=int(open_by_engine.get(account.engine, 0)),
                paused=account.paused_until_ts is not None and account.paused_until_ts > now_ms,
                kill_switch=bool(account.kill_switch or switch),
            )
        for status, n in session.execute(
            select(col(Run.status), func.count()).group_by(col(Run.status))
        ).all():
            out.runs[str(status)] = int(n)
        last = session.execute(
            select(Run)
            .where(col(Run.finished_at).is_not(None))
            .order_by(col(Run.finished_at).desc(), col(Run.id).desc())
            .limit(1)
        ).scalar_one_or_none()
        if last is not None and last.finished_at is not None:
            out.last_run_duration = (last.finished_at - last.started_at).total_seconds()
            out.last_run_finished = last.finished_at.timestamp()
        for (errors,) in session.execute(
            select(col(Run.errors)).where(col(Run.status).in_(("partial", "error", "interrupted")))
        ).all():
            out.symbol_errors.update(str(symbol) for symbol in errors or {})
        for exchange, n in session.execute(
            select(col(FetchRun.exchange), func.count())
            .where(col(FetchRun.status) == "error")
            .group_by(col(FetchRun.exchange))
        ).all():
            out.fetch_errors[str(exchange)] = int(n)
        for agent, n in session.execute(
            select(col(LlmCall.agent), func.count())
            .where(col(LlmCall.status).in_(FAILED_CALLS))
            .group_by(col(LlmCall.agent))
        ).all():
            out.agent_errors[str(agent)] = int(n)
    out.llm_spend_today = spent_on(engine, today)
    out.kill_switch = bool(switch or any(a.kill_switch for a in out.accounts.values()))
    return out


#: Counts a process keeps itself (the notifier's), by (channel, outcome).
Extra = Callable[[], Mapping[tuple[str, str], int]]


class StoreCollector(Collector):
    """Collects ``read(engine, settings)`` as Prometheus metrics at every scrape.

    ``notifications``, when given, returns the notifier's counts by (channel, outcome): they
    live in the process that sends, not in the store, so only ``hmas run`` exposes them.
    """

    def __init__(
        self, engine: Engine, settings: Settings, *, notifications: Extra | None = None
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.notifications = notifications

    def collect(self) -> Iterator[Metric]:
        """The metric families (the store is read once per call)."""
        yield from families(read(self.engine, self.settings))
        if self.notifications is not None:
            sent = CounterMetricFamily(
                "hmas_notifications",
                "Notifications by channel and outcome (sent, failed; held: held back by the "
                "rate limit, channel *), since this process started.",
                labels=["channel", "outcome"],
            )
            for (channel, outcome), n in sorted(self.notifications().items()):
                sent.add_metric([channel, outcome], n)
            yield sent


def families(f: Figures) -> Iterator[Metric]:
    """The figures as metric families, in a fixed order."""
    signals = CounterMetricFamily(
        "hmas_signals", "Signals stored, by symbol and decision.", labels=["symbol", "decision"]
    )
    for (symbol, decision), n in sorted(f.signals.items()):
        signals.add_metric([symbol, decision], n)
    yield signals
    refusals = CounterMetricFamily(
        "hmas_guardian_refusals",
        "Trades the mother approved that a guard refused, by rule (a signal may name several).",
        labels=["rule"],
    )
    for rule, n in sorted(f.refusals.items()):
        refusals.add_metric([rule], n)
    yield refusals
    per_account: list[tuple[str, str, Callable[[AccountFigures], float]]] = [
        ("hmas_paper_equity", "Paper equity in the account currency.", lambda a: a.equity),
        (
            "hmas_paper_drawdown_ratio",
            "Drawdown of the paper equity from its peak (0.05 = 5%).",
            lambda a: a.drawdown,
        ),
        (
            "hmas_paper_daily_pnl",
            "Paper P&L of the current UTC day, in the account currency.",
            lambda a: a.daily_pnl,
        ),
        (
            "hmas_paper_open_positions",
            "Open paper positions.",
            lambda a: a.open_positions,
        ),
        (
            "hmas_paper_paused",
            "1 while the guardian pauses trading after a run of losses.",
            lambda a: float(a.paused),
        ),
    ]
    for name, doc, value in per_account:
        gauge = GaugeMetricFamily(name, doc, labels=["engine", "currency"])
        for engine, account in sorted(f.accounts.items()):
            gauge.add_metric([engine, account.currency], value(account))
        yield gauge
    yield GaugeMetricFamily(
        "hmas_kill_switch",
        "1 when the kill switch is on (setting, switch file or an account), else 0.",
        value=float(f.kill_switch),
    )
    runs = CounterMetricFamily(
        "hmas_runs", "Iterations of hmas run, by how they ended.", labels=["status"]
    )
    for status, n in sorted(f.runs.items()):
        runs.add_metric([status], n)
    yield runs
    if f.last_run_duration is not None and f.last_run_finished is not None:
        yield GaugeMetricFamily(
            "hmas_last_run_duration_seconds",
            "How long the last finished iteration of hmas run took.",
            value=f.last_run_duration,
        )
        yield GaugeMetricFamily(
            "hmas_last_run_timestamp_seconds",
            "When the last iteration of hmas run finished (Unix time).",
            value=f.last_run_finished,
        )
    for name, doc, label, counts in (
        (
            "hmas_symbol_errors",
            "Symbols that failed an iteration of hmas run (fetch, exchange or other).",
            "symbol",
            f.symbol_errors,
        ),
        ("hmas_fetch_errors", "Candle fetches that failed.", "exchange", f.fetch_errors),
        (
            "hmas_agent_errors",
            "LLM calls of an agent that failed (error or deadline): the agent abstained.",
            "agent",
            f.agent_errors,
        ),
    ):
        family = CounterMetricFamily(name, doc, labels=[label])
        for key, n in sorted(counts.items()):
            family.add_metric([key], n)
        yield family
    yield GaugeMetricFamily(
        "hmas_llm_spend_today_usd",
        "LLM spend of the current UTC day (finished and reserved calls), USD.",
        value=f.llm_spend_today,
    )
