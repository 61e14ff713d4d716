"""Macro agent: regime, volatility regimes, sessions, correlations, causality, hostile input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hmas.agents import macro
from hmas.agents.base import AgentContext
from hmas.settings import Settings
from tests.agents.frames import hourly_index


def make_settings(**macro_params: Any) -> Settings:
    """Settings with short macro windows so hand-made frames stay small."""
    params = {
        "vol_lookback": 20,
        "vol_min_periods": 5,
        "corr_window": 10,
        "trend_window": 10,
        **macro_params,
    }
    return Settings(macro=params)


def ctx(symbol: str = "ETH-USD", timeframe: str = "1h", **kwargs: Any) -> AgentContext:
    """A context for ``symbol`` with the short-window settings."""
    settings = kwargs.pop("settings", None) or make_settings()
    return AgentContext(
        settings=settings, symbol=symbol, exchange="coinbase", timeframe=timeframe, **kwargs
    )


def frame(
    close: float | np.ndarray,
    *,
    n: int = 30,
    sma: float = 100.0,
    ema: float = 100.0,
    vol: np.ndarray | None = None,
) -> pd.DataFrame:
    """A feature frame with the columns macro reads."""
    closes = np.broadcast_to(np.asarray(close, dtype=float), (n,)).copy()
    return pd.DataFrame(
        {
            "open": closes,
            "high": closes * 1.01,
            "low": closes * 0.99,
            "close": closes,
            "volume": np.full(n, 10.0),
            "sma_200": np.full(n, sma),
            "ema_20": np.full(n, ema),
            "realized_vol": np.linspace(0.5, 0.9, n) if vol is None else vol,
        },
        index=hourly_index(n),
    )


RISING = np.linspace(0.5, 0.9, 30)  # the last value is the window's highest: percentile 1
FALLING = np.linspace(0.9, 0.5, 30)  # the last value is the window's lowest: percentile 1/20


def last_view(features: pd.DataFrame, context: AgentContext) -> macro.MacroView:
    """The view of the last bar."""
    return macro.view_at(macro.run_rules(features, context), -1)


# --- regime: the market's, never the symbol's own chart ----------------------------------

UP = np.linspace(90.0, 110.0, 30)  # the last close is above its 10-bar average
DOWN = UP[::-1].copy()  # below it


def test_risk_on_when_most_of_the_market_is_above_its_average_and_the_benchmark_calm() -> None:
    bench = frame(UP, vol=FALLING)
    view = last_view(frame(50.0), ctx(benchmark=bench))
    assert (view.regime, view.tailwind) == ("risk_on", "long")
    assert (view.breadth, view.market_symbols) == (1.0, 1)
    assert view.benchmark_volatility_percentile == pytest.approx(1 / 20)
    assert "risk-on" in view.notes[0]
    assert view.notes[1] == "breadth 1.00 of 1 market symbol(s)"


def test_risk_off_when_most_of_the_market_is_below_its_average() -> None:
    view = last_view(frame(50.0), ctx(benchmark=frame(DOWN, vol=FALLING)))
    assert (view.regime, view.tailwind, view.breadth) == ("risk_off", "short", 0.0)


def test_the_symbols_own_chart_never_sets_the_regime() -> None:
    # The symbol falls hard while the market rises: the regime is the market's.
    own = frame(DOWN)
    universe = pd.DataFrame({"LTC-USD": UP, "XRP-USD": UP}, index=own.index)
    assert last_view(own, ctx(universe=universe)).regime == "risk_on"
    # The symbol listed in the universe (it is stored too) is not a member of its own market.
    alone = pd.DataFrame({"ETH-USD": UP}, index=own.index)
    view = last_view(own, ctx(universe=alone))
    assert (view.regime, view.market_symbols, view.breadth) == ("unknown", 0, None)


def test_the_benchmark_reads_the_rest_of_the_market() -> None:
    own = frame(UP, vol=FALLING)  # BTC itself rising and calm: not the market's read
    view = last_view(own, ctx(symbol="BTC-USD", benchmark=None))
    assert (view.regime, view.tailwind) == ("unknown", "none")
    assert view.notes[0].startswith("no market data beyond the symbol")
    universe = pd.DataFrame({"BTC-USD": UP, "ETH-USD": DOWN}, index=own.index)
    view = last_view(own, ctx(symbol="BTC-USD", universe=universe))
    assert (view.regime, view.market_symbols, view.breadth) == ("risk_off", 1, 0.0)


def test_breadth_counts_each_market_symbol_once() -> None:
    own = frame(50.0)
    bench = frame(UP, vol=FALLING)
    universe = pd.DataFrame(
        {"BTC-USD": UP, "LTC-USD": UP, "XRP-USD": DOWN, "ETH-USD": DOWN}, index=own.index
    )
    view = last_view(own, ctx(benchmark=bench, universe=universe))
    # BTC (the benchmark, once), LTC above; XRP below; ETH is the symbol itself.
    assert (view.market_symbols, view.breadth, view.regime) == (3, pytest.approx(2 / 3), "risk_on")


def test_a_split_market_is_neutral_and_a_close_at_its_average_is_neither_side() -> None:
    own = frame(50.0)
    split = pd.DataFrame({"LTC-USD": UP, "XRP-USD": DOWN}, index=own.index)
    view = last_view(own, ctx(universe=split))
    assert (view.regime, view.tailwind, view.breadth) == ("neutral", "none", 0.5)
    assert view.notes[0].startswith("the market split")
    flat = pd.DataFrame({"LTC-USD": np.full(30, 100.0), "XRP-USD": UP}, index=own.index)
    assert last_view(own, ctx(universe=flat)).regime == "neutral"  # 1 above, 1 at: no majority


def test_risk_off_on_a_benchmark_sell_off_under_high_volatility() -> None:
    bench = frame(UP, ema=115.0, vol=RISING)
    out = macro.run_rules(frame(50.0), ctx(benchmark=bench))
    assert out["regime"].iloc[-1] == "risk_off"
    assert out["regime_rule"].iloc[-1] == "benchmark_stress"


def test_neutral_when_the_market_rises_under_high_benchmark_volatility() -> None:
    bench = frame(UP, ema=105.0, vol=RISING)
    view = last_view(frame(50.0), ctx(benchmark=bench))
    assert (view.regime, view.tailwind) == ("neutral", "none")


def test_unknown_during_the_markets_warm_up() -> None:
    bench = frame(UP, vol=FALLING)
    out = macro.run_rules(frame(50.0), ctx(benchmark=bench))
    assert (out["regime"].iloc[:9] == "unknown").all()  # 10-bar averages from bar 9 on
    assert (out["regime_rule"].iloc[:9] == "market_warmup").all()
    assert out["regime"].iloc[9] == "risk_on"
    gap = bench.copy()
    gap.iloc[-3, gap.columns.get_loc("close")] = np.nan  # a gap: no full average for 10 bars
    assert last_view(frame(50.0), ctx(benchmark=gap)).regime == "unknown"


def test_a_market_symbol_without_candles_yet_is_no_market_then_a_warm_up() -> None:
    own = frame(50.0)
    listed = np.where(np.arange(30) >= 12, UP, np.nan)  # listed at bar 12
    out = macro.run_rules(own, ctx(universe=pd.DataFrame({"LTC-USD": listed}, index=own.index)))
    rules = out["regime_rule"].tolist()
    # Exactly as with no universe at all until it has a candle; then its average warms up.
    assert rules[:12] == macro.run_rules(own, ctx())["regime_rule"].tolist()[:12]
    assert set(rules[:12]) == {"no_market"} and set(rules[12:21]) == {"market_warmup"}
    assert rules[21] == "breadth_up" and (out["regime"].iloc[:21] == "unknown").all()


def test_unknown_without_any_other_symbol() -> None:
    view = last_view(frame(50.0), ctx())
    assert (view.regime, view.tailwind, view.breadth) == ("unknown", "none", None)
    assert view.correlation_btc is None
    assert view.notes[0].startswith("no market data beyond the symbol")


def test_high_vol_threshold_and_trend_window_come_from_settings() -> None:
    bench = frame(UP, vol=FALLING)
    context = ctx(benchmark=bench, settings=make_settings(high_vol_pct=0.01))
    # Percentile 1/20 >= 0.01 is "high"; close above EMA 20, so neutral rather than risk-off.
    assert last_view(frame(50.0), context).regime == "neutral"
    long = ctx(benchmark=bench, settings=make_settings(trend_window=40))
    assert last_view(frame(50.0), long).regime == "unknown"  # 30 bars: no 40-bar average


# --- volatility --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vol", "expected"),
    [(RISING, "high"), (FALLING, "low"), (np.full(30, 0.4), "normal")],
)
def test_volatility_regime(vol: np.ndarray, expected: str) -> None:
    view = last_view(frame(100.0, vol=vol), ctx())
    assert view.volatility_regime == expected


def test_volatility_percentile_matches_a_direct_rank() -> None:
    rng = np.random.default_rng(3)
    vol = rng.lognormal(0, 0.5, 200)
    vol[[10, 50]] = np.nan
    got = macro.volatility_percentile(vol, 30, 10)
    for t in range(len(vol)):
        window = vol[max(0, t - 29) : t + 1]
        window = window[np.isfinite(window)]
        if np.isnan(vol[t]) or len(window) < 10:
            assert np.isnan(got[t])
            continue
        below, equal = (window < vol[t]).sum(), (window == vol[t]).sum()
        assert got[t] == pytest.approx((below + (equal + 1) / 2) / len(window))


def test_volatility_percentile_unavailable_is_reported() -> None:
    view = last_view(frame(100.0, vol=np.full(30, np.nan)), ctx())
    assert view.volatility_percentile is None
    assert view.volatility_regime == "normal"
    assert "unavailable" in view.notes[1]


# --- sessions ----------------------------------------------------------------------------


def test_sessions_by_utc_hour() -> None:
    out = macro.run_rules(frame(100.0, n=24), ctx())
    expected = ["asia"] * 7 + ["london"] * 6 + ["new_york"] * 8 + ["off_hours"] * 3
    assert list(out["session"]) == expected


def test_sessions_convert_other_time_zones_and_daily_bars() -> None:
    f = frame(100.0, n=3)
    f.index = pd.DatetimeIndex(["2024-03-01 09:00"] * 1 + ["2024-03-01 16:00", "2024-03-01 23:00"])
    f.index = f.index.tz_localize("Asia/Tokyo")  # 00:00, 07:00, 14:00 UTC
    assert list(macro.run_rules(f, ctx())["session"]) == ["asia", "london", "new_york"]
    daily = frame(100.0, n=3)
    daily.index = pd.date_range("2024-03-01", periods=3, freq="D", tz="UTC")
    assert set(macro.run_rules(daily, ctx(timeframe="1d"))["session"]) == {"daily"}
    # An unknown timeframe string is judged by the bar spacing.
    assert set(macro.run_rules(daily, ctx(timeframe="1day"))["session"]) == {"daily"}


# --- correlations ------------------------------------------------------------------------


def correlated_pair(sign: float, n: int = 60) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two closes whose log returns share one shock (times ``sign``) plus a little noise."""
    rng = np.random.default_rng(11)
    shock = rng.normal(0, 0.01, n)
    own = 100 * np.exp(np.cumsum(sign * shock + rng.normal(0, 0.001, n)))
    other = 100 * np.exp(np.cumsum(shock))
    return frame(own, n=n), frame(other, n=n)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_correlation_with_benchmark_and_universe_has_the_right_sign(sign: float) -> None:
    own, bench = correlated_pair(sign)
    universe = pd.DataFrame(
        {"BTC-USD": bench["close"], "ETH-USD": own["close"], "LTC-USD": own["close"]},
        index=own.index,
    )
    view = last_view(own, ctx(benchmark=bench, universe=universe))
    assert view.correlation_btc is not None
    assert sign * view.correlation_btc > 0.9
    assert set(view.correlation_universe) == {"BTC-USD", "LTC-USD"}  # not the symbol itself
    assert view.correlation_universe["LTC-USD"] == pytest.approx(1.0)
    assert sign * view.correlation_universe["BTC-USD"] > 0.9


