"""Analyses and signals in the store: ``analyze``, ``decide`` and the records they keep.

Everything a signal needs to be explained and replayed is stored with it: the candle window
(extents and hashes of every series read), the headlines of its news window (with a news
source), the feature row, each agent's view, the three rounds, the guardian's inputs and
verdict, the config and its hash, and the hmas version.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from hmas import __version__
from hmas.decision.pipeline import MarketInputs, compute, feature_row, missing_candles, views_at
from hmas.decision.snapshot import describe
from hmas.errors import UsageError
from hmas.market import index_to_ms, normalize_symbol, timeframe_ms
from hmas.store.models import Account, Analysis, Signal
from hmas.store.records import (
    find_analysis,
    find_signal,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.data.news import NewsFeed
    from hmas.decision.llm_engine import LlmAnswerer
    from hmas.decision.verdict import DecidedBar, Verdict
    from hmas.settings import Settings

logger = logging.getLogger(__name__)

#: The engine recorded on analyses and signals when every agent runs the default engine.


@dataclass
class AnalysisRecord:
    """A stored analysis and whether this call created it."""

    analysis: Analysis
    created: bool


@dataclass
class SignalRecord:
    """A stored signal and whether this call created it."""

    signal: Signal
    created: bool


def resolve_series(
    engine: Engine, settings: Settings, symbol: str, timeframe: str, exchange: str | None
) -> str:
    """The exchange a symbol's candles are stored under (``exchange`` or the only one)."""
    from hmas.store.candles import CandleStore

    return CandleStore(engine).resolve_exchange(
        symbol, timeframe, exchange, settings.fetch.exchange
    )


def load_inputs(
    engine: Engine,
    settings: Settings,
    exchange: str,
    symbol: str,
    timeframe: str,
    *,
    at_ms: int | None = None,
) -> MarketInputs:
    """What a decision at ``at_ms`` (default: the latest stored bar) reads, with its context.

    Exactly the candles from ``start(t)`` to the bar ``t`` (``hmas.decision.history``): the
    symbol's, and the benchmark's and the universe's over the same span, so the decision
    equals row ``t`` of a history pass over everything stored. A symbol quoted in another
    currency than the account's needs a conversion price at ``t``, or ConversionMissingError.
    """
    from hmas.decision.history import read_inputs, windowing
    from hmas.store.candles import CandleStore

    store = CandleStore(engine)
    t = store.last_ts(exchange, symbol, timeframe) if at_ms is None else at_ms
    if t is None:
        raise UsageError(f"no {symbol} {timeframe} candles stored on {exchange}")
    start = windowing(settings, timeframe).start(t)
    inputs = read_inputs(store, settings, exchange, symbol, timeframe, start, t)
    if index_to_ms(inputs.candles.index[-1:]) != [t]:  # check_bar first: never decide another bar
        if store.frame(exchange, symbol, timeframe, tail=1, until=t).empty:
            raise UsageError(
                f"no {symbol} {timeframe} candles stored on {exchange} at or before that time"
            )
        raise UsageError(f"no {symbol} {timeframe} bar stored at {_iso(t)} on {exchange}")
    if inputs.conversion is not None:
        from hmas.risk.currency import require

        require(inputs.conversion, settings, symbol, timeframe, t)  # a rate, or a clear error
    if settings.sentiment.use_fear_greed_index:
        _add_fear_greed(inputs, settings)
    return inputs


def _add_fear_greed(inputs: MarketInputs, settings: Settings) -> None:
    """Fetch the public Fear & Greed index (cached per day); a failure is noted, never fatal."""
    from hmas.data.feargreed import FearGreedClient

    days = len(inputs.candles) * timeframe_ms(inputs.timeframe) // 86_400_000 + 2
    client = FearGreedClient(
        settings.sentiment.fear_greed_url,
        cache_dir=settings.resolved_data_dir() / "cache",
        timeout=settings.fetch.timeout_seconds,
    )
    series = client.history(min(days, 2000))
    if series is None:
        inputs.fear_greed_error = client.last_error or "unavailable"
        return
    inputs.fear_greed = {
        pd_day(ts): int(value) for ts, value in series.items() if not math.isnan(float(value))
    }


def pd_day(ts: Any) -> str:
    """A timestamp's UTC day as ``YYYY-MM-DD``."""
    import pandas as pd

    return str(pd.Timestamp(ts).strftime("%Y-%m-%d"))


