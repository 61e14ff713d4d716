"""Where a backtest's trades come from: a plan per symbol, asked at each of its candidate bars.

- ``RulesPlan``: the one decision. Every bar is decided by ``compute_history`` (anchored
  segments, so row *t* is exactly the live decision at *t*); at each bar the mother approved,
  ``verdict`` judges it against the simulated book's state, as ``decide`` does live (the
  missing-candles rule and the guardian, the size for the simulated equity). A bar the mother
  rejected needs no verdict: the verdict of a rejected row is a rejection whatever the book.
- ``ReferencePlan``: the reference strategy, a yardstick for the engine against backtesting.py
  (docs/backtest.md): long when RSI(14) < 30 and the close is below the lower Bollinger band
  (20, 2); stop 2 x ATR(14) and target 3 x ATR(14) from the signal's close; a market exit at
  the open after the first bar whose RSI(14) is above 70; 95 % of the equity at the signal's
  close; one position per symbol. It has no mother and no guardian.

Costs per side: the exchange's taker fee (the fee the paper ledger charges) and, for the rules,
half of the execution auditor's round-trip spread and slippage at the signal bar as adverse
slippage on each side. The reference pays the fee only (its yardstick has no spread).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from numpy.typing import NDArray

    from hmas.backtest.data import Series
    from hmas.decision.history import History
    from hmas.decision.pipeline import LayerAnswers
    from hmas.risk.book import PaperBook
    from hmas.risk.positions import Bars, Followed
    from hmas.settings import Settings

STRATEGIES = ("rules", "reference")
Strategy = Literal["rules", "reference"]

#: The reference strategy's numbers (docs/backtest.md).
RSI_ENTRY, RSI_EXIT = 30.0, 70.0
STOP_ATR, TARGET_ATR = 2.0, 3.0
#: The features the reference strategy reads (the only ones its plan computes).
REFERENCE_FEATURES = ("rsi_14", "bb_lower", "atr_14")
#: Share of the equity a reference position takes at the signal's close: the rest leaves room
#: for the fees and a gap up to the next open (backtesting.py cancels an order it cannot pay).
REFERENCE_EXPOSURE = 0.95


@dataclass(frozen=True)
class Order:
    """A trade to open after the bar: levels, size in units, costs per side in bps."""

    side: Literal["BUY", "SELL"]
    entry: float
    stop: float
    target: float
    size: float
    fee_bps: float
    slippage_bps: float
    #: Bars a position may be held (``risk.expiry`` in bars for the rules).
    expiry_bars: int
    #: Row at whose open a market order closes the position (an exit signal the bar before).
    exit_at: int | None = None
    #: The stop-out beyond the stop the size budgeted, as a share of the stop distance: part of
    #: one R (``risk.gap_allowance`` for the rules; the reference budgets none).
    gap_allowance: float = 0.0
    #: What the signal stated: its win probability, EV and reward/risk (None: not stated).
    p_win: float | None = None
    expected_value_r: float | None = None
    reward_risk: float | None = None


@dataclass(frozen=True)
class Refusal:
    """A trade the verdict refused: the guards that refused it and why."""

    refused_by: list[str]
    reason: str | None


class Plan(Protocol):
    """One symbol's trading plan over its simulated rows."""

    series: Series
    #: Open times (ms) and OHLC rows of the simulated bars.
    ts: NDArray[np.int64]
    ohlc: NDArray[np.float64]

    def candidates(self) -> NDArray[np.int64]:
        """Rows where the plan may open a trade, ascending."""
        ...

    def decide(self, row: int, book: PaperBook) -> Order | Refusal | None:
        """The trade at ``row`` on ``book`` (None: nothing to do there)."""
        ...


def taker_bps(settings: Settings, exchange: str) -> float:
    """The exchange's taker fee per side in bps (what the paper ledger charges)."""
    params = settings.execution
    return float(params.taker_bps.get(exchange.lower(), params.default_taker_bps))


