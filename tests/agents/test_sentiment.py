"""Sentiment agent and the Fear & Greed client: composite, stances, config, index, hostile input."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import vcr
from hypothesis import given, settings

from hmas.agents import sentiment
from hmas.data.feargreed import FearGreedClient, parse_index, request_params
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

CASSETTES = Path(__file__).parent / "cassettes"
replay = vcr.VCR(cassette_library_dir=str(CASSETTES), record_mode="none")
URL = "https://api.alternative.me/fng/"
# The example answer of the API's documentation.
DOC_EXAMPLE = {
    "name": "Fear and Greed Index",
    "data": [
        {
            "value": "40",
            "value_classification": "Fear",
            "timestamp": "1551157200",
            "time_until_update": "68499",
        }
    ],
    "metadata": {"error": None},
}


def market(kind: str, n: int = 150, seed: int = 0) -> pd.DataFrame:
    """A quiet market that ends in a 20-bar ``rally`` or ``crash`` on heavy volume."""
    rng = np.random.default_rng(seed)
    close = 100 + rng.normal(0, 0.5, n)
    vol = 0.5 + rng.normal(0, 0.05, n)
    volume_z = rng.normal(0, 1, n)
    move = np.linspace(0, 15, 20)
    if kind == "rally":
        close[-20:] = 102 + move
        vol[-20:] = 0.2
    else:
        close[-20:] = 98 - move
        vol[-20:] = 1.5
    volume_z[-20:] = 3.0
    frame = neutral_features(n)
    frame["close"], frame["realized_vol"], frame["volume_z"] = close, vol, volume_z
    return frame


def last_view(
    frame: pd.DataFrame, s: Settings | None = None, **ctx: Any
) -> sentiment.SentimentView:
    """The sentiment view of the last bar of ``frame``."""
    return sentiment.view_at(sentiment.run_rules(frame, context(s, **ctx)), -1)


def test_rally_is_extreme_greed_to_fade() -> None:
    view = last_view(market("rally"))
    assert view.score is not None and view.score >= 80
    assert (view.bias, view.contrarian_bias, view.recommended_stance) == (
        "bullish",
        "bearish",
        "fade",
    )
    assert view.confidence > 0.6
    assert len(view.sources) == 4
    assert view.fear_greed_index is None


def test_crash_is_extreme_fear_to_fade() -> None:
    view = last_view(market("crash"))
    assert view.score is not None and view.score <= 20
    assert (view.bias, view.contrarian_bias, view.recommended_stance) == (
        "bearish",
        "bullish",
        "fade",
    )


def test_constant_market_is_neutral() -> None:
    view = last_view(neutral_features(100))
    assert view.score == pytest.approx(50.0)
    assert (view.bias, view.contrarian_bias, view.recommended_stance) == ("neutral",) * 3
    assert view.confidence == 0.0


def test_thresholds_from_config() -> None:
    s = Settings(sentiment={"extreme_greed": 99.5})
    view = last_view(market("rally"), s)
    assert (view.contrarian_bias, view.recommended_stance) == ("neutral", "follow")
    s = Settings(sentiment={"extreme_greed": 99.5, "greed": 99.0})
    assert last_view(market("rally"), s).recommended_stance == "neutral"


def test_lookback_from_config() -> None:
    frame = market("rally", n=60)
    assert not last_view(frame).abstained  # 60 bars fill half of the 90-bar window
    view = last_view(frame.iloc[-40:], Settings(sentiment={"lookback": 100}))
    assert view.abstained
    assert not last_view(frame.iloc[-40:], Settings(sentiment={"lookback": 40})).abstained


def test_missing_sub_scores_and_min_components() -> None:
    frame = market("rally").drop(columns=["realized_vol", "volume_z"])
    view = last_view(frame)
    assert view.abstained
    assert view.abstain_reason == (
        "data quality: volatility_score unavailable, volume_score unavailable"
    )
    view = last_view(frame, Settings(sentiment={"min_components": 2}))
    assert not view.abstained
    assert len(view.sources) == 2
    assert "not used: volatility_score unavailable, volume_score unavailable" in view.notes


def test_zero_price_abstains() -> None:
    frame = market("rally")
    frame.loc[frame.index[-1], "close"] = 0.0
    view = last_view(frame)
    assert view.abstained
    assert view.abstain_reason is not None
    assert view.abstain_reason.startswith("data quality: close missing or not positive")
    assert (view.score, view.bias) == (None, "neutral")


def test_news_is_null_and_said_so() -> None:
    view = last_view(market("rally"))
    assert view.news_summary is None
    assert view.news_count is None
    assert sentiment.NO_NEWS_NOTE in view.notes
    # a view without a news source is stored as before news_count existed
    assert "news_count" not in view.model_dump(mode="json")


@pytest.mark.parametrize("count", [0, 3])
def test_with_a_news_source_the_rules_count_the_headlines_and_do_not_read_them(
    count: int,
) -> None:
    from hmas.decision.news import with_news_count

    frame = market("rally")
    out = sentiment.run_rules(frame, context())
    plain = sentiment.view_at(out, len(out) - 1)
    view = sentiment.view_at(with_news_count(out, {len(out) - 1: count}), len(out) - 1)
    assert (view.news_count, view.news_summary) == (count, None)
    assert view.notes[0] == (
        f"news_summary is null: {count} headline(s) in the news window, and the rules engine "
        "does not read headlines"
    )
    assert sentiment.NO_NEWS_NOTE not in view.notes
    assert view.model_dump(mode="json")["news_count"] == count
    # the reading itself is the same: the rules do not read text
    same = {"news_count", "notes"}
    assert view.model_dump(exclude=same) == plain.model_dump(exclude=same)
    assert view.notes[1:] == plain.notes[1:]
    # a row not given a count says there is no source
    assert sentiment.view_at(with_news_count(out, {0: 1}), len(out) - 1).news_count is None


def test_shown_views_say_news_count_is_null_without_a_source() -> None:
    from hmas.agents.registry import shown

    stored = {"sentiment": last_view(market("rally")).model_dump(mode="json")}
    assert "news_count" not in stored["sentiment"]
    assert shown(stored)["sentiment"]["news_count"] is None
    failed = {"sentiment": {"agent": "sentiment", "abstained": True, "abstain_reason": "x"}}
    assert shown(failed) == failed  # an agent that failed whole has no fields to show


def test_rolling_percentile() -> None:
    np.testing.assert_allclose(sentiment.rolling_percentile(np.full(20, 3.0), 10)[5:], 50.0)
    rising = sentiment.rolling_percentile(np.arange(20.0), 10)
    assert np.isnan(rising[3])  # fewer than half the window
    assert rising[-1] == pytest.approx(95.0)  # the top of 10 distinct values
    values = np.arange(20.0)
    values[12] = np.nan
    pct = sentiment.rolling_percentile(values, 10)
    assert np.isnan(pct[12])
    assert pct[13] == pytest.approx(8.5 / 9 * 100)  # top of 9 valid values


# --- the public Fear & Greed index in the view ----------------------------------------------


def index_settings() -> Settings:
    """Settings with the public index switched on."""
    return Settings(sentiment={"use_fear_greed_index": True})


def test_index_value_of_the_bars_day_is_averaged_in() -> None:
    frame = market("rally")
    days = pd.DatetimeIndex(["2024-03-06", "2024-03-07"], tz="UTC")
    index = pd.Series([10, 30], index=days)
    base = last_view(frame)
    view = last_view(frame, index_settings(), fear_greed=index)
    day = frame.index[-1].floor("D")
    expected = int(index[day])
    assert view.fear_greed_index == expected
    assert base.score is not None
    assert view.score == pytest.approx((base.score + expected) / 2)
    assert sentiment.FEAR_GREED_SOURCE in view.sources


def test_index_is_ignored_when_switched_off() -> None:
    frame = market("rally")
    index = pd.Series([10], index=pd.DatetimeIndex([frame.index[-1].floor("D")]))
    view = last_view(frame, fear_greed=index)
    assert view.fear_greed_index is None
    assert sentiment.FEAR_GREED_SOURCE not in view.sources


def test_unavailable_index_is_noted() -> None:
    frame = market("rally")
    error = "HTTPStatusError: 503 Service Unavailable"
    view = last_view(frame, index_settings(), fear_greed_error=error)
    assert not view.abstained
    assert "fear & greed index unavailable: HTTPStatusError: 503 Service Unavailable" in view.notes
    stale = pd.Series([50], index=pd.DatetimeIndex(["2020-01-01"], tz="UTC"))
    view = last_view(frame, index_settings(), fear_greed=stale)
    assert "fear & greed index unavailable: no value for the bar's UTC day" in view.notes


# --- the Fear & Greed client ------------------------------------------------------------------


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """The client's cache directory (created by the client on first write)."""
    return tmp_path / "fear-greed-cache"


