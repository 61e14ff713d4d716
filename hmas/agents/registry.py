"""The agents, declared once: name, layer, view model, inputs, engines. Nothing else lists them.

``SPECS`` is the pipeline's order: Layer 2A (``alpha``, the proposer, and ``technical``,
``sentiment``, ``macro``, the mother's voters), Layer 2B (``execution``, the auditor of alpha's
trade) and Layer 2C (``rationale``, the journal). Adding an agent is adding a module and one
``AgentSpec`` here (docs/agents.md has the contract); the pipeline, the mother's votes, the
stored views and the contract test read this list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from hmas.agents import alpha, execution, macro, rationale, sentiment, technical
from hmas.agents.base import AgentContext, AgentView
from hmas.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from hmas.settings import Settings

Layer = Literal["2A", "2B", "2C"]
#: What an agent may read: the symbol's features are always given; the rest come in the context.
Input = Literal["features", "benchmark", "universe", "fear_greed", "alpha", "views"]
#: ``run(features, ctx)``: the vectorised engine; row t reads rows <= t only.
RunFn = Callable[["pd.DataFrame", AgentContext], "pd.DataFrame"]
#: ``view(frame, i, views)``: the view of row i, given the views of the agents before it.
ViewFn = Callable[["pd.DataFrame", int, Mapping[str, Any]], AgentView]


@dataclass(frozen=True)
class AgentEngine:
    """One way to answer for an agent: a vectorised run and the view of one of its rows."""

    name: str
    run: RunFn
    view: ViewFn


@dataclass(frozen=True)
class AgentSpec:
    """Everything the pipeline knows about an agent."""

    name: str
    layer: Layer
    view_model: type[AgentView]
    needs: tuple[Input, ...]
    rules: AgentEngine
    #: The benchmark's features the agent reads (with "benchmark" in ``needs``): only these are
    #: computed for the benchmark (the contract test checks the agent reads no other).
    benchmark_features: tuple[str, ...] = ()
    #: The LLM engine: the rules frame for every bar (the base rates read it), and for the
    #: decided bars the LLM's view (``hmas.agents.prompts``), put in through the pipeline's
    #: answers seam (``hmas.decision.llm_engine``).
    llm: AgentEngine | None = None
    #: The agent that proposes the trade the mother judges (it does not vote on its own).
    proposes: bool = False

    @property
    def votes(self) -> bool:
        """The Layer 2A agents other than the proposer are the mother's voters."""
        return self.layer == "2A" and not self.proposes

    def engine(self, name: str) -> AgentEngine:
        """The engine called ``name`` (``rules``/``llm``); a ConfigError if it has none."""
        found = {"rules": self.rules, "llm": self.llm}.get(name)
        if found is None:
            raise ConfigError(
                f"agent {self.name} has no {name!r} engine; set HMAS_DECISION__ENGINES to rules "
                "for it"
            )
        return found


def _rules(module: Any) -> AgentEngine:
    return AgentEngine("rules", module.run_rules, module.view_at)


def _llm(module: Any) -> AgentEngine:
    return AgentEngine("llm", module.run_rules, module.view_at)


