"""The ccxt wrapper: markets, timeframes, pagination, closed candles, retries, error messages.

Every HTTP exchange is replayed from tests/data/cassettes (record mode "none"), built by
build_cassettes.py from real Coinbase responses; see the README there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import ccxt
import pytest
from vcr.errors import CannotOverwriteExistingCassetteException

from hmas.data.exchange import ExchangeSource
from hmas.errors import (
    ExchangeError,
    ExchangeNetworkError,
    ExchangeRateLimitError,
    UnknownExchangeError,
    UnknownSymbolError,
    UnsupportedTimeframeError,
)
from tests.data.conftest import EXCHANGE_VCR

Replay = Callable[[str], AbstractContextManager[Any]]

HOUR = 3_600_000
T0 = 1_571_270_400_000  # 2019-10-17 00:00 UTC
AT_0920 = T0 + 9 * HOUR + 20 * 60_000  # 09:00 is still open, 08:00 the last closed hour
# Coinbase BTC/USD, 2019-10-17 00:00..08:00 ([ms, open, high, low, close, volume]), from
# ../shared/data/ohlcv/coinbase_btc_usd_1h.csv via the cassettes.
HOURS = [
    [T0 + 0 * HOUR, 7993.54, 7995.81, 7957.55, 7966.43, 198.66],
    [T0 + 1 * HOUR, 7966.43, 7977.48, 7959.74, 7960.0, 166.35],
    [T0 + 2 * HOUR, 7960.0, 7989.62, 7959.74, 7986.62, 93.28],
    [T0 + 3 * HOUR, 7986.62, 7988.54, 7965.61, 7970.19, 100.9],
    [T0 + 4 * HOUR, 7970.19, 7973.23, 7937.5, 7941.71, 147.9],
    [T0 + 5 * HOUR, 7941.71, 7986.99, 7937.01, 7984.02, 97.26],
    [T0 + 6 * HOUR, 7984.02, 7993.97, 7958.29, 7964.62, 212.35],
    [T0 + 7 * HOUR, 7964.62, 7987.82, 7964.61, 7975.89, 121.68],
    [T0 + 8 * HOUR, 7975.89, 8070.0, 7975.89, 8051.0, 370.45],
]

EXCHANGES = ["coinbase", "coinbaseexchange"]


def make(exchange_id: str, now: int = AT_0920, **kw: Any) -> tuple[ExchangeSource, list[float]]:
    """A source with a fixed clock, no rate limiter and a sleep that only records delays."""
    sleeps: list[float] = []
    source = ExchangeSource(
        exchange_id, rate_limit=False, sleep=sleeps.append, now_ms=lambda: now, **kw
    )
    return source, sleeps


def test_replays_are_offline_only() -> None:
    assert EXCHANGE_VCR.record_mode == "none"
    assert list(EXCHANGE_VCR.match_on) == ["method", "scheme", "host", "path", "query"]


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_a_request_missing_from_the_cassette_fails(exchange_id: str, replay: Replay) -> None:
    source, _ = make(exchange_id)
    with replay(f"{exchange_id}_markets"), pytest.raises(CannotOverwriteExistingCassetteException):
        list(source.fetch("BTC-USD", "1h", since_ms=T0, until_ms=T0))


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_markets_map_symbols_and_suggest(exchange_id: str, replay: Replay) -> None:
    source, _ = make(exchange_id)
    with replay(f"{exchange_id}_markets"):  # one load_markets serves every check
        assert source.check_market("BTC-USD") == "BTC/USD"
        assert source.check_market("btc/usdt") == "BTC/USDT"
        with pytest.raises(UnknownSymbolError) as eth:
            source.check_market("ETH-USD")
        with pytest.raises(UnknownSymbolError) as eur:
            source.check_market("BTC-EUR")
        with pytest.raises(UnknownSymbolError) as xyz:
            source.check_market("XYZ-USD")
    assert str(eth.value) == f"{exchange_id} lists no ETH-USD market; ETH trades there as ETH-USDT"
    # Only spot markets are offered: coinbase's BTC perpetual and future are left out.
    btc = "BTC-USD, BTC-USDC, BTC-USDT" if exchange_id == "coinbase" else "BTC-USD, BTC-USDT"
    assert str(eur.value) == f"{exchange_id} lists no BTC-EUR market; BTC trades there as {btc}"
    assert str(xyz.value) == (
        f"{exchange_id} lists no XYZ-USD market, and no market for XYZ at all; check the symbol"
    )
    assert eur.value.exit_code == 2


def test_timeframes() -> None:
    coinbase, _ = make("coinbase")
    coinbase.check_timeframe("1h")
    with pytest.raises(UnsupportedTimeframeError) as no_4h:
        coinbase.check_timeframe("4h")
    assert str(no_4h.value) == (
        "coinbase has no 4h candles; use one of 1m, 5m, 15m, 30m, 1h, 2h, 6h, 1d"
    )
    exchange, _ = make("coinbaseexchange")
    with pytest.raises(UnsupportedTimeframeError) as no_2h:
        exchange.check_timeframe("2h")
    assert str(no_2h.value) == (
        "coinbaseexchange has no 2h candles; use one of 1m, 5m, 15m, 1h, 6h, 1d"
    )
    with pytest.raises(UnsupportedTimeframeError, match=r"^unsupported timeframe '3m'; use one"):
        exchange.check_timeframe("3m")  # unknown to hmas, whatever the exchange says


def test_unknown_exchange_suggests_close_ids() -> None:
    with pytest.raises(UnknownExchangeError) as err:
        ExchangeSource("coinbse")
    assert str(err.value) == "unknown exchange 'coinbse'; did you mean coinbase, coinsph, coinone?"
    with pytest.raises(UnknownExchangeError, match=r"^unknown exchange 'zzzz'; see ccxt's list"):
        ExchangeSource("zzzz")


def test_exchange_is_created_lazily_with_settings() -> None:
    source = ExchangeSource("Coinbase", timeout_seconds=12.5)
    assert source._exchange is None and source.exchange_id == "coinbase"
    assert source.exchange.enableRateLimit is True and source.exchange.timeout == 12_500
    assert source.page_limit == 300
    quiet, _ = make("coinbaseexchange")
    assert quiet.exchange.enableRateLimit is False  # tests never sleep in ccxt's throttle
    assert ExchangeSource("kraken").page_limit == 720  # from ccxt's features


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_multi_page_fetch_yields_closed_candles_in_order(exchange_id: str, replay: Replay) -> None:
    source, _ = make(exchange_id, page_limit=4)
    with replay(f"{exchange_id}_pages"):
        # Asked up to 12:00, at 09:20: the 09:00 candle the third page carries is still open.
        pages = list(source.fetch("BTC-USD", "1h", since_ms=T0, until_ms=T0 + 12 * HOUR))
    assert [len(p) for p in pages] == [4, 4, 1]
    assert [row for page in pages for row in page] == HOURS


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_incremental_fetch_returns_only_newer_candles(exchange_id: str, replay: Replay) -> None:
    with replay(f"{exchange_id}_incremental"):
        first, _ = make(exchange_id, now=T0 + 6 * HOUR + 20 * 60_000, page_limit=3)
        early = [
            r for p in first.fetch("BTC-USD", "1h", since_ms=T0, until_ms=T0 + 5 * HOUR) for r in p
        ]
        later, _ = make(exchange_id, page_limit=3)
        resume = int(early[-1][0]) + HOUR
        late = [
            r
            for p in later.fetch("BTC-USD", "1h", since_ms=resume, until_ms=T0 + 8 * HOUR)
            for r in p
        ]
    assert early == HOURS[:6]
    assert late == HOURS[6:]


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_rate_limit_is_retried_with_backoff(
    exchange_id: str, replay: Replay, caplog: pytest.LogCaptureFixture
) -> None:
    source, sleeps = make(exchange_id)
    with replay(f"{exchange_id}_rate_limited"), caplog.at_level(logging.WARNING):
        pages = list(source.fetch("BTC-USD", "1h", since_ms=T0, until_ms=T0 + 2 * HOUR))
    assert pages == [HOURS[:3]]
    assert sleeps == [1.0, 2.0]
    assert [r.getMessage() for r in caplog.records] == [
        f"{exchange_id}: fetching BTC-USD 1h candles failed (HTTP 429); retry 1 of 4 in 1.0 s",
        f"{exchange_id}: fetching BTC-USD 1h candles failed (HTTP 429); retry 2 of 4 in 2.0 s",
    ]


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_server_errors_past_the_retries_raise(exchange_id: str, replay: Replay) -> None:
    # coinbase's 500 carries a JSON error that ccxt raises as a plain ExchangeError; it is still
    # retried because the status was 500. coinbaseexchange's comes as ExchangeNotAvailable.
    source, sleeps = make(exchange_id, retries=2, backoff_seconds=0.5)
    with replay(f"{exchange_id}_server_error"), pytest.raises(ExchangeNetworkError) as err:
        list(source.fetch("BTC-USD", "1h", since_ms=T0, until_ms=T0 + 2 * HOUR))
    assert str(err.value) == (
        f"{exchange_id}: fetching BTC-USD 1h candles failed after 3 attempts (HTTP 500); "
        "check your connection or try again later"
    )
    assert not isinstance(err.value, ExchangeRateLimitError)
    assert isinstance(err.value.__cause__, ccxt.BaseError)
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_real_fixture_hour_keeps_ohlc_order(exchange_id: str, replay: Replay) -> None:
    # ccxt's own fixture: the wire row [time, LOW, HIGH, OPEN, CLOSE, volume] parses to this.
    hour = 1_710_327_600_000
    source, _ = make(exchange_id, now=hour + HOUR)
    with replay(f"{exchange_id}_real_hour"):
        pages = list(source.fetch("BTC-USDT", "1h", since_ms=hour, until_ms=hour))
    assert pages == [[[hour, 73243.33, 73402.47, 73241.5, 73370.65, 1.56794406]]]


# --- paging logic and error translation against a stub exchange (no HTTP at all) ------------


class StubExchange:
    """Just enough of a ccxt exchange: canned pages, or errors to raise first."""

    timeframes: ClassVar[dict[str, str]] = {"1h": "ONE_HOUR"}

    def __init__(self, pages: list[list[list[float]]], errors: list[Exception] | None = None):
        self.pages = pages
        self.errors = errors or []
        self.calls: list[tuple[str, str, int, int]] = []

    def load_markets(self) -> dict[str, Any]:
        if self.errors:
            raise self.errors.pop(0)
        return {"BTC/USD": {"base": "BTC", "spot": True}}

    def fetch_ohlcv(self, symbol: str, timeframe: str, since: int, limit: int) -> list[list[float]]:
        self.calls.append((symbol, timeframe, since, limit))
        return self.pages.pop(0) if self.pages else []


def stubbed(stub: StubExchange, **kw: Any) -> tuple[ExchangeSource, list[float]]:
    source, sleeps = make("coinbase", page_limit=3, **kw)
    source._exchange = stub
    return source, sleeps


def test_overlapping_unsorted_and_out_of_range_rows_are_cleaned() -> None:
    h = HOURS
    stub = StubExchange([[h[2], h[0], h[1], h[1]], [h[1], h[2], h[3], h[4]], [h[5], h[6]]])
    source, _ = stubbed(stub)
    pages = list(source.fetch("BTC-USD", "1h", since_ms=T0, until_ms=T0 + 5 * HOUR))
    assert pages == [h[0:3], h[3:5], h[5:6]]
    assert [c[2] for c in stub.calls] == [T0, T0 + 3 * HOUR, T0 + 5 * HOUR]


def test_a_page_that_does_not_advance_stops_the_fetch() -> None:
    stale = [HOURS[0], HOURS[1]]
    stub = StubExchange([stale, stale, stale])  # an exchange that ignores ``since``
    source, _ = stubbed(stub)
    pages = list(source.fetch("BTC-USD", "1h", since_ms=T0 + 4 * HOUR, until_ms=T0 + 8 * HOUR))
    assert pages == [] and len(stub.calls) == 1


def test_empty_page_ends_the_fetch() -> None:
    stub = StubExchange([[HOURS[0]]])
    source, _ = stubbed(stub)
    assert list(source.fetch("BTC-USD", "1h", since_ms=T0, until_ms=T0 + 8 * HOUR)) == [[HOURS[0]]]
    assert len(stub.calls) == 2


def test_load_markets_is_retried_then_gives_up() -> None:
    source, sleeps = stubbed(StubExchange([], [ccxt.RequestTimeout("coinbase GET /x")]))
    assert source.check_market("BTC-USD") == "BTC/USD"
    assert sleeps == [1.0]
    errors: list[Exception] = [ccxt.ExchangeNotAvailable("down")] * 3
    source, sleeps = stubbed(StubExchange([], errors), retries=2)
    with pytest.raises(ExchangeNetworkError) as err:
        source.check_market("BTC-USD")
    assert str(err.value) == (
        "coinbase: loading markets failed after 3 attempts (ExchangeNotAvailable); "
        "check your connection or try again later"
    )


def test_rate_limit_past_the_budget() -> None:
    source, sleeps = stubbed(StubExchange([], [ccxt.DDoSProtection("slow down")] * 2), retries=1)
    with pytest.raises(ExchangeRateLimitError) as err:
        source.check_market("BTC-USD")
    assert str(err.value) == (
        "coinbase: loading markets was still rate-limited after 2 attempts (DDoSProtection); "
        "wait a few minutes and try again"
    )
    assert sleeps == [1.0]


def test_other_ccxt_errors_are_translated_once() -> None:
    bad = ccxt.AuthenticationError('coinbase {"error":"unauthorized",\n"message":"no"}')
    source, sleeps = stubbed(StubExchange([], [bad]))
    with pytest.raises(ExchangeError) as err:
        source.check_market("BTC-USD")
    assert str(err.value) == (
        'coinbase: loading markets failed: {"error":"unauthorized", "message":"no"}'
    )
    assert err.value.__cause__ is bad and sleeps == []


def test_bad_symbol_from_ccxt_is_an_unknown_symbol() -> None:
    stub = StubExchange([])
    stub.fetch_ohlcv = _raise(ccxt.BadSymbol("coinbase does not have market symbol BTC/USD"))  # type: ignore[method-assign]
    source, _ = stubbed(stub)
    with pytest.raises(UnknownSymbolError, match="unknown symbol: does not have market symbol"):
        list(source.fetch("BTC-USD", "1h", since_ms=T0, until_ms=T0))


def _raise(exc: Exception) -> Callable[..., Any]:
    def fail(*args: Any) -> Any:
        raise exc

    return fail
