"""The fetch service: range planning, incremental resume, idempotence, validation, history."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hmas.data import fetch as fetch_mod
from hmas.data.fetch import FetchRequest, fetch_candles, plan_range
from hmas.errors import CandleDataError, ExchangeNetworkError, UsageError
from hmas.settings import load_settings
from hmas.store.candles import CandleStore
from hmas.store.engine import upgrade

HOUR = 3_600_000
NOW = 1_710_000_000_000 // HOUR * HOUR + 30 * 60_000  # half-way through an hour


def test_plan_range_limit_since_resume_default() -> None:
    last_closed = NOW - 30 * 60_000 - HOUR
    kw: dict[str, Any] = {"default_limit": 10, "now": NOW}
    assert plan_range("1h", last_stored=None, since_ms=None, limit=3, **kw) == (
        last_closed - 2 * HOUR,
        last_closed,
    )
    assert (
        plan_range("1h", last_stored=None, since_ms=NOW - 5 * HOUR - 1, limit=None, **kw)[0]
        == last_closed - 3 * HOUR
    )
    assert plan_range("1h", last_stored=last_closed - HOUR, since_ms=None, limit=None, **kw) == (
        last_closed,
        last_closed,
    )
    assert plan_range("1h", last_stored=None, since_ms=None, limit=None, **kw) == (
        last_closed - 9 * HOUR,
        last_closed,
    )
    since, until = plan_range("1h", last_stored=last_closed, since_ms=None, limit=None, **kw)
    assert since > until  # up to date


class FakeSource:
    """A page source over a fixed price path; can fail after N pages or emit a bad candle."""

    def __init__(self, fail_after: int | None = None, bad_at: int | None = None) -> None:
        self.fail_after = fail_after
        self.bad_at = bad_at
        self.calls: list[tuple[int, int]] = []

    def fetch(
        self, symbol: str, timeframe: str, *, since_ms: int, until_ms: int
    ) -> Iterator[list[list[float]]]:
        self.calls.append((since_ms, until_ms))
        page: list[list[float]] = []
        pages = 0
        for ts in range(since_ms, until_ms + 1, HOUR):
            price = 100.0 + (ts // HOUR) % 10
            high = price - 5 if ts == self.bad_at else price + 1
            page.append([ts, price, high, price - 1, price + 0.5, 3.0])
            if len(page) == 4:
                yield page
                page = []
                pages += 1
                if self.fail_after is not None and pages >= self.fail_after:
                    raise ExchangeNetworkError("fake: network down")
        if page:
            yield page


@pytest.fixture
def store(db_url: str, engine_factory: Any) -> CandleStore:
    engine = engine_factory(db_url)
    upgrade(engine)
    return CandleStore(engine)


def run(
    store: CandleStore, src: FakeSource, monkeypatch: pytest.MonkeyPatch, **kw: Any
) -> list[Any]:
    monkeypatch.setattr(fetch_mod, "make_source", lambda req, settings: (src, "fake"))
    request = FetchRequest(symbols=kw.pop("symbols", ["BTC-USD"]), timeframe="1h", **kw)
    return fetch_candles(store, load_settings(), request, clock=lambda: NOW)


def test_first_fetch_then_incremental_then_nothing(
    store: CandleStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = FakeSource()
    (first,) = run(store, src, monkeypatch, limit=10)
    assert (first.received, first.added, first.gaps) == (10, 10, [])
    (again,) = run(store, src, monkeypatch, limit=10)
    assert (again.received, again.added) == (10, 0)
    (resume,) = run(store, src, monkeypatch)
    assert resume.up_to_date and resume.received == 0
    assert len(src.calls) == 2  # an up-to-date series asks the source for nothing


def test_progress_is_reported(store: CandleStore, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, int, int | None]] = []
    monkeypatch.setattr(fetch_mod, "make_source", lambda req, settings: (FakeSource(), "fake"))
    fetch_candles(
        store,
        load_settings(),
        FetchRequest(symbols=["BTC-USD"], timeframe="1h", limit=10),
        progress=lambda *a: seen.append(a),
        clock=lambda: NOW,
    )
    assert seen[0] == ("BTC-USD", 0, 10)
    assert seen[-1] == ("BTC-USD", 10, 10)


def test_failure_midway_keeps_whole_pages_and_records_the_error(
    store: CandleStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ExchangeNetworkError):
        run(store, FakeSource(fail_after=1), monkeypatch, limit=10)
    assert len(store.timestamps("fake", "BTC-USD", "1h")) == 4
    (history,) = store.fetches()
    assert history["status"] == "error"
    assert history["error"] == "fake: network down"
    (resumed,) = run(store, FakeSource(), monkeypatch)
    assert resumed.added == 6  # resumes after the last stored candle


def test_invalid_candle_from_a_source_is_refused(
    store: CandleStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    last_closed = NOW - 30 * 60_000 - HOUR
    with pytest.raises(CandleDataError, match="high < low"):
        run(store, FakeSource(bad_at=last_closed - HOUR), monkeypatch, limit=3)
    assert store.timestamps("fake", "BTC-USD", "1h") == []


def test_usage_errors(store: CandleStore, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="invalid symbol 'BTCUSD'; write it as BASE-QUOTE"):
        run(store, FakeSource(), monkeypatch, symbols=["BTCUSD"])
    with pytest.raises(UsageError, match="--source file needs --path FILE"):
        run(store, FakeSource(), monkeypatch, source="file")
    with pytest.raises(UsageError, match="--source file imports one symbol"):
        run(store, FakeSource(), monkeypatch, source="file", symbols=["A-B", "C-D"], path=__file__)