SPECS: tuple[AgentSpec, ...] = (
    AgentSpec(
        "alpha", "2A", alpha.AlphaView, ("features",), _rules(alpha), llm=_llm(alpha), proposes=True
    ),
    AgentSpec(
        "technical",
        "2A",
        technical.TechnicalView,
        ("features",),
        _rules(technical),
        llm=_llm(technical),
    ),
    AgentSpec(
        "sentiment",
        "2A",
        sentiment.SentimentView,
        ("features", "fear_greed"),
        _rules(sentiment),
        llm=_llm(sentiment),
    ),
    AgentSpec(
        "macro",
        "2A",
        macro.MacroView,
        ("features", "benchmark", "universe"),
        _rules(macro),
        benchmark_features=macro.BENCHMARK_FEATURES,
        llm=_llm(macro),
    ),
    AgentSpec(
        "execution",
        "2B",
        execution.ExecutionView,
        ("features", "alpha"),
        _rules(execution),
        llm=_llm(execution),
    ),
    AgentSpec(
        "rationale",
        "2C",
        rationale.RationaleView,
        ("features", "alpha", "views"),
        _rules(rationale),
        llm=_llm(rationale),
    ),
)
BY_NAME: dict[str, AgentSpec] = {spec.name: spec for spec in SPECS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
VOTERS: tuple[str, ...] = tuple(spec.name for spec in SPECS if spec.votes)
#: The proposer: consensus is the voters' agreement with its proposal, never its own vote.
PROPOSER: str = next(spec.name for spec in SPECS if spec.proposes)

#: Any agent's view, told apart by its ``agent`` field.
AnyView = Annotated[
    alpha.AlphaView
    | technical.TechnicalView
    | sentiment.SentimentView
    | macro.MacroView
    | execution.ExecutionView
    | rationale.RationaleView,
    Field(discriminator="agent"),
]
_ANY_VIEW: TypeAdapter[AnyView] = TypeAdapter(AnyView)


def benchmark_features() -> tuple[str, ...]:
    """Every benchmark feature some agent reads, in feature order."""
    wanted = {name for spec in SPECS for name in spec.benchmark_features}
    from hmas.indicators.features import FEATURE_COLUMNS

    return tuple(name for name in FEATURE_COLUMNS if name in wanted)


def layer(name: Layer) -> tuple[AgentSpec, ...]:
    """The agents of one layer, in pipeline order."""
    return tuple(spec for spec in SPECS if spec.layer == name)


def shown(views: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Stored views as output shows them: a field stored only when set (a view model's
    ``omitted_when_null``, such as sentiment's ``news_count``) is there as null."""
    out: dict[str, dict[str, Any]] = {}
    for name, view in views.items():
        data = dict(view)
        spec = BY_NAME.get(name)
        if spec is not None and not set(data) <= {"agent", "abstained", "abstain_reason"}:
            for field in sorted(spec.view_model.omitted_when_null):
                data.setdefault(field, None)
        out[name] = data
    return out


def parse_view(data: Mapping[str, Any]) -> AgentView:
    """A stored view as its model (an agent that failed as a whole is a bare ``AgentView``)."""
    if set(data) <= {"agent", "abstained", "abstain_reason"}:
        return AgentView.model_validate(data)
    view: AgentView = _ANY_VIEW.validate_python(data)
    return view


def engines(settings: Settings) -> dict[str, AgentEngine]:
    """The engine each agent runs under ``settings`` (``decision.engines``, else the default)."""
    chosen = settings.decision.engines
    unknown = sorted(set(chosen) - set(BY_NAME))
    if unknown:
        raise ConfigError(
            f"decision.engines names unknown agent(s) {', '.join(unknown)}; "
            f"agents: {', '.join(NAMES)}"
        )
    return {
        spec.name: spec.engine(chosen.get(spec.name, settings.decision.engine)) for spec in SPECS
    }


#: Agents the decision cannot run without, and why: removing one is refused (docs/agents.md).
NOT_REMOVABLE: dict[str, str] = {
    "execution": "the mother prices and sizes every trade from the auditor's costs; without "
    "them every proposal would be refused (costs_unknown), which measures nothing",
    "rationale": "the mother's probability and EV come from its measured base rates; without "
    "them every proposal would be refused (no measured history), which measures nothing",
}
#: Reason every row of a removed agent abstains with.
REMOVED = "removed from the panel (decision.ablate)"


def removable() -> tuple[str, ...]:
    """The agents ``decision.ablate`` may name, in pipeline order."""
    return tuple(name for name in NAMES if name not in NOT_REMOVABLE)


def check_ablate(names: list[str], where: str = "decision.ablate") -> list[str]:
    """``names`` if every one is an agent that can be removed; ConfigError naming the valid ones."""
    valid = ", ".join(removable())
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ConfigError(
            f"{where} names unknown agent(s) {', '.join(unknown)}; agents that can be removed: "
            f"{valid}"
        )
    for name in names:
        if name in NOT_REMOVABLE:
            raise ConfigError(
                f"{where}: {name} cannot be removed: {NOT_REMOVABLE[name]}; agents that can be "
                f"removed: {valid}"
            )
    return names


def ablated(settings: Settings) -> frozenset[str]:
    """The agents removed from the panel under ``settings``; ConfigError for a bad name."""
    return frozenset(check_ablate(settings.decision.ablate))