def test_request_and_documented_example() -> None:
    assert request_params(10) == {"limit": "10", "format": "json"}
    series = parse_index(DOC_EXAMPLE)
    assert series.to_dict() == {pd.Timestamp("2019-02-26", tz="UTC"): 40}


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"data": []},
        {"data": [{"value": "x", "timestamp": "1"}]},
        {"data": [{"value": "140", "timestamp": "1"}]},
        {"data": [{"timestamp": "1"}]},
        {"data": DOC_EXAMPLE["data"], "metadata": {"error": "bad limit"}},
    ],
)
def test_malformed_answers_are_rejected(payload: Any) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_index(payload)


def test_cassette_is_parsed_oldest_first(cache: Path) -> None:
    with replay.use_cassette("fear_greed.yaml") as cassette:
        series = FearGreedClient(URL, cache_dir=cache).history(limit=10)
    assert cassette.play_count == 1
    assert series is not None
    assert len(series) == 10
    assert series.index[0] == pd.Timestamp("2024-03-01", tz="UTC")
    assert (series.iloc[0], series.iloc[-1]) == (71, 40)
    assert series.index.is_monotonic_increasing


def test_second_call_of_the_day_reads_the_cache(cache: Path) -> None:
    today = date(2024, 3, 10)
    with replay.use_cassette("fear_greed.yaml") as cassette:
        first = FearGreedClient(URL, cache_dir=cache, today=lambda: today).history(10)
        again = FearGreedClient(URL, cache_dir=cache, today=lambda: today).history(10)
    assert cassette.play_count == 1
    assert first is not None and again is not None
    pd.testing.assert_series_equal(first, again)
    assert (cache / "fear_greed-2024-03-10-10.json").is_file()


