"""The one decision function: no lookahead, single-bar/vectorised parity, hostile candles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from hmas.decision import mother
from hmas.decision.pipeline import MarketInputs, compute, views_at
from hmas.decision.service import build_analysis, decide_signal, signal_row
from hmas.decision.verdict import decided_bar, verdict
from hmas.risk.guardian import AccountState
from hmas.settings import load_settings
from tests.decision.conftest import permissive, real_btc

DECISION_COLUMNS = [
    "approved",
    "reasons",
    "direction",
    "proposed_action",
    "entry",
    "stop",
    "target",
    "reward_risk",
    "consensus",
    "confidence",
    "p_win",
    "ev_r",
    "risk_adjusted_ev_r",
    "size",
]


def _row(frame: pd.DataFrame, ts: pd.Timestamp) -> pd.Series:
    return frame.loc[ts]


def assert_same_decision(full: object, cut: object, ts: pd.Timestamp) -> None:
    for name, frame in full.frames.items():  # type: ignore[attr-defined]
        a, b = _row(frame, ts), _row(cut.frames[name], ts)  # type: ignore[attr-defined]
        pd.testing.assert_series_equal(a, b, check_names=False, obj=f"{name} at {ts}")
    pd.testing.assert_series_equal(
        _row(full.decided, ts)[DECISION_COLUMNS],  # type: ignore[attr-defined]
        _row(cut.decided, ts)[DECISION_COLUMNS],  # type: ignore[attr-defined]
        check_names=False,
    )


@pytest.mark.shared
def test_no_lookahead_on_real_btc(shared_data: Path) -> None:
    """The decision at t on the full history equals the decision on the history cut at t."""
    candles = real_btc(shared_data).iloc[:4000]
    inputs = MarketInputs("coinbase", "BTC-USD", "1h", candles, "file")
    settings = permissive()
    full = compute(inputs, settings)
    rng = np.random.default_rng(7)
    proposals = np.flatnonzero((full.frames["alpha"]["action"] != "HOLD").to_numpy())
    picks = list(rng.choice(np.arange(250, len(candles) - 1), size=12, replace=False))
    picks += list(
        rng.choice(proposals[proposals > 250], size=min(6, len(proposals)), replace=False)
    )
    # Decisions on bars with a proposal carry every number the mother states.
    assert len(proposals) > 0, "the test needs proposals to be meaningful"
    for i in picks:
        ts = candles.index[int(i)]
        assert_same_decision(full, compute(inputs.cut(ts), settings), ts)


def test_no_lookahead_on_sample_with_context(sample_inputs: MarketInputs) -> None:
    settings = permissive()
    full = compute(sample_inputs, settings)
    for i in (400, 777, 1100, len(sample_inputs.candles) - 2):
        ts = sample_inputs.candles.index[i]
        assert_same_decision(full, compute(sample_inputs.cut(ts), settings), ts)


def _state() -> AccountState:
    return AccountState(equity=100_000.0, day_start_equity=100_000.0, peak_equity=100_000.0)


def test_single_bar_path_equals_vectorised_path(sample_inputs: MarketInputs) -> None:
    """Views and decision from the stored single-bar path equal row t of the vectorised call."""
    settings = permissive()
    full = compute(sample_inputs, settings)
    alpha = full.frames["alpha"]
    proposals = [i for i in np.flatnonzero((alpha["action"] != "HOLD").to_numpy()) if i > 300]
    assert proposals, "the sample history must contain proposals"
    for i in [*proposals[:4], 500, len(alpha) - 1]:
        ts = sample_inputs.candles.index[i]
        analysis = build_analysis(sample_inputs.cut(ts), settings)
        analysis.id = 1
        assert analysis.views == views_at(full, int(i))
        vectorised = mother.view_at(full.decided, int(i), analysis.views, settings)
        signal = decide_signal(analysis, settings, _state())
        assert signal.decision == vectorised.decision
        assert signal.entry == vectorised.entry
        assert signal.stop_loss == vectorised.stop_loss
        assert signal.take_profit == vectorised.take_profit
        assert signal.size == vectorised.size
        # The missing-candles rule is a column of the vectorised path: every round is equal.
        assert signal.rounds == vectorised.rounds
        judged = verdict(decided_bar(full, int(i)), _state(), settings)
        skip = {"created_at"}
        assert signal_row(analysis, judged).model_dump(exclude=skip) == signal.model_dump(
            exclude=skip
        )


def test_rejected_signals_have_null_prices(sample_inputs: MarketInputs) -> None:
    settings = load_settings()
    analysis = build_analysis(sample_inputs, settings)
    analysis.id = 1
    signal = decide_signal(analysis, settings, _state())
    assert signal.decision == "REJECTED"  # the default thresholds reject this sample bar
    assert (signal.entry, signal.stop_loss, signal.take_profit, signal.size) == (None,) * 4
    assert signal.action == "HOLD"
    assert signal.rejection_reason


# --- hostile candles -----------------------------------------------------------------------

HOUR = pd.Timedelta(hours=1)


def _frame(values: list[tuple[float, float, float, float, float]], gaps: list[int]) -> pd.DataFrame:
    start = pd.Timestamp("2024-01-01", tz="UTC")
    index, t = [], start
    for i in range(len(values)):
        t += HOUR * (1 + (gaps[i] if i < len(gaps) else 0))
        index.append(t)
    frame = pd.DataFrame(
        values,
        columns=["open", "high", "low", "close", "volume"],
        index=pd.DatetimeIndex(index, name="ts"),
    )
    return frame


price = st.one_of(
    st.just(0.0),
    st.just(float("nan")),
    st.just(1e15),
    st.just(1e-12),
    st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
)
candle = st.tuples(price, price, price, price, price)


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(candle, min_size=1, max_size=60),
    gaps=st.lists(st.integers(min_value=0, max_value=5), max_size=60),
    constant=st.booleans(),
)
def test_hostile_candles_never_raise_and_never_approve_nonsense(
    rows: list[tuple[float, ...]], gaps: list[int], constant: bool
) -> None:
    if constant:
        rows = [(100.0, 100.0, 100.0, 100.0, 0.0)] * len(rows)
    frame = _frame(rows, gaps)  # type: ignore[arg-type]
    inputs = MarketInputs("x", "BTC-USD", "1h", frame, "sample")
    settings = permissive()
    out = compute(inputs, settings, concurrent=False)
    analysis = build_analysis(inputs, settings)
    analysis.id = 1
    signal = decide_signal(analysis, settings, _state())
    assert signal.decision in ("APPROVED", "REJECTED")
    if signal.decision == "APPROVED":
        values = [signal.entry, signal.stop_loss, signal.take_profit, signal.size]
        assert all(v is not None and np.isfinite(v) and v > 0 for v in values)
    else:
        assert signal.rejection_reason
    assert len(out.decided) == len(frame)


@pytest.mark.parametrize(
    "rows",
    [
        [(0.0, 0.0, 0.0, 0.0, 0.0)] * 300,
        [(100.0, 100.0, 100.0, 100.0, 10.0)] * 300,
        [(float("nan"),) * 5] * 300,
        [(100.0, 101.0, 99.0, 100.0, 1.0)] * 3,
    ],
    ids=["zeros", "constant", "nan", "tiny"],
)
def test_degenerate_histories_reject_with_a_reason(rows: list[tuple[float, ...]]) -> None:
    inputs = MarketInputs("x", "BTC-USD", "1h", _frame(rows, []), "sample")  # type: ignore[arg-type]
    settings = permissive()
    analysis = build_analysis(inputs, settings)
    analysis.id = 1
    signal = decide_signal(analysis, settings, _state())
    assert signal.decision == "REJECTED"
    assert signal.rejection_reason and signal.rejection_reason.startswith("no trade proposed")
    assert signal.entry is None


def test_layer_2a_deadline_and_agent_failure_are_abstentions(
    sample_inputs: MarketInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from hmas.agents import registry

    def slow(*args: object, **kwargs: object) -> pd.DataFrame:
        time.sleep(1.0)
        return pd.DataFrame()  # too late: already recorded as an abstention

    def broken(*args: object, **kwargs: object) -> pd.DataFrame:
        raise ZeroDivisionError("boom")

    chosen = registry.engines

    def engines(settings: object) -> dict[str, registry.AgentEngine]:
        found = chosen(settings)  # type: ignore[arg-type]
        found["technical"] = registry.AgentEngine("rules", slow, found["technical"].view)
        found["macro"] = registry.AgentEngine("rules", broken, found["macro"].view)
        return found

    monkeypatch.setattr(registry, "engines", engines)
    settings = permissive()
    start = time.perf_counter()
    out = compute(sample_inputs, settings, concurrent=True, deadline_s=0.2)
    assert time.perf_counter() - start < 0.9  # a late agent is not waited for
    views = views_at(out, len(out.features) - 1)
    assert views["technical"] == {
        "agent": "technical",
        "abstained": True,
        "abstain_reason": "deadline of 0.2s exceeded",
    }
    assert views["macro"]["abstained"] is True
    assert views["macro"]["abstain_reason"] == "agent error: ZeroDivisionError: boom"
    assert views["alpha"]["abstained"] is False
    assert out.decided["voters"].iloc[-1] <= 2  # the abstainers do not vote


def test_answers_put_in_read_back_and_leave_other_rows_alone(sample_inputs: MarketInputs) -> None:
    """``compute(answers=...)``: each recorded view's fields are its row of the agent's frame,
    marked ``recorded``; every other row is the rules engine's, unchanged."""
    from hmas.agents import registry

    settings = load_settings()
    base = compute(sample_inputs, settings, decide=False)
    index = base.features.index
    rows = [len(index) - 1, len(index) - 40]
    answers: dict[str, dict[pd.Timestamp, object]] = {}
    for spec in registry.layer("2A"):
        for i in rows:
            data = dict(views_at(base, i)[spec.name])
            data["abstain_reason"] = f"put in at {i}"
            if "confidence" in spec.view_model.model_fields:
                data["confidence"] = 0.25 if i == rows[0] else 0.75
            answers.setdefault(spec.name, {})[index[i]] = spec.view_model.model_validate(data)
    out = compute(sample_inputs, settings, decide=False, answers=answers)
    for spec in registry.layer("2A"):
        frame, before = out.frames[spec.name], base.frames[spec.name]
        assert frame["recorded"].dtype == bool
        assert frame["recorded"].sum() == len(rows)
        others = [k for k in range(len(index)) if k not in rows]
        for name in before.columns:
            left = before[name].iloc[others].to_numpy(dtype=object)
            right = frame[name].iloc[others].to_numpy(dtype=object)
            assert all(
                (a is b) or (a == b) or (pd.isna(a) and pd.isna(b))
                for a, b in zip(left, right, strict=True)
            ), name
        for i in rows:
            assert frame["recorded"].iloc[i]
            assert frame["abstain_reason"].iloc[i] == f"put in at {i}"
            if "confidence" in spec.view_model.model_fields:
                assert frame["confidence"].iloc[i] == (0.25 if i == rows[0] else 0.75)
                assert views_at(out, i)[spec.name]["confidence"] == frame["confidence"].iloc[i]