def analyze(
    engine: Engine,
    settings: Settings,
    symbol: str,
    timeframe: str,
    *,
    exchange: str | None = None,
    at_ms: int | None = None,
) -> AnalysisRecord:
    """Features and Layer 2 views for the last closed bar (or the bar at ``at_ms``); stored.

    With ``news.file`` the headlines file is read first: a bad one (NewsFileError) stores
    nothing and calls no model.
    """
    from hmas.data.news import load_feed

    symbol = normalize_symbol(symbol)
    timeframe_ms(timeframe)
    news = load_feed(settings)
    answerer = None
    if settings.uses_llm():  # routes and keys are checked before any work or call
        from hmas.decision.llm_engine import open_answerer

        answerer = open_answerer(engine, settings)
    exchange = resolve_series(engine, settings, symbol, timeframe, exchange)
    if at_ms is not None:
        check_bar(engine, exchange, symbol, timeframe, at_ms)
    inputs = load_inputs(engine, settings, exchange, symbol, timeframe, at_ms=at_ms)
    bar_ts = index_to_ms(inputs.candles.index)[-1]
    config_hash = settings.config_hash()
    existing = find_analysis(
        engine, exchange, symbol, timeframe, bar_ts, settings.book_name, config_hash
    )
    if existing is not None:
        return AnalysisRecord(existing, created=False)
    try:
        analysis = build_analysis(inputs, settings, ask=answerer, news=news)
    finally:
        if answerer is not None:
            answerer.close()
    try:
        with Session(engine, expire_on_commit=False) as session:
            session.add(analysis)
            session.commit()
        if answerer is not None:
            from hmas.store.llm_calls import attach

            attach(engine, answerer.batch, analysis_id=analysis.id)
    except IntegrityError:  # a concurrent run stored the same bar first
        found = find_analysis(
            engine, exchange, symbol, timeframe, bar_ts, settings.book_name, config_hash
        )
        if found is None:
            raise
        return AnalysisRecord(found, created=False)
    return AnalysisRecord(analysis, created=True)


def _iso(ms: int) -> str:
    """Epoch milliseconds as a short ISO UTC time (``2024-03-01T12:00Z``)."""
    from hmas.market import ms_to_datetime

    return ms_to_datetime(ms).strftime("%Y-%m-%dT%H:%M:%SZ" if ms % 60_000 else "%Y-%m-%dT%H:%MZ")


def check_bar(
    engine: Engine,
    exchange: str,
    symbol: str,
    timeframe: str,
    at_ms: int,
    *,
    now: int | None = None,
) -> None:
    """Refuse ``--at`` unless a closed, stored bar of the series opens exactly at ``at_ms``.

    The message says why and which bars exist: the series' first and last stored bar, and the
    stored bars nearest the requested time.
    """
    from hmas.market import last_closed_open_ms, now_ms
    from hmas.store.candles import CandleStore

    store = CandleStore(engine)
    step = timeframe_ms(timeframe)
    current = now_ms() if now is None else now
    (info,) = [
        s for s in store.series(symbol) if s.exchange == exchange and s.timeframe == timeframe
    ]
    first, last = _iso(info.first_ts), _iso(info.last_ts)
    span = f"{symbol} {timeframe} on {exchange} is stored from {first} to {last}"
    if at_ms > current:
        reason = f"is in the future (now is {_iso(current)})"
    elif at_ms > last_closed_open_ms(timeframe, current):
        closes = _iso(at_ms - at_ms % step + step)
        reason = f"is a {timeframe} bar not closed yet (it closes at {closes})"
    elif at_ms % step:
        reason = f"is not on a {timeframe} bar boundary"
    elif at_ms < info.first_ts:
        reason = "is before the first stored bar"
    elif at_ms > info.last_ts:
        reason = "is after the last stored bar; fetch newer candles first"
    elif store.timestamps(exchange, symbol, timeframe, at_ms, at_ms):
        return
    else:
        reason = "falls in a gap of the stored candles"
    before = store.timestamps(
        exchange, symbol, timeframe, max(at_ms - 1000 * step, info.first_ts), at_ms
    )
    after = store.timestamps(
        exchange, symbol, timeframe, at_ms, min(at_ms + 1000 * step, info.last_ts)
    )
    near = [f"{_iso(before[-1])}" if before else None, f"{_iso(after[0])}" if after else None]
    nearest = " and ".join(n for n in near if n)
    inside = reason.startswith(("is not on", "falls in")) and info.first_ts < at_ms < info.last_ts
    hint = f"; nearest stored bars: {nearest}" if nearest and inside else ""
    raise UsageError(f"--at {_iso(at_ms)} {reason}; {span}{hint}")


