"""Higher-timeframe bars: epoch-anchored buckets, closed bars only, no lookahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hmas.indicators.resample import (
    align_closed,
    check_higher,
    higher_timeframe,
    resample_closed,
)

H = 3_600_000


def candles(n: int, start: str = "2024-01-01 02:00", freq: str = "h") -> pd.DataFrame:
    """``n`` candles whose prices count up (open = i + 1, close = i + 1.5), volume 1."""
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="ts")
    i = np.arange(n, dtype=np.float64)
    return pd.DataFrame(
        {"open": i + 1, "high": i + 2, "low": i + 0.5, "close": i + 1.5, "volume": 1.0},
        index=index,
    )


def test_buckets_are_epoch_aligned_and_the_partial_first_one_is_dropped() -> None:
    # The window starts at 02:00, inside the 00:00 bucket: that bucket is left out; 12:00-13:00
    # is still forming at the last candle (13:00), so it is left out too.
    bars = resample_closed(candles(12), "1h", "4h")
    assert [t.strftime("%H:%M") for t in bars.index] == ["04:00", "08:00"]
    first = bars.iloc[0]
    assert (first["open"], first["high"], first["low"], first["close"]) == (3.0, 7.0, 2.5, 6.5)
    assert (first["volume"], first["bars"]) == (4.0, 4)
    assert first["end"] == int(pd.Timestamp("2024-01-01 08:00", tz="UTC").timestamp() * 1000)


def test_a_bar_is_usable_only_once_its_last_candle_has_closed() -> None:
    out = higher_timeframe(candles(12), "1h", "4h", sma_length=1)
    hours = [t.strftime("%H:%M") for t in out.index]
    seen = dict(zip(hours, out["bar_open"], strict=True))
    # The 04:00 bucket's last candle is 07:00: from 07:00 on (its close, 08:00), not before.
    assert np.isnan(seen["06:00"])
    assert pd.Timestamp(seen["07:00"], unit="ms", tz="UTC").strftime("%H:%M") == "04:00"
    assert pd.Timestamp(seen["10:00"], unit="ms", tz="UTC").strftime("%H:%M") == "04:00"
    assert pd.Timestamp(seen["11:00"], unit="ms", tz="UTC").strftime("%H:%M") == "08:00"
    assert out.loc[out.index[7], "close"] == 6.5  # the 07:00 candle's close, not a later one
    assert out.loc[out.index[11], "sma_prev"] == 6.5


def test_a_bucket_with_a_missing_candle_closes_on_time() -> None:
    full = candles(12)
    gap = full.drop(full.index[5])  # 07:00, the 04:00 bucket's last candle, is missing
    out = higher_timeframe(gap, "1h", "4h", sma_length=1)
    at = {t.strftime("%H:%M"): row for t, row in out.iterrows()}
    assert np.isnan(at["06:00"]["close"])  # 06:00 closes at 07:00: the bucket is still open
    assert at["08:00"]["bars"] == 3 and at["08:00"]["close"] == 5.5  # its last candle: 06:00


def test_bad_timeframes_and_indexes_are_refused() -> None:
    assert check_higher("1h", "4h") == (H, 4 * H)
    with pytest.raises(ValueError, match="unknown timeframe '3h'"):
        check_higher("1h", "3h")
    with pytest.raises(ValueError, match="6h is not a whole multiple of 4h"):
        check_higher("4h", "6h")
    with pytest.raises(ValueError, match="not a whole multiple"):
        check_higher("4h", "1h")
    shuffled = candles(10).iloc[::-1]
    with pytest.raises(ValueError, match="strictly increasing"):
        resample_closed(shuffled, "1h", "4h")
    with pytest.raises(ValueError, match="no volume column"):
        resample_closed(candles(10).drop(columns="volume"), "1h", "4h")
    with pytest.raises(ValueError, match="sma_length"):
        higher_timeframe(candles(10), "1h", "4h", 0)


def test_unusable_candles_count_as_missing_and_empty_input_gives_empty_output() -> None:
    frame = candles(12)
    frame.iloc[4, frame.columns.get_loc("close")] = np.nan  # 06:00
    bars = resample_closed(frame, "1h", "4h")
    assert bars.iloc[0]["bars"] == 3
    empty = higher_timeframe(candles(0), "1h", "4h", 2)
    assert len(empty) == 0 and list(empty.columns)[:5] == ["open", "high", "low", "close", "volume"]
    assert (
        align_closed(resample_closed(candles(3), "1h", "4h"), candles(3).index, "1h")["close"]
        .isna()
        .all()
    )


def test_daily_and_four_hour_bars_equal_pandas_resampling_of_the_real_btc_file(
    btc_hourly: pd.DataFrame,
) -> None:
    hourly = btc_hourly
    for higher, rule, slots in (("1d", "24h", 24), ("4h", "4h", 4)):
        ours = resample_closed(hourly, "1h", higher)
        theirs = hourly.resample(rule, origin="epoch", label="left", closed="left").agg(
            {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
        )
        count = hourly["close"].resample(rule, origin="epoch").count()
        full = ours[ours["bars"] == slots].index
        assert len(full) > 0.9 * len(ours)
        assert (count.loc[ours.index] == ours["bars"]).all()
        pd.testing.assert_frame_equal(
            ours.loc[full, ["open", "high", "low", "close", "volume"]],
            theirs.loc[full],
            check_freq=False,
        )


@st.composite
def hourly_with_gaps(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 160))
    offset = draw(st.integers(0, 47))
    frame = candles(n + 40, start=f"2024-01-01 {offset % 24:02d}:00")
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    frame["close"] = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(frame))))
    frame["open"] = frame["close"].shift(1).fillna(100.0)
    frame["high"] = frame[["open", "close"]].max(axis=1) * 1.002
    frame["low"] = frame[["open", "close"]].min(axis=1) * 0.998
    drop = rng.random(len(frame)) < draw(st.sampled_from([0.0, 0.05, 0.3]))
    return frame[~drop]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=hourly_with_gaps(), data=st.data())
def test_cutting_the_history_at_any_bar_leaves_earlier_rows_unchanged(
    frame: pd.DataFrame, data: st.DataObject
) -> None:
    if frame.empty:
        return
    cut = data.draw(st.integers(1, len(frame)))
    for higher, length in (("4h", 3), ("1d", 2)):
        full = higher_timeframe(frame, "1h", higher, length)
        part = higher_timeframe(frame.iloc[:cut], "1h", higher, length)
        pd.testing.assert_frame_equal(part, full.iloc[:cut])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=hourly_with_gaps(), data=st.data())
def test_a_bucket_is_the_same_whatever_bar_the_window_starts_at(
    frame: pd.DataFrame, data: st.DataObject
) -> None:
    if frame.empty:
        return
    start = data.draw(st.integers(0, len(frame) - 1))
    full = resample_closed(frame, "1h", "4h")
    late = resample_closed(frame.iloc[start:], "1h", "4h")
    # Every bucket of the later window is a bucket of the whole history, to the last bit.
    assert set(late.index) <= set(full.index)
    pd.testing.assert_frame_equal(late, full.loc[late.index])
    # Every bucket opening at or after the window's first candle is kept; only the bucket the
    # window starts inside (if it starts inside one) is left out.
    first = frame.index[start]
    assert list(late.index) == [t for t in full.index if t >= first]
