"""The candles of a backtest: the range checked against the store, the warm-up read before it."""

from __future__ import annotations

from typing import Any

import pytest

from hmas.backtest.data import Range, check_range, data_hash, iso, load_series
from hmas.decision.history import windowing
from hmas.errors import UsageError
from hmas.settings import load_settings
from hmas.store.candles import SeriesInfo
from tests.decision.conftest import BARS, HOUR, NOW

FIRST = NOW - BARS * HOUR
LAST = NOW - HOUR
INFO = SeriesInfo("sample", "BTC-USD", "1h", "sample", BARS, FIRST, LAST)
STORED = "BTC-USD 1h on sample is stored from 2025-10-30T12:00Z to 2025-12-31T23:00Z"


def test_the_whole_series_by_default() -> None:
    assert check_range(INFO, Range()) == (FIRST, LAST + HOUR)


@pytest.mark.parametrize(
    ("wanted", "message"),
    [
        (
            Range(start=FIRST - HOUR),
            f"--start 2025-10-30T11:00Z is before the first stored bar; {STORED}; give a later "
            "date or fetch older candles",
        ),
        (
            Range(start=LAST + HOUR),
            f"--start 2026-01-01T00:00Z is after the last stored bar; {STORED}; give an earlier "
            "date or fetch newer candles",
        ),
        (
            Range(end=FIRST),
            f"--end 2025-10-30T12:00Z is at or before the first stored bar; {STORED}; give a "
            "later date",
        ),
        (
            Range(end=LAST + 2 * HOUR, end_option="--timerange end"),
            f"--timerange end 2026-01-01T01:00Z is after the last stored bar; {STORED} (the range "
            "ends before --end, so 2026-01-01T00:00Z takes every bar); give an earlier date or "
            "fetch newer candles",
        ),
    ],
)
def test_a_range_outside_the_stored_candles_is_refused(wanted: Range, message: str) -> None:
    with pytest.raises(UsageError) as info:
        check_range(INFO, wanted)
    assert str(info.value) == message


def test_the_warm_up_before_the_range_is_read_and_not_simulated(sample_engine: Any) -> None:
    settings = load_settings()
    start = FIRST + 1200 * HOUR
    (series,) = load_series(sample_engine, settings, ["BTC-USD"], "1h", Range(start=start))
    assert (series.first, series.last, series.bars) == (start, LAST, BARS - 1200)
    read = series.inputs.candles.index
    assert int(read[0].value // 1_000_000) == windowing(settings, "1h").start(start)
    assert series.warmup_bars == len(read) - series.bars > 0
    assert series.inputs.universe.keys() == {"ETH-USD"}  # the rest of the stored universe
    assert series.as_dict()["first"] == iso(start)


def test_a_range_in_a_gap_is_refused(sample_engine: Any) -> None:
    from sqlalchemy import text

    with sample_engine.begin() as conn:
        conn.execute(
            text("DELETE FROM candle WHERE symbol = 'BTC-USD' AND ts >= :a AND ts < :b"),
            {"a": FIRST + 100 * HOUR, "b": FIRST + 110 * HOUR},
        )
    wanted = Range(start=FIRST + 100 * HOUR, end=FIRST + 110 * HOUR)
    with pytest.raises(UsageError) as info:
        load_series(sample_engine, load_settings(), ["BTC-USD"], "1h", wanted)
    assert str(info.value) == (
        "no BTC-USD 1h candles are stored on sample from 2025-11-03T16:00Z to 2025-11-04T02:00Z "
        "(a gap in the stored series); BTC-USD 1h is stored from 2025-10-30T12:00Z to "
        "2025-12-31T23:00Z; see hmas candles BTC-USD --timeframe 1h --gaps"
    )


def test_the_data_hash_changes_with_any_candle_read(sample_engine: Any) -> None:
    from sqlalchemy import text

    settings = load_settings()
    before = data_hash(load_series(sample_engine, settings, ["BTC-USD"], "1h", Range()))
    again = data_hash(load_series(sample_engine, settings, ["BTC-USD"], "1h", Range()))
    with sample_engine.begin() as conn:  # a candle of the universe, not of BTC-USD itself
        conn.execute(text("UPDATE candle SET close = close + 0.01 WHERE symbol = 'ETH-USD'"))
    after = data_hash(load_series(sample_engine, settings, ["BTC-USD"], "1h", Range()))
    assert before == again != after
