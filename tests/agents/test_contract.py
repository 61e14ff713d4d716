"""The agent contract, checked over every agent in the registry (docs/agents.md).

Each registered agent: runs with the one signature, keeps row t causal (row t of a whole
history equals the last row of the history cut at t), answers one row per bar with the
abstention columns, gives views of its declared model that reject NaN/inf, round-trip through
the base view's row mapping, and parse back through the discriminated union.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hmas.agents import registry
from hmas.agents.base import AgentContext, AgentView
from hmas.errors import ConfigError
from hmas.settings import Settings
from tests.agents.frames import context, random_features

SPECS = registry.SPECS
IDS = [spec.name for spec in SPECS]


def _context(features: pd.DataFrame, seed: int, s: Settings | None = None) -> AgentContext:
    """A context over ``features`` with a benchmark, a universe and alpha's own output."""
    index = features.index
    bench = random_features(seed + 10).reindex(index)
    universe = pd.DataFrame({"LTC-USD": random_features(seed + 20)["close"]}).reindex(index)
    ctx = context(s or Settings(), benchmark=bench, universe=universe)
    return ctx.with_upstream(alpha=registry.BY_NAME["alpha"].rules.run(features, ctx))


def _views(spec: registry.AgentSpec, out: pd.DataFrame, rows: range) -> list[AgentView]:
    return [spec.rules.view(out, i, {}) for i in rows]


def test_names_are_listed_once_and_layers_run_in_order() -> None:
    assert list(registry.NAMES) == [
        "alpha",
        "technical",
        "sentiment",
        "macro",
        "execution",
        "rationale",
    ]
    # alpha proposes; the other Layer 2A agents vote on its proposal (never alpha itself).
    assert registry.VOTERS == ("technical", "sentiment", "macro")
    assert registry.PROPOSER == "alpha"
    assert [s.name for s in SPECS if s.proposes] == ["alpha"]
    order = [spec.layer for spec in SPECS]
    assert order == sorted(order)
    for spec in SPECS:
        assert spec.view_model.model_fields["agent"].default == spec.name
        # The LLM engine computes the rules frame for every bar; the decided bar's view comes
        # from the model through the answers seam (hmas.decision.llm_engine).
        assert spec.llm is not None and spec.llm.name == "llm"
        assert spec.llm.run is spec.rules.run
        assert "features" in spec.needs
    assert {s.name for s in SPECS if "alpha" in s.needs} == {"execution", "rationale"}


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 3), cut=st.integers(1, 599), horizon=st.integers(1, 60))
def test_row_t_equals_the_row_of_history_cut_at_t(
    spec: registry.AgentSpec, seed: int, cut: int, horizon: int
) -> None:
    s = Settings(risk={"expiry": f"{horizon}h"})
    features = random_features(seed)
    full = spec.rules.run(features, _context(features, seed, s))
    part_features = features.iloc[:cut]
    part = spec.rules.run(part_features, _context(part_features, seed, s))
    pd.testing.assert_frame_equal(part, full.iloc[:cut])


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_one_row_per_bar_with_the_abstention_columns(spec: registry.AgentSpec) -> None:
    features = random_features(1)
    out = spec.rules.run(features, _context(features, 1))
    assert out.index.equals(features.index)
    assert out["abstained"].dtype == bool
    reasons = out.loc[out["abstained"], "abstain_reason"]
    assert reasons.map(lambda r: isinstance(r, str) and r != "").all()
    assert not out["abstained"].all()


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_views_round_trip_through_the_row_mapping_and_the_union(spec: registry.AgentSpec) -> None:
    features = random_features(2)
    out = spec.rules.run(features, _context(features, 2))
    for view in _views(spec, out, range(0, len(out), 7)):
        assert type(view) is spec.view_model
        data = view.model_dump(mode="json")
        assert "recorded" not in data  # a live view keeps its stored form
        assert registry.parse_view(data) == view
        row = view.to_row()
        assert set(row) <= set(spec.view_model.model_fields)
        assert {"agent", "abstained", "abstain_reason"} <= set(row)
        rebuilt = spec.view_model.from_row(row, **_derived(view, row))
        assert rebuilt == view


def _derived(view: AgentView, row: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``view`` that are not in its row (lists, dicts, text)."""
    return {k: v for k, v in view if k not in row and k not in ("agent", "recorded")}


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_views_reject_nan_and_infinities(spec: registry.AgentSpec, bad: float) -> None:
    features = random_features(3)
    out = spec.rules.run(features, _context(features, 3))
    view = spec.rules.view(out, len(out) - 1, {})
    floats = [
        name
        for name, info in spec.view_model.model_fields.items()
        if info.annotation in (float, float | None)
    ]
    assert floats, f"{spec.name} declares no float field"
    data = view.model_dump()
    for name in floats:
        with pytest.raises(ValidationError):
            spec.view_model.model_validate({**data, name: bad})


def test_an_unknown_agent_or_engine_in_the_settings_is_a_config_error() -> None:
    assert {name: e.name for name, e in registry.engines(Settings()).items()} == dict.fromkeys(
        registry.NAMES, "rules"
    )
    assert registry.engines(Settings(decision={"engines": {"alpha": "rules"}}))["alpha"].name == (
        "rules"
    )
    with pytest.raises(ConfigError, match="unknown agent"):
        registry.engines(Settings(decision={"engines": {"gamma": "rules"}}))
    with pytest.raises(ValidationError):
        Settings(decision={"engines": {"alpha": "gpt"}})
    assert registry.engines(Settings(decision={"engines": {"alpha": "llm"}}))["alpha"].name == "llm"
    assert registry.BY_NAME["alpha"].engine("llm").name == "llm"
    with pytest.raises(ConfigError, match="no 'gpt' engine"):
        registry.BY_NAME["alpha"].engine("gpt")


def test_the_per_agent_engine_setting_leaves_earlier_config_hashes_alone() -> None:
    default = Settings()
    assert "engines" not in default.decision_config()["decision"]
    chosen = Settings(decision={"engines": {"alpha": "rules"}})
    assert chosen.decision_config()["decision"]["engines"] == {"alpha": "rules"}
    assert chosen.config_hash() != default.config_hash()


@pytest.mark.parametrize("spec", [s for s in SPECS if "benchmark" in s.needs], ids=lambda s: s.name)
def test_an_agent_reads_only_the_benchmark_features_it_declares(spec: registry.AgentSpec) -> None:
    """The pipeline computes only the declared benchmark features: the rest must not matter."""
    features = random_features(2)
    full = _context(features, 2)
    assert full.benchmark is not None
    declared = ["open", "high", "low", "close", "volume", *spec.benchmark_features]
    bench = full.benchmark
    cut = replace(full, benchmark=bench[declared])
    pd.testing.assert_frame_equal(spec.rules.run(features, cut), spec.rules.run(features, full))
    # A benchmark feature the agent reads but did not declare would change its output here.
    noisy = bench.copy()
    for name in bench.columns.difference(declared):
        noisy[name] = np.nan
    noisy_ctx = replace(full, benchmark=noisy)
    pd.testing.assert_frame_equal(
        spec.rules.run(features, noisy_ctx), spec.rules.run(features, full)
    )
