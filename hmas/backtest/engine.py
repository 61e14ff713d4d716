"""The simulation: the bars of every symbol walked in time order on one paper book.

At each candidate bar *t* (in time order across symbols, then in the order the symbols were
given) the engine does what ``hmas run`` does live at the close of *t*:

1. settle every position whose exit bar is at or before *t* (``PaperBook.settle``, which books
   the outcome at the close of its exit bar through ``apply_outcome``);
2. roll the book to *t* (``PaperBook.at``) and keep the approvals its counters read
   (``approvals_since``, what the store loads);
3. ask the symbol's plan; an order opens a ``BookPosition`` sized by the verdict at the
   simulated equity, filled at the next bar's open and followed to its exit by
   ``positions.follow_arrays`` (the paper position rules: fill, intrabar stop and target,
   gaps, expiry, costs per side).

A position's outcome is computed when it opens but reaches the book only at its exit bar, so
no decision sees a result before it happened. A position still open after the last bar stays
open (its value is marked to the last close in the equity curve).
"""

from __future__ import annotations

import heapq
import math
import operator
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hmas.backtest.strategy import Order, Plan, Refusal
from hmas.risk.positions import EXPIRED, LOSS, OPEN, WIN

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from hmas.backtest.strategy import ReferencePath, ReferencePlan
    from hmas.risk.book import PaperBook
    from hmas.risk.positions import PositionOutcome
    from hmas.settings import Settings

#: Called as progress(stage, done, total).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Trade:
    """One simulated position, from its signal bar to its exit (prices after slippage)."""

    id: int
    symbol: str
    side: str
    signal_ts: int
    entry: float
    stop: float
    target: float
    size: float
    equity_before: float
    status: str
    exit_reason: str
    fill_ts: int | None
    fill_price: float | None
    exit_ts: int | None
    exit_price: float | None
    bars_held: int
    r_multiple: float | None
    pnl_money: float | None
    pnl_pct: float | None
    mae_r: float
    mfe_r: float
    fee_bps: float
    slippage_bps: float
    fees: float
    slippage: float
    p_win: float | None
    expected_value_r: float | None
    reward_risk: float | None

    @property
    def closed(self) -> bool:
        return self.status != "open"

    @property
    def sign(self) -> float:
        return 1.0 if self.side == "BUY" else -1.0

    def as_dict(self) -> dict[str, Any]:
        return trade_dicts([self])[0]


_TIMES = ("signal_ts", "fill_ts", "exit_ts")
#: The fields of a ``Trade`` that hold a float (or None).
_NUMBERS = frozenset(
    name for name, kind in Trade.__annotations__.items() if kind in ("float", "float | None")
)


def trade_dicts(trades: Sequence[Trade]) -> list[dict[str, Any]]:
    """Each trade as JSON-able data: its fields (a non-finite number as None), then its times
    as ISO text (``signal_time``, ``fill_time``, ``exit_time``). Built column by column."""
    import numpy as np

    from hmas.backtest.data import iso_many

    names = list(Trade.__dataclass_fields__)
    if not trades:
        return []
    rows = list(map(operator.attrgetter(*names), trades))
    columns: list[list[Any]] = []
    for name, column in zip(names, zip(*rows, strict=True), strict=True):
        values = list(column)
        if name in _NUMBERS:
            # One check of the column (None counts as finite); a value kept as it was.
            numbers = np.array([0.0 if v is None else v for v in values], dtype=np.float64)
            if not np.isfinite(numbers).all():
                values = [None if v is not None and not math.isfinite(v) else v for v in values]
        columns.append(values)
    for name in _TIMES:
        stamps = columns[names.index(name)]
        known = [ts for ts in stamps if ts is not None]
        text = iter(iso_many(known))
        columns.append([None if ts is None else next(text) for ts in stamps])
    keys = [*names, *(name.replace("_ts", "_time") for name in _TIMES)]
    return [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]


@dataclass
class Simulation:
    """What the walk did: the trades, the refusals by guard, the book at the end."""

    trades: list[Trade]
    #: The book at the end (None: the reference strategy's walk keeps no book, see
    #: ``walk_reference``; its realised equity is ``final_equity``).
    book: PaperBook | None
    #: Candidate bars asked (the bars the mother approved, for the rules).
    candidates: int = 0
    #: Orders that found no later bar to fill on (at the end of the data).
    unfilled: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    #: Trades refused, per symbol.
    refused_per_symbol: Counter[str] = field(default_factory=Counter)
    final_equity: float | None = None

    @property
    def realised_equity(self) -> float:
        """The equity of the closed trades at the end (the book's, when one was kept)."""
        if self.book is not None:
            return self.book.account.equity
        assert self.final_equity is not None
        return self.final_equity


