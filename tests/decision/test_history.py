"""Anchored decision windows, the history pass, and the base rate's fixed lookback in time."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from hmas.agents import rationale
from hmas.agents.base import AgentContext
from hmas.decision.history import (
    AUTO_SEGMENT_SHARE,
    History,
    compute_history,
    feature_warmup_bars,
    span,
    warmup_bars,
    windowing,
)
from hmas.decision.pipeline import MarketInputs, compute, feature_row, views_at
from hmas.decision.service import load_inputs
from hmas.errors import UsageError
from hmas.market import index_to_ms, timeframe_ms
from hmas.risk.positions import EXPIRED, LOSS, UNFILLED, WIN, follow_arrays
from hmas.settings import Settings, duration_ms, load_settings
from hmas.store.candles import CandleStore
from tests.decision.conftest import HOUR, NOW, permissive, sample_frame
from tests.decision.test_pipeline import DECISION_COLUMNS
from tests.test_settings_bad_input import refused

DAY = 24 * HOUR

# --- the window definition -------------------------------------------------------------------


def test_default_warmup_is_the_macro_volatility_percentile() -> None:
    # realised volatility needs 20 bars, then its percentile ranks 500 of them.
    assert warmup_bars(load_settings()) == 20 + 500
    assert feature_warmup_bars() == 199  # the 200-bar SMA


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"macro": {"vol_lookback": 1000}}, 20 + 1000),
        ({"macro": {"vol_lookback": 20}, "sentiment": {"lookback": 2000}}, 20 + 2000),
        ({"macro": {"vol_lookback": 20}, "sentiment": {"lookback": 10}}, 199),
        ({"macro": {"vol_lookback": 20, "corr_window": 5000}}, 5001),
        ({"macro": {"vol_lookback": 20}, "execution": {"vol_window": 9000}}, 9001),
        ({"macro": {"vol_lookback": 20}, "execution": {"volume_window": 9000}}, 9000),
        ({"macro": {"vol_lookback": 20, "trend_window": 3000}}, 2999),
    ],
)
def test_warmup_follows_the_settings(settings: dict[str, Any], expected: int) -> None:
    assert warmup_bars(load_settings(**settings)) == expected


@pytest.mark.parametrize("timeframe", ["1m", "5m", "1h", "4h", "1d"])
def test_default_windows_per_timeframe(timeframe: str) -> None:
    s = load_settings()
    win = windowing(s, timeframe)
    step = timeframe_ms(timeframe)
    assert win.step == step
    # The views' 520 bars, or the 22 days of closed daily bars the technical agent's 1d trend
    # reads (20 for its SMA, one for the slope, one the window may start inside), if longer.
    daily = 22 * DAY if step < DAY else 0
    assert win.warmup == max(520 * step, daily)
    assert win.lookback == 30 * DAY
    assert win.features == 199 * step
    assert win.reach == max(520 * step, 30 * DAY + 199 * step)
    # auto: a sixth of the reach, in whole bars, or the reach less 2,000 bars when longer
    bars = win.reach // step
    assert win.segment == max(math.ceil(bars / AUTO_SEGMENT_SHARE), bars - 2_000) * step
    # A short reach: a live decision reads at most 7/6 of it; a long one: a pass over history
    # costs at most about two single passes (1 + reach / segment).
    if bars <= 2_400:
        assert win.reach + win.segment <= math.ceil(bars * 7 / 6) * step
    else:
        limit = 2.1 if timeframe == "1m" else 2.3
        assert 1 + win.reach / win.segment < limit


@pytest.mark.parametrize(
    ("timeframe", "segment"),
    [("1m", 41_399), ("5m", 6_839), ("15m", 1_079), ("30m", 274), ("1h", 154), ("1d", 87)],
)
def test_auto_segments_in_bars(timeframe: str, segment: int) -> None:
    assert windowing(load_settings(), timeframe).segment == segment * timeframe_ms(timeframe)


def test_the_hourly_window_of_the_defaults() -> None:
    win = windowing(load_settings(), "1h")
    assert (win.reach // HOUR, win.segment // HOUR) == (720 + 199, 154)


def test_anchor_is_aligned_to_the_epoch_and_start_precedes_it_by_the_reach() -> None:
    win = windowing(load_settings(decision={"segment": "7d"}), "1h")
    assert win.segment == 7 * DAY
    for t in (0, HOUR, 7 * DAY - HOUR, 7 * DAY, NOW, NOW + 5 * HOUR):
        anchor = win.anchor(t)
        assert anchor % (7 * DAY) == 0
        assert anchor <= t < anchor + 7 * DAY
        assert win.start(t) == anchor - win.reach
    # every bar of one segment shares its window's start; the next segment moves it
    assert win.start(7 * DAY) == win.start(14 * DAY - HOUR) == win.start(14 * DAY) - 7 * DAY


def test_a_long_lookback_sets_the_reach() -> None:
    win = windowing(load_settings(rationale={"base_rate_lookback": "90d"}), "1h")
    assert win.reach == 90 * DAY + 199 * HOUR
    short = windowing(load_settings(rationale={"base_rate_lookback": "2d"}), "1h")
    # The warm-up covers 2 days and the features: the 1d trend's 22 days, above the views' 520h.
    assert short.reach == 22 * DAY
    none = windowing(
        load_settings(rationale={"base_rate_lookback": "2d"}, technical={"higher_timeframes": []}),
        "1h",
    )
    assert none.reach == 520 * HOUR  # without higher timeframes: the views' warm-up


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("90m", 90 * 60_000),
        ("12h", 12 * HOUR),
        ("30d", 30 * DAY),
        ("2w", 14 * DAY),
        ("7D", 7 * DAY),
    ],
)
def test_durations(text: str, ms: int) -> None:
    assert duration_ms(text) == ms


def test_settings_store_durations_in_one_spelling() -> None:
    s = load_settings(rationale={"base_rate_lookback": " 14D "}, decision={"segment": "AUTO"})
    assert (s.rationale.base_rate_lookback, s.decision.segment) == ("14d", "auto")


SHAPE = "expected a duration such as 30d, 12h, 2w or 90m (a whole number and one of m, h, d, w)"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("30", f"{SHAPE}, got '30'"),
        ("d", f"{SHAPE}, got 'd'"),
        ("1y", f"{SHAPE}, got '1y'"),
        ("-1d", f"{SHAPE}, got '-1d'"),
        ("1.5d", f"{SHAPE}, got '1.5d'"),
        ("²d", f"{SHAPE}, got '²d'"),
        ("0d", "must be above 0 and at most 10950d, got '0d'"),
        ("10951d", "must be above 0 and at most 10950d, got '10951d'"),
    ],
)
def test_bad_lookback_is_refused(value: str, problem: str) -> None:
    name = "HMAS_RATIONALE__BASE_RATE_LOOKBACK"
    assert refused(**{name: value}) == (
        f"invalid configuration: rationale.base_rate_lookback ({name}): {problem}"
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("weekly", f"{SHAPE.replace('a duration', 'auto or a duration')}, got 'weekly'"),
        ("0m", "must be above 0 and at most 10950d, got '0m'"),
    ],
)
def test_bad_segment_is_refused(value: str, problem: str) -> None:
    name = "HMAS_DECISION__SEGMENT"
    assert refused(**{name: value}) == (
        f"invalid configuration: decision.segment ({name}): {problem}"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('base_rate_lookback = ""', f"{SHAPE}, got ''"),
        ("base_rate_lookback = 30", "Input should be a valid string"),
    ],
)
def test_bad_duration_in_the_config_file_is_refused(tmp_path: Any, text: str, problem: str) -> None:
    from hmas.errors import ConfigError

    path = tmp_path / "hmas.toml"
    path.write_text(f"[rationale]\n{text}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert info.value.exit_code == 2
    assert str(info.value) == (
        "invalid configuration: rationale.base_rate_lookback "
        f"(HMAS_RATIONALE__BASE_RATE_LOOKBACK): {problem}"
    )


# --- the history pass ------------------------------------------------------------------------


def small(**extra: Any) -> Settings:
    """Permissive settings with short windows, so a pass over 1,500 bars has many segments."""
    base = {"macro": {"vol_lookback": 60, "vol_min_periods": 30, "high_vol_pct": 1.0}}
    base["rationale"] = {"base_rate_lookback": "5d"}
    base["decision"] = {"segment": "1d"}
    for key, value in extra.items():
        base[key] = {**base.get(key, {}), **value}
    return permissive(**base)


@pytest.fixture(scope="module")
def inputs() -> MarketInputs:
    """ETH-USD with BTC-USD as benchmark and universe; BTC starts 300 bars later."""
    btc, eth = sample_frame("BTC-USD"), sample_frame("ETH-USD")
    btc = btc.iloc[300:]
    return MarketInputs("sample", "ETH-USD", "1h", eth, "sample", btc, {"BTC-USD": btc})


def live(inputs: MarketInputs, settings: Settings, i: int) -> Any:
    """``compute`` over exactly what ``load_inputs`` reads for bar ``i``."""
    win = windowing(settings, inputs.timeframe)
    t = index_to_ms(inputs.candles.index[i : i + 1])[0]
    return compute(
        span(inputs, pd.Timestamp(win.start(t), unit="ms", tz="UTC"), inputs.candles.index[i]),
        settings,
    )


@pytest.fixture(scope="module")
def history(inputs: MarketInputs) -> History:
    """One pass over ``inputs`` under ``small()``."""
    return compute_history(inputs, small())


def test_row_t_of_the_pass_is_the_decision_on_the_window_of_t(
    inputs: MarketInputs, history: History
) -> None:
    settings = small()
    n = len(inputs.candles)
    assert len(history) == n and len(history.parts) > 50
    assert list(history.index) == list(inputs.candles.index)
    decided = history.decided
    assert decided is not None and bool(decided["approved"].any())
    approved = np.flatnonzero(decided["approved"].to_numpy(dtype=bool))
    edges = [p.offset for p in history.parts[1:4]] + [p.offset - 1 for p in history.parts[1:4]]
    for i in [0, 1, 250, 301, 302, *edges, *approved[:4].tolist(), n - 1]:
        out = live(inputs, settings, i)
        assert views_at(out, len(out.features) - 1) == history.views_at(i)
        assert feature_row(out.features, len(out.features) - 1) == feature_row(history.features, i)
        pd.testing.assert_series_equal(
            out.decided.iloc[-1][DECISION_COLUMNS],
            decided.iloc[i][DECISION_COLUMNS],
            check_names=False,
        )


def test_a_window_from_another_start_differs(inputs: MarketInputs, history: History) -> None:
    """Why both paths must start at the same bar: recursive indicators keep their start."""
    settings = small()
    i = len(inputs.candles) - 1
    longer = compute(inputs, settings)  # the whole history, not the anchored window
    assert feature_row(longer.features, i) != feature_row(history.features, i)


def test_each_part_reads_its_anchored_window(inputs: MarketInputs, history: History) -> None:
    win = windowing(small(), "1h")
    stamps = index_to_ms(inputs.candles.index)
    for part in history.parts:
        first = stamps[part.offset]
        assert part.anchor == win.anchor(first) and part.anchor % DAY == 0
        assert part.window_start == part.anchor - win.reach
        rows = index_to_ms(part.output.features.index)
        assert all(win.anchor(t) == part.anchor for t in rows)


def test_history_rows_and_lookups(inputs: MarketInputs) -> None:
    history = compute_history(inputs, small(), decide=False)
    assert history.decided is None
    assert set(history.frames) == {
        "alpha",
        "technical",
        "sentiment",
        "macro",
        "execution",
        "rationale",
    }
    part, row = history.locate(-1)
    assert part is history.parts[-1] and row == len(part.output.features) - 1
    assert history.locate(0) == (history.parts[0], 0)
    for bad in (len(history), -len(history) - 1):
        with pytest.raises(IndexError):
            history.locate(bad)


def test_empty_inputs_give_an_empty_history(inputs: MarketInputs) -> None:
    empty = MarketInputs("sample", "ETH-USD", "1h", inputs.candles.iloc[:0], "sample")
    history = compute_history(empty, small())
    assert len(history) == 0 and history.parts == [] and history.decided is None


def test_span_drops_context_series_without_bars_in_the_window(inputs: MarketInputs) -> None:
    first, last = inputs.candles.index[10], inputs.candles.index[200]
    cut = span(inputs, first, last)
    assert cut.benchmark is None and cut.universe == {}  # BTC starts at bar 300
    assert (cut.candles.index[0], cut.candles.index[-1]) == (first, last)


# --- the live path reads exactly the window --------------------------------------------------


def test_load_inputs_reads_the_anchored_window(sample_store: Any) -> None:
    settings = load_settings(rationale={"base_rate_lookback": "7d"})
    win = windowing(settings, "1h")
    store = CandleStore(sample_store)
    stamps = store.timestamps("sample", "ETH-USD", "1h")
    for t in (stamps[-1], stamps[900], stamps[1000]):
        at = None if t == stamps[-1] else t
        got = load_inputs(sample_store, settings, "sample", "ETH-USD", "1h", at_ms=at)
        expected = [s for s in stamps if win.start(t) <= s <= t]
        assert index_to_ms(got.candles.index) == expected
        assert got.benchmark is not None  # BTC-USD, the benchmark, stored alongside
        assert index_to_ms(got.benchmark.index) == expected
        assert index_to_ms(got.universe["BTC-USD"].index) == expected


def test_load_inputs_refuses_a_bar_it_does_not_hold(sample_store: Any) -> None:
    settings = load_settings()
    stamps = CandleStore(sample_store).timestamps("sample", "ETH-USD", "1h")
    with pytest.raises(UsageError) as info:
        load_inputs(sample_store, settings, "sample", "ETH-USD", "1h", at_ms=stamps[0] - HOUR)
    assert str(info.value) == "no ETH-USD 1h candles stored on sample at or before that time"
    with pytest.raises(UsageError) as info:
        load_inputs(sample_store, settings, "sample", "ETH-USD", "1h", at_ms=stamps[5] + 1)
    assert str(info.value) == (f"no ETH-USD 1h bar stored at {_iso(stamps[5] + 1)} on sample")
    with pytest.raises(UsageError) as info:
        load_inputs(sample_store, settings, "sample", "SOL-USD", "1h")
    assert str(info.value) == "no SOL-USD 1h candles stored on sample"


def _iso(ms: int) -> str:
    from hmas.market import ms_to_datetime

    return ms_to_datetime(ms).strftime("%Y-%m-%dT%H:%M:%SZ" if ms % 60_000 else "%Y-%m-%dT%H:%MZ")


# --- the base rate's lookback ----------------------------------------------------------------


def context(lookback: str, horizon: int = 48) -> AgentContext:
    settings = Settings(risk={"expiry": f"{horizon}h"}, rationale={"base_rate_lookback": lookback})
    return AgentContext(settings=settings, symbol="BTC-USD", exchange="x", timeframe="1h")


def candles(n: int, stamps: pd.DatetimeIndex | None = None) -> pd.DataFrame:
    """Flat candles at 100 (high 101, low 99) on ``stamps`` (default: hourly)."""
    index = (
        stamps if stamps is not None else pd.date_range("2024-03-01", periods=n, freq="h", tz="UTC")
    )
    return pd.DataFrame(
        {"open": 100.0, "high": 101.0, "low": 99.0, "close": 100.0, "volume": 1.0}, index=index
    )


def buys(
    index: pd.DatetimeIndex, bars: list[int], stop: float = 95.0, target: float = 100.5
) -> pd.DataFrame:
    """Alpha's output: a BUY that wins on the next bar at each of ``bars``; HOLD elsewhere."""
    n = len(index)
    action = np.full(n, "HOLD", dtype=object)
    action[bars] = "BUY"
    hold = action == "HOLD"
    return pd.DataFrame(
        {
            "action": action,
            "setup": np.where(hold, None, "mean_reversion"),
            "entry": np.where(hold, np.nan, 100.0),
            "stop": np.where(hold, np.nan, stop),
            "target": np.where(hold, np.nan, target),
            "reward_risk": np.where(hold, np.nan, 0.1),
            "confidence": np.where(hold, 0.0, 0.6),
            "abstained": False,
            "abstain_reason": None,
        },
        index=index,
    )


