"""The candles a backtest reads: each symbol's range checked against the store, its warm-up.

A range is ``[start, end)`` in epoch ms: bars opening at or after ``start`` and before ``end``
(``None``: from the first / to the last stored bar). Every bad range is a ``UsageError`` that
names the option, the series and what is stored, never a silently narrowed range.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hmas.errors import UsageError
from hmas.market import ms_to_datetime, timeframe_ms

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.decision.pipeline import MarketInputs
    from hmas.settings import Settings
    from hmas.store.candles import SeriesInfo


def iso(ms: int) -> str:
    """Epoch ms as ``2024-03-01T12:00Z`` (seconds shown only when there are any)."""
    return ms_to_datetime(ms).strftime("%Y-%m-%dT%H:%M:%SZ" if ms % 60_000 else "%Y-%m-%dT%H:%MZ")


def iso_many(ms: Sequence[int]) -> list[str]:
    """``iso`` of many epoch-ms times at once (the same text, without a datetime each)."""
    import numpy as np

    stamps = np.asarray(ms, dtype=np.int64)
    text = np.datetime_as_string(stamps.astype("datetime64[ms]"), unit="s").tolist()
    whole = (stamps % 60_000 == 0).tolist()
    return [f"{t[:16]}Z" if w else f"{t}Z" for t, w in zip(text, whole, strict=True)]


@dataclass(frozen=True)
class Range:
    """The bars asked for, ``[start, end)`` in ms, and the option names to cite in errors."""

    start: int | None = None
    end: int | None = None
    start_option: str = "--start"
    end_option: str = "--end"


@dataclass
class Series:
    """One symbol of a backtest: the inputs read (warm-up included) and the simulated bars."""

    symbol: str
    exchange: str
    timeframe: str
    source: str
    #: The candles read: from the warm-up before ``first`` to ``last`` (benchmark, universe).
    inputs: MarketInputs
    #: Open times of the first and last simulated bar, and how many there are.
    first: int
    last: int
    bars: int
    #: Bars read before ``first`` (the warm-up the decision and the features need).
    warmup_bars: int

    @property
    def sample(self) -> bool:
        """True when these are candles of the offline sample market."""
        return self.source == "sample"

    def as_dict(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "exchange": self.exchange,
            "source": self.source,
            "first": iso(self.first),
            "last": iso(self.last),
            "bars": self.bars,
            "warmup_bars": self.warmup_bars,
        }


def check_range(info: SeriesInfo, wanted: Range) -> tuple[int, int]:
    """The first and last bar to simulate within what is stored, or a ``UsageError`` saying why.

    Returns the requested bounds clipped to nothing: ``start`` defaults to the first stored
    bar, ``end`` to just after the last one.
    """
    step = timeframe_ms(info.timeframe)
    where = f"{info.symbol} {info.timeframe} on {info.exchange}"
    stored = f"{where} is stored from {iso(info.first_ts)} to {iso(info.last_ts)}"
    start = info.first_ts if wanted.start is None else wanted.start
    end = info.last_ts + step if wanted.end is None else wanted.end
    if wanted.start is not None and wanted.start < info.first_ts:
        raise UsageError(
            f"{wanted.start_option} {iso(wanted.start)} is before the first stored bar; {stored}; "
            "give a later date or fetch older candles"
        )
    if wanted.start is not None and wanted.start > info.last_ts:
        raise UsageError(
            f"{wanted.start_option} {iso(wanted.start)} is after the last stored bar; {stored}; "
            "give an earlier date or fetch newer candles"
        )
    if wanted.end is not None and wanted.end <= info.first_ts:
        raise UsageError(
            f"{wanted.end_option} {iso(wanted.end)} is at or before the first stored bar; "
            f"{stored}; give a later date"
        )
    if wanted.end is not None and wanted.end > info.last_ts + step:
        raise UsageError(
            f"{wanted.end_option} {iso(wanted.end)} is after the last stored bar; {stored} "
            f"(the range ends before --end, so {iso(info.last_ts + step)} takes every bar); "
            "give an earlier date or fetch newer candles"
        )
    if start >= end:
        raise UsageError(
            f"the range from {iso(start)} to {iso(end)} is empty; {wanted.end_option} must be "
            f"after {wanted.start_option}"
        )
    return start, end


def load_series(
    engine: Engine,
    settings: Settings,
    symbols: list[str],
    timeframe: str,
    wanted: Range,
    *,
    exchange: str | None = None,
    warmup: bool = True,
    also: Sequence[Settings] = (),
) -> list[Series]:
    """Each symbol's candles for the range, with the warm-up a decision at its first bar reads.

    ``warmup``: read from ``Windowing.start(first bar)`` (the window a live decision at the
    first bar reads) rather than from the first bar. ``also``: other configurations that will
    run on the same candles (a comparison): the warm-up is the longest any of them reads.
    """
    import numpy as np
    import pandas as pd

    from hmas.decision.history import read_inputs, windowing
    from hmas.decision.service import resolve_series
    from hmas.store.candles import CandleStore

    store = CandleStore(engine)
    wins = [windowing(each, timeframe) for each in (settings, *also)]
    out: list[Series] = []
    for symbol in symbols:
        ex = resolve_series(engine, settings, symbol, timeframe, exchange)
        info = store.series_info(ex, symbol, timeframe)
        assert info is not None, "resolve_series found it stored"
        start, end = check_range(info, wanted)
        span = store.span(ex, symbol, timeframe, start, end - 1)
        if span is None:
            raise UsageError(
                f"no {symbol} {timeframe} candles are stored on {ex} from {iso(start)} to "
                f"{iso(end)} (a gap in the stored series); {symbol} {timeframe} is stored from "
                f"{iso(info.first_ts)} to {iso(info.last_ts)}; see hmas candles {symbol} "
                f"--timeframe {timeframe} --gaps"
            )
        first, last = span
        since = min(w.start(first) for w in wins) if warmup else first
        inputs = read_inputs(store, settings, ex, symbol, timeframe, since, last)
        read = len(inputs.candles)
        # The simulated bars: those read from the first one on (the rest is the warm-up).
        ms = pd.DatetimeIndex(inputs.candles.index).as_unit("ms").asi8
        bars = read - int(np.searchsorted(ms, first, side="left"))
        out.append(
            Series(
                symbol=symbol,
                exchange=ex,
                timeframe=timeframe,
                source=info.source,
                inputs=inputs,
                first=first,
                last=last,
                bars=bars,
                warmup_bars=read - bars,
            )
        )
    return out


def data_hash(series: list[Series]) -> str:
    """One sha256 over every candle read: each symbol's, its benchmark's and universe's."""
    from hmas.decision.snapshot import describe

    digest = hashlib.sha256()
    for s in series:
        _, snapshot = describe(s.inputs)
        digest.update(f"{s.exchange}:{s.symbol}:{s.timeframe}:".encode() + snapshot.encode())
    return digest.hexdigest()
