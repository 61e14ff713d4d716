"""Alpha agent: setups and vetoes on hand-made frames, config, hostile input, causality."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from pydantic import ValidationError

from hmas.agents import alpha
from hmas.settings import Settings
from tests.agents.frames import (
    FIXTURE,
    context,
    fixture_candles,
    hostile_frames,
    neutral_features,
    random_features,
    shared_btc_candles,
)

# Setups on the neutral frame (ATR 2, bands 96/104, swings 94/106, Donchian 95/105).
MR_LONG = {"close": 94.0, "low": 93.5, "rsi_14": 25.0}
MR_SHORT = {"close": 106.0, "high": 106.5, "rsi_14": 75.0}
TREND_LONG = {
    "close": 101.0,
    "low": 100.5,
    "sma_200": 95.0,
    "ema_20": 100.0,
    "ema_50": 98.0,
    "rsi_14": 55.0,
    "swing_low": 98.5,
    "swing_high": 112.0,
    "donchian_high_20": 110.0,
}
TREND_SHORT = {
    "close": 99.0,
    "high": 99.5,
    "sma_200": 105.0,
    "ema_20": 100.0,
    "ema_50": 102.0,
    "rsi_14": 45.0,
    "swing_high": 101.5,
    "swing_low": 88.0,
    "donchian_low_20": 90.0,
}


def last_view(settings: Settings | None = None, **values: Any) -> alpha.AlphaView:
    """The view of the last bar of a neutral frame carrying ``values``."""
    out = alpha.run_rules(neutral_features(**values), context(settings))
    return alpha.view_at(out, -1)


def test_mean_reversion_buy() -> None:
    view = last_view(**MR_LONG)
    assert view.action == "BUY"
    assert view.setup == "mean_reversion"
    assert view.entry == 94.0
    assert view.stop == pytest.approx(91.0)  # 1.5 ATR; the swing low is not below the entry
    # Nearest level above: bb_upper 104 (counts for mean reversion), less 0.1 ATR.
    assert view.target == pytest.approx(103.8)
    assert view.reward_risk == pytest.approx(9.8 / 3)
    assert view.hold_reason is None
    assert 0 < view.confidence <= 1
    assert any("bb_lower" in line for line in view.evidence)


def test_mean_reversion_sell() -> None:
    view = last_view(**MR_SHORT)
    assert view.action == "SELL"
    assert view.setup == "mean_reversion"
    assert (view.entry, view.stop) == (106.0, pytest.approx(109.0))
    assert view.target == pytest.approx(96.2)  # bb_lower 96 plus 0.1 ATR
    assert view.stop is not None and view.target is not None
    assert view.target < view.entry < view.stop


def test_trend_pullback_buy_ignores_the_band_as_a_level() -> None:
    view = last_view(**TREND_LONG)
    assert view.action == "BUY"
    assert view.setup == "trend_following"
    assert view.stop == pytest.approx(98.0)
    # bb_upper 104 is nearer but a trend rides its band: the target is under Donchian 110.
    assert view.target == pytest.approx(109.8)
    assert view.reward_risk == pytest.approx(8.8 / 3)


def test_trend_pullback_sell_with_the_mirrored_rsi_band() -> None:
    view = last_view(**TREND_SHORT)
    assert view.action == "SELL"
    assert view.setup == "trend_following"
    # The swing stop (101.5 + 0.25 ATR) equals the ATR stop (99 + 1.5 ATR): not farther.
    assert view.stop == pytest.approx(102.0)
    assert view.target == pytest.approx(90.2)
    assert last_view(**{**TREND_SHORT, "rsi_14": 62.0}).action == "HOLD"  # above 100 - 40


def test_stop_beyond_the_swing_when_it_is_farther() -> None:
    levels = {"bb_upper": 108.0, "donchian_high_20": 110.0, "swing_high": 112.0}
    view = last_view(**{**MR_LONG, **levels, "swing_low": 90.0})
    assert view.action == "BUY"
    assert view.stop == pytest.approx(89.5)  # swing low 90 - 0.25 ATR, below the 91 ATR stop
    assert any("swing" in line for line in view.evidence)


def test_stop_too_wide_holds() -> None:
    view = last_view(**{**MR_LONG, "swing_low": 85.0})
    assert view.action == "HOLD"
    assert view.hold_reason == "mean_reversion long: stop too wide: 4.75 ATR > 4 ATR"
    assert (view.entry, view.stop, view.target, view.setup) == (None, None, None, None)
    assert not view.abstained


def test_target_short_of_resistance_holds_with_the_level_and_r() -> None:
    view = last_view(**{**MR_LONG, "bb_upper": 100.0})
    assert view.action == "HOLD"
    assert view.hold_reason == (
        "mean_reversion long: target short of bb_upper 100 gives 1.93R < 2.5R"
    )


def test_target_short_of_support_for_a_short() -> None:
    view = last_view(**{**MR_SHORT, "swing_low": 103.0})
    assert view.action == "HOLD"
    assert view.hold_reason is not None
    assert "target short of swing_low 103 gives 0.93R < 2.5R" in view.hold_reason


def test_default_target_without_an_opposing_level() -> None:
    view = last_view(**{**TREND_LONG, "swing_high": 100.5, "donchian_high_20": 101.0})
    assert view.action == "BUY"
    assert view.reward_risk == pytest.approx(3.0)  # default_reward_risk
    assert view.target == pytest.approx(101.0 + 3 * 3.0)
    assert any("no opposing level" in line for line in view.evidence)


def test_conflicting_setups_hold() -> None:
    s = Settings(alpha={"rsi_overbought": 50.0})
    view = last_view(s, **{**TREND_LONG, "bb_upper": 100.5})  # MR short and trend long
    assert view.action == "HOLD"
    assert view.hold_reason == "conflicting setups: long and short both fire"


def test_mean_reversion_takes_precedence_in_the_same_direction() -> None:
    s = Settings(alpha={"rsi_oversold": 50.0})
    values = {**TREND_LONG, "rsi_14": 45.0, "bb_lower": 102.0, "bb_upper": 110.0}
    view = last_view(s, **values)
    assert view.action == "BUY"
    assert view.setup == "mean_reversion"


def test_no_setup_holds() -> None:
    view = last_view()
    assert (view.action, view.hold_reason, view.confidence) == ("HOLD", "no setup", 0.0)


# --- thresholds come from the config ----------------------------------------------------


def test_rsi_threshold_from_config() -> None:
    values = {**MR_LONG, "rsi_14": 28.0}
    assert last_view(**values).action == "BUY"
    assert last_view(Settings(alpha={"rsi_oversold": 25.0}), **values).action == "HOLD"


def test_min_reward_risk_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HMAS_ALPHA__MIN_REWARD_RISK", "3.5")
    view = last_view(Settings(), **MR_LONG)
    assert view.action == "HOLD"
    assert view.hold_reason == (
        "mean_reversion long: target short of bb_upper 104 gives 3.27R < 3.5R"
    )


def test_max_stop_and_stop_multiples_from_config() -> None:
    values = {**MR_LONG, "swing_low": 90.0}  # a 2.25 ATR stop
    assert last_view(Settings(alpha={"max_stop_atr": 2.0}), **values).action == "HOLD"
    view = last_view(Settings(alpha={"stop_atr": 1.0, "swing_buffer_atr": 0.0}), **MR_LONG)
    assert view.stop == pytest.approx(92.0)


def test_level_buffer_and_default_reward_risk_from_config() -> None:
    view = last_view(Settings(alpha={"level_buffer_atr": 0.5}), **MR_LONG)
    assert view.target == pytest.approx(103.0)
    values = {**TREND_LONG, "swing_high": 100.5, "donchian_high_20": 101.0}
    assert last_view(Settings(alpha={"default_reward_risk": 4.0}), **values).reward_risk == (
        pytest.approx(4.0)
    )
    view = last_view(Settings(alpha={"default_reward_risk": 2.0}), **values)
    assert view.hold_reason == "trend_following long: default target gives 2.00R < 2.5R"


def test_pullback_distance_from_config() -> None:
    values = {**TREND_LONG, "low": 101.0}  # low 1 above ema_20: 0.5 ATR allows exactly 1
    assert last_view(**values).action == "BUY"
    assert last_view(Settings(alpha={"pullback_atr": 0.25}), **values).action == "HOLD"


# --- data quality ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"close": 0.0}, "data quality: close missing or not positive"),
        ({"close": np.nan}, "data quality: close missing or not positive"),
        ({"atr_14": 0.0}, "data quality: atr_14 missing or not positive"),
        (
            {"rsi_14": np.nan},
            "data quality: rsi_14 missing",
        ),
    ],
)
def test_missing_or_zero_inputs_abstain_with_a_reason(
    values: dict[str, float], reason: str
) -> None:
    view = last_view(**{**MR_LONG, **values})
    assert view.abstained
    assert view.abstain_reason == reason
    assert view.action == "HOLD"
    assert view.hold_reason == reason
    assert (view.entry, view.stop, view.target) == (None, None, None)


def test_warm_up_without_sma_still_reads_mean_reversion() -> None:
    view = last_view(**{**MR_LONG, "sma_200": np.nan})
    assert view.action == "BUY"
    assert not view.abstained
    assert "not every input is available: missing sma_200" in view.evidence


def test_empty_and_one_row_frames() -> None:
    empty = alpha.run_rules(neutral_features(0), context())
    assert len(empty) == 0
    assert list(empty.columns) == list(alpha.COLUMNS)
    one = alpha.run_rules(neutral_features(1, **MR_LONG), context())
    assert alpha.view_at(one, 0).action == "BUY"


def test_a_frame_without_columns_abstains() -> None:
    frame = pd.DataFrame(index=neutral_features(3).index)
    out = alpha.run_rules(frame, context())
    assert out["abstained"].all()
    assert out["abstain_reason"].iloc[0].startswith("data quality: close missing")


@settings(max_examples=150, deadline=None)
@given(hostile_frames())
def test_hostile_frames_never_raise(frame: pd.DataFrame) -> None:
    out = alpha.run_rules(frame, context())
    assert len(out) == len(frame)
    assert out.index.equals(frame.index)
    numbers = out.select_dtypes("number").to_numpy(dtype=np.float64)
    assert not np.isinf(numbers).any()
    close = pd.to_numeric(frame.get("close", pd.Series(np.nan, index=frame.index)))
    for i in range(len(out)):
        view = alpha.view_at(out, i)
        if not close.iloc[i] > 0 or not np.isfinite(close.iloc[i]):
            assert view.abstained
        if view.abstained:
            assert view.abstain_reason is not None
            assert view.abstain_reason.startswith("data quality: ")
            assert view.action == "HOLD"
        if view.action != "HOLD":
            assert all(np.isfinite(v) and v > 0 for v in (view.entry, view.stop, view.target))


# --- causality and round trips --------------------------------------------------------------


def test_random_features_produce_trades_and_every_row_round_trips() -> None:
    features = random_features(0)
    out = alpha.run_rules(features, context())
    assert set(out["action"]) == {"BUY", "SELL", "HOLD"}
    for i in range(len(out)):
        view = alpha.view_at(out, i)
        assert alpha.AlphaView.model_validate(view.model_dump()) == view
        if view.action == "HOLD":
            assert (view.entry, view.stop, view.target, view.reward_risk) == (None,) * 4
            assert view.hold_reason
        else:
            assert view.reward_risk is not None and view.reward_risk >= 2.5


def test_view_rejects_inconsistent_prices() -> None:
    with pytest.raises(ValidationError):
        alpha.AlphaView(action="HOLD", entry=100.0)
    with pytest.raises(ValidationError):
        alpha.AlphaView(action="BUY", entry=100.0, stop=0.0, target=110.0)
    with pytest.raises(ValidationError):
        alpha.AlphaView(action="BUY", entry=100.0, stop=101.0, target=110.0)
    with pytest.raises(ValidationError):
        alpha.AlphaView(action="SELL", entry=100.0, stop=101.0, target=float("inf"))


# --- real features ----------------------------------------------------------------------


def test_fixture_btc_slice() -> None:
    if not FIXTURE.exists():
        pytest.skip(f"needs the committed fixture {FIXTURE}")
    from hmas.indicators.features import compute_features

    out = alpha.run_rules(compute_features(fixture_candles()), context())
    assert len(out) == 300
    view = alpha.view_at(out, -1)
    assert not view.abstained
    assert view.action in {"BUY", "SELL", "HOLD"}


def test_real_btc_history(shared_data: Path) -> None:
    from hmas.indicators.features import compute_features

    features = compute_features(shared_btc_candles())
    out = alpha.run_rules(features, context())
    trades = out[out["action"] != "HOLD"]
    assert {"BUY", "SELL"} <= set(trades["action"])
    assert {"mean_reversion", "trend_following"} <= set(trades["setup"])
    risk = (trades["entry"] - trades["stop"]).abs()
    assert (trades["reward_risk"] >= 2.5).all()
    assert (risk <= 4.0 * trades["atr_14"] + 1e-9).all()
    assert out["hold_reason"].str.contains("stop too wide").any()
    assert out["hold_reason"].str.contains("target short of").any()
    rng = np.random.default_rng(7)
    for cut in rng.integers(250, len(features), 4):
        part = alpha.run_rules(features.iloc[:cut], context())
        pd.testing.assert_frame_equal(part, out.iloc[:cut])
