"""The LLM engine in the decision: agents answered by models, their calls logged and budgeted.

``compute`` runs every agent's rules frame over the whole window as always (the base rates
and the mother's numbers read them); :class:`LlmAnswerer` is its ``ask`` hook: once a
layer's frames are computed it asks the agents routed to an LLM about the decided bar(s), all
at once (Layer 2A's four analysts concurrently, each vendor within its concurrency, by the
signal's deadline), and returns their views, which go in through the answers seam, so later
layers and the mother read them. An agent whose call fails, misses the deadline, or answers
out of schema twice abstains with the reason; the signal still completes and says so
(``rounds.llm``).

Every call goes through :class:`StoreLedger`: reserved against the daily budget and the
per-signal cap before it is made, logged in ``llm_call`` when it ends, and answered from that
log when the same (vendor, model, prompt, schema) was answered before.

With a news source (:class:`~hmas.data.news.NewsFeed`) the sentiment agent's question quotes
the headlines of each asked bar's window, picked by that bar's close: a backtest's bars each
read their own (``hmas.decision.news``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from hmas.errors import BudgetExceededError
from hmas.llm.core import CallRecord, Prompt
from hmas.llm.deadline import Deadline
from hmas.llm.routing import Keys, Route
from hmas.store import llm_calls

if TYPE_CHECKING:
    import pandas as pd
    from pydantic import BaseModel
    from sqlalchemy.engine import Engine

    from hmas.agents.base import AgentContext, AgentView
    from hmas.agents.prompts import Question
    from hmas.agents.registry import AgentSpec
    from hmas.data.news import Headline, NewsFeed
    from hmas.llm.client import StructuredResult
    from hmas.settings import Settings
    from hmas.store.models import Analysis

logger = logging.getLogger(__name__)

MOTHER = "mother"
#: A raw answer longer than this (characters) is refused whole: the agent abstains.
MAX_ANSWER_CHARS = 20_000


class AnswerModel(Protocol):
    """What answers an agent: ``LlmClient`` (a fake one in tests)."""

    async def structured[T: BaseModel](
        self, route: Route, prompt: Prompt, model: type[T], *, deadline: Deadline | None = None
    ) -> StructuredResult[T]:
        """A typed answer, or why there is none."""
        ...


ModelFactory = Callable[[], AbstractAsyncContextManager[AnswerModel]]


class StoreLedger:
    """The call ledger on the store: budgets, the ``llm_call`` rows, the cache.

    ``write=False`` (an offline replay) reads the cache and writes nothing.
    """

    def __init__(
        self,
        engine: Engine,
        batch: str,
        budget: llm_calls.Budget | None,
        *,
        use_cache: bool = True,
        write: bool = True,
        prefer_batch: str | None = None,
    ) -> None:
        self.engine = engine
        self.batch = batch
        self.budget = budget
        self.use_cache = use_cache
        self.write = write
        self.prefer_batch = prefer_batch or batch

    def reserve(
        self,
        route: Route,
        request: dict[str, Any],
        estimate_usd: float | None,
        cache_key: str | None,
    ) -> int | None:
        """A pending row for the call; BudgetExceededError when it must not be made."""
        if not self.write:
            return None
        fields = {
            "batch": self.batch,
            "agent": route.agent,
            "vendor": route.vendor.name,
            "model": route.model.name,
            "cache_key": cache_key,
            "prompt": request,
            "estimate_usd": estimate_usd,
        }
        return llm_calls.reserve(self.engine, fields, self.budget)

    def record(self, ticket: Any, record: CallRecord) -> None:
        """The call's row, finished (or inserted when it was never reserved)."""
        if not self.write:
            return
        values = {
            "response": record.response_text,
            "input_tokens": record.usage.input_tokens,
            "output_tokens": record.usage.output_tokens,
            "cached_tokens": record.usage.cached_input_tokens,
            "cost_usd": record.cost_usd,
            "latency_s": record.latency_s,
            "status": record.status,
            "http_status": record.http_status,
            "error": (record.error or "")[:2000] or None,
            "attempt": record.attempt,
            "cache_key": record.cache_key,
        }
        if ticket is not None:
            llm_calls.finish(self.engine, int(ticket), values)
        else:
            llm_calls.insert(
                self.engine,
                {
                    **values,
                    "batch": self.batch,
                    "agent": record.agent,
                    "vendor": record.vendor,
                    "model": record.model,
                    "prompt": record.request,
                },
            )

    def cached(self, cache_key: str) -> list[str]:
        """Earlier answers to the same question, this signal's first."""
        return llm_calls.cached_answers(self.engine, cache_key, batch=self.prefer_batch)


