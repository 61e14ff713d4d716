"""Swings: confirmed k bars after the swing bar, never earlier; checked against a plain loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hmas.indicators import compute_features, confirmed_swings, swing_levels
from hmas.indicators.swings import EVENT_COLUMNS, SWING_COLUMNS


def series(values: list[float]) -> pd.Series:
    index = pd.date_range("2024-01-01", periods=len(values), freq="1h", tz="UTC", name="ts")
    return pd.Series(np.asarray(values, dtype=np.float64), index=index)


def naive_events(high: np.ndarray, low: np.ndarray, k: int) -> list[tuple[int, int, str, float]]:
    """(confirmation bar, swing bar, kind, price) straight from the definition, bar by bar."""
    events = []
    for i in range(k, len(high) - k):
        for kind, values, sign in (("high", high, 1.0), ("low", low, -1.0)):
            window = values[i - k : i + k + 1]
            if np.isnan(window).any():
                continue
            centre = sign * values[i]
            left, right = sign * values[i - k : i], sign * values[i + 1 : i + k + 1]
            if centre > left.max() and centre >= right.max():
                events.append((i + k, i, kind, float(values[i])))
    return sorted(events, key=lambda e: (e[0], e[2]))


def naive_levels(high: np.ndarray, low: np.ndarray, k: int) -> dict[str, list[float]]:
    """The last confirmed price of each kind at each bar, and its swing bar (-1: none yet)."""
    events = naive_events(high, low, k)
    out: dict[str, list[float]] = {"high": [], "low": [], "high_bar": [], "low_bar": []}
    for t in range(len(high)):
        for kind in ("high", "low"):
            known = [e for e in events if e[0] <= t and e[2] == kind]
            out[kind].append(known[-1][3] if known else np.nan)
            out[f"{kind}_bar"].append(known[-1][1] if known else -1)
    return out


def test_a_swing_is_known_only_k_bars_later() -> None:
    #            0  1  2  3   4  5  6  7  8  9
    high = series([4, 5, 6, 10, 3, 5, 6, 7, 8, 9])
    low = high - 0.5
    levels = swing_levels(high, low, k=3)
    # Bar 3 tops bars 0-2 and 4-6: known at bar 6, not at 3, 4 or 5.
    assert levels["swing_high"].iloc[:6].isna().all()
    assert (levels["swing_high"].iloc[6:] == 10.0).all()
    assert (levels["swing_high_ts"].iloc[6:] == high.index[3]).all()
    assert levels["swing_high_ts"].iloc[:6].isna().all()
    # The low at bar 4 (2.5) is under bars 1-3 and not above bars 5-7: known at bar 7.
    assert levels["swing_low"].iloc[:7].isna().all()
    assert (levels["swing_low"].iloc[7:] == 2.5).all()
    events = confirmed_swings(high, low, k=3)
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert events.to_dict("records") == [
        {"confirmed_ts": high.index[6], "swing_ts": high.index[3], "kind": "high", "price": 10.0},
        {"confirmed_ts": high.index[7], "swing_ts": high.index[4], "kind": "low", "price": 2.5},
    ]


def test_later_swings_replace_earlier_ones() -> None:
    high = series([1, 5, 1, 1, 7, 1, 1, 3, 1, 1])
    levels = swing_levels(high, high - 1, k=1)
    got = levels["swing_high"].to_numpy()
    np.testing.assert_array_equal(got, [np.nan, np.nan, 5, 5, 5, 7, 7, 7, 3, 3])


def test_flat_top_swing_is_its_first_bar_and_a_flat_line_has_none() -> None:
    high = series([1, 2, 5, 5, 5, 2, 1, 1])
    levels = swing_levels(high, high, k=2)
    assert set(levels["swing_high_ts"].dropna()) == {high.index[2]}
    flat = series([3.0] * 20)
    assert swing_levels(flat, flat, k=3).isna().all().all()
    assert confirmed_swings(flat, flat, k=3).empty


def test_nan_in_the_window_means_no_swing() -> None:
    high = series([1, 2, 9, np.nan, 1, 1, 1])
    assert swing_levels(high, high, k=1)["swing_high"].isna().all()
    assert swing_levels(high, high, k=2)["swing_high"].isna().all()


@pytest.mark.parametrize("n", [0, 1, 6])
def test_too_short_for_any_swing(n: int) -> None:
    high = series(list(np.arange(n, dtype=float) % 3))
    levels = swing_levels(high, high, k=3)
    assert list(levels.columns) == list(SWING_COLUMNS)
    assert len(levels) == n and levels.isna().all().all()
    assert levels["swing_high_ts"].dtype == high.index.dtype
    assert confirmed_swings(high, high, k=3).empty


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_bad_k(k: object) -> None:
    with pytest.raises(ValueError, match="swing k must be an integer >= 1"):
        swing_levels(series([1.0]), series([1.0]), k=k)  # type: ignore[arg-type]


prices = st.lists(
    st.one_of(st.integers(min_value=0, max_value=6).map(float), st.just(np.nan)),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(highs=prices, drop=st.floats(0, 3), k=st.integers(min_value=1, max_value=4))
def test_matches_the_definition(highs: list[float], drop: float, k: int) -> None:
    # Small integer prices make ties (flat tops and bottoms) common.
    high = series(highs)
    low = high - drop
    expected = naive_levels(high.to_numpy(), low.to_numpy(), k)
    levels = swing_levels(high, low, k)
    np.testing.assert_array_equal(levels["swing_high"].to_numpy(), expected["high"])
    np.testing.assert_array_equal(levels["swing_low"].to_numpy(), expected["low"])
    for kind in ("high", "low"):
        bars = np.asarray(expected[f"{kind}_bar"], dtype=np.intp)
        want = high.index.take(np.maximum(bars, 0)).where(bars >= 0)
        assert pd.DatetimeIndex(levels[f"swing_{kind}_ts"]).equals(want)
    events = confirmed_swings(high, low, k)
    got = [
        (high.index.get_loc(r.confirmed_ts), high.index.get_loc(r.swing_ts), r.kind, r.price)
        for r in events.itertuples()
    ]
    assert got == naive_events(high.to_numpy(), low.to_numpy(), k)


@settings(max_examples=100, deadline=None)
@given(highs=prices.filter(lambda v: len(v) > 0), data=st.data())
def test_cut_history_gives_the_same_levels(highs: list[float], data: st.DataObject) -> None:
    high = series(highs)
    full = swing_levels(high, high - 1, k=2)
    t = data.draw(st.integers(min_value=0, max_value=len(high) - 1))
    cut = swing_levels(high.iloc[: t + 1], high.iloc[: t + 1] - 1, k=2)
    pd.testing.assert_frame_equal(cut, full.iloc[: t + 1])


def test_feature_frame_uses_the_configured_k(btc_300: pd.DataFrame) -> None:
    out = compute_features(btc_300)
    levels = swing_levels(btc_300["high"], btc_300["low"], k=3)
    pd.testing.assert_frame_equal(out[list(SWING_COLUMNS)], levels)
    # Every level is a real high (low) of a bar at least k bars before the row.
    known = out["swing_high_ts"].notna()
    lag = (out.index[known] - pd.DatetimeIndex(out["swing_high_ts"][known])) / pd.Timedelta("1h")
    assert (lag >= 3).all()
    at_swing_bar = btc_300["high"].reindex(out["swing_high_ts"][known]).to_numpy()
    np.testing.assert_array_equal(at_swing_bar, out["swing_high"][known].to_numpy())
