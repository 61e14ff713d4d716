"""Decisions on anchored windows: a bar's decision is the same live and in a pass over history.

A decision at bar *t* is defined on the candles from ``start(t)`` to *t*, where

- ``anchor(t)`` is the start of the segment holding *t*: segments are ``segment`` long and
  aligned to the Unix epoch, so the anchor depends on *t* and the settings only, never on what
  is stored;
- ``start(t) = anchor(t) - reach`` with ``reach = max(warm-up, lookback + feature warm-up)``:
  the bars the slowest feature or agent statistic needs before *t* (``warmup_bars``, or the
  technical agent's higher-timeframe trends when they need longer), and the
  rationale's base-rate lookback (``rationale.base_rate_lookback``) plus the features' own
  warm-up, so the oldest setup the base rate counts is itself read from warmed-up features.
  The outcome horizon needs nothing more: a counted setup opened inside the lookback and
  resolved by *t*.

Recursive indicators (EMA, Wilder's ATR/RSI/ADX, MACD) depend on the bar their computation
starts at, in the last bits, forever. Both paths start at ``start(t)`` (or at the first stored
bar, when the series begins later), so they are equal bit for bit:

- live, ``hmas.decision.service.load_inputs`` reads exactly ``[start(t), t]`` (the symbol,
  the benchmark and the universe) and takes the last row of one ``compute``;
- ``compute_history`` runs ``compute`` once per segment over ``[start(anchor), segment end]``
  and keeps that segment's rows. Every pipeline row depends only on bars at or before it (the
  no-lookahead guarantee), so row *t* is the live decision at *t*, and a pass costs about
  ``1 + reach / segment`` single passes (plus ``compute``'s fixed cost per segment).

docs/agents.md ("The decision window") explains the defaults.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from hmas.market import timeframe_ms
from hmas.settings import duration_ms

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    from hmas.decision.pipeline import LayerAnswers, MarketInputs, PipelineOutput
    from hmas.settings import Settings
    from hmas.store.candles import CandleStore

#: With ``decision.segment = "auto"`` a segment is the larger of the window's reach divided by
#: ``AUTO_SEGMENT_SHARE`` and the reach less ``AUTO_SEGMENT_SLACK`` bars (the two meet at a
#: reach of 2,400 bars). A short reach keeps live decisions light: a pass over history costs
#: about 1 + 6 = 7 single passes and a live decision reads at most 7/6 of a reach (at 1h by
#: default 920 to 1,073 bars, within the 20 ms single-signal budget). A long reach (a 30-day
#: base-rate lookback on 1m or 5m bars) makes every live decision costly anyway, and the pass
#: over history is what counts: it costs about two single passes instead of seven (decision
#: model 4; model 3 took a sixth of the reach on every timeframe).
AUTO_SEGMENT_SHARE = 6
AUTO_SEGMENT_SLACK = 2_000


def warmup_bars(settings: Settings) -> int:
    """Bars the slowest feature or agent statistic needs before its first full value.

    Derived from the settings and the feature lengths: the longest of the features' own
    warm-up (the 200-bar SMA), the sentiment percentiles (``sentiment.lookback`` bars of inputs
    that need the realised-volatility warm-up), the macro volatility percentile
    (``macro.vol_lookback`` bars of realised volatility), the market's trend averages
    (``macro.trend_window``), the macro correlations and the execution auditor's windows (one
    bar more for their returns).
    """
    from hmas.indicators.features import FeatureParams, feature_warmup

    warm = feature_warmup(FeatureParams())
    inputs = max(warm["realized_vol"], warm["volume_z"])
    execution = settings.execution
    return max(
        *warm.values(),
        inputs + settings.sentiment.lookback,
        warm["realized_vol"] + settings.macro.vol_lookback,
        settings.macro.trend_window - 1,
        settings.macro.corr_window + 1,
        execution.spread_window + 1,
        execution.vol_window + 1,
        execution.volume_window,
    )


def feature_warmup_bars() -> int:
    """Bars the slowest feature needs (the 200-bar SMA): all that alpha's setups read."""
    from hmas.indicators.features import FeatureParams, feature_warmup

    return max(feature_warmup(FeatureParams()).values())