class Counting:
    """An httpx transport answering with a fixed handler and counting the requests."""

    def __init__(self, handler: Any) -> None:
        self.calls = 0
        self.handler = handler

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        result: httpx.Response = self.handler(request)
        return result


def client_with(handler: Any) -> tuple[httpx.Client, Counting]:
    """An httpx client on a counting mock transport."""
    counting = Counting(handler)
    return httpx.Client(transport=httpx.MockTransport(counting)), counting


def test_a_new_day_fetches_again_and_prunes_the_old_file(cache: Path) -> None:
    http, counting = client_with(lambda r: httpx.Response(200, json=DOC_EXAMPLE))
    day = [date(2024, 3, 9)]
    fg = FearGreedClient(URL, cache_dir=cache, client=http, today=lambda: day[0])
    assert fg.history(1) is not None
    assert fg.history(1) is not None
    assert counting.calls == 1
    day[0] = date(2024, 3, 10)
    assert fg.history(1) is not None
    assert counting.calls == 2
    assert [p.name for p in cache.iterdir()] == ["fear_greed-2024-03-10-1.json"]


def test_error_response_returns_none(cache: Path) -> None:
    with replay.use_cassette("fear_greed_error.yaml"):
        fg = FearGreedClient(URL, cache_dir=cache)
        assert fg.history(10) is None
        assert fg.last_error is not None and "503" in fg.last_error
        assert fg.history(7) is None
        assert fg.last_error is not None and "reports an error" in fg.last_error
    assert not cache.exists()  # failures are not cached


