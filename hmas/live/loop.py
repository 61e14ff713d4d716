"""``hmas run``: fetch -> analyze -> paper update -> decide, per symbol, in a loop.

Every iteration is a restart as far as state goes: the store holds the account, positions,
signals and signal counts, so a cron job running ``--once`` every hour behaves like a loop.
One symbol failing is recorded and the others go on; SIGINT/SIGTERM finish the current
symbol and stop cleanly (``hmas.live.stop``).

Several runs share one store by series: a run leases each (exchange, symbol, timeframe) it
works on (``hmas.store.locks``), skips a symbol another live run holds (status ``held``; it
takes the series over once that run's lease expires), and is refused (exit 3) when another run
holds every one of its symbols. Its writes are fenced by its leases: one that finds it lost a
lease stops with ``LeaseLostError`` (exit 3) before writing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from hmas.errors import HmasError
from hmas.live.stop import StopFlag, stop_on_signals
from hmas.store.locks import LeaseLostError
from hmas.store.models import Run, utcnow

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.engine import Engine

    from hmas.risk.entrants import Entrant
    from hmas.settings import Settings
    from hmas.store.locks import Leases

logger = logging.getLogger(__name__)

#: Called as on_event(symbol, stage, detail) for the live view and log lines.
EventHook = Callable[[str, str, dict[str, Any]], None]
#: Called as on_outcome(iteration, outcome) as soon as a symbol is done (for streamed output).
OutcomeHook = Callable[["IterationResult", "SymbolOutcome"], None]


@dataclass
class RunOptions:
    """What ``hmas run`` was asked to do."""

    symbols: list[str]
    timeframe: str
    source: str = "exchange"
    exchange: str | None = None
    iterations: int = 1
    sleep_seconds: float = 60.0
    fetch: bool = True
    #: ``--tournament``: every symbol is decided by each of these configurations, each into its
    #: own paper book (``Entrant.book``), on the candles fetched once per symbol.
    entrants: list[Entrant] = field(default_factory=list)

    def rows(self) -> list[str]:
        """The live view's rows: a symbol, or a symbol and an entrant in a tournament."""
        if not self.entrants:
            return list(self.symbols)
        return [f"{s} {e.name}" for s in self.symbols for e in self.entrants]


@dataclass
class SymbolOutcome:
    """What one symbol did in one iteration."""

    symbol: str
    status: str = "ok"
    signal_id: int | None = None
    decision: str | None = None
    action: str | None = None
    created: bool = False
    candles_added: int = 0
    closed_positions: int = 0
    error: str | None = None
    rejection_reason: str | None = None
    #: The guards that refused the trade (``kill_switch``, ``cooldown``, …), from the verdict.
    refused_by: list[str] = field(default_factory=list)
    #: True when the symbol was decided on synthetic sample data, not a real market.
    sample: bool = False
    #: The exit code this symbol alone calls for (0 ok, 1 error, 2 bad usage such as a symbol
    #: the exchange does not list).
    exit_code: int = 0
    #: The USD the signal's LLM calls cost (LLM engine only).
    cost_usd: float | None = None
    #: ``--tournament``: the paper book (``rules@fast``) this outcome was decided into.
    book: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form (``refused_by`` is for the exit code; the record keeps its keys;
        ``cost_usd`` only under the LLM engine, ``book`` only in a tournament)."""
        return {
            k: v
            for k, v in self.__dict__.items()
            if k != "refused_by" and not (k in ("cost_usd", "book") and v is None)
        }


@dataclass
class IterationResult:
    """One iteration: its run record and each symbol's outcome."""

    run_id: int
    iteration: int
    status: str
    symbols: list[SymbolOutcome] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "run_id": self.run_id,
            "iteration": self.iteration,
            "status": self.status,
            "symbols": [s.as_dict() for s in self.symbols],
        }


