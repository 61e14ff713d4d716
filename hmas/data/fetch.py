"""Fetching candles into the store: range planning, incremental resume, upserts, fetch history."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from hmas.data.gaps import Gap, find_gaps
from hmas.errors import HmasError, UsageError
from hmas.market import (
    index_to_ms,
    last_closed_open_ms,
    ms_to_datetime,
    normalize_symbol,
    now_ms,
    timeframe_ms,
)

if TYPE_CHECKING:
    from hmas.settings import Settings
    from hmas.store.candles import CandleStore

logger = logging.getLogger(__name__)

Source = Literal["exchange", "sample", "file"]
#: Called as progress(symbol, candles_so_far, candles_expected_or_None).
Progress = Callable[[str, int, int | None], None]


class PageSource(Protocol):
    """A source that yields ascending pages of closed ``[ms, o, h, l, c, v]`` rows."""

    def fetch(
        self, symbol: str, timeframe: str, *, since_ms: int, until_ms: int
    ) -> Iterator[list[list[float]]]: ...


@dataclass
class FetchRequest:
    """What the user asked ``hmas fetch`` for."""

    symbols: list[str]
    timeframe: str
    source: Source = "exchange"
    exchange: str | None = None
    since_ms: int | None = None
    limit: int | None = None
    path: Path | None = None


@dataclass
class FetchResult:
    """What one symbol's fetch stored."""

    symbol: str
    exchange: str
    timeframe: str
    source: str
    received: int = 0
    added: int = 0
    first_ts: int | None = None
    last_ts: int | None = None
    gaps: list[Gap] = field(default_factory=list)
    fetch_id: int | None = None
    up_to_date: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def sample(self) -> bool:
        """True when these candles are synthetic sample data."""
        return self.source == "sample"

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "symbol": self.symbol,
            "exchange": self.exchange,
            "timeframe": self.timeframe,
            "source": self.source,
            "sample_data": self.sample,
            "received": self.received,
            "added": self.added,
            "first": _iso(self.first_ts),
            "last": _iso(self.last_ts),
            "gaps": len(self.gaps),
            "missing_candles": sum(g.missing for g in self.gaps),
            "up_to_date": self.up_to_date,
            "fetch_id": self.fetch_id,
            "warnings": list(self.warnings),
        }


def _iso(ms: int | None) -> str | None:
    return None if ms is None else ms_to_datetime(ms).isoformat()