@dataclass(frozen=True)
class Windowing:
    """Where the window of a decision at bar *t* starts, for one timeframe (all in ms).

    The window reaches back from the anchor far enough for both needs of the decision: the
    views of *t* need ``warmup`` before *t*; the base rate counts setups opened up to
    ``lookback`` before *t*, and alpha's setup at a bar needs ``features`` before that bar.
    """

    step: int
    warmup: int
    lookback: int
    features: int
    segment: int
    #: ``rationale.base_rate_cutoff`` (walk-forward): a decision at or after it reads from the
    #: cutoff's window on, where the setups its frozen base rate counts are.
    cutoff: int | None = None

    @property
    def reach(self) -> int:
        """How far before its anchor a window starts."""
        return max(self.warmup, self.lookback + self.features)

    def anchor(self, t: int) -> int:
        """Open time of the segment holding ``t`` (segments aligned to the epoch)."""
        return t - t % self.segment

    def start(self, t: int) -> int:
        """First open time a decision at ``t`` reads: its anchor minus the reach (with a
        cutoff at or before ``t``: the cutoff's anchor minus the reach)."""
        anchor = self.anchor(t)
        if self.cutoff is not None and t >= self.cutoff:
            anchor = min(anchor, self.anchor(self.cutoff))
        return anchor - self.reach


def windowing(settings: Settings, timeframe: str) -> Windowing:
    """The decision windows of ``timeframe`` under ``settings``."""
    from hmas.agents.technical import higher_warmup_ms

    step = timeframe_ms(timeframe)
    # The higher-timeframe trends need their own closed bars before t (none on the top ones).
    warmup = max(warmup_bars(settings) * step, higher_warmup_ms(settings.technical, timeframe))
    lookback = duration_ms(settings.rationale.base_rate_lookback)
    features = feature_warmup_bars() * step
    reach = max(warmup, lookback + features)
    if settings.decision.segment == "auto":
        bars = math.ceil(reach / step)
        segment = max(1, math.ceil(bars / AUTO_SEGMENT_SHARE), bars - AUTO_SEGMENT_SLACK) * step
    else:
        segment = duration_ms(settings.decision.segment)
    return Windowing(step, warmup, lookback, features, segment, settings.rationale.cutoff_ms())


def read_inputs(
    store: CandleStore,
    settings: Settings,
    exchange: str,
    symbol: str,
    timeframe: str,
    since: int | None,
    until: int | None,
) -> MarketInputs:
    """The stored candles of a symbol in ``[since, until]``, with the benchmark and universe.

    Every other symbol stored for the exchange and timeframe joins the universe (the
    benchmark, ``macro.benchmark``, is one of them) over the same span of time; a symbol with
    no candles in the span is left out. No Fear & Greed index: the caller adds it. A symbol
    quoted in another currency than the account's comes with the candles of its conversion
    pair that rate those bars (``hmas.risk.currency``), or ConversionMissingError.
    """
    from hmas.decision.pipeline import MarketInputs
    from hmas.risk import currency

    conversion = currency.load(store, settings, exchange, symbol, timeframe, since, until)
    candles = store.frame(exchange, symbol, timeframe, since=since, until=until)
    benchmark = None
    universe = {}
    stored = store.symbols(exchange, timeframe)
    for other in stored:
        if other == symbol:
            continue
        frame = store.frame(exchange, other, timeframe, since=since, until=until)
        if frame.empty:
            continue
        if other == settings.macro.benchmark:
            benchmark = frame
        universe[other] = frame
    return MarketInputs(
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        candles=candles,
        source=stored.get(symbol, "exchange"),
        benchmark=benchmark,
        universe=universe,
        conversion=conversion,
    )


def span(inputs: MarketInputs, first: pd.Timestamp, last: pd.Timestamp) -> MarketInputs:
    """The inputs seeing only bars in ``[first, last]``, as ``read_inputs`` would read them."""
    from hmas.decision.pipeline import MarketInputs, conversion_until

    universe = {k: v.loc[first:last] for k, v in inputs.universe.items()}
    benchmark = None if inputs.benchmark is None else inputs.benchmark.loc[first:last]
    fear_greed = inputs.fear_greed
    if fear_greed is not None:
        end = last.strftime("%Y-%m-%d")
        fear_greed = {day: v for day, v in fear_greed.items() if day <= end}
    return MarketInputs(
        inputs.exchange,
        inputs.symbol,
        inputs.timeframe,
        inputs.candles.loc[first:last],
        inputs.source,
        None if benchmark is None or benchmark.empty else benchmark,
        {k: v for k, v in universe.items() if not v.empty},
        fear_greed,
        inputs.fear_greed_error,
        conversion_until(inputs.conversion, last, inputs.timeframe),
    )