def run_loop(
    engine: Engine,
    settings: Settings,
    options: RunOptions,
    *,
    on_event: EventHook | None = None,
    on_outcome: OutcomeHook | None = None,
    stop: StopFlag | None = None,
    install_signal_handlers: bool = True,
    keep: int | None = None,
) -> list[IterationResult]:
    """Run ``options.iterations`` iterations (-1: until stopped) under the symbols' leases.

    Returns the iterations' results, the last ``keep`` of them when given: a loop that runs
    for weeks must not hold every iteration it ran (the CLI keeps the last one).
    """
    from hmas.store.engine import retry_quick_busy
    from hmas.store.locks import Leases, held_error

    stop = stop or StopFlag()
    if install_signal_handlers:
        with stop_on_signals(stop):
            return run_loop(
                engine,
                settings,
                options,
                on_event=on_event,
                on_outcome=on_outcome,
                stop=stop,
                install_signal_handlers=False,
                keep=keep,
            )
    leases = Leases(engine, settings.run.lease_seconds)
    keys = series_keys(settings, options)
    # Runners that start together may meet a lock conflict SQLite reports at once: try again.
    refused = retry_quick_busy(lambda: leases.take(keys.values()))
    if not leases.held:
        raise held_error(refused)
    for holder in refused.values():
        logger.warning("another hmas run holds the store lock %s: skipped while it lasts", holder)
    results: deque[IterationResult] = deque(maxlen=keep)
    seen = utcnow()  # pauses started or lifted after it are passed to on_event
    try:
        with leases.fenced():
            n = 0
            while options.iterations < 0 or n < options.iterations:
                n += 1
                results.append(
                    _iteration(engine, settings, options, n, stop, on_event, leases, on_outcome)
                )
                seen = _pause_events(engine, seen, on_event)
                if stop.stopped or (options.iterations >= 0 and n >= options.iterations):
                    break
                _sleep(options.sleep_seconds, stop, leases)
                if stop.stopped:  # stopped while waiting: no empty iteration after it
                    break
    finally:
        leases.release()
    return list(results)


def series_keys(settings: Settings, options: RunOptions) -> dict[str, str]:
    """Each symbol's lease key: exchange (``sample`` for the sample market), symbol, timeframe."""
    from hmas.data.sample import SAMPLE_EXCHANGE
    from hmas.store.locks import lease_key

    if options.source == "sample":
        exchange = SAMPLE_EXCHANGE
    else:
        exchange = (options.exchange or settings.fetch.exchange).strip().lower()
    return {s: lease_key(exchange, s, options.timeframe) for s in options.symbols}


def _pause_events(engine: Engine, since: datetime, on_event: EventHook | None) -> datetime:
    """Pass each pause started, lifted or expired since ``since`` to ``on_event`` as
    ``on_event(scope, "pause_started" | "pause_lifted", pause)`` (the notification hook,
    docs/risk.md); return the new cursor."""
    from hmas.store.pauses import events_between

    now = utcnow()
    if on_event is not None:
        for event in events_between(engine, since, now):
            on_event(str(event["scope"]), str(event.pop("event")), event)
    return now


def _sleep(seconds: float, stop: StopFlag, leases: Leases) -> None:
    # Renewed three times a lease: a runner that is merely waiting never loses one.
    beat = min(30.0, leases.seconds / 3)
    end = time.monotonic() + seconds
    while not stop.stopped and (left := end - time.monotonic()) > 0:
        stop.event.wait(min(left, beat))
        leases.renew()