def build_analysis(
    inputs: MarketInputs,
    settings: Settings,
    *,
    ask: LlmAnswerer | None = None,
    news: NewsFeed | None = None,
) -> Analysis:
    """Run the agents over ``inputs`` and build (not store) the analysis of its last bar.

    ``ask``: the LLM engine's answerer; what its agents did is kept in ``context.llm``.
    ``news``: the news source (``hmas.decision.news``); the headlines of the bar's window are
    kept in ``context.news``, and the answerer's sentiment agent reads them.
    """
    from hmas.decision.news import AGENT, decided_at, with_news_count

    if ask is not None:
        ask.news = news
    output = compute(inputs, settings, decide=False, ask=ask)
    i = len(output.features) - 1
    context, snapshot_hash = describe(inputs)
    if news is not None and i >= 0:
        bar = output.features.index[i]
        close = decided_at(bar, inputs.timeframe)
        headlines = news.window(close, inputs.symbol)
        # The rules do not read them: only the count goes in, and their view says so.
        frame = output.frames[AGENT]
        output.frames[AGENT] = with_news_count(frame, {i: len(headlines)})
        context["news"] = news.record(close, headlines)
    if ask is not None and i >= 0:
        context["llm"] = {
            "routes": ask.routes_info(),
            "agents": ask.record(output.features.index[i]),
        }
        context["llm_batch"] = ask.batch
    ms = index_to_ms(inputs.candles.index)
    # The missing-candles rule's column, at this bar (the pipeline decides every bar with it).
    gaps = missing_candles(inputs.candles.index, inputs.timeframe, settings.decision.gap_lookback)
    context["recent_missing"] = int(gaps[-1]) if len(gaps) else 0
    return Analysis(
        exchange=inputs.exchange,
        symbol=inputs.symbol,
        timeframe=inputs.timeframe,
        bar_ts=ms[-1],
        engine=settings.book_name,
        config_hash=settings.config_hash(),
        hmas_version=__version__,
        source=inputs.source,
        window_first_ts=ms[0],
        window_last_ts=ms[-1],
        window_len=len(ms),
        snapshot_hash=snapshot_hash,
        context=context,
        features=feature_row(output.features, i),
        views=views_at(output, i),
        config=settings.decision_config(),
    )


def recent_missing(ms: list[int], timeframe: str, lookback: int) -> int:
    """Candles missing among the ``lookback`` bar slots ending at the last candle."""
    if not ms:
        return 0
    step = timeframe_ms(timeframe)
    start = ms[-1] - (lookback - 1) * step
    present = sum(1 for t in ms if t >= start)
    return max(0, lookback - present) if ms[0] <= start else 0


def decide(
    engine: Engine,
    settings: Settings,
    analysis: Analysis,
    *,
    run_id: int | None = None,
    historical: bool = False,
) -> SignalRecord:
    """Mother + guardian on a stored analysis; store the signal (once per bar and config).

    Live (the default): the live paper book is loaded, the proposal judged and the signal, its
    paper position and its pending result saved as one serialised step (``book_session``), so
    concurrent ``decide``/``run`` processes can never together break a limit; a run killed
    midway leaves either all of them or none.

    ``historical``: a decision as of a past bar (an analyst's question). It is judged against a
    fresh paper book as of that bar (starting equity, nothing open, no earlier approvals; the
    kill switch still applies), stored with ``guardian.book = "historical"``, and never opens,
    settles or counts in the live book.
    """
    from hmas.risk import ledger
    from hmas.risk.book import PaperBook
    from hmas.store.serial import book_session

    existing = find_signal(engine, analysis)
    if existing is not None:
        return SignalRecord(existing, created=False)
    # The mother's deliberation on a model is asked before the book is locked (never hold the
    # lock across a call); it is words only, so the verdict under the lock cannot depend on it.
    deliberation = _deliberation(engine, settings, analysis)
    try:
        if historical:
            with Session(engine, expire_on_commit=False) as session:
                stored = session.get(Account, analysis.engine)
                book = PaperBook.fresh(analysis.engine, settings.paper, ts_ms=analysis.bar_ts)
                switch = (
                    ledger.kill_switch_on(settings)
                    or bool(stored and stored.kill_switch)
                    or ledger.engine_switch_on(session, analysis.engine)
                )
                state = book.state(analysis.bar_ts, kill_switch=switch)
                signal = decide_signal(analysis, settings, state, deliberation)
                signal.guardian = {**signal.guardian, "book": "historical"}
                signal.run_id = run_id
                session.add(signal)
                session.commit()
            _cost(engine, analysis, signal)
            return SignalRecord(signal, created=True)
        with book_session(engine) as session:
            found = _signal_in(session, analysis)
            if found is not None:  # decided by another process while this one waited
                return SignalRecord(found, created=False)
            state = ledger.guardian_state(
                session,
                settings,
                analysis.engine,
                analysis.symbol,
                analysis.bar_ts,
                0,
                exchange=analysis.exchange,
                timeframe=analysis.timeframe,
            )
            signal = decide_signal(analysis, settings, state, deliberation)
            signal.run_id = run_id
            session.add(signal)
            session.flush()
            if signal.decision == "APPROVED":
                ledger.open_position(session, signal)
    except IntegrityError:
        found = find_signal(engine, analysis)
        if found is None:
            raise
        return SignalRecord(found, created=False)
    _cost(engine, analysis, signal)
    return SignalRecord(signal, created=True)