@dataclass
class Part:
    """One segment of a history pass: its rows of the ``compute`` over its window."""

    anchor: int
    #: First open time the segment's window reads (``Windowing.start(anchor)``).
    window_start: int
    #: ``compute`` over the window, cut to the segment's own rows (its features and agent
    #: frames to the ``kept`` rows, when the pass kept only some).
    output: PipelineOutput
    #: Position of the segment's first row in the whole pass.
    offset: int
    #: Rows of the segment (ascending positions) whose features and agent frames were kept;
    #: None: every row. The mother's decided frame is always whole.
    kept: npt.NDArray[np.int64] | None = None

    def position(self, row: int) -> int:
        """Where the segment's ``row`` is in ``output.features`` and ``output.frames``."""
        import numpy as np

        if self.kept is None:
            return row
        k = int(np.searchsorted(self.kept, row))
        if k < len(self.kept) and int(self.kept[k]) == row:
            return k
        raise KeyError(f"row {self.offset + row} of the pass was not kept (keep= of the pass)")


@dataclass
class History:
    """Every bar's decision as a live ``decide`` at that bar takes it, segment by segment."""

    parts: list[Part] = field(default_factory=list)
    #: The decided rows of the whole pass, when the pass wrote them into one frame (keep=).
    whole_decided: pd.DataFrame | None = None

    def __len__(self) -> int:
        return sum(len(self._rows(p)) for p in self.parts)

    @staticmethod
    def _rows(part: Part) -> pd.Index:
        decided = part.output.decided
        return part.output.features.index if decided is None else decided.index

    @property
    def compact(self) -> bool:
        """Whether the pass kept features and agent frames at some rows only."""
        return any(p.kept is not None for p in self.parts)

    def locate(self, i: int) -> tuple[Part, int]:
        """The segment holding row ``i`` (negative counts from the end) and the row within it."""
        import bisect

        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"row {i} outside a history of {n} bars")
        i %= n
        k = bisect.bisect_right([p.offset for p in self.parts], i) - 1
        return self.parts[k], i - self.parts[k].offset

    def views_at(self, i: int) -> dict[str, dict[str, Any]]:
        """Every agent's view of row ``i``, exactly as ``pipeline.views_at`` gives it live."""
        from hmas.decision.pipeline import views_at

        part, row = self.locate(i)
        return views_at(part.output, part.position(row))

    @cached_property
    def index(self) -> pd.DatetimeIndex:
        """The bars of the pass, oldest first."""
        import pandas as pd

        if not self.parts:
            return pd.DatetimeIndex([], tz="UTC")
        first, *others = (self._rows(p) for p in self.parts)
        return pd.DatetimeIndex(first.append(others) if others else first)

    def _whole(self) -> None:
        if self.compact:
            raise ValueError(
                "this history pass kept features and agent frames at some rows only (keep=): "
                "read them with views_at, or compute the pass without keep"
            )

    @cached_property
    def features(self) -> pd.DataFrame:
        """The feature rows of every bar."""
        self._whole()
        return _concat([p.output.features for p in self.parts])

    @cached_property
    def frames(self) -> dict[str, pd.DataFrame]:
        """Each agent's rows of every bar."""
        self._whole()
        if not self.parts:
            return {}
        names = self.parts[0].output.frames
        return {name: _concat([p.output.frames[name] for p in self.parts]) for name in names}

    @cached_property
    def decided(self) -> pd.DataFrame | None:
        """The mother's decided rows of every bar (None when computed without deciding)."""
        if self.whole_decided is not None:
            return self.whole_decided
        frames = [p.output.decided for p in self.parts]
        if not frames or any(f is None for f in frames):
            return None
        whole = _concat([f for f in frames if f is not None])
        if len(frames) > 1:
            # Each segment now reads its rows of the whole frame (views, not copies): a pass
            # over a year of minutes holds its decided rows once.
            for part, frame in zip(self.parts, frames, strict=True):
                assert frame is not None
                part.output.decided = whole.iloc[part.offset : part.offset + len(frame)]
        return whole


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    import pandas as pd

    if len(frames) == 1:
        return frames[0]
    out = pd.concat(frames)
    out.attrs = dict(frames[0].attrs) if frames else {}
    return out