def plan_range(
    timeframe: str,
    *,
    last_stored: int | None,
    since_ms: int | None,
    limit: int | None,
    default_limit: int,
    now: int,
) -> tuple[int, int]:
    """The [since, until] open times to fetch: since/limit if given, else resume after the last."""
    step = timeframe_ms(timeframe)
    until = last_closed_open_ms(timeframe, now)
    if limit is not None:
        return until - (limit - 1) * step, until
    if since_ms is not None:
        return -(-since_ms // step) * step, until  # first candle opening at or after since
    if last_stored is not None:
        return last_stored + step, until
    return until - (default_limit - 1) * step, until


def make_source(
    request: FetchRequest, settings: Settings, sources: dict[str, Any] | None = None
) -> tuple[PageSource, str]:
    """The page source for ``request`` and the exchange name its candles are stored under.

    ``sources`` (exchange id -> source) lets several fetches share one exchange object: its
    markets are loaded once, and a failed load fails the other symbols at once (``run``).
    """
    if request.source == "sample":
        from hmas.data.sample import SAMPLE_EXCHANGE, SampleMarket

        return SampleMarket(), SAMPLE_EXCHANGE
    from hmas.data.exchange import ExchangeSource

    exchange_id = (request.exchange or settings.fetch.exchange).strip().lower()
    if sources is not None and exchange_id in sources:
        return sources[exchange_id], exchange_id
    source = ExchangeSource(
        exchange_id,
        retries=settings.fetch.retries,
        backoff_seconds=settings.fetch.backoff_seconds,
        timeout_seconds=settings.fetch.timeout_seconds,
    )
    if sources is not None:
        sources[exchange_id] = source
    return source, exchange_id


def fetch_candles(
    store: CandleStore,
    settings: Settings,
    request: FetchRequest,
    *,
    progress: Progress | None = None,
    clock: Callable[[], int] = now_ms,
    sources: dict[str, Any] | None = None,
) -> list[FetchResult]:
    """Fetch every requested symbol into the store; validate all symbols before writing any."""
    symbols = [normalize_symbol(s) for s in request.symbols]
    if not symbols:
        raise UsageError("no symbols given; pass --symbols, e.g. --symbols BTC-USD")
    timeframe_ms(request.timeframe)
    if request.limit is not None and request.limit < 1:
        raise UsageError(f"--limit must be at least 1, not {request.limit}")
    if request.since_ms is not None and request.since_ms > clock():
        raise UsageError("--since is in the future; give a past date")
    if request.source == "sample" and request.exchange is not None:
        raise UsageError(
            "--exchange does not apply to --source sample (the offline sample market); "
            "drop --exchange or use --source exchange"
        )
    if request.source == "file":
        return [_import_file(store, request, symbols)]
    if sources is None:
        source, exchange = make_source(request, settings)
    else:
        source, exchange = make_source(request, settings, sources)
    _check(source, symbols, request.timeframe)
    results = []
    for symbol in symbols:
        results.append(
            _fetch_one(store, settings, request, source, exchange, symbol, progress, clock)
        )
    return results


def _check(source: PageSource, symbols: list[str], timeframe: str) -> None:
    """Fail on an unknown symbol or timeframe before anything is fetched or stored."""
    check_timeframe = getattr(source, "check_timeframe", None)
    if check_timeframe is not None:
        check_timeframe(timeframe)
    check_market = getattr(source, "check_market", None)
    for symbol in symbols:
        if check_market is not None:
            check_market(symbol)


def _fetch_one(
    store: CandleStore,
    settings: Settings,
    request: FetchRequest,
    source: PageSource,
    exchange: str,
    symbol: str,
    progress: Progress | None,
    clock: Callable[[], int],
) -> FetchResult:
    tf = request.timeframe
    step = timeframe_ms(tf)
    last = store.last_ts(exchange, symbol, tf)
    since, until = plan_range(
        tf,
        last_stored=last,
        since_ms=request.since_ms,
        limit=request.limit,
        default_limit=settings.fetch.default_limit,
        now=clock(),
    )
    result = FetchResult(symbol, exchange, tf, request.source)
    if since > until:
        result.up_to_date = True
        return result
    expected = (until - since) // step + 1
    result.fetch_id = store.start_fetch(
        source=request.source,
        exchange=exchange,
        symbol=symbol,
        timeframe=tf,
        since_ts=since,
        until_ts=until,
    )
    if progress:
        progress(symbol, 0, expected)
    try:
        for page in source.fetch(symbol, tf, since_ms=since, until_ms=until):
            rows = _validated(page, f"{symbol} {tf} from {exchange}")
            result.received += len(rows)
            result.added += store.upsert(
                exchange, symbol, tf, rows, source=request.source, fetch_id=result.fetch_id
            )
            if rows:
                if result.first_ts is None:
                    result.first_ts = int(rows[0][0])
                result.last_ts = int(rows[-1][0])
            if progress:
                progress(symbol, result.received, expected)
    except HmasError as exc:
        _finish(store, result, status="error", error=str(exc)[:2000])
        raise
    result.gaps = find_gaps(store.timestamps(exchange, symbol, tf, since, until), step)
    _finish(store, result, status="ok", gaps=len(result.gaps))
    result.up_to_date = result.received == 0
    return result


def _finish(store: CandleStore, result: FetchResult, **fields: Any) -> None:
    """Record how a fetch ended, with the counters it reached."""
    assert result.fetch_id is not None
    store.finish_fetch(
        result.fetch_id,
        received=result.received,
        added=result.added,
        first_ts=result.first_ts,
        last_ts=result.last_ts,
        **fields,
    )


def _validated(page: list[list[float]], what: str) -> list[list[float]]:
    """Validate a page of rows with the same rules as file imports."""
    if not page:
        return []
    import pandas as pd

    from hmas.market import validate_candle_frame

    frame = pd.DataFrame(
        [r[1:6] for r in page],
        index=pd.DatetimeIndex(pd.to_datetime([int(r[0]) for r in page], unit="ms", utc=True)),
        columns=["open", "high", "low", "close", "volume"],
    )
    return _rows(validate_candle_frame(frame, what=what))


def _rows(frame: Any) -> list[list[float]]:
    ms = index_to_ms(frame.index)
    values = frame[["open", "high", "low", "close", "volume"]].to_numpy().tolist()
    return [[t, *v] for t, v in zip(ms, values, strict=True)]


def _import_file(store: CandleStore, request: FetchRequest, symbols: list[str]) -> FetchResult:
    from hmas.data.files import read_ohlcv_file

    if request.path is None:
        raise UsageError("--source file needs --path FILE")
    if len(symbols) != 1:
        raise UsageError("--source file imports one symbol; pass exactly one with --symbols")
    symbol = symbols[0]
    tf = request.timeframe
    exchange = request.exchange or "file"
    frame = read_ohlcv_file(request.path, symbol=symbol, timeframe=tf)
    warnings = price_warnings(store, frame, symbol, request.path.name)
    until = last_closed_open_ms(tf)
    ms = index_to_ms(frame.index)
    keep = [
        i
        for i, t in enumerate(ms)
        if t <= until and (request.since_ms is None or t >= request.since_ms)
    ]
    if request.limit is not None:
        keep = keep[-request.limit :]
    all_rows = _rows(frame)
    rows = all_rows if len(keep) == len(ms) else [all_rows[i] for i in keep]
    result = FetchResult(symbol, exchange, tf, "file", warnings=warnings)
    result.fetch_id = store.start_fetch(
        source="file", exchange=exchange, symbol=symbol, timeframe=tf, path=str(request.path)
    )
    result.received = len(rows)
    result.added = store.upsert(exchange, symbol, tf, rows, source="file", fetch_id=result.fetch_id)
    if rows:
        result.first_ts, result.last_ts = int(rows[0][0]), int(rows[-1][0])
        result.gaps = find_gaps(
            store.timestamps(exchange, symbol, tf, result.first_ts, result.last_ts),
            timeframe_ms(tf),
        )
    _finish(
        store,
        result,
        status="ok",
        gaps=len(result.gaps),
        since_ts=result.first_ts,
        until_ts=result.last_ts,
    )
    result.up_to_date = result.added == 0
    return result


#: A file's prices this far (as a ratio) from stored prices of the same symbol draw a warning.
IMPLAUSIBLE_RATIO = 2.0
#: Without overlap, stored candles this close in time to the file's are compared instead.
NEAREST_DAYS = 31


def price_warnings(store: CandleStore, frame: Any, symbol: str, name: str) -> list[str]:
    """Warnings when a file's closes are implausible for ``symbol`` against stored real candles.

    Compares the median close of the file with that of each stored non-sample series of the
    symbol, over the time they share, else over the stored candles nearest in time (within
    ``NEAREST_DAYS``). Sample series are synthetic and say nothing about real prices.
    """
    ms = index_to_ms(frame.index)
    if not ms:
        return []
    first, last = ms[0], ms[-1]
    near = NEAREST_DAYS * 86_400_000
    warnings = []
    for info in store.series(symbol):
        if info.source == "sample":
            continue
        stored = store.frame(info.exchange, symbol, info.timeframe, since=first, until=last)
        ours = frame
        how = "over the same period"
        if stored.empty:
            if info.last_ts < first and first - info.last_ts <= near:
                since, until = info.last_ts - near, info.last_ts
                ours = frame.iloc[[i for i, t in enumerate(ms) if t <= first + near]]
            elif info.first_ts > last and info.first_ts - last <= near:
                since, until = info.first_ts, info.first_ts + near
                ours = frame.iloc[[i for i, t in enumerate(ms) if t >= last - near]]
            else:
                continue
            stored = store.frame(info.exchange, symbol, info.timeframe, since=since, until=until)
            how = "at the nearest stored time"
        theirs = float(stored["close"].median())
        mine = float(ours["close"].median())
        if theirs <= 0 or mine <= 0:
            continue
        ratio = mine / theirs
        if 1 / IMPLAUSIBLE_RATIO <= ratio <= IMPLAUSIBLE_RATIO:
            continue
        warnings.append(
            f"{name}: prices look implausible for {symbol}: median close {mine:.6g} against "
            f"{theirs:.6g} in the stored {info.exchange} {info.timeframe} candles {how} "
            f"({ratio:.3g}x); check --symbols"
        )
    return warnings