def budget_of(settings: Settings, cap: float | None = None) -> llm_calls.Budget:
    """The budgets a call is checked against (``cap``: a backtest's --max-cost instead of the
    per-signal cap)."""
    params = settings.llm
    if cap is None:
        return llm_calls.Budget(params.daily_budget_usd, params.signal_cap_usd)
    return llm_calls.Budget(
        params.daily_budget_usd,
        cap,
        batch_name="the backtest's --max-cost",
        batch_fix="raise --max-cost, or run a shorter range",
    )


def llm_agents(settings: Settings) -> list[str]:
    """The agents that run on the LLM engine under ``settings`` (registry order)."""
    from hmas.agents import registry

    return [name for name, eng in registry.engines(settings).items() if eng.name == "llm"]


def routed_agents(settings: Settings) -> list[str]:
    """Every agent that calls a model under ``settings``: the LLM agents, and the mother when
    the default engine is llm."""
    names = llm_agents(settings)
    return [*names, MOTHER] if settings.decision.engine == "llm" else names


def resolve(settings: Settings, environ: Any = None) -> tuple[dict[str, Route], Keys]:
    """The routes of every agent that calls a model, and their keys: a ConfigError or
    LlmKeyMissingError now, before any call is made."""
    from hmas.agents.registry import NAMES
    from hmas.llm import require_keys, resolve_routes

    routes = resolve_routes(settings.llm, routed_agents(settings), known=[*NAMES, MOTHER])
    return routes, require_keys(routes, environ)


def offline_routes(stored: dict[str, Any]) -> dict[str, Route]:
    """Routes rebuilt from what a signal recorded (vendor, model, wire, mode): enough to read
    its answers from the call log, never to call anyone."""
    from hmas.llm.vendors import ModelInfo, Vendor

    routes: dict[str, Route] = {}
    for agent, info in stored.items():
        vendor = Vendor(
            name=info["vendor"],
            wire=info["wire"],
            base_url="offline:",
            key_env=None,
            default_model=info["model"],
            structured=info["mode"],
        )
        routes[agent] = Route(agent, vendor, ModelInfo(info["model"], None, info["mode"]))
    return routes


def route_info(route: Route) -> dict[str, str]:
    """What a signal records of a route, so a replay can find its answers offline."""
    return {
        "vendor": route.vendor.name,
        "model": route.model.name,
        "wire": route.vendor.wire,
        "mode": route.model.structured,
    }


def client_factory(
    settings: Settings,
    keys: Keys,
    ledger: StoreLedger | None,
    *,
    offline: bool = False,
    http: Any = None,
) -> ModelFactory:
    """Opens an ``LlmClient`` per batch of concurrent calls (one event loop each)."""
    from hmas.llm.client import LlmClient

    def factory() -> AbstractAsyncContextManager[AnswerModel]:
        return LlmClient(settings.llm, keys, ledger=ledger, offline=offline, http=http)

    return factory


@dataclass
class AgentCall:
    """What one agent's question about one bar came to (for ``rounds.llm``)."""

    route: str
    status: str
    reason: str | None = None
    flags: list[str] = field(default_factory=list)
    cost_usd: float | None = None
    latency_s: float = 0.0
    calls: int = 0

    def record(self) -> dict[str, Any]:
        """The part a signal keeps in its rounds (no cost or timing: a replay equals it)."""
        return {
            "route": self.route,
            "status": self.status,
            "reason": self.reason,
            "flags": self.flags,
        }