def _iteration(
    engine: Engine,
    settings: Settings,
    options: RunOptions,
    n: int,
    stop: StopFlag,
    on_event: EventHook | None,
    leases: Leases,
    on_outcome: OutcomeHook | None = None,
) -> IterationResult:
    keys = series_keys(settings, options)
    # A series another run held may be free now (its run ended, or its lease expired).
    held_elsewhere = leases.take(keys.values())
    leases.renew()  # before the run row: a runner that lost a lease writes nothing more
    with Session(engine, expire_on_commit=False) as session:
        run = Run(
            iteration=n,
            pid=os.getpid(),
            host=socket.gethostname(),
            engine=settings.decision.engine,
            config_hash=settings.config_hash(),
            symbols=options.symbols,
        )
        session.add(run)
        session.commit()
    assert run.id is not None
    result = IterationResult(run.id, n, "running")
    # One exchange object per iteration: markets load once, and an exchange that cannot be
    # reached fails its other symbols at once instead of retrying for each of them.
    shared: dict[str, Any] = {"sources": {}, "errors": {}}
    for symbol in options.symbols:
        if stop.stopped:
            break
        holder = held_elsewhere.get(keys[symbol])
        if holder is not None:
            outcomes = []
            for book, label in _books(options, symbol):
                outcome = SymbolOutcome(
                    symbol, status="held", error=f"another hmas run holds it {holder}", book=book
                )
                if on_event is not None:
                    on_event(label, "held", {"error": outcome.error})
                outcomes.append(outcome)
        elif options.entrants:
            outcomes = _tournament_symbol(engine, options, symbol, run.id, on_event, shared)
        else:
            outcomes = [_one_symbol(engine, settings, options, symbol, run.id, on_event, shared)]
        for outcome in outcomes:
            result.symbols.append(outcome)
            if on_outcome is not None:
                on_outcome(result, outcome)
        leases.renew()
    failed = [s for s in result.symbols if s.status == "error"]
    if stop.stopped:
        result.status = "interrupted"
    elif failed and len(failed) == len(result.symbols):
        result.status = "error"
    elif failed:
        result.status = "partial"
    else:
        result.status = "ok"
    with Session(engine, expire_on_commit=False) as session:
        stored = session.get(Run, run.id)
        assert stored is not None
        stored.status = result.status
        stored.finished_at = utcnow()
        stored.signals_created = sum(1 for s in result.symbols if s.created)
        stored.approved = sum(1 for s in result.symbols if s.created and s.decision == "APPROVED")
        stored.errors = {s.symbol: s.error for s in failed}
        session.add(stored)
        session.commit()
    return result


def _books(options: RunOptions, symbol: str) -> list[tuple[str | None, str]]:
    """(book, view row) of each decision a symbol gets: one, or one per tournament entrant."""
    if not options.entrants:
        return [(None, symbol)]
    return [(e.book, f"{symbol} {e.name}") for e in options.entrants]


def _tournament_symbol(
    engine: Engine,
    options: RunOptions,
    symbol: str,
    run_id: int,
    on_event: EventHook | None,
    shared: dict[str, Any],
) -> list[SymbolOutcome]:
    """A symbol decided by every entrant into its own book: the first fetches, the rest read
    the same stored candles (the exchange the fetch stored them under)."""
    outcomes: list[SymbolOutcome] = []
    exchanges: dict[str, str] = shared.setdefault("exchanges", {})
    for i, entrant in enumerate(options.entrants):
        label = f"{symbol} {entrant.name}"
        if i and symbol not in exchanges:  # the fetch failed: nothing new to decide on
            first = outcomes[0]
            outcome = SymbolOutcome(
                symbol,
                status=first.status,
                error=f"same error as {options.entrants[0].name}: {first.error}",
                sample=first.sample,
                exit_code=first.exit_code,
                book=entrant.book,
            )
            if on_event is not None:
                on_event(label, "error", {"error": outcome.error})
        else:
            outcome = _one_symbol(
                engine,
                entrant.settings.for_book(entrant.book),
                options,
                symbol,
                run_id,
                on_event,
                shared,
                fetched_into=exchanges.get(symbol) if i else None,
                label=label,
            )
            outcome.book = entrant.book
        outcomes.append(outcome)
    return outcomes