def test_correlation_with_btc_from_the_universe_when_no_benchmark_frame() -> None:
    own, bench = correlated_pair(1.0)
    universe = pd.DataFrame({"BTC-USD": bench["close"]}, index=own.index)
    view = last_view(own, ctx(universe=universe))
    assert view.correlation_btc is not None and view.correlation_btc > 0.9
    assert view.market_symbols == 1  # BTC's close from the universe is the market


def test_correlation_matches_numpy_on_each_window() -> None:
    own, bench = correlated_pair(1.0)
    out = macro.run_rules(own, ctx(benchmark=bench))
    r_own = np.diff(np.log(own["close"].to_numpy()))
    r_bench = np.diff(np.log(bench["close"].to_numpy()))
    for t in (10, 25, 59):
        window = slice(t - 10, t)  # returns r_{t-9} … r_t live at diff positions t-10 … t-1
        expected = np.corrcoef(r_own[window], r_bench[window])[0, 1]
        assert out["correlation_btc"].iloc[t] == pytest.approx(expected)
    assert out["correlation_btc"].iloc[:10].isna().all()


def test_daily_correlations_on_real_data(shared_data: Path) -> None:
    wide = pd.read_csv(shared_data / "ohlcv" / "bitstamp_btc_eth_ltc_usd_1d.csv", index_col=0)
    wide.index = pd.DatetimeIndex(pd.to_datetime(wide.index), name="ts").tz_localize("UTC")
    wide = wide.loc["2018-01-01":"2019-12-31"]
    eth = wide[[f"ETH:{c}" for c in ("open", "high", "low", "close", "volume")]]
    eth.columns = ["open", "high", "low", "close", "volume"]
    btc = wide[[f"BTC:{c}" for c in ("open", "high", "low", "close", "volume")]]
    btc.columns = eth.columns
    universe = pd.DataFrame({"BTC-USD": btc["close"], "LTC-USD": wide["LTC:close"]})
    context = ctx(timeframe="1d", benchmark=btc, universe=universe, settings=Settings())
    out = macro.run_rules(eth, context)
    # Crypto majors moved together in 2018-2019: strongly positive 30-day correlations.
    assert out["correlation_btc"].dropna().median() > 0.6
    assert out[macro.UNIVERSE_PREFIX + "LTC-USD"].dropna().median() > 0.6
    assert set(out["session"]) == {"daily"}
    # BTC and LTC are ETH's market: their 200-day averages need 200 days of the two years.
    assert (out["regime"].iloc[:199] == "unknown").all()
    assert set(out["regime"].iloc[199:]) <= {"risk_on", "risk_off", "neutral"}
    assert (out["market_symbols"].iloc[199:] == 2).all()