def _rows(series: Series) -> tuple[NDArray[np.int64], NDArray[np.float64], int]:
    """The simulated bars' open times and OHLC, and how many bars were read before them."""
    import numpy as np
    import pandas as pd

    candles = series.inputs.candles
    ms = pd.DatetimeIndex(candles.index).as_unit("ms").asi8.astype(np.int64, copy=False)
    skip = int(np.searchsorted(ms, series.first, side="left"))
    ohlc = candles[["open", "high", "low", "close"]].to_numpy(dtype=np.float64, na_value=np.nan)
    return ms[skip:], ohlc[skip:], skip


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass
class RulesPlan:
    """The rules decision of one symbol (``compute_history``), judged by ``verdict``."""

    series: Series
    settings: Settings
    history: History
    ts: NDArray[np.int64] = field(init=False)
    ohlc: NDArray[np.float64] = field(init=False)
    #: Position of the first simulated row in the history pass.
    offset: int = field(init=False)
    decided: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        import numpy as np

        from hmas.market import index_to_ms

        self.ts, self.ohlc, _ = _rows(self.series)
        assert self.history.decided is not None, "compute_history(..., decide=True)"
        ms = np.asarray(index_to_ms(self.history.index), dtype=np.int64)
        self.offset = int(np.searchsorted(ms, self.series.first, side="left"))
        self.decided = self.history.decided.iloc[self.offset :]
        assert len(self.decided) == len(self.ts), "the pass covers every simulated bar"

    @classmethod
    def build(
        cls,
        series: Series,
        settings: Settings,
        progress: Callable[[int, int], None] | None = None,
        ask: LayerAnswers | None = None,
    ) -> RulesPlan:
        """Decide every bar of the series (the history pass), ready to be judged bar by bar.

        The pass keeps the views of the approved bars only: the verdict is asked nowhere else
        (a rejected row's verdict is a rejection whatever the book). ``ask``: the LLM engine's
        answerer of the simulated bars (``--engine llm``).
        """
        from hmas.decision.history import compute_history

        history = compute_history(
            series.inputs, settings, since=series.first, progress=progress, keep=_approved, ask=ask
        )
        return cls(series, settings, history)

    def candidates(self) -> NDArray[np.int64]:
        import numpy as np

        approved = self.decided["approved"].to_numpy(dtype=bool)
        return np.flatnonzero(approved).astype(np.int64)

    def proposals(self) -> NDArray[np.int64]:
        """Rows where alpha proposed a trade with usable prices (approved or not)."""
        import numpy as np

        direction = self.decided["direction"].to_numpy(dtype=np.float64)
        return np.flatnonzero(direction != 0).astype(np.int64)

    def decide(self, row: int, book: PaperBook) -> Order | Refusal | None:
        from hmas.decision.verdict import DecidedBar, verdict

        i = self.offset + row
        t = int(self.ts[row])
        decided = {str(k): v for k, v in self.decided.iloc[row].items()}
        bar = DecidedBar(
            self.series.symbol, self.series.timeframe, t, decided, self.history.views_at(i)
        )
        state = book.state(t, kill_switch=self.settings.kill_switch)
        judged = verdict(bar, state, self.settings)
        if judged.decision != "APPROVED":
            return Refusal(judged.refused_by, judged.reason)
        assert judged.entry is not None and judged.stop_loss is not None
        assert judged.take_profit is not None and judged.size is not None
        assert judged.action in ("BUY", "SELL")
        return Order(
            side=judged.action,
            entry=judged.entry,
            stop=judged.stop_loss,
            target=judged.take_profit,
            size=judged.size,
            fee_bps=self.fee_bps(decided),
            slippage_bps=self.price_cost_bps(decided),
            expiry_bars=self.settings.risk.expiry_bars(self.series.timeframe),
            gap_allowance=self.settings.risk.gap_allowance,
            p_win=_finite(decided.get("p_win")),
            expected_value_r=judged.expected_value_r,
            reward_risk=judged.reward_risk,
        )

    def fee_bps(self, decided: dict[str, Any]) -> float:
        """The fee of a side the sizing budgeted (the auditor's), else the exchange's taker fee."""
        fee = _finite(decided.get("cost_fee_bps"))
        return taker_bps(self.settings, self.series.exchange) if fee is None else fee

    def price_cost_bps(self, decided: dict[str, Any]) -> float:
        """The price cost of one side the sizing budgeted: half the auditor's spread plus its
        slippage of a side (``hmas.risk.costs.SideCosts.price_bps``), as the paper book pays."""
        spread = _finite(decided.get("cost_spread_bps"))
        slip = _finite(decided.get("cost_slippage_bps"))
        return max(spread or 0.0, 0.0) / 2 + max(slip or 0.0, 0.0)