@dataclass
class LlmAnswerer:
    """``compute``'s ``ask`` hook for the LLM engine (see the module docstring).

    ``wanted``: the bars (timestamps) to answer; None answers the last bar only (a signal).
    ``news``: the news source, None without one.
    """

    settings: Settings
    routes: dict[str, Route]
    factory: ModelFactory
    batch: str
    wanted: set[pd.Timestamp] | None = None
    deadline_s: float | None = None
    #: The mother's route, when she deliberates on a model (recorded for a replay).
    mother: Route | None = None
    views: dict[Any, dict[str, dict[str, Any]]] = field(default_factory=dict)
    calls: dict[Any, dict[str, AgentCall]] = field(default_factory=dict)
    news: NewsFeed | None = None
    #: The headlines each asked bar's window held (with ``news``), by bar.
    headlines: dict[Any, list[Headline]] = field(default_factory=dict)
    _deadline: Deadline | None = None
    #: One event loop and one client for every layer, so connections are reused (``close``).
    _runner: asyncio.Runner | None = None
    _open: AbstractAsyncContextManager[AnswerModel] | None = None
    _model: AnswerModel | None = None
    #: (agent, status) pairs already logged: over many bars (a backtest) each kind of
    #: abstention is logged once, the rest counted (``summary``).
    _logged: set[tuple[str, str]] = field(default_factory=set)

    def close(self) -> None:
        """Close the client and the event loop (a no-op if no call was made)."""
        runner, opened = self._runner, self._open
        self._runner = self._open = self._model = None
        if runner is None:
            return
        try:
            if opened is not None:
                runner.run(opened.__aexit__(None, None, None))
        finally:
            runner.close()

    def __enter__(self) -> LlmAnswerer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(
        self,
        layer: str,
        specs: tuple[AgentSpec, ...],
        frames: dict[str, pd.DataFrame],
        features: pd.DataFrame,
        ctx: AgentContext,
    ) -> dict[str, dict[Any, AgentView]]:
        from hmas.agents import registry

        engines = registry.engines(self.settings)
        mine = [s for s in specs if engines[s.name].name == "llm" and s.name in self.routes]
        if not mine or not len(features):
            return {}
        if self._deadline is None and self.deadline_s is not None:
            self._deadline = Deadline.after(self.deadline_s)
        index = features.index
        if self.wanted is None:
            positions = [len(index) - 1]
        else:
            positions = [i for i, ts in enumerate(index) if ts in self.wanted]
        questions: list[tuple[Any, Question]] = []
        answers: dict[str, dict[Any, AgentView]] = {s.name: {} for s in mine}
        from hmas.agents.prompts import bar_data

        frames = self._with_news(frames, positions, index, ctx)
        for i in positions:
            ts = index[i]
            done = self.views.setdefault(ts, {})
            before = self._views_before(ts, i, frames, engines)
            market: Any = None
            for spec in mine:
                if spec.name in done:  # asked already (an earlier segment of a history)
                    answers[spec.name][ts] = spec.view_model.model_validate(done[spec.name])
                    continue
                if market is None:
                    market = bar_data(features, i, ctx.symbol, ctx.timeframe)
                question = self._question(spec, engines, frames, features, i, ctx, before, market)
                if question is not None:
                    questions.append((ts, question))
        if questions:
            if self._runner is None:
                self._runner = asyncio.Runner()
            results = self._runner.run(self._ask_all(questions))
            for (ts, question), result in zip(questions, results, strict=True):
                view = self._settle(ts, question, result)
                answers[question.agent][ts] = view
        return {k: v for k, v in answers.items() if v}

    def _with_news(
        self, frames: dict[str, pd.DataFrame], positions: list[int], index: Any, ctx: AgentContext
    ) -> dict[str, pd.DataFrame]:
        """``frames`` with each asked bar's news count in the sentiment frame (its rules view
        then says it; the question quotes the headlines): each bar's window by its close."""
        from hmas.decision.news import AGENT, decided_at, with_news_count

        if self.news is None or AGENT not in frames:
            return frames
        counts = {}
        for i in positions:
            ts = index[i]
            if ts not in self.headlines:
                close = decided_at(ts, ctx.timeframe)
                self.headlines[ts] = self.news.window(close, ctx.symbol)
            counts[i] = len(self.headlines[ts])
        return {**frames, AGENT: with_news_count(frames[AGENT], counts)}

    def _views_before(
        self, ts: Any, i: int, frames: dict[str, pd.DataFrame], engines: dict[str, Any]
    ) -> dict[str, dict[str, Any]]:
        """The views of the agents already settled at bar ``i``: answered, else their rules."""
        from hmas.agents.registry import SPECS

        done = self.views.get(ts, {})
        views: dict[str, dict[str, Any]] = {}
        for spec in SPECS:
            if spec.name not in frames:
                continue
            if spec.name in done:
                views[spec.name] = done[spec.name]
                continue
            frame = frames[spec.name]
            if list(frame.columns) == ["abstained", "abstain_reason"]:
                views[spec.name] = {
                    "agent": spec.name,
                    "abstained": True,
                    "abstain_reason": str(frame["abstain_reason"].iloc[i]),
                }
                continue
            try:
                views[spec.name] = (
                    engines[spec.name].view(frame, i, dict(views)).model_dump(mode="json")
                )
            except Exception as exc:  # a view that cannot be built is an abstention
                views[spec.name] = {
                    "agent": spec.name,
                    "abstained": True,
                    "abstain_reason": f"agent error: {type(exc).__name__}: {exc}",
                }
        return views

    def _question(
        self,
        spec: AgentSpec,
        engines: dict[str, Any],
        frames: dict[str, pd.DataFrame],
        features: pd.DataFrame,
        i: int,
        ctx: AgentContext,
        before: dict[str, dict[str, Any]],
        market: Any = None,
    ) -> Question | None:
        """The question to ``spec`` about bar ``i``; None when the rules view stands."""
        from hmas.agents.prompts import ask

        ts = features.index[i]
        route = self.routes[spec.name]
        calls = self.calls.setdefault(ts, {})
        others = {k: v for k, v in before.items() if k != spec.name}
        rules = before.get(spec.name)
        if rules is None or rules.get("abstained"):
            # Bad data, or an agent the rules cannot answer for: no model is asked.
            why = (rules or {}).get("abstain_reason") or "no rules view"
            calls[spec.name] = AgentCall(route.label, "not_asked", f"the rules abstained: {why}")
            return None
        if spec.name == "execution":
            alpha = others.get("alpha") or {}
            if alpha.get("abstained") or alpha.get("action") not in ("BUY", "SELL"):
                calls[spec.name] = AgentCall(route.label, "not_asked", "no trade to audit")
                return None
        if spec.name != "rationale":
            others = {k: v for k, v in others.items() if spec.layer != "2A"}
        view = spec.view_model.model_validate(rules)
        news = None
        if spec.name == "sentiment" and self.news is not None:
            news = [h.for_prompt() for h in self.headlines.get(ts, [])]
        return ask(
            spec.name,
            spec.view_model,
            features,
            i,
            symbol=ctx.symbol,
            timeframe=ctx.timeframe,
            rules_view=view,
            views=others,
            news=news,
            market=market,
        )

    async def _ask_all(self, questions: list[tuple[Any, Question]]) -> list[Any]:
        async with self.factory() as model:
            tasks = [
                model.structured(self.routes[q.agent], q.prompt, q.answer, deadline=self._deadline)
                for _, q in questions
            ]
            results = await asyncio.gather(*tasks, return_exceptions=True)
        for outcome in results:
            if isinstance(outcome, BudgetExceededError):
                raise outcome
        return list(results)

    def _settle(self, ts: Any, question: Question, result: Any) -> AgentView:
        """The agent's view from its result: checked, or the rules view marked abstained."""
        from hmas.agents.prompts import view_of

        route = self.routes[question.agent]
        call = AgentCall(route.label, "ok")
        view: AgentView | None = None
        if isinstance(result, BaseException):
            call.status, call.reason = "error", f"{type(result).__name__}: {result}"
        else:
            call.cost_usd, call.latency_s, call.calls = (
                result.cost_usd,
                result.latency_s,
                len(result.calls),
            )
            if result.status != "ok":
                call.status, call.reason = result.status, result.reason
            elif result.raw is not None and len(result.raw) > MAX_ANSWER_CHARS:
                call.status = "invalid"
                call.reason = f"the answer is over {MAX_ANSWER_CHARS:,} characters"
            else:
                try:
                    view, call.flags = view_of(question, result.value, self.settings)
                except Exception as exc:  # out of the view's bounds after the checks
                    call.status = "invalid"
                    call.reason = f"the answer does not make a valid view: {exc}".splitlines()[0]
        if view is None:
            reason = f"LLM {call.status} ({route.label}): {call.reason}"
            data = question.rules_view.model_dump(mode="json")
            data.update(abstained=True, abstain_reason=reason[:1000])
            data.pop("recorded", None)
            view = type(question.rules_view).model_validate(data)
            kind = (question.agent, str(call.status))
            if self.wanted is not None and kind in self._logged:
                logger.debug("%s abstains: %s", question.agent, reason)
            else:
                self._logged.add(kind)
                more = " (further abstentions of this kind are counted, not logged)"
                logger.warning(
                    "%s abstains: %s%s", question.agent, reason, more if self.wanted else ""
                )
        self.calls.setdefault(ts, {})[question.agent] = call
        self.views.setdefault(ts, {})[question.agent] = view.model_dump(mode="json")
        return view

    def record(self, ts: Any) -> dict[str, Any]:
        """What the signal keeps of its LLM agents at bar ``ts`` (``rounds.llm.agents``)."""
        return {name: call.record() for name, call in sorted(self.calls.get(ts, {}).items())}

    def routes_info(self) -> dict[str, dict[str, str]]:
        """Each routed agent's vendor, model, wire and mode (for an offline replay)."""
        routes = dict(self.routes)
        if self.mother is not None:
            routes[MOTHER] = self.mother
        return {agent: route_info(route) for agent, route in sorted(routes.items())}

    def summary(self) -> dict[str, int]:
        """Counts of the answers by status over every bar asked (for a backtest's report)."""
        counts: dict[str, int] = {}
        for calls in self.calls.values():
            for call in calls.values():
                counts[call.status] = counts.get(call.status, 0) + 1
        return counts