def _exit_reason(outcome: PositionOutcome, order: Order) -> str:
    if outcome.status == "win":
        return "target"
    if outcome.status == "loss":
        return "stop"
    if outcome.status == "expired":
        # An exit at a bar's open before the expiry is the exit signal's market order.
        return (
            "signal" if order.exit_at is not None and outcome.exit_price is not None else "expiry"
        )
    return "open"


def _fraction(bps: float) -> float:
    """A cost in bps as a fraction; non-finite or negative costs count as zero, as the
    simulator reads them (``hmas.risk.positions``)."""
    return bps / 10_000 if math.isfinite(bps) and bps > 0 else 0.0


def _costs(order: Order, outcome: PositionOutcome) -> tuple[float, float]:
    """(fees, slippage) paid in money: fees on both sides, slippage against the position."""
    assert outcome.fill_price is not None
    closed = outcome.status != "open" and outcome.exit_price is not None
    fees, slippage = _costs_paid(
        order.fee_bps,
        order.slippage_bps,
        1.0 if order.side == "BUY" else -1.0,
        outcome.fill_price,
        outcome.exit_price if closed else math.nan,
        closed,
        order.size,
    )
    return float(fees), float(slippage)


def _costs_paid(
    fee_bps: float, slippage_bps: float, sign: Any, fill: Any, exit_: Any, closed: Any, size: Any
) -> tuple[Any, Any]:
    """(fees, slippage) in money of filled positions (floats or arrays): the fee on both
    sides' notional, the slippage against the position (the exit side only when ``closed``)."""
    import numpy as np

    fee, slip = _fraction(fee_bps), _fraction(slippage_bps)
    with np.errstate(invalid="ignore"):
        fees = fee * fill * size + np.where(closed, fee * exit_ * size, 0.0)
        level = exit_ / (1 - sign * slip)
        slippage = fill * size * (1 - 1 / (1 + sign * slip)) * sign + np.where(
            closed, (level - exit_) * size * sign, 0.0
        )
    return fees, slippage