def _one_symbol(
    engine: Engine,
    settings: Settings,
    options: RunOptions,
    symbol: str,
    run_id: int,
    on_event: EventHook | None,
    shared: dict[str, Any] | None = None,
    *,
    fetched_into: str | None = None,
    label: str | None = None,
) -> SymbolOutcome:
    """Fetch (unless ``fetched_into`` names the exchange already fetched into), analyse, settle and
    decide one symbol; ``label`` keys its events (default: the symbol)."""
    from hmas.data.fetch import FetchRequest, fetch_candles
    from hmas.decision import service
    from hmas.decision.verdict import refused_by
    from hmas.live.settle import settle_then_decide
    from hmas.risk import ledger
    from hmas.store.candles import CandleStore

    def emit(stage: str, **detail: Any) -> None:
        if on_event is not None:
            on_event(label or symbol, stage, detail)

    outcome = SymbolOutcome(symbol, sample=options.source == "sample")
    try:
        if fetched_into is not None:
            exchange = fetched_into
        elif options.fetch:
            emit("fetching")
            request = FetchRequest(
                symbols=[symbol],
                timeframe=options.timeframe,
                source=options.source,  # type: ignore[arg-type]
                exchange=options.exchange,
            )
            (fetched,) = fetch_candles(
                CandleStore(engine), settings, request, sources=(shared or {}).get("sources")
            )
            outcome.candles_added = fetched.added
            exchange = fetched.exchange
        else:
            exchange = service.resolve_series(
                engine, settings, symbol, options.timeframe, options.exchange
            )
        if shared is not None:
            shared.setdefault("exchanges", {})[symbol] = exchange
        emit("analyzing")
        analysis = service.analyze(
            engine, settings, symbol, options.timeframe, exchange=exchange
        ).analysis
        outcome.sample = analysis.source == "sample"
        abstained = [n for n, v in analysis.views.items() if v.get("abstained")]
        agents = f"{len(analysis.views) - len(abstained)}/{len(analysis.views)} answered"
        if abstained:
            agents += f" ({', '.join(abstained)} abstained)"
        decided = settle_then_decide(
            engine,
            settings,
            analysis,
            run_id=run_id,
            live=True,
            on_stage=lambda stage: emit(
                stage, **({"agents": agents} if stage == "deciding" else {})
            ),
        )
        outcome.closed_positions = len(decided.closed)
        record = decided.record
        sig = record.signal
        outcome.signal_id, outcome.created = sig.id, record.created
        outcome.decision, outcome.action = sig.decision, sig.action
        outcome.rejection_reason = sig.rejection_reason
        outcome.refused_by = refused_by(sig.guardian)
        outcome.cost_usd = sig.cost_usd
        emit(
            "done",
            decision=sig.decision,
            action=sig.action,
            signal_id=sig.id,
            created=record.created,
            reason=sig.rejection_reason,
            positions=ledger.open_position_count(engine, settings.book_name, symbol=symbol),
        )
    except Exception as exc:
        lost = _lease_lost(exc)
        if lost is not None:  # another runner has the series now: stop, write nothing more
            raise lost from None
        _record_error(outcome, exc, symbol, shared, emit, log=on_event is None)
    return outcome


def _lease_lost(exc: BaseException) -> LeaseLostError | None:
    """The ``LeaseLostError`` behind ``exc`` (a layer may have translated it), if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, LeaseLostError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _record_error(
    outcome: SymbolOutcome,
    exc: Exception,
    symbol: str,
    shared: dict[str, Any] | None,
    emit: Callable[..., None],
    *,
    log: bool,
) -> None:
    """Put a symbol's failure on record (called inside the ``except`` that caught it)."""
    if isinstance(exc, HmasError):
        outcome.status, outcome.error = "error", str(exc)
        outcome.exit_code = exc.exit_code
        # Print an error once per iteration: later symbols failing alike point back to it.
        seen = shared["errors"] if shared is not None else {}
        if str(exc) in seen:
            emit("error", error=f"same error as {seen[str(exc)]}")
        else:
            seen[str(exc)] = symbol
            if log:
                logger.error("%s: %s", symbol, exc)
            emit("error", error=str(exc))
    else:  # one symbol's bug must not stop the others; it is on record
        outcome.status, outcome.error = "error", f"unexpected {type(exc).__name__}: {exc}"
        outcome.exit_code = 1
        logger.exception("%s failed", symbol)
        emit("error", error=outcome.error)
