"""``replay``: recompute a stored signal offline from its snapshot and say what differs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hmas.decision.pipeline import MarketInputs
from hmas.decision.service import build_analysis, decide_signal
from hmas.decision.snapshot import describe
from hmas.errors import HmasError
from hmas.store.records import get_analysis, get_signal

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.settings import Settings

SIGNAL_FIELDS = (
    "decision",
    "action",
    "confidence",
    "entry",
    "stop_loss",
    "take_profit",
    "size",
    "reward_risk",
    "expected_value_r",
    "risk_adjusted_ev_r",
    "consensus",
    "quality",
    "conviction",
    "rejection_reason",
)


class SnapshotMissingError(HmasError):
    """Raised when the candles a signal read are no longer in the store."""


@dataclass
class ReplayResult:
    """Whether a replay reproduced the stored signal, and every difference if not."""

    signal_id: int
    identical: bool
    differences: list[dict[str, Any]] = field(default_factory=list)
    config_changed: bool = False
    #: The decision model that decided the stored signal, and this hmas's.
    stored_model: int = 1
    model: int = 1

    @property
    def model_changed(self) -> bool:
        return self.stored_model != self.model

    def as_dict(self) -> dict[str, Any]:
        """The JSON contract: ``{"signal_id", "identical", "differences", ...}``."""
        return {
            "signal_id": self.signal_id,
            "identical": self.identical,
            "differences": self.differences,
            "config_changed": self.config_changed,
            "model_changed": self.model_changed,
            "stored_model": self.stored_model,
            "model": self.model,
        }


class ReplayModelError(HmasError):
    """A signal decided by an earlier decision model whose settings this hmas no longer reads."""


def model_of(config: dict[str, Any]) -> int:
    """The decision model recorded in a stored decision config (1 before models were recorded)."""
    value = config.get("model", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def _without_model(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "model"}


def stored_settings(config: dict[str, Any], timeframe: str) -> Settings:
    """Settings rebuilt from the decision config stored with an analysis of ``timeframe``.

    Settings replaced since (``rationale.outcome_horizon`` by ``risk.expiry``) are translated.
    """
    from hmas.settings import Settings, upgrade_stored_config

    return Settings.model_validate(upgrade_stored_config(_without_model(config), timeframe))


def reload_inputs(engine: Engine, analysis: Any) -> MarketInputs:
    """The exact candles an analysis read, from the store; error if they changed."""
    from hmas.store.candles import CandleStore

    store = CandleStore(engine)
    ctx = analysis.context
    sym = ctx["symbol"]
    candles = store.frame(
        analysis.exchange,
        analysis.symbol,
        analysis.timeframe,
        since=sym["first_ts"],
        until=sym["last_ts"],
    )
    benchmark = None
    universe = {}
    for name, ext in ctx.get("universe", {}).items():
        universe[name] = store.frame(
            analysis.exchange, name, analysis.timeframe, since=ext["first_ts"], until=ext["last_ts"]
        )
    if "benchmark" in ctx:
        bench_sym = stored_settings(analysis.config, analysis.timeframe).macro.benchmark
        benchmark = universe.get(bench_sym)
    conversion = None
    if "conversion" in ctx:
        from hmas.risk.currency import Conversion

        pair = ctx["conversion"]
        frame = store.frame(
            pair["exchange"],
            pair["symbol"],
            pair["timeframe"],
            since=pair["first_ts"],
            until=pair["last_ts"],
        )
        if pair["first_ts"] is None:
            frame = frame.iloc[:0]
        conversion = Conversion(
            pair["symbol"], pair["exchange"], pair["timeframe"], pair["invert"], frame
        )
    fear_greed = ctx.get("fear_greed") or {}
    inputs = MarketInputs(
        analysis.exchange,
        analysis.symbol,
        analysis.timeframe,
        candles,
        analysis.source,
        benchmark,
        universe,
        fear_greed.get("values"),
        fear_greed.get("error"),
        conversion,
    )
    _, digest = describe(inputs)
    if digest != analysis.snapshot_hash:
        raise SnapshotMissingError(
            f"the candles of analysis {analysis.id} are no longer the ones it read "
            "(snapshot hash differs); the store was modified outside hmas"
        )
    return inputs


def replay(
    engine: Engine,
    signal_id: int,
    settings: Settings | None = None,
    *,
    no_cache: bool = False,
    current: Settings | None = None,
) -> ReplayResult:
    """Recompute signal ``signal_id``; with ``settings``, what that config would change.

    An LLM signal is replayed offline: each agent's answer (and the mother's deliberation) is
    read from the call log by its (vendor, model, prompt, schema), at $0. A signal that read
    headlines is replayed on the headlines stored with it, never on today's news file.
    ``no_cache`` asks the providers again instead (``current`` gives their vendors and keys;
    the calls are logged and budgeted like any other).
    """
    from pydantic import ValidationError

    from hmas.errors import ConfigError
    from hmas.settings import DECISION_MODEL

    signal = get_signal(engine, signal_id)
    analysis = get_analysis(engine, signal.analysis_id)
    stored_model = model_of(analysis.config)
    try:
        original: Settings | None = stored_settings(analysis.config, analysis.timeframe)
    except (ValidationError, ConfigError) as exc:
        if stored_model == DECISION_MODEL:
            raise
        if settings is None:
            raise ReplayModelError(
                f"signal {signal_id} was decided by decision model {stored_model} "
                f"(hmas {analysis.hmas_version}), whose settings this hmas (model "
                f"{DECISION_MODEL}) no longer reads; replay it with hmas "
                f"{analysis.hmas_version}, or pass --config to see what today's model decides "
                "on its candles"
            ) from exc
        original = None
    used = settings or original
    assert used is not None
    config_changed = original is None or _without_model(used.decision_config()) != _without_model(
        original.decision_config()
    )
    inputs = reload_inputs(engine, analysis)
    answerer = _answerer(engine, analysis, used, no_cache, current)
    from hmas.decision.news import stored_news

    try:
        # The headlines it read, as stored: the news file may have changed or be gone.
        rebuilt = build_analysis(inputs, used, ask=answerer, news=stored_news(analysis))
    finally:
        if answerer is not None:
            answerer.close()
    rebuilt.id = analysis.id
    diffs: list[dict[str, Any]] = []
    _compare("features", analysis.features, rebuilt.features, diffs)
    _compare("views", analysis.views, rebuilt.views, diffs)
    state = _guardian_state(signal.guardian.get("state", {}))
    deliberation = None
    if answerer is not None:
        from hmas.decision.llm_engine import deliberation_of

        deliberation = deliberation_of(answerer, rebuilt, used)
    replayed = decide_signal(rebuilt, used, state, deliberation)
    for name in SIGNAL_FIELDS:
        _compare(name, getattr(signal, name), getattr(replayed, name), diffs)
    _compare("rounds", signal.rounds, replayed.rounds, diffs)
    return ReplayResult(signal_id, not diffs, diffs, config_changed, stored_model, DECISION_MODEL)


def _answerer(
    engine: Engine,
    analysis: Any,
    used: Settings,
    no_cache: bool,
    current: Settings | None,
) -> Any:
    """The LLM engine's answerer of a replay: offline from the log, or (``no_cache``) live."""
    if not used.uses_llm():
        return None
    from hmas.decision import llm_engine

    if not no_cache:
        if "llm" not in analysis.context:
            return None
        return llm_engine.offline_answerer(engine, used, analysis)
    base = current or used
    params = base.llm.model_copy(update={"routing": used.llm.routing, "cache": False})
    live = used.model_copy(update={"llm": params})
    return llm_engine.open_answerer(engine, live, use_cache=False)


def _guardian_state(data: dict[str, Any]) -> Any:
    from hmas.risk.guardian import AccountState

    return AccountState.model_validate(data)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def _compare(path: str, stored: Any, replayed: Any, diffs: list[dict[str, Any]]) -> None:
    if isinstance(stored, dict) and isinstance(replayed, dict):
        for key in sorted(set(stored) | set(replayed)):
            _compare(f"{path}.{key}", stored.get(key), replayed.get(key), diffs)
    elif isinstance(stored, list) and isinstance(replayed, list) and len(stored) == len(replayed):
        for i, (a, b) in enumerate(zip(stored, replayed, strict=True)):
            _compare(f"{path}[{i}]", a, b, diffs)
    elif not _same(stored, replayed):
        diffs.append({"field": path, "stored": stored, "replayed": replayed})
