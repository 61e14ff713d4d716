"""Technical agent: trend, levels, Fibonacci, patterns, config, hostile input, causality."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

from hmas.agents import technical
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

UPTREND = {"close": 101.0, "plus_di_14": 30.0, "minus_di_14": 15.0, "adx_14": 30.0}
DOWNTREND = {"close": 99.0, "plus_di_14": 15.0, "minus_di_14": 30.0, "adx_14": 30.0}


def view_of(frame: pd.DataFrame, s: Settings | None = None) -> technical.TechnicalView:
    """The technical view of the last bar of ``frame``."""
    return technical.view_at(technical.run_rules(frame, context(s)), -1)


def last_view(s: Settings | None = None, **values: Any) -> technical.TechnicalView:
    """The view of the last bar of a neutral frame carrying ``values``."""
    return view_of(neutral_features(**values), s)


def with_swings(
    frame: pd.DataFrame,
    highs: list[tuple[int, float, int]],
    lows: list[tuple[int, float, int]],
) -> pd.DataFrame:
    """Set the swing columns: each (from_row, price, swing_row) holds from ``from_row`` on."""
    frame = frame.copy()
    index = frame.index
    for kind, swings in (("high", highs), ("low", lows)):
        frame[f"swing_{kind}"] = np.nan
        frame[f"swing_{kind}_ts"] = pd.Series(pd.NaT, index=index, dtype=index.dtype)
        for start, price, at in swings:
            frame.loc[index[start:], f"swing_{kind}"] = price
            frame.loc[index[start:], f"swing_{kind}_ts"] = index[at]
    return frame


def double_top_frame(**last: Any) -> pd.DataFrame:
    """Peaks 110 (bar 0) and 110.5 (bar 4) with a trough 104 (bar 2) between them."""
    frame = neutral_features(8, **{"close": 107.0, **last})
    return with_swings(frame, highs=[(0, 110.0, 0), (4, 110.5, 4)], lows=[(2, 104.0, 2)])


def test_trend_up_down_and_range() -> None:
    up = last_view(**UPTREND)
    assert (up.trend, up.bias) == ("up", "bullish")
    assert up.confidence == pytest.approx(0.4 + 0.2 * 5 / 25)
    down = last_view(**DOWNTREND)
    assert (down.trend, down.bias) == ("down", "bearish")
    weak = last_view(**{**UPTREND, "adx_14": 20.0})
    assert (weak.trend, weak.bias, weak.confidence) == ("range", "neutral", 0.0)
    wrong_side = last_view(**{**UPTREND, "close": 99.0})
    assert wrong_side.trend == "range"


def test_adx_and_bias_thresholds_from_config() -> None:
    weak = {**UPTREND, "adx_14": 20.0}
    assert last_view(Settings(technical={"adx_trend": 15.0}), **weak).trend == "up"
    assert last_view(Settings(technical={"bias_threshold": 0.5}), **UPTREND).bias == "neutral"


def test_support_and_resistance_are_the_nearest_levels() -> None:
    view = last_view()
    assert (view.support, view.resistance) == (95.0, 105.0)  # Donchian inside the swings
    view = last_view(close=105.5)
    assert (view.support, view.resistance) == (105.0, 106.0)
    view = last_view(close=200.0)
    assert (view.support, view.resistance) == (106.0, None)


def test_fibonacci_of_a_rising_and_a_falling_leg() -> None:
    frame = with_swings(neutral_features(5), highs=[(3, 110.0, 3)], lows=[(1, 100.0, 1)])
    fib = view_of(frame).fib_levels
    assert fib is not None
    assert list(fib) == ["0.236", "0.382", "0.5", "0.618", "0.786"]
    assert fib["0.382"] == pytest.approx(110 - 3.82)  # retracing down from the later high
    assert fib["0.5"] == pytest.approx(105.0)
    frame = with_swings(neutral_features(5), highs=[(1, 110.0, 1)], lows=[(3, 100.0, 3)])
    fib = view_of(frame).fib_levels
    assert fib is not None
    assert fib["0.382"] == pytest.approx(100 + 3.82)
    frame = with_swings(neutral_features(5), highs=[(1, 110.0, 1)], lows=[])
    assert view_of(frame).fib_levels is None


def test_double_top_and_its_invalidation() -> None:
    view = view_of(double_top_frame())
    assert "double_top" in view.patterns
    assert view.bias == "neutral"  # 0.2 alone is below the 0.3 bias threshold
    assert "double_top" not in view_of(double_top_frame(close=111.0)).patterns  # broken
    far = with_swings(
        neutral_features(8, close=107.0),
        highs=[(0, 110.0, 0), (4, 112.0, 4)],
        lows=[(2, 104.0, 2)],
    )
    assert "double_top" not in view_of(far).patterns
    wide = Settings(technical={"double_tolerance_atr": 1.5})
    assert "double_top" in view_of(far, wide).patterns


def test_double_top_needs_a_trough_between_the_peaks() -> None:
    no_trough = with_swings(
        neutral_features(8, close=107.0), highs=[(0, 110.0, 0), (4, 110.5, 4)], lows=[]
    )
    assert "double_top" not in view_of(no_trough).patterns
    later_trough = with_swings(
        neutral_features(8, close=107.0),
        highs=[(0, 110.0, 0), (4, 110.5, 4)],
        lows=[(2, 104.0, 2), (6, 105.0, 5)],
    )
    assert "double_top" in view_of(later_trough).patterns  # the trough before the last one


def test_double_bottom() -> None:
    frame = with_swings(
        neutral_features(8, close=93.0),
        highs=[(2, 96.0, 2)],
        lows=[(0, 90.0, 0), (4, 90.4, 4)],
    )
    assert "double_bottom" in view_of(frame).patterns


def test_breakouts_use_the_previous_bars_channel() -> None:
    frame = neutral_features(5, close=106.0, high=106.5, donchian_high_20=106.5)
    view = view_of(frame)
    assert view.patterns == ["range_breakout_up"]
    assert (view.trend, view.bias, view.confidence) == ("range", "bullish", pytest.approx(0.3))
    frame = neutral_features(5, close=94.0, low=93.5, donchian_low_20=93.5)
    assert view_of(frame).patterns == ["range_breakout_down"]
    assert view_of(neutral_features(1, close=106.0)).patterns == []  # no previous bar


def test_llm_only_fields_stay_null() -> None:
    out = technical.run_rules(random_features(0), context())
    assert out[["elliott_wave", "harmonic_pattern", "wyckoff_phase"]].isna().all().all()
    view = technical.view_at(out, -1)
    assert (view.elliott_wave, view.harmonic_pattern, view.wyckoff_phase) == (None, None, None)


def test_previous_swing_is_read_from_changes() -> None:
    values = np.array([np.nan, 10, 10, 12, 12, 9])
    times = np.array([np.nan, 1, 1, 3, 3, 5])
    prev = technical.previous_swing(values, times)
    np.testing.assert_array_equal(prev, [np.nan, np.nan, np.nan, 10, 10, 12])
    # Without timestamps a new swing shows as a new price.
    prev = technical.previous_swing(values, np.full(6, np.nan))
    np.testing.assert_array_equal(prev, [np.nan, np.nan, np.nan, 10, 10, 12])
    assert len(technical.previous_swing(np.empty(0), np.empty(0))) == 0


# --- data quality ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"close": 0.0}, "data quality: close missing or not positive"),
        ({"sma_200": np.nan}, "data quality: sma_200 missing"),
        (
            {"adx_14": np.nan, "plus_di_14": np.inf},
            "data quality: adx_14 missing, plus_di_14 missing",
        ),
    ],
)
def test_missing_inputs_abstain(values: dict[str, float], reason: str) -> None:
    view = last_view(**values)
    assert view.abstained
    assert view.abstain_reason == reason
    assert (view.bias, view.confidence, view.trend, view.support) == ("neutral", 0.0, None, None)


def test_empty_frame() -> None:
    out = technical.run_rules(neutral_features(0), context())
    assert len(out) == 0
    assert "bias" in out.columns


@settings(max_examples=150, deadline=None)
@given(hostile_frames())
def test_hostile_frames_never_raise(frame: pd.DataFrame) -> None:
    out = technical.run_rules(frame, context())
    assert len(out) == len(frame)
    numbers = out.select_dtypes("number").to_numpy(dtype=np.float64)
    assert not np.isinf(numbers).any()
    for i in range(len(out)):
        view = technical.view_at(out, i)
        if view.abstained:
            assert view.abstain_reason is not None
            assert view.abstain_reason.startswith("data quality: ")
            assert view.bias == "neutral"


# --- causality and round trips --------------------------------------------------------------


def test_every_row_round_trips() -> None:
    out = technical.run_rules(random_features(1), context())
    assert set(out["trend"].dropna()) == {"up", "down", "range"}
    for i in range(len(out)):
        view = technical.view_at(out, i)
        assert technical.TechnicalView.model_validate(view.model_dump()) == view
        if view.support is not None and view.resistance is not None:
            assert view.support < view.resistance


def test_fixture_btc_slice() -> None:
    if not FIXTURE.exists():
        pytest.skip(f"needs the committed fixture {FIXTURE}")
    from hmas.indicators.features import compute_features

    out = technical.run_rules(compute_features(fixture_candles()), context())
    view = technical.view_at(out, -1)
    assert not view.abstained
    assert view.fib_levels is not None
    assert technical.view_at(out, 10).abstained  # SMA 200 warm-up


def test_real_btc_history(shared_data: Path) -> None:
    from hmas.indicators.features import compute_features

    features = compute_features(shared_btc_candles())
    out = technical.run_rules(features, context())
    live = out[~out["abstained"]]
    assert set(live["trend"]) == {"up", "down", "range"}
    for name in technical.PATTERNS:
        assert live[name].any(), name
    support = live["support"].dropna()
    assert (support < features["close"].loc[support.index]).all()
    rng = np.random.default_rng(3)
    for cut in rng.integers(250, len(features), 4):
        part = technical.run_rules(features.iloc[:cut], context())
        pd.testing.assert_frame_equal(part, out.iloc[:cut])


# --- the multi-timeframe view ---------------------------------------------------------------


def trending_hours(days: int, daily_step: float, start: str = "2024-03-01") -> pd.DataFrame:
    """A neutral hourly frame whose OHLC climb (or fall) by ``daily_step`` a day, smoothly."""
    n = days * 24
    frame = neutral_features(n)
    frame.index = pd.date_range(start, periods=n, freq="h", tz="UTC", name="ts")
    level = 100.0 + daily_step * np.arange(n) / 24
    frame["close"] = level
    frame["open"] = level - daily_step / 48
    frame["high"] = level + 0.5
    frame["low"] = level - 0.5
    for name in ("sma_200", "ema_20", "ema_50"):
        frame[name] = level  # no trend of its own on the hourly chart: range
    frame["donchian_high_20"] = level + 1.0  # no breakout either
    frame["donchian_low_20"] = level - 1.0
    for name in ("swing_high_ts", "swing_low_ts"):
        frame[name] = pd.Series(frame.index[0], index=frame.index, dtype=frame.index.dtype)
    return frame


def test_the_higher_timeframes_apply_above_the_decisions_timeframe() -> None:
    p = Settings().technical
    assert p.higher_timeframes == ["4h", "1d"]
    assert technical.higher_of(p, "1h") == ["4h", "1d"]
    assert technical.higher_of(p, "5m") == ["4h", "1d"]
    assert technical.higher_of(p, "4h") == ["1d"]
    assert technical.higher_of(p, "1d") == []
    assert technical.higher_of(p, "6h") == ["1d"]
    assert technical.higher_of(p, "weird") == []
    # 20 closed bars for the SMA, one for its slope, one the window may start inside.
    assert technical.higher_warmup_ms(p, "1h") == 22 * 86_400_000
    assert technical.higher_warmup_ms(p, "1d") == 0
    none = Settings(technical={"higher_timeframes": []}).technical
    assert technical.higher_warmup_ms(none, "1h") == 0


def test_a_higher_timeframe_uptrend_makes_a_range_bullish() -> None:
    frame = trending_hours(30, daily_step=1.0)
    view = view_of(frame)
    assert view.trend == "range"  # the hourly chart has no trend of its own
    assert set(view.higher_timeframes) == {"4h", "1d"}
    assert {h.trend for h in view.higher_timeframes.values()} == {"up"}
    assert view.higher_score == 1.0
    assert (view.bias, view.confidence) == ("bullish", pytest.approx(0.3))
    falling = view_of(trending_hours(30, daily_step=-1.0))
    assert (falling.higher_score, falling.bias) == (-1.0, "bearish")


def test_the_higher_trend_weighs_against_an_hourly_trend_that_opposes_it() -> None:
    frame = trending_hours(30, daily_step=-1.0)
    for name, value in DOWNTREND.items():
        frame.loc[frame.index[-1], name] = value
    frame.loc[frame.index[-1], "close"] = frame["sma_200"].iloc[-1] + 1.0
    for name, value in UPTREND.items():
        if name != "close":
            frame.loc[frame.index[-1], name] = value
    view = view_of(frame)
    assert view.trend == "up" and view.higher_score == -1.0
    # 0.4 + 0.04 for the hourly trend, -0.3 for the higher ones: below the bias threshold.
    assert view.confidence == pytest.approx(0.14)
    assert view.bias == "neutral"


def test_a_decision_sees_only_higher_bars_closed_by_its_own_close() -> None:
    frame = trending_hours(30, daily_step=1.0, start="2024-03-01")
    out = technical.run_rules(frame, context())
    opens = pd.to_datetime(out["higher:4h:bar_open"], unit="ms", utc=True)
    hour = {t.strftime("%m-%d %H:%M"): o for t, o in opens.items()}
    # The 12:00-16:00 bar of day 29 is seen from its last candle (15:00) on, not at 14:00.
    assert hour["03-29 14:00"] == pd.Timestamp("2024-03-29 08:00", tz="UTC")
    assert hour["03-29 15:00"] == pd.Timestamp("2024-03-29 12:00", tz="UTC")
    daily = pd.to_datetime(out["higher:1d:bar_open"], unit="ms", utc=True)
    assert daily.loc["2024-03-29 22:00"] == pd.Timestamp("2024-03-28", tz="UTC")
    assert daily.loc["2024-03-29 23:00"] == pd.Timestamp("2024-03-29", tz="UTC")
    # Its close is the last hourly close of the day, a price the 23:00 candle has seen.
    assert out.loc["2024-03-29 23:00", "higher:1d:close"] == frame.loc["2024-03-29 23:00", "close"]


def test_no_higher_view_before_enough_closed_bars_or_on_top_timeframes() -> None:
    short = view_of(trending_hours(10, daily_step=1.0))
    assert "1d" not in short.higher_timeframes and "4h" in short.higher_timeframes
    assert short.higher_score == 1.0
    on_daily_bars = replace(context(), timeframe="1d")
    daily = technical.run_rules(trending_hours(30, 1.0), on_daily_bars)
    assert daily["higher_score"].isna().all()
    assert not any(str(c).startswith(technical.HIGHER_PREFIX) for c in daily.columns)
    none = view_of(trending_hours(30, 1.0), Settings(technical={"higher_timeframes": []}))
    assert (none.higher_score, none.higher_timeframes, none.bias) == (None, {}, "neutral")


def test_higher_views_round_trip_and_reject_nan() -> None:
    view = view_of(trending_hours(30, daily_step=1.0))
    data = view.model_dump(mode="json")
    assert data["higher_timeframes"]["1d"]["bar_open"].endswith("Z")
    assert technical.TechnicalView.model_validate(data) == view
    bad = {**data["higher_timeframes"]["1d"], "sma": float("nan")}
    with pytest.raises(ValueError, match="finite number"):
        technical.HigherTimeframe.model_validate(bad)