def _approved(decided: pd.DataFrame) -> NDArray[np.bool_]:
    """The bars the mother approved (``keep`` of the backtest's history pass)."""
    import numpy as np

    approved: NDArray[np.bool_] = decided["approved"].to_numpy(dtype=bool)
    return approved if len(approved) else np.zeros(0, dtype=bool)


@dataclass
class ReferencePlan:
    """The reference RSI/Bollinger strategy of one symbol (see the module docstring)."""

    series: Series
    settings: Settings
    ts: NDArray[np.int64] = field(init=False)
    ohlc: NDArray[np.float64] = field(init=False)
    entries: NDArray[np.int64] = field(init=False)
    exits: NDArray[np.int64] = field(init=False)
    atr: NDArray[np.float64] = field(init=False)
    #: Its features (``REFERENCE_FEATURES``) of every bar read (warm-up included).
    features: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        import numpy as np

        from hmas.indicators import compute_features

        self.ts, self.ohlc, skip = _rows(self.series)
        self.features = compute_features(self.series.inputs.candles, only=REFERENCE_FEATURES)
        features = self.features.iloc[skip:]
        signals = reference_signals(features)
        self.entries = np.flatnonzero(signals["entry"].to_numpy(dtype=bool)).astype(np.int64)
        self.exits = np.flatnonzero(signals["exit"].to_numpy(dtype=bool)).astype(np.int64)
        self.atr = features["atr_14"].to_numpy(dtype=np.float64, na_value=np.nan)

    def candidates(self) -> NDArray[np.int64]:
        return self.entries

    def decide(self, row: int, book: PaperBook) -> Order | Refusal | None:
        import numpy as np

        if any(p.symbol == self.series.symbol for p in book.positions):
            return None  # one position at a time, as ``if not self.position`` reads
        close, atr = float(self.ohlc[row, 3]), float(self.atr[row])
        # The first exit signal from the fill bar (the next row) on; the exit is at the open
        # after it. With none, the position runs to its stop, its target or the data's end.
        k = int(np.searchsorted(self.exits, row + 1, side="left"))
        exit_at = int(self.exits[k]) + 1 if k < len(self.exits) else None
        held = (exit_at if exit_at is not None else len(self.ts)) - row
        return Order(
            side="BUY",
            entry=close,
            stop=close - STOP_ATR * atr,
            target=close + TARGET_ATR * atr,
            size=REFERENCE_EXPOSURE * book.account.equity / close,
            fee_bps=taker_bps(self.settings, self.series.exchange),
            slippage_bps=0.0,
            # No expiry: the exit signal, the stop or the target close the position.
            expiry_bars=held + 1,
            exit_at=exit_at,
        )

    def path(self) -> ReferencePath:
        """Every position the strategy takes on this symbol (what ``decide`` would open, bar by
        bar on a book, without asking at each bar): from each position's exit bar, the next
        entry signal at or after it. Sizes need the equity, so they are left to the walk."""
        import bisect

        import numpy as np

        from hmas.risk.positions import (
            HELD,
            NO_FILL,
            WINDOW,
            Bars,
            first_touches,
            locate,
            outcomes,
            side_costs,
        )

        bars = Bars.of(self.ohlc)
        n, entries = len(bars), self.entries
        fill = np.searchsorted(bars.rows, entries, side="right")
        # The exit signal's open (the bar after the first exit signal from the fill bar on).
        k = np.searchsorted(self.exits, entries + 1, side="left")
        signalled = k < len(self.exits)
        exit_at = np.where(signalled, self.exits[np.minimum(k, len(self.exits) - 1)] + 1, -1)
        cut = np.where(signalled, np.searchsorted(bars.rows, exit_at, side="left"), n)
        close = self.ohlc[entries, 3]
        atr = self.atr[entries]
        stop, target = close - STOP_ATR * atr, close + TARGET_ATR * atr
        taken: list[int] = []
        lasts: list[int] = []
        hows: list[int] = []
        unfilled: list[int] = []
        i, count = 0, len(entries)
        fills, cuts, stops, targets = (a.tolist() for a in (fill, cut, stop, target))
        signals, rows = entries.tolist(), bars.rows
        # Every entry's first window searched at once; the positions taken search on.
        ones = np.ones(len(entries), dtype=bool)
        touched = first_touches(bars, fill, cut, ones, stop, target).tolist()
        while i < count:
            # No expiry: n + 1 bars is longer than any position can be held.
            last, how = locate(
                bars,
                fills[i],
                n + 1,
                True,
                stops[i],
                targets[i],
                cuts[i],
                touched=touched[i],
                searched=WINDOW,
            )
            if how == NO_FILL:
                unfilled.append(i)
                i += 1
                continue
            taken.append(i)
            lasts.append(last)
            hows.append(how)
            if how == HELD:
                break  # open at the last bar: every later signal finds it open
            # One position at a time: the next entry is at or after the exit bar.
            i = max(i + 1, bisect.bisect_left(signals, int(rows[last])))
        at = np.array(taken, dtype=np.int64)
        fee = taker_bps(self.settings, self.series.exchange)
        followed = outcomes(
            bars,
            fill[at],
            np.array(lasts, dtype=np.int64),
            np.array(hows, dtype=np.int64),
            np.ones(len(at), dtype=bool),
            stop[at],
            target[at],
            close[at],
            side_costs(None, fee, 0.0, len(at)),
        )
        return ReferencePath(
            bars=bars,
            rows=entries[at],
            unfilled=entries[np.array(unfilled, dtype=np.int64)],
            fill=fill[at],
            last=np.array(lasts, dtype=np.int64),
            stop=stop[at],
            target=target[at],
            exit_at=exit_at[at],
            fee_bps=fee,
            followed=followed,
        )