def test_setups_older_than_the_lookback_are_not_counted() -> None:
    frame = candles(30)
    out = rationale.run_rules(
        frame, context("10h").with_upstream(alpha=buys(frame.index, [0, 5, 10, 20, 29]))
    )
    trades = out["base_rate_trades"].to_numpy()
    # bar 10: setups at 0 (10 h back: inside) and 5, resolved at 1 and 6
    assert trades[10] == 2
    # bar 20: setup at 10 is 10 h back (inside), 5 and 0 are out; bar 29: only 20 (9 h back)
    assert trades[20] == 1 and trades[29] == 1
    assert (out["base_rate_wins"].to_numpy()[[10, 20, 29]] == [2, 1, 1]).all()


def test_the_lookback_is_time_not_bars() -> None:
    # a 10-hour gap between bars 4 and 5: bar 5 is 14 h after bar 0
    stamps = pd.DatetimeIndex(
        [
            pd.Timestamp("2024-03-01", tz="UTC") + pd.Timedelta(hours=h)
            for h in [*range(5), *range(14, 20)]
        ]
    )
    frame = candles(len(stamps), stamps)
    out = rationale.run_rules(frame, context("12h").with_upstream(alpha=buys(stamps, [0, 2, 5, 7])))
    trades = out["base_rate_trades"].to_numpy()
    assert trades[5] == 1  # bar 2 (12 h back) counts, bar 0 (14 h back) does not
    assert trades[7] == 1  # bar 5 (2 h back); bar 2 is now 14 h back