def compute_history(
    inputs: MarketInputs,
    settings: Settings,
    *,
    equity: float | None = None,
    decide: bool = True,
    since: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    keep: Callable[[pd.DataFrame], npt.NDArray[np.bool_]] | None = None,
    ask: LayerAnswers | None = None,
) -> History:
    """Every bar of ``inputs.candles`` decided as live at that bar: one ``compute`` per segment.

    ``inputs`` holds the whole history (e.g. ``read_inputs`` with no bounds); each segment
    reads ``span(inputs, start(anchor), last bar of the segment)``, exactly what
    ``load_inputs`` reads live for any bar of it.

    ``since`` (ms) skips the segments that end before it: ``inputs`` then only need to reach
    back to ``Windowing.start(since)`` (the backtest of a range reads its warm-up that way), and
    the pass starts with the segment holding ``since``. ``progress(done, total)`` hears each
    segment as it is computed.

    ``keep`` (with ``decide``) is given each segment's decided rows and says which rows' features
    and agent frames to keep: a backtest keeps the approved ones, the only rows it reads views
    of, and so holds a year of minutes in a fraction of the memory. The decided frame is kept
    whole. None keeps every row.
    ``ask`` is ``compute``'s (the LLM engine's answers).
    """
    import numpy as np
    import pandas as pd

    from hmas.decision.pipeline import compute

    win = windowing(settings, inputs.timeframe)
    index = pd.DatetimeIndex(inputs.candles.index)
    ms = index.as_unit("ms").asi8
    history = History()
    if not len(ms):
        return history
    anchors = ms - ms % win.segment
    bounds = np.flatnonzero(np.diff(anchors)) + 1
    firsts = np.concatenate([[0], bounds])
    lasts = np.concatenate([bounds, [len(ms)]]) - 1
    if since is not None:
        kept = ms[lasts] >= since
        firsts, lasts = firsts[kept], lasts[kept]
    offset = 0
    # A pass keeping some rows (a backtest's) writes its decided rows into one frame's columns
    # as it goes, rather than keeping each segment's and concatenating them at the end (which
    # would hold them twice: 145 MiB more at the peak of a year of minutes).
    columns: dict[str, npt.NDArray[Any]] = {}
    total = int(lasts[-1] - firsts[0] + 1) if len(firsts) else 0
    for done, (first, last) in enumerate(zip(firsts.tolist(), lasts.tolist(), strict=True)):
        if progress is not None:
            progress(done, len(firsts))
        anchor = int(anchors[first])
        start = win.start(anchor)
        window = span(inputs, pd.Timestamp(start, unit="ms", tz="UTC"), index[last])
        output = compute(window, settings, equity=equity, decide=decide, ask=ask)
        at = int(np.searchsorted(pd.DatetimeIndex(output.features.index), index[first]))
        if keep is None:
            history.parts.append(Part(anchor, start, _tail(output, at), offset))
        else:
            assert output.decided is not None, "keep= needs decide=True"
            decided = output.decided.iloc[at:]
            rows = np.flatnonzero(np.asarray(keep(decided), dtype=bool)).astype(np.int64)
            _write(columns, decided, offset, total)
            cut = _tail(output, at, rows, decided=False)
            history.parts.append(Part(anchor, start, cut, offset, kept=rows))
        offset += last - first + 1
    if keep is not None and history.parts:
        from hmas.agents.common import frame_of

        whole = frame_of(columns, index[int(firsts[0]) : int(lasts[-1]) + 1])
        for each, first, last in zip(history.parts, firsts.tolist(), lasts.tolist(), strict=True):
            each.output.decided = whole.iloc[each.offset : each.offset + last - first + 1]
        history.whole_decided = whole
    if progress is not None:
        progress(len(firsts), len(firsts))
    return history


def _write(
    columns: dict[str, npt.NDArray[Any]], decided: pd.DataFrame, offset: int, total: int
) -> None:
    """Put a segment's decided rows into the pass's columns at ``offset`` (made on first use)."""
    import numpy as np

    for name in decided.columns:
        values = decided[name].to_numpy()
        target = columns.get(str(name))
        if target is None:
            target = columns[str(name)] = np.empty(total, dtype=values.dtype)
        elif target.dtype != values.dtype:  # as a concatenation would: a common dtype
            common = np.result_type(target.dtype, values.dtype)
            target = columns[str(name)] = target.astype(common)
        target[offset : offset + len(values)] = values


def _tail(
    output: PipelineOutput,
    keep: int,
    rows: npt.NDArray[np.int64] | None = None,
    *,
    decided: bool = True,
) -> PipelineOutput:
    """The output's rows from position ``keep`` on, copied (the window's warm-up is dropped);
    with ``rows``, the features and agent frames only at those rows of the tail."""
    from hmas.decision.pipeline import PipelineOutput

    def cut(frame: pd.DataFrame, some: bool = True) -> pd.DataFrame:
        out = frame.iloc[keep:] if rows is None or not some else frame.iloc[keep + rows]
        out = out.copy()
        out.attrs = dict(frame.attrs)
        return out

    return PipelineOutput(
        features=cut(output.features),
        frames={name: cut(frame) for name, frame in output.frames.items()},
        decided=None if output.decided is None or not decided else cut(output.decided, False),
        # The window's universe, benchmark and upstream frames are no part's rows: dropped.
        context=replace(
            output.context, universe=None, benchmark=None, upstream={}, quote_rate=None
        ),
        timings_ms=output.timings_ms,
    )