def open_answerer(
    engine: Engine,
    settings: Settings,
    *,
    batch: str | None = None,
    wanted: Iterable[Any] | None = None,
    cap: float | None = None,
    use_cache: bool | None = None,
    deadline_s: float | None = -1.0,
    factory: ModelFactory | None = None,
    news: NewsFeed | None = None,
    offline: bool = False,
) -> LlmAnswerer:
    """The answerer of one signal (or one backtest: ``wanted`` bars, ``cap`` its budget).

    Routes and keys are checked here, before any call. ``news``: the news source.
    ``offline``: answer from the call log only, never over HTTP (no key needed); a question
    it does not hold is an abstention.
    """
    if offline:
        from hmas.agents.registry import NAMES
        from hmas.llm import resolve_routes

        routes = resolve_routes(settings.llm, routed_agents(settings), known=[*NAMES, MOTHER])
        keys = Keys()
    else:
        routes, keys = resolve(settings)
    batch = batch or uuid.uuid4().hex
    ledger = StoreLedger(
        engine,
        batch,
        budget_of(settings, cap),
        use_cache=settings.llm.cache if use_cache is None else use_cache,
    )
    return LlmAnswerer(
        settings,
        {a: r for a, r in routes.items() if a != MOTHER},
        factory or client_factory(settings, keys, ledger, offline=offline),
        batch,
        None if wanted is None else set(wanted),
        settings.llm.signal_deadline_seconds if deadline_s == -1.0 else deadline_s,
        routes.get(MOTHER),
        news=news,
    )


