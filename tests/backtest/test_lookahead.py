"""The lookahead check passes on the real code and catches a feature or a decision that peeks."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import hmas.decision.mother
import hmas.indicators
from hmas.backtest.lookahead import check
from hmas.backtest.run import BacktestRequest, run_backtest
from hmas.settings import Settings
from tests.backtest.conftest import permissive


@pytest.fixture(scope="module")
def loose() -> Settings:
    return permissive()


def run_and_check(engine: Any, settings: Settings, strategy: str = "rules") -> dict[str, Any]:
    request = BacktestRequest(["ETH-USD"], "1h", strategy=strategy)  # type: ignore[arg-type]
    result = run_backtest(engine, settings, request, store=False)
    assert result.metrics["trades"] > 0
    return check(result, settings, sample=8)


def test_the_decision_has_no_lookahead(sample_engine: Any, loose: Settings) -> None:
    report = run_and_check(sample_engine, loose)
    assert report["changes"] == [] and report["ok"]
    checked = report["checked"]
    assert checked["entries"] > 0 and checked["exits"] > 0 and checked["sampled"] == 8
    assert checked["total"] >= checked["entries"] + 8


def test_the_reference_strategy_has_no_lookahead(sample_engine: Any, loose: Settings) -> None:
    report = run_and_check(sample_engine, loose, "reference")
    assert report["ok"], report["changes"][:5]


def _peeking_features(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test-only feature that reads the next bar's close: a lookahead by construction."""
    real = hmas.indicators.feature_arrays

    def peeking_arrays(
        candles: pd.DataFrame, *args: Any, **kwargs: Any
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        out, arrays = real(candles, *args, **kwargs)
        out["peek"] = out["close"].shift(-1)
        return out, {**arrays, "peek": out["peek"].to_numpy()}

    def peeking(candles: pd.DataFrame, *args: Any, **kwargs: Any) -> pd.DataFrame:
        return peeking_arrays(candles, *args, **kwargs)[0]

    # Both ways in: compute reads the frame with its arrays, the check's cut the frame alone.
    monkeypatch.setattr(hmas.indicators, "feature_arrays", peeking_arrays)
    monkeypatch.setattr(hmas.indicators, "compute_features", peeking)


@pytest.mark.parametrize("strategy", ["rules", "reference"])
def test_an_injected_feature_lookahead_is_caught(
    sample_engine: Any, loose: Settings, monkeypatch: pytest.MonkeyPatch, strategy: str
) -> None:
    _peeking_features(monkeypatch)
    report = run_and_check(sample_engine, loose, strategy)
    assert not report["ok"]
    columns = {c["column"] for c in report["changes"]}
    assert columns == {"feature peek"}
    change = report["changes"][0]
    assert change["history"] is not None and change["cut"] is None  # the cut has no next bar


def test_an_injected_decision_lookahead_is_caught(
    sample_engine: Any, loose: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mother whose stated win probability is the next bar's is a lookahead."""
    real = hmas.decision.mother.run_rules

    def peeking(*args: Any, **kwargs: Any) -> pd.DataFrame:
        out = real(*args, **kwargs)
        out["p_win"] = out["p_win"].shift(-1, fill_value=0.5)
        return out

    monkeypatch.setattr(hmas.decision.mother, "run_rules", peeking)
    report = run_and_check(sample_engine, loose)
    assert not report["ok"]
    assert {c["column"] for c in report["changes"]} == {"decision p_win"}
    assert all(c["cut"] == 0.5 != c["history"] for c in report["changes"])