def _deliberation(engine: Engine, settings: Settings, analysis: Analysis) -> dict[str, Any] | None:
    """The mother's deliberation when she runs on a model (LLM engine), else None."""
    if settings.decision.engine != "llm":
        return None
    from hmas.decision.llm_engine import deliberation_of, open_answerer

    batch = analysis.context.get("llm_batch")
    return deliberation_of(open_answerer(engine, settings, batch=batch), analysis, settings)


def _cost(engine: Engine, analysis: Analysis, signal: Signal) -> None:
    """Tie the signal's LLM calls to it and store their cost on it."""
    batch = analysis.context.get("llm_batch")
    if batch and signal.id is not None:
        from hmas.store.llm_calls import attach

        signal.cost_usd = attach(engine, str(batch), analysis_id=analysis.id, signal_id=signal.id)


def _signal_in(session: Session, analysis: Analysis) -> Signal | None:
    """The stored signal of an analysis' bar and config, read in ``session``."""
    from sqlmodel import col, select

    stmt = select(Signal).where(
        col(Signal.exchange) == analysis.exchange,
        col(Signal.symbol) == analysis.symbol,
        col(Signal.timeframe) == analysis.timeframe,
        col(Signal.bar_ts) == analysis.bar_ts,
        col(Signal.engine) == analysis.engine,
        col(Signal.config_hash) == analysis.config_hash,
    )
    return session.exec(stmt).first()


def decide_signal(
    analysis: Analysis,
    settings: Settings,
    state: Any,
    deliberation: dict[str, Any] | None = None,
) -> Signal:
    """The signal for an analysis given the guardian's input state (pure: replay uses it too).

    A thin wrapper: the stored views are decided again (``decided_bar_of``), judged by
    ``verdict.verdict`` and written into a ``Signal`` row (not saved). An LLM analysis adds
    ``rounds.llm``: what each agent's model did (answered, abstained and why, the code's
    corrections) and the mother's ``deliberation``, which changes nothing else.
    """
    from hmas.decision.verdict import verdict

    signal = signal_row(
        analysis, verdict(decided_bar_of(analysis, settings, state.equity), state, settings)
    )
    llm = analysis.context.get("llm")
    if llm is not None or deliberation is not None:
        agents = (llm or {}).get("agents", {})
        signal.rounds = {**signal.rounds, "llm": {"agents": agents, "deliberation": deliberation}}
    return signal


def decided_bar_of(analysis: Analysis, settings: Settings, equity: float) -> DecidedBar:
    """The mother's row for a stored analysis, decided again from its views and context."""
    from hmas.decision import mother
    from hmas.decision.pipeline import frames_from_views
    from hmas.decision.verdict import DecidedBar

    views = analysis.views
    missing = [int(analysis.context.get("recent_missing", 0))]
    decided = mother.run_rules(frames_from_views(views), settings, equity=equity, missing=missing)
    row = {str(k): v for k, v in decided.iloc[0].items()}
    return DecidedBar(analysis.symbol, analysis.timeframe, analysis.bar_ts, row, views)


def signal_row(analysis: Analysis, judged: Verdict) -> Signal:
    """The ``Signal`` row of a verdict on a stored analysis (the only place the ORM appears)."""
    assert analysis.id is not None
    return Signal(
        analysis_id=analysis.id,
        exchange=analysis.exchange,
        symbol=analysis.symbol,
        timeframe=analysis.timeframe,
        bar_ts=analysis.bar_ts,
        engine=analysis.engine,
        config_hash=analysis.config_hash,
        hmas_version=__version__,
        source=analysis.source,
        decision=judged.decision,
        action=judged.action,
        confidence=judged.confidence,
        entry=judged.entry,
        stop_loss=judged.stop_loss,
        take_profit=judged.take_profit,
        size=judged.size,
        reward_risk=judged.reward_risk,
        expected_value_r=judged.expected_value_r,
        risk_adjusted_ev_r=judged.risk_adjusted_ev_r,
        consensus=judged.consensus,
        quality=judged.quality,
        conviction=judged.conviction,
        rejection_reason=judged.reason,
        rounds=judged.rounds,
        guardian=judged.guardian,
    )


def _state_json(obj: Any) -> dict[str, Any]:
    """A guardian model (state, proposal, verdict) as JSON-able data."""
    data: dict[str, Any] = obj.model_dump(mode="json")
    return data