#: The request size (characters) a backtest's estimate assumes for one agent's question: the
#: measured questions of the sample market run 4,500 to 6,500 characters.
ESTIMATE_REQUEST_CHARS = 7_000


def estimate_per_bar(settings: Settings) -> tuple[float | None, int]:
    """The worst case of one bar's calls (every answer at ``llm.max_output_tokens``, nothing
    cached) and the number of calls a bar makes; None when a model has no price."""
    from hmas.llm.ledger import estimate_cost

    routes, _ = resolve(settings)
    request = {"messages": [{"role": "user", "content": "x" * ESTIMATE_REQUEST_CHARS}]}
    agents = [a for a in routes if a != MOTHER]
    costs = [estimate_cost(routes[a], request, settings.llm.max_output_tokens) for a in agents]
    if any(c is None for c in costs):
        return None, len(agents)
    return sum(c or 0.0 for c in costs), len(agents)


def offline_answerer(engine: Engine, settings: Settings, analysis: Analysis) -> LlmAnswerer:
    """An answerer that reads a stored signal's answers from the call log and calls no one.

    Its news are the headlines the signal read (stored with it), not the file's of today.
    """
    from hmas.decision.news import stored_news

    stored = (analysis.context.get("llm") or {}).get("routes") or {}
    routes = offline_routes(stored)
    prefer = analysis.context.get("llm_batch")
    ledger = StoreLedger(engine, "replay", None, use_cache=True, write=False, prefer_batch=prefer)
    return LlmAnswerer(
        settings,
        {a: r for a, r in routes.items() if a != MOTHER},
        client_factory(settings, Keys(), ledger, offline=True),
        "replay",
        None,
        None,
        routes.get(MOTHER),
        news=stored_news(analysis),
    )


def deliberation_of(
    answerer: LlmAnswerer, analysis: Analysis, settings: Settings
) -> dict[str, Any] | None:
    """The mother's deliberation on ``analysis`` through ``answerer``'s model and ledger
    (None when she is not routed to a model)."""
    from hmas.decision.deliberation import deliberate

    if answerer.mother is None:
        return None
    return deliberate(
        analysis, settings, answerer.mother, answerer.factory, deadline_s=answerer.deadline_s
    )