def test_a_setup_counts_only_once_resolved() -> None:
    frame = candles(12)
    # the BUY at bar 0 cannot reach its target (200) and expires after 4 bars, at bar 4
    alpha = buys(frame.index, [0, 2, 3, 4, 11], stop=50.0, target=200.0)
    out = rationale.run_rules(frame, context("30d", horizon=4).with_upstream(alpha=alpha))
    trades = out["base_rate_trades"].to_numpy()
    assert trades[2] == 0 and trades[3] == 0
    assert trades[4] == 1 and out["base_rate_expired"].iloc[4] == 1
    assert trades[11] == 4  # bars 0, 2, 3 expired by bar 7; 4 by bar 8


def reference(
    stamps: np.ndarray,
    history: np.ndarray,
    groups: np.ndarray,
    resolution: np.ndarray,
    result: np.ndarray,
    lookback: int,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Trades per bar by the definition, one bar and one setup at a time (or the sum of their
    ``weights``)."""
    n = len(groups)
    counts = np.zeros(n, dtype=np.int64 if weights is None else np.float64)
    for t in range(n):
        if groups[t] < 0:
            continue
        for s in range(n):
            done = result[s] in (WIN, LOSS, EXPIRED) and resolution[s] <= t
            recent = stamps[t] - stamps[s] <= lookback
            if history[s] == groups[t] and done and recent:
                counts[t] += 1 if weights is None else weights[s]
    return counts


@hsettings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    horizon=st.integers(1, 12),
    lookback_h=st.integers(1, 60),
)
def test_counts_match_the_definition(seed: int, horizon: int, lookback_h: int) -> None:
    rng = np.random.default_rng(seed)
    n = 80
    hours = np.cumsum(rng.integers(1, 4, n))  # gaps of up to 2 missing bars
    stamps = pd.DatetimeIndex(
        pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(hours, unit="h")
    )
    close = 100 + np.cumsum(rng.normal(0, 1, n))
    open_ = np.r_[100.0, close[:-1]] + rng.normal(0, 1, n)  # gaps from the previous close
    frame = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + rng.uniform(0, 2, n),
            "low": np.minimum(open_, close) - rng.uniform(0, 2, n),
            "close": close,
            "volume": 1.0,
        },
        index=stamps,
    )
    frame.iloc[rng.integers(0, n, 3), :4] = np.nan  # missing bars: skipped by the positions
    close = frame["close"].to_numpy()
    side = rng.choice(["BUY", "SELL", "HOLD", "HOLD"], n)
    alpha = buys(stamps, [])
    alpha["action"] = side
    trade = side != "HOLD"
    sign = np.where(side == "BUY", 1.0, -1.0)
    alpha["entry"] = np.where(trade, close, np.nan)
    alpha["stop"] = np.where(trade, close - sign * rng.uniform(0.5, 3, n), np.nan)
    alpha["target"] = np.where(trade, close + sign * rng.uniform(0.5, 6, n), np.nan)
    alpha["setup"] = np.where(trade, rng.choice(["mean_reversion", "trend_following"], n), None)
    out = rationale.run_rules(frame, context(f"{lookback_h}h", horizon).with_upstream(alpha=alpha))

    direction = np.where(trade, sign, 0).astype(np.int64)
    codes, _ = pd.factorize(alpha["setup"].to_numpy(dtype=object), use_na_sentinel=False)
    # The reward/risk bucket by the default edges 3, 4, 6 (NaN prices: a bucket of their own).
    stop, target = alpha["stop"].to_numpy(), alpha["target"].to_numpy()
    with np.errstate(invalid="ignore"):
        rr = np.abs(target - close) / np.abs(close - stop)
        bucket = np.where(np.isfinite(rr), (rr[:, None] >= [3.0, 4.0, 6.0]).sum(axis=1), 9)
    groups = np.where(direction != 0, (codes * 2 + (direction > 0)) * 10 + bucket, -1)
    valid = rationale.valid_setups(close, direction, stop, target)
    # Each valid setup's outcome is its paper position's, followed one at a time (the bar
    # numbers stand in for the timestamps, so the exit "time" is the resolution bar), and
    # what it paid before costs in R of the planned risk |close - stop|.
    resolution, result = np.full(n, n), np.full(n, UNFILLED)
    paid = np.full(n, np.nan)
    ohlc = frame[["open", "high", "low", "close"]].to_numpy()
    for s in np.flatnonzero(valid):
        one = follow_arrays(
            "BUY" if direction[s] > 0 else "SELL",
            close[s],
            stop[s],
            target[s],
            1.0,
            np.arange(s + 1, n),
            ohlc[s + 1 :],
            expiry_bars=horizon,
        )
        if one.closed:
            assert one.exit_ts is not None
            assert one.exit_price is not None and one.fill_price is not None
            resolution[s], result[s] = (
                one.exit_ts,
                {"win": WIN, "loss": LOSS}.get(one.status, EXPIRED),
            )
            paid[s] = direction[s] * (one.exit_price - one.fill_price) / abs(close[s] - stop[s])
    history = np.where(valid, groups, -1)
    lookback = lookback_h * HOUR * 1_000_000
    ns = stamps.as_unit("ns").asi8
    expected = reference(ns, history, groups, resolution, result, lookback)
    assert out["base_rate_trades"].tolist() == expected.tolist()
    labels = np.array(["<3R", "3-4R", "4-6R", ">=6R", *[None] * 6], dtype=object)
    assert (
        out["base_rate_bucket"][direction != 0].tolist() == labels[bucket[direction != 0]].tolist()
    )
    outcomes = ((WIN, "win"), (LOSS, "loss"), (EXPIRED, "expired"))
    for outcome, column in ((code, f"base_rate_{name}_r") for code, name in outcomes):
        only = np.where(result == outcome, result, UNFILLED)
        count = reference(ns, history, groups, resolution, only, lookback)
        total = reference(ns, history, groups, resolution, only, lookback, paid)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / count, np.nan)
        np.testing.assert_allclose(out[column].to_numpy(), mean, atol=1e-6)


def test_a_shorter_lookback_counts_fewer_setups() -> None:
    frame = candles(200)
    alpha = buys(frame.index, list(range(0, 199, 3)))
    ten_days = rationale.run_rules(frame, context("10d").with_upstream(alpha=alpha))[
        "base_rate_trades"
    ]
    week = rationale.run_rules(frame, context("7d").with_upstream(alpha=alpha))["base_rate_trades"]
    day = rationale.run_rules(frame, context("1d").with_upstream(alpha=alpha))["base_rate_trades"]
    # at bar 198: the setups at 0, 3, .. 195 are resolved; 7 days back is bar 30, 1 day bar 174
    assert (ten_days.iloc[198], week.iloc[198], day.iloc[198]) == (66, 56, 8)


@pytest.mark.parametrize("index", ["range", "unordered"])
def test_bars_without_time_order_abstain(index: str) -> None:
    frame = candles(6)
    alpha = buys(frame.index, [0, 3])
    if index == "range":
        frame.index = pd.RangeIndex(6)
        alpha.index = frame.index
        reason = "data quality: bars are not timestamps"
    else:
        frame.index = frame.index[[0, 2, 1, 3, 4, 5]]
        alpha.index = frame.index
        reason = "data quality: bars are not in time order"
    out = rationale.run_rules(frame, context("30d").with_upstream(alpha=alpha))
    assert out["abstained"].all() and set(out["abstain_reason"]) == {reason}


def test_a_pass_keeping_some_rows_gives_the_same_decisions_and_views(
    inputs: MarketInputs, history: History
) -> None:
    settings = small()
    kept = compute_history(inputs, settings, keep=lambda d: d["approved"].to_numpy(dtype=bool))
    assert kept.compact and not history.compact
    assert len(kept) == len(history) and list(kept.index) == list(history.index)
    assert kept.decided is not None and history.decided is not None
    pd.testing.assert_frame_equal(kept.decided, history.decided)
    approved = np.flatnonzero(history.decided["approved"].to_numpy(dtype=bool))
    assert len(approved) > 0
    for i in approved.tolist():
        assert kept.views_at(i) == history.views_at(i)
    # Each part keeps features and agent frames at its approved rows only.
    assert sum(len(p.output.features) for p in kept.parts) == len(approved)
    assert all(
        len(f) == len(p.output.features) for p in kept.parts for f in p.output.frames.values()
    )
    rejected = int(np.flatnonzero(~history.decided["approved"].to_numpy(dtype=bool))[0])
    with pytest.raises(KeyError, match="was not kept"):
        kept.views_at(rejected)
    for whole in ("features", "frames"):
        with pytest.raises(ValueError, match="kept features and agent frames at some rows"):
            getattr(kept, whole)