def walk(
    plans: Sequence[Plan],
    settings: Settings,
    *,
    engine_name: str,
    progress: Progress | None = None,
) -> Simulation:
    """Walk every plan's candidate bars in time order on one paper book (see the module doc)."""
    from hmas.market import timeframe_ms
    from hmas.risk.book import BookPosition, PaperBook
    from hmas.risk.positions import follow_arrays

    first = min(int(p.ts[0]) for p in plans)
    book = PaperBook.fresh(engine_name, settings.paper, ts_ms=first)
    events = sorted(
        (int(plan.ts[row]), k, int(row))
        for k, plan in enumerate(plans)
        for row in plan.candidates().tolist()
    )
    sim = Simulation(trades=[], book=book)
    pending: list[tuple[int, int, int, PositionOutcome]] = []
    total = len(events)
    step = max(1, total // 200)

    def settle_until(t: int | None) -> None:
        nonlocal book
        while pending and (t is None or pending[0][0] <= t):
            _, signal_id, bar_ms, outcome = heapq.heappop(pending)
            book = book.settle(signal_id, outcome, risk=settings.risk, bar_ms=bar_ms)

    for n, (t, k, row) in enumerate(events):
        if progress is not None and n % step == 0:
            progress("simulating", n, total)
        plan = plans[k]
        settle_until(t)
        book = book.at(t).approvals_since(t)
        sim.candidates += 1
        result = plan.decide(row, book)
        if result is None:
            continue
        if isinstance(result, Refusal):
            sim.refusals.update(result.refused_by)
            sim.refused_per_symbol[plan.series.symbol] += 1
            continue
        order = result
        signal_id = len(sim.trades) + sim.unfilled + 1
        later = slice(row + 1, None)
        outcome = follow_arrays(
            order.side,
            order.entry,
            order.stop,
            order.target,
            order.size,
            plan.ts[later],
            plan.ohlc[later],
            expiry_bars=order.expiry_bars,
            fee_bps=order.fee_bps,
            slippage_bps=order.slippage_bps,
            gap_allowance=order.gap_allowance,
            exit_at=None if order.exit_at is None else order.exit_at - row - 1,
        )
        if outcome.fill_ts is None:
            sim.unfilled += 1  # the last bar: no later open to fill on
            continue
        equity = book.account.equity
        book = book.open(
            BookPosition(
                signal_id=signal_id,
                exchange=plan.series.exchange,
                symbol=plan.series.symbol,
                timeframe=plan.series.timeframe,
                side=order.side,
                entry=order.entry,
                stop_loss=order.stop,
                take_profit=order.target,
                size=order.size,
                opened_bar_ts=t,
            )
        )
        if outcome.closed:
            assert outcome.exit_ts is not None
            bar_ms = timeframe_ms(plan.series.timeframe)
            heapq.heappush(pending, (outcome.exit_ts, signal_id, bar_ms, outcome))
        fees, slippage = _costs(order, outcome)
        sim.trades.append(
            Trade(
                id=signal_id,
                symbol=plan.series.symbol,
                side=order.side,
                signal_ts=t,
                entry=order.entry,
                stop=order.stop,
                target=order.target,
                size=order.size,
                equity_before=equity,
                status=outcome.status,
                exit_reason=_exit_reason(outcome, order),
                fill_ts=outcome.fill_ts,
                fill_price=outcome.fill_price,
                exit_ts=outcome.exit_ts,
                exit_price=outcome.exit_price if outcome.closed else None,
                bars_held=outcome.bars_held,
                r_multiple=outcome.r_multiple,
                pnl_money=outcome.pnl_money,
                pnl_pct=outcome.pnl_pct,
                mae_r=outcome.mae_r,
                mfe_r=outcome.mfe_r,
                fee_bps=order.fee_bps,
                slippage_bps=order.slippage_bps,
                fees=fees,
                slippage=slippage,
                p_win=order.p_win,
                expected_value_r=order.expected_value_r,
                reward_risk=order.reward_risk,
            )
        )
    settle_until(None)
    sim.book = book
    if progress is not None:
        progress("simulating", total, total)
    return sim


def walk_reference(
    plans: Sequence[ReferencePlan], settings: Settings, *, progress: Progress | None = None
) -> Simulation:
    """``walk`` for the reference strategy, from event to event instead of bar by bar.

    The reference has no mother and no guardian: each symbol's positions follow from its
    signals alone (``ReferencePlan.path``: the paper position rules of ``hmas.risk.positions``,
    through the same kernel as ``follow_arrays``), and the book matters only for the equity
    that sizes them. So the positions of every symbol are found first, then walked in the order
    ``walk`` asks them, the realised equity (the closed trades' P&L, each booked at its exit bar
    as ``PaperBook.settle`` books it) sizing each at its signal's close. The trades are those
    ``walk`` gives on the same plans (tests/backtest/test_reference_walk.py); no book is kept.
    """
    import numpy as np

    from hmas.backtest.strategy import REFERENCE_EXPOSURE

    if progress is not None:
        progress("simulating", 0, 1)
    paths = [plan.path() for plan in plans]
    events: list[tuple[int, int, int, int]] = []
    for k, (plan, path) in enumerate(zip(plans, paths, strict=True)):
        ts = plan.ts
        events += zip(
            ts[path.rows].tolist(),
            [k] * len(path.rows),
            path.rows.tolist(),
            range(len(path.rows)),
            strict=True,
        )
        events += [(int(ts[r]), k, int(r), -1) for r in path.unfilled.tolist()]
    events.sort()
    equity = settings.paper.starting_equity
    pending: list[tuple[int, int, float]] = []
    sizes = [np.zeros(len(p.rows)) for p in paths]
    before = [np.zeros(len(p.rows)) for p in paths]
    ids = [np.zeros(len(p.rows), dtype=np.int64) for p in paths]
    closes = [plan.ohlc[path.rows, 3].tolist() for plan, path in zip(plans, paths, strict=True)]
    nets = [p.followed.net.tolist() for p in paths]
    closed = [(p.followed.status != OPEN).tolist() for p in paths]
    exits = [plan.ts[p.bars.rows[p.last]].tolist() for plan, p in zip(plans, paths, strict=True)]
    unfilled = filled = 0
    for t, k, _, j in events:
        while pending and pending[0][0] <= t:
            equity += heapq.heappop(pending)[2]
        if j < 0:
            unfilled += 1  # the last bar: no later open to fill on
            continue
        filled += 1
        signal_id = filled + unfilled
        size = REFERENCE_EXPOSURE * equity / closes[k][j]
        sizes[k][j], before[k][j], ids[k][j] = size, equity, signal_id
        if closed[k][j]:
            pnl = size * nets[k][j]
            heapq.heappush(pending, (exits[k][j], signal_id, pnl if math.isfinite(pnl) else 0.0))
    while pending:
        equity += heapq.heappop(pending)[2]
    trades: list[Trade] = []
    for k, (plan, path) in enumerate(zip(plans, paths, strict=True)):
        trades += _reference_trades(plan, path, sizes[k], before[k], ids[k])
    trades.sort(key=lambda trade: trade.id)
    sim = Simulation(
        trades=trades,
        book=None,
        candidates=sum(len(p.entries) for p in plans),
        unfilled=unfilled,
        final_equity=equity,
    )
    if progress is not None:
        progress("simulating", 1, 1)
    return sim


_STATUS_NAMES = {WIN: "win", LOSS: "loss", EXPIRED: "expired", OPEN: "open"}
_EXIT_REASONS = {WIN: "target", LOSS: "stop", EXPIRED: "expiry", OPEN: "open"}


def _reference_trades(
    plan: ReferencePlan,
    path: ReferencePath,
    size: NDArray[np.float64],
    equity_before: NDArray[np.float64],
    ids: NDArray[np.int64],
) -> list[Trade]:
    """The ``Trade`` of each position of ``path`` (as ``walk`` records them)."""
    import numpy as np

    f = path.followed
    closed = f.status != OPEN
    fill_ts = plan.ts[path.bars.rows[path.fill]]
    exit_ts = plan.ts[path.bars.rows[path.last]]
    with np.errstate(invalid="ignore", divide="ignore"):
        pnl = size * f.net
        pct = 100 * f.net / f.fill_price
    fees, slippage = _costs_paid(
        path.fee_bps, 0.0, 1.0, f.fill_price, np.where(closed, f.exit_price, np.nan), closed, size
    )
    reasons = [_EXIT_REASONS[c] for c in f.status.tolist()]
    # An expiry before the data's end is the exit signal's market order.
    reasons = [
        "signal" if r == "expiry" and x >= 0 else r
        for r, x in zip(reasons, path.exit_at.tolist(), strict=True)
    ]

    def finite(values: NDArray[np.float64]) -> list[float | None]:
        return [v if math.isfinite(v) else None for v in values.tolist()]

    def when_closed(values: list[Any]) -> list[Any]:
        return [v if c else None for v, c in zip(values, closed.tolist(), strict=True)]

    columns = zip(
        ids.tolist(),
        plan.ts[path.rows].tolist(),
        plan.ohlc[path.rows, 3].tolist(),
        path.stop.tolist(),
        path.target.tolist(),
        size.tolist(),
        equity_before.tolist(),
        [_STATUS_NAMES[c] for c in f.status.tolist()],
        reasons,
        fill_ts.tolist(),
        f.fill_price.tolist(),
        when_closed(exit_ts.tolist()),
        when_closed(f.exit_price.tolist()),
        f.held.tolist(),
        when_closed(finite(f.r)),
        when_closed(finite(pnl)),
        when_closed(finite(pct)),
        f.mae.tolist(),
        f.mfe.tolist(),
        np.asarray(fees).tolist(),
        np.asarray(slippage).tolist(),
        strict=True,
    )
    symbol = plan.series.symbol
    return [
        Trade(
            id=i,
            symbol=symbol,
            side="BUY",
            signal_ts=t,
            entry=entry,
            stop=stop,
            target=target,
            size=units,
            equity_before=eq,
            status=status,
            exit_reason=reason,
            fill_ts=fill_t,
            fill_price=fill,
            exit_ts=exit_t,
            exit_price=exit_p,
            bars_held=held,
            r_multiple=r,
            pnl_money=money,
            pnl_pct=p,
            mae_r=mae,
            mfe_r=mfe,
            fee_bps=path.fee_bps,
            slippage_bps=0.0,
            fees=fee,
            slippage=slip,
            p_win=None,
            expected_value_r=None,
            reward_risk=None,
        )
        for (
            i,
            t,
            entry,
            stop,
            target,
            units,
            eq,
            status,
            reason,
            fill_t,
            fill,
            exit_t,
            exit_p,
            held,
            r,
            money,
            p,
            mae,
            mfe,
            fee,
            slip,
        ) in columns
    ]