@dataclass(frozen=True)
class ReferencePath:
    """The positions of ``ReferencePlan.path``: each one's signal row, fill and last bar (in
    ``bars``), levels, exit signal's row (−1: none) and outcome per unit; and the signal rows
    whose order found no bar to fill on."""

    bars: Bars
    rows: NDArray[np.int64]
    unfilled: NDArray[np.int64]
    fill: NDArray[np.int64]
    last: NDArray[np.int64]
    stop: NDArray[np.float64]
    target: NDArray[np.float64]
    exit_at: NDArray[np.int64]
    fee_bps: float
    followed: Followed


def reference_signals(features: pd.DataFrame) -> pd.DataFrame:
    """The reference strategy's entry and exit signal of every feature row (pure)."""
    import numpy as np
    import pandas as pd

    rsi = features["rsi_14"].to_numpy(dtype=np.float64, na_value=np.nan)
    close = features["close"].to_numpy(dtype=np.float64, na_value=np.nan)
    lower = features["bb_lower"].to_numpy(dtype=np.float64, na_value=np.nan)
    atr = features["atr_14"].to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        entry = (rsi < RSI_ENTRY) & (close < lower) & np.isfinite(atr) & (atr > 0)
        exit_ = rsi > RSI_EXIT
    return pd.DataFrame({"entry": entry, "exit": exit_}, index=features.index)


def build_plans(
    strategy: Strategy,
    series: list[Series],
    settings: Settings,
    progress: Callable[[str, int, int], None] | None = None,
    ask_for: Callable[[Series], LayerAnswers] | None = None,
) -> list[RulesPlan] | list[ReferencePlan]:
    """The plan of every symbol: ``progress(stage, done, total)`` hears the history passes;
    ``ask_for(series)`` gives the LLM engine's answerer of a series."""
    if strategy == "reference":
        return [ReferencePlan(s, settings) for s in series]
    plans = []
    for s in series:
        stage = f"deciding {s.symbol}"

        def hear(done: int, total: int, stage: str = stage) -> None:
            if progress is not None:
                progress(stage, done, total)

        plans.append(RulesPlan.build(s, settings, hear, None if ask_for is None else ask_for(s)))
    return plans