@pytest.mark.parametrize(
    "handler",
    [
        lambda r: httpx.Response(200, text="not json"),
        lambda r: httpx.Response(429, text="slow down"),
        lambda r: (_ for _ in ()).throw(httpx.ConnectError("down", request=r)),
        lambda r: (_ for _ in ()).throw(httpx.ReadTimeout("slow", request=r)),
    ],
)
def test_any_failure_returns_none(handler: Any) -> None:
    http, counting = client_with(handler)
    fg = FearGreedClient(URL, client=http)
    assert fg.history(3) is None
    assert fg.last_error
    assert counting.calls == 1


def test_corrupt_cache_is_fetched_again(cache: Path) -> None:
    today = date(2024, 3, 10)
    cache.mkdir()
    (cache / "fear_greed-2024-03-10-1.json").write_text("{not json")
    http, counting = client_with(lambda r: httpx.Response(200, json=DOC_EXAMPLE))
    fg = FearGreedClient(URL, cache_dir=cache, client=http, today=lambda: today)
    assert fg.history(1) is not None
    assert counting.calls == 1
    assert json.loads((cache / "fear_greed-2024-03-10-1.json").read_text()) == DOC_EXAMPLE


def test_client_history_feeds_the_view(cache: Path) -> None:
    with replay.use_cassette("fear_greed.yaml"):
        series = FearGreedClient(URL, cache_dir=cache).history(limit=10)
    frame = market("rally")  # hourly bars from 2024-03-01 00:00 to 2024-03-07 05:00
    view = last_view(frame, index_settings(), fear_greed=series)
    assert view.fear_greed_index == 22  # 2024-03-07
    assert sentiment.FEAR_GREED_SOURCE in view.sources


# --- hostile input, causality, round trips ----------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(hostile_frames())
def test_hostile_frames_never_raise(frame: pd.DataFrame) -> None:
    out = sentiment.run_rules(frame, context(Settings(sentiment={"lookback": 10})))
    assert len(out) == len(frame)
    numbers = out.select_dtypes("number").to_numpy(dtype=np.float64)
    assert not np.isinf(numbers).any()
    for i in range(len(out)):
        view = sentiment.view_at(out, i)
        if view.abstained:
            assert view.abstain_reason is not None
            assert view.abstain_reason.startswith("data quality: ")
            assert view.score is None


def test_every_row_round_trips() -> None:
    out = sentiment.run_rules(random_features(2), context())
    assert {"bullish", "bearish", "neutral"} <= set(out["bias"])
    for i in range(len(out)):
        view = sentiment.view_at(out, i)
        assert sentiment.SentimentView.model_validate(view.model_dump()) == view


def test_fixture_btc_slice() -> None:
    if not FIXTURE.exists():
        pytest.skip(f"needs the committed fixture {FIXTURE}")
    from hmas.indicators.features import compute_features

    out = sentiment.run_rules(compute_features(fixture_candles()), context())
    view = sentiment.view_at(out, -1)
    assert not view.abstained
    assert view.score is not None and 0 <= view.score <= 100


def test_real_btc_history(shared_data: Path) -> None:
    from hmas.indicators.features import compute_features

    features = compute_features(shared_btc_candles())
    out = sentiment.run_rules(features, context())
    assert set(out["recommended_stance"]) == {"follow", "fade", "neutral"}
    live = out[~out["abstained"]]
    assert live["score"].between(0, 100).all()
    rng = np.random.default_rng(5)
    for cut in rng.integers(100, len(features), 4):
        part = sentiment.run_rules(features.iloc[:cut], context())
        pd.testing.assert_frame_equal(part, out.iloc[:cut])