# --- causality and hostile input ---------------------------------------------------------


def hostile_frames() -> dict[str, pd.DataFrame]:
    """Feature frames no agent should raise on."""
    base = frame(100.0)
    nan = base.copy()
    nan.loc[:, :] = np.nan
    zeros = base.copy()
    zeros.loc[:, :] = 0.0
    mixed = base.copy()
    mixed.iloc[::3, :] = np.nan
    mixed.iloc[1::5, 3] = -1.0
    mixed.iloc[2, 7] = np.inf
    strings = base.copy().astype(object)
    strings.iloc[4, 3] = "oops"
    return {
        "empty": base.iloc[:0],
        "one row": base.iloc[:1],
        "all NaN": nan,
        "zeros": zeros,
        "constant": base,
        "mixed": mixed,
        "strings": strings,
        "no close": base.drop(columns=["close"]),
        "range index": base.reset_index(drop=True),
    }


@pytest.mark.parametrize("name", list(hostile_frames()))
@pytest.mark.parametrize("with_benchmark", [False, True])
def test_hostile_input_never_raises(name: str, with_benchmark: bool) -> None:
    features = hostile_frames()[name]
    bench = hostile_frames()["mixed"].iloc[::-1] if with_benchmark else None  # misaligned order
    universe = (
        pd.DataFrame([["a", 1.0, 2.0]] * 5, columns=["X-USD", "Y-USD", "Y-USD"])
        if with_benchmark
        else None
    )
    out = macro.run_rules(features, ctx(benchmark=bench, universe=universe))
    assert len(out) == len(features)
    assert out.index.equals(features.index)
    numeric = out.select_dtypes("number").to_numpy(dtype=float)
    assert not np.isinf(numeric).any()
    for i in range(len(out)):
        view = macro.view_at(out, i)
        assert isinstance(view, macro.MacroView)
        if view.abstained:
            assert view.abstain_reason is not None
            assert view.abstain_reason.startswith("data quality: ")


def test_missing_close_abstains_per_row() -> None:
    f = frame(100.0)
    f.iloc[5, f.columns.get_loc("close")] = 0.0
    out = macro.run_rules(f, ctx())
    assert out["abstained"].tolist() == [i == 5 for i in range(30)]
    view = macro.view_at(out, 5)
    assert view.regime == "unknown"
    assert view.abstain_reason == "data quality: missing or non-positive close"


def test_benchmark_with_duplicate_or_foreign_timestamps() -> None:
    bench = frame(UP, vol=FALLING)
    doubled = pd.concat([bench, bench.iloc[-2:]])
    assert last_view(frame(50.0), ctx(benchmark=doubled)).regime == "risk_on"
    naive = bench.copy()
    naive.index = naive.index.tz_localize(None)
    assert last_view(frame(50.0), ctx(benchmark=naive)).regime == "unknown"
