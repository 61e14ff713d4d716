"""The offline sample market: determinism, closed candles only, OHLC consistency, realism."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hmas.data import sample
from hmas.data.sample import GENESIS_MS, SAMPLE_EXCHANGE, SAMPLE_SYMBOLS, SampleMarket
from hmas.errors import (
    InvalidSymbolError,
    UnknownSymbolError,
    UnsupportedTimeframeError,
    UsageError,
)
from hmas.market import TIMEFRAMES, timeframe_ms, validate_candle_frame

MINUTE = 60_000
HOUR = 3_600_000
DAY = 86_400_000
NOW = 1_767_225_600_000 + 30 * MINUTE  # 2026-01-01T00:30Z, half-way through an hour


class Clock:
    """A settable clock in epoch milliseconds."""

    def __init__(self, at: int) -> None:
        self.at = at

    def __call__(self) -> int:
        return self.at


def fixed_market(at: int = NOW) -> SampleMarket:
    return SampleMarket(now_ms=Clock(at))


@cache
def history(symbol: str) -> pd.DataFrame:
    """Every daily candle of ``symbol`` from genesis to NOW (computed once per test run)."""
    return fixed_market().candles(symbol, "1d", 0, NOW)


def log(series: pd.Series) -> pd.Series:
    return pd.Series(np.log(series.to_numpy()), index=series.index)


def times(frame: pd.DataFrame) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(frame.index)


def ms(frame: pd.DataFrame) -> list[int]:
    return [int(t) for t in times(frame).as_unit("ms").asi8]


def daily_returns(symbol: str) -> pd.Series:
    return log(history(symbol)["close"]).diff().dropna()


def test_names_and_symbols() -> None:
    assert SAMPLE_EXCHANGE == "sample"
    assert {"BTC-USD", "ETH-USD", "SOL-USD", "DOGE-USD"} <= set(SAMPLE_SYMBOLS)
    assert SampleMarket().symbols() == SAMPLE_SYMBOLS


def test_overlapping_requests_and_instances_agree_bit_for_bit() -> None:
    a = fixed_market().candles("BTC-USD", "1h", NOW - 300 * HOUR, NOW - 100 * HOUR)
    b = fixed_market().candles("BTC-USD", "1h", NOW - 200 * HOUR, NOW)
    c = fixed_market(NOW + 40 * DAY).candles("btc/usd", "1h", NOW - 400 * HOUR, NOW + 9 * DAY)
    shared = a.index.intersection(b.index)
    assert len(shared) == 100
    pd.testing.assert_frame_equal(a.loc[shared], b.loc[shared], check_exact=True)
    pd.testing.assert_frame_equal(c.loc[a.index], a, check_exact=True)
    pd.testing.assert_frame_equal(c.loc[b.index], b, check_exact=True)


def test_results_do_not_depend_on_the_cache_or_the_horizon() -> None:
    market = fixed_market()
    before = market.candles("ETH-USD", "15m", NOW - 3 * DAY, NOW)
    sample._DAILY.clear()
    sample._factor.cache_clear()
    after = market.candles("ETH-USD", "15m", NOW - 3 * DAY, NOW)
    pd.testing.assert_frame_equal(before, after, check_exact=True)
    short, long = sample._build_daily("ETH-USD", 1), sample._build_daily("ETH-USD", 4)
    n = len(short.sigma)
    for part_short, part_long in zip(short, long, strict=True):
        assert np.array_equal(part_short[:n], part_long[:n])


def test_coarse_timeframes_aggregate_the_minutes() -> None:
    market = fixed_market()
    minutes = market.candles("SOL-USD", "1m", NOW - 2 * DAY, NOW)
    for timeframe in ("5m", "1h", "4h", "1d"):
        frame = market.candles("SOL-USD", timeframe, NOW - 2 * DAY, NOW)
        rule = f"{timeframe_ms(timeframe) // MINUTE}min"
        grouped = minutes.resample(rule, origin="epoch")
        agg = pd.DataFrame(
            {
                "open": grouped["open"].first(),
                "high": grouped["high"].max(),
                "low": grouped["low"].min(),
                "close": grouped["close"].last(),
                "volume": grouped["volume"].sum(),
            }
        ).loc[frame.index]
        cols = ["open", "high", "low", "close"]
        pd.testing.assert_frame_equal(frame[cols], agg[cols], check_exact=True, check_freq=False)
        np.testing.assert_allclose(frame["volume"], agg["volume"], rtol=1e-12)


def test_only_closed_candles_and_new_bars_appear_as_time_passes() -> None:
    clock = Clock(NOW)
    market = SampleMarket(now_ms=clock)
    since, until = NOW - 48 * HOUR, NOW + 10 * DAY
    before = market.candles("DOGE-USD", "1h", since, until)
    # At 00:30 the 00:00 candle is still open: the last served one opened at 23:00.
    assert before.index[-1] == pd.Timestamp(NOW - 30 * MINUTE - HOUR, unit="ms", tz="UTC")
    clock.at = NOW + 3 * HOUR - 30 * MINUTE  # exactly when the 02:00 candle closes
    after = market.candles("DOGE-USD", "1h", since, until)
    assert len(after) == len(before) + 3
    assert after.index[-1] == pd.Timestamp(NOW - 30 * MINUTE + 2 * HOUR, unit="ms", tz="UTC")
    pd.testing.assert_frame_equal(after.iloc[: len(before)], before, check_exact=True)


def test_range_is_aligned_and_starts_at_genesis() -> None:
    market = fixed_market()
    frame = market.candles("BTC-USD", "4h", 0, GENESIS_MS + DAY)
    assert frame.index[0] == pd.Timestamp("2018-01-01", tz="UTC")
    assert len(frame) == 7  # the candle opening at genesis + 1 day is included
    odd = market.candles("BTC-USD", "1h", NOW - 5 * HOUR + 1, NOW - 2 * HOUR - 1)
    assert list(times(odd).hour) == [20, 21, 22]  # 19:30 + 1 ms .. 22:30 - 1 ms


def test_empty_ranges_give_an_empty_candle_frame() -> None:
    market = fixed_market()
    for since, until in [(0, GENESIS_MS - 1), (NOW, NOW + DAY), (NOW - HOUR, NOW - 2 * HOUR)]:
        frame = market.candles("ETH-USD", "1h", since, until)
        assert frame.empty
        assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
        assert frame.index.name == "ts"
        assert str(times(frame).tz) == "UTC"
        assert list(market.fetch("ETH-USD", "1h", since_ms=since, until_ms=until)) == []


@pytest.mark.parametrize("timeframe", list(TIMEFRAMES))
@pytest.mark.parametrize("symbol", SAMPLE_SYMBOLS)
def test_every_frame_is_a_valid_candle_frame(symbol: str, timeframe: str) -> None:
    step = timeframe_ms(timeframe)
    last_closed = NOW // step * step - step
    frame = fixed_market().candles(symbol, timeframe, last_closed - 119 * step, NOW)
    assert len(frame) == 120
    pd.testing.assert_frame_equal(validate_candle_frame(frame), frame, check_exact=True)
    assert (frame.dtypes == "float64").all()
    assert str(frame.index.dtype) == "datetime64[ns, UTC]"
    assert (np.diff(times(frame).asi8) == step * 1_000_000).all()
    # Each candle opens at the previous close: one continuous path.
    assert np.array_equal(frame["open"].to_numpy()[1:], frame["close"].to_numpy()[:-1])
    assert (frame["volume"] > 0).all()


@pytest.mark.parametrize(
    ("symbol", "low", "high"),
    [
        ("BTC-USD", 5_000, 500_000),
        ("ETH-USD", 200, 50_000),
        ("SOL-USD", 2, 5_000),
        ("DOGE-USD", 0.005, 5),
    ],
)
def test_price_levels_are_plausible(symbol: str, low: float, high: float) -> None:
    frame = history(symbol)
    assert frame["low"].min() > low
    assert frame["high"].max() < high


def test_volatility_clusters() -> None:
    for symbol in ("BTC-USD", "ETH-USD"):
        r = daily_returns(symbol)
        assert len(r) > 2500
        assert r.abs().autocorr(1) > 0.1
        assert (r**2).autocorr(1) > 0.05
        assert abs(r.autocorr(1)) < 0.1  # while returns themselves stay nearly unpredictable
        assert 0.02 < r.std() < 0.1


def test_symbols_move_together() -> None:
    btc, eth = daily_returns("BTC-USD"), daily_returns("ETH-USD")
    assert btc.corr(eth) > 0.6


def test_volume_rises_with_the_size_of_the_move() -> None:
    frame = history("BTC-USD")
    moves = log(frame["close"] / frame["open"]).abs()
    assert moves.corr(frame["volume"]) > 0.3
    hourly = fixed_market().candles("BTC-USD", "1h", NOW - 90 * DAY, NOW)
    hourly_moves = log(hourly["close"] / hourly["open"]).abs()
    assert hourly_moves.corr(hourly["volume"]) > 0.1


@pytest.mark.parametrize("page_size", [1, 7, 5000])
def test_fetch_pages_concatenate_to_candles(page_size: int) -> None:
    market = fixed_market()
    since, until = NOW - 50 * HOUR, NOW + HOUR
    pages = list(market.fetch("XRP-USD", "1h", since_ms=since, until_ms=until, page_size=page_size))
    assert all(0 < len(p) <= page_size for p in pages)
    assert all(len(p) == page_size for p in pages[:-1])
    rows = [row for page in pages for row in page]
    assert all(type(row[0]) is int for row in rows)
    frame = market.candles("XRP-USD", "1h", since, until)
    assert [row[0] for row in rows] == ms(frame)
    assert np.array_equal(np.array([row[1:] for row in rows]), frame.to_numpy())


def test_unknown_symbol_lists_the_sample_symbols() -> None:
    market = fixed_market()
    expected = (
        "the sample market has no FOO-USD; use one of "
        "BTC-USD, ETH-USD, SOL-USD, DOGE-USD, XRP-USD, ADA-USD, LTC-USD"
    )
    with pytest.raises(UnknownSymbolError) as info:
        market.candles("foo/usd", "1h", 0, NOW)
    assert str(info.value) == expected
    with pytest.raises(UnknownSymbolError):
        market.fetch("FOO-USD", "1h", since_ms=0, until_ms=NOW)  # fails at the call
    with pytest.raises(InvalidSymbolError):
        market.check_market("BTCUSD")
    assert market.check_market(" eth/usd ") == "ETH-USD"


def test_unsupported_timeframe() -> None:
    market = fixed_market()
    with pytest.raises(UnsupportedTimeframeError) as info:
        market.candles("BTC-USD", "3m", 0, NOW)
    assert str(info.value) == (
        "unsupported timeframe '3m'; use one of 1m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 12h, 1d"
    )
    with pytest.raises(UnsupportedTimeframeError):
        market.fetch("BTC-USD", "1w", since_ms=0, until_ms=NOW)
    with pytest.raises(UnsupportedTimeframeError):
        market.check_timeframe("2d")


def test_page_size_must_be_positive() -> None:
    with pytest.raises(UsageError, match="page_size must be at least 1"):
        fixed_market().fetch("BTC-USD", "1h", since_ms=0, until_ms=NOW, page_size=0)


@settings(max_examples=40, deadline=None)
@given(
    timeframe=st.sampled_from(list(TIMEFRAMES)),
    symbol=st.sampled_from(SAMPLE_SYMBOLS),
    start=st.integers(min_value=GENESIS_MS - 5 * DAY, max_value=NOW),
    span=st.integers(min_value=-3, max_value=100),
    jitter=st.integers(min_value=0, max_value=DAY),
    margins=st.tuples(st.integers(0, 20), st.integers(0, 20)),
)
def test_random_ranges(
    timeframe: str,
    symbol: str,
    start: int,
    span: int,
    jitter: int,
    margins: tuple[int, int],
) -> None:
    step = timeframe_ms(timeframe)
    since, until = start, start + span * step + jitter % step
    market = fixed_market()
    frame = market.candles(symbol, timeframe, since, until)
    last_closed = (NOW // step) * step - step
    expected = range(
        max(-(-since // step) * step, GENESIS_MS), min(until // step * step, last_closed) + 1, step
    )
    assert ms(frame) == list(expected)
    if frame.empty:
        return
    validate_candle_frame(frame)
    wider = market.candles(symbol, timeframe, since - margins[0] * step, until + margins[1] * step)
    pd.testing.assert_frame_equal(wider.loc[frame.index], frame, check_exact=True)
