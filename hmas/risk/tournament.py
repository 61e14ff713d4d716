"""The tournament's rules: rank paper books by realised P&L, weight capital by rank, blend.

One pure core shared by ``hmas backtest --tournament`` and ``hmas run --tournament`` (so the
same ranking rules apply in both by construction). Its inputs are arrays on a common time axis
of bar *close* times (epoch ms): each member's realised equity (what it booked: the starting
equity plus the P&L of the trades closed by then) and, for the blend, its marked-to-market
equity.

- Re-rank times are the multiples of ``rerank_ms`` since the epoch (UTC; ``7d`` re-ranks every
  Thursday 00:00, the epoch's weekday) after the first bar opens, up to the last close.
- At a re-rank time ``T`` a member's score is its realised P&L over ``[T - window, T]``: its
  realised equity at the last close at or before ``T`` less that at the last close at or
  before ``T - window``. Only closes at or before ``T`` are read: nothing after ``T`` can
  change the weights set at ``T`` (tests/risk/test_tournament.py changes the future to check).
- Members are ranked by score, best first; a tie keeps the members' order (their files'
  sorted names). Rank ``r`` gets ``weights[r - 1]``.
- Before the first full window (``T - window`` before the first bar's open) the capital is
  split equally, as it is at the start.
- The blend holds each member's share as a sub-account that moves with that member's
  equity: from one re-rank to the next, blend(t) = blend(T) x sum_k w_k x E_k(t) / E_k(T).
  It assumes a member's returns scale with the capital it is given (hmas sizes positions as
  a fraction of equity). A member whose equity is not above 0 at ``T`` ranks last and its
  share is held as cash.
- Default weights: linearly decreasing by rank, normalised to 1: rank r of N gets
  (N - r + 1) / (N (N + 1) / 2), which for four members is 40/30/20/10.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from hmas.settings import TournamentSettings


def linear_weights(n: int) -> tuple[float, ...]:
    """The default weights of ``n`` ranks: n, n-1, ..., 1 normalised to sum to 1."""
    if n < 1:
        raise ValueError(f"a tournament needs at least one member, not {n}")
    total = n * (n + 1) / 2
    return tuple((n - r) / total for r in range(n))


@dataclass(frozen=True)
class Rules:
    """A ranking window, a re-rank interval (ms) and the weights by rank (None: linear)."""

    window_ms: int
    rerank_ms: int
    weights: tuple[float, ...] | None = None

    @classmethod
    def of(cls, settings: TournamentSettings) -> Rules:
        """The rules a ``[tournament]`` section sets."""
        weights = None if settings.weights is None else tuple(settings.weights)
        return cls(settings.window_ms, settings.rerank_ms, weights)

    def weights_for(self, n: int) -> tuple[float, ...]:
        """The weights of ``n`` ranks; ValueError when the configured ones are not ``n``."""
        if self.weights is None:
            return linear_weights(n)
        if len(self.weights) != n:
            raise ValueError(
                f"tournament.weights has {len(self.weights)} weights for {n} configurations; "
                f"give one per configuration or remove tournament.weights (linear by rank)"
            )
        return self.weights


def duration_text(ms: int) -> str:
    """A duration in ms as settings write it (``7d``, ``12h``, ``90m``)."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"  # pragma: no cover - durations are whole minutes


def describe(rules: Rules, n: int) -> dict[str, Any]:
    """The rules as the JSON of a tournament shows them, for ``n`` members."""
    return {
        "window": duration_text(rules.window_ms),
        "rerank": duration_text(rules.rerank_ms),
        "weights": [round(w, 6) for w in rules.weights_for(n)],
        "weights_rule": "tournament.weights"
        if rules.weights is not None
        else "the default, linear by rank",
    }


@dataclass(frozen=True)
class Rerank:
    """One re-rank: when, each member's window P&L, rank and capital weight (members' order)."""

    ts: int
    #: False before the first full window: equal weights, no ranking.
    full_window: bool
    pnl: tuple[float | None, ...]
    ranks: tuple[int | None, ...]
    weights: tuple[float, ...]

    def as_dict(self, names: Sequence[str]) -> dict[str, Any]:
        from hmas.market import ms_to_datetime

        when = ms_to_datetime(self.ts).strftime("%Y-%m-%dT%H:%MZ")
        return {
            "at": when,
            "full_window": self.full_window,
            "members": [
                {
                    "name": name,
                    "window_pnl": None if p is None else round(p, 2),
                    "rank": r,
                    "weight": round(w, 6),
                }
                for name, p, r, w in zip(names, self.pnl, self.ranks, self.weights, strict=True)
            ],
        }


def rerank_times(first_open_ms: int, last_close_ms: int, rerank_ms: int) -> list[int]:
    """The multiples of ``rerank_ms`` since the epoch after the first open, to the last close."""
    if rerank_ms <= 0:
        raise ValueError(f"the re-rank interval must be above 0 ms, not {rerank_ms}")
    first = (first_open_ms // rerank_ms + 1) * rerank_ms
    return list(range(first, last_close_ms + 1, rerank_ms))


def rank(scores: Sequence[float | None]) -> tuple[int | None, ...]:
    """Ranks 1..n by score, highest first; ties keep their order; ``None`` scores rank last."""
    order = sorted(
        range(len(scores)),
        key=lambda i: (scores[i] is None, -(scores[i] or 0.0), i),
    )
    ranks: list[int | None] = [None] * len(scores)
    for place, i in enumerate(order, start=1):
        ranks[i] = place
    return tuple(ranks)


def _at(close_ts: NDArray[np.int64], values: NDArray[np.float64], t: int, before: float) -> float:
    """``values`` at the last close at or before ``t`` (``before`` when none is)."""
    import numpy as np

    i = int(np.searchsorted(close_ts, t, side="right")) - 1
    return before if i < 0 else float(values[i])


def schedule(
    close_ts: Sequence[int] | NDArray[np.int64],
    realised: Sequence[Sequence[float]] | NDArray[np.float64],
    start_equity: float,
    first_open_ms: int,
    rules: Rules,
    *,
    until_ms: int | None = None,
    alive: Sequence[Sequence[float]] | NDArray[np.float64] | None = None,
) -> list[Rerank]:
    """Every re-rank from ``first_open_ms`` to ``until_ms`` (default: the last close).

    ``realised[k]``: member k's realised equity at each close of ``close_ts`` (ascending).
    ``alive[k]`` (the blend's marked equity, optional): a member not above 0 there at ``T``
    ranks last whatever its score.
    """
    import numpy as np

    ts = np.asarray(close_ts, dtype=np.int64)
    books = np.atleast_2d(np.asarray(realised, dtype=np.float64))
    marked = None if alive is None else np.atleast_2d(np.asarray(alive, dtype=np.float64))
    n = books.shape[0]
    weights = rules.weights_for(n)
    equal = tuple(1.0 / n for _ in range(n))
    end = until_ms if until_ms is not None else (int(ts[-1]) if len(ts) else first_open_ms)
    out: list[Rerank] = []
    for t in rerank_times(first_open_ms, end, rules.rerank_ms):
        if t - rules.window_ms < first_open_ms:
            out.append(Rerank(t, False, tuple([None] * n), tuple([None] * n), equal))
            continue
        scores: list[float | None] = []
        for k in range(n):
            now = _at(ts, books[k], t, start_equity)
            then = _at(ts, books[k], t - rules.window_ms, start_equity)
            score = now - then
            if marked is not None and _at(ts, marked[k], t, start_equity) <= 0:
                score = float("nan")
            scores.append(score if math.isfinite(score) else None)
        ranks = rank(scores)
        out.append(
            Rerank(
                t,
                True,
                tuple(scores),
                ranks,
                tuple(weights[r - 1] if r is not None else 0.0 for r in ranks),
            )
        )
    return out


@dataclass
class Blend:
    """A blended equity curve and the re-ranks that set its weights."""

    equity: NDArray[np.float64]
    reranks: list[Rerank] = field(default_factory=list)


def blend(
    close_ts: Sequence[int] | NDArray[np.int64],
    equity: Sequence[Sequence[float]] | NDArray[np.float64],
    start_equity: float,
    reranks: Sequence[Rerank],
    *,
    equal: bool = False,
) -> NDArray[np.float64]:
    """The equity of capital split by ``reranks``' weights (``equal``: 1/n at the same times).

    Up to the first re-rank the split is equal; the weights set at ``T`` apply from the first
    close after ``T``.
    """
    import numpy as np

    ts = np.asarray(close_ts, dtype=np.int64)
    books = np.atleast_2d(np.asarray(equity, dtype=np.float64))
    n, bars = books.shape
    out = np.empty(bars, dtype=np.float64)
    value = float(start_equity)
    weights: NDArray[np.float64] = np.full(n, 1.0 / n)
    # Each member's equity when the split was set.
    base: NDArray[np.float64] = np.full(n, float(start_equity))
    begin = 0
    cuts = [(int(np.searchsorted(ts, r.ts, side="right")), r) for r in reranks]
    for stop, r in [*cuts, (bars, None)]:
        if stop > begin:
            with np.errstate(divide="ignore", invalid="ignore"):
                growth = np.where(base[:, None] > 0, books[:, begin:stop] / base[:, None], 1.0)
            # 1 + w.(g - 1), not w.g: weights summing to 1 +- 1e-16 must not drift a flat blend.
            out[begin:stop] = value * (1.0 + weights @ (growth - 1.0))
            value = float(out[stop - 1])
            base = books[:, stop - 1].copy()
            begin = stop
        if r is not None:
            weights = np.full(n, 1.0 / n) if equal else np.array(r.weights, dtype=np.float64)
    return out


def curve_figures(
    close_ts: Sequence[int] | NDArray[np.int64], equity: NDArray[np.float64], start_equity: float
) -> dict[str, Any]:
    """Total return, max drawdown and Sharpe (daily closes, 365 days a year) of a curve.

    A figure that cannot be measured is None with its reason in ``unknown``.
    """
    import numpy as np

    ts = np.asarray(close_ts, dtype=np.int64)
    unknown: dict[str, str] = {}
    final = float(equity[-1])
    total = final / start_equity - 1 if start_equity > 0 else float("nan")
    peak = np.maximum.accumulate(np.maximum(equity, start_equity))
    drawdown = float(np.max(np.where(peak > 0, 1 - equity / peak, 0.0)))
    day = (ts - 1) // 86_400_000  # a close at midnight belongs to the day it ends
    last = np.append(np.flatnonzero(np.diff(day) != 0), len(day) - 1)
    daily = np.concatenate([[start_equity], equity[last]])
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.diff(daily) / daily[:-1]
    sharpe: float | None = None
    if len(returns) < 2:
        unknown["sharpe"] = "fewer than 2 days of returns"
    elif not np.isfinite(returns).all():
        unknown["sharpe"] = "the equity reached zero"
    elif float(returns.std(ddof=1)) <= 0:
        unknown["sharpe"] = "the daily returns do not vary"
    else:
        sharpe = float(returns.mean() / returns.std(ddof=1) * math.sqrt(365.0))
    figures: dict[str, Any] = {
        "final_equity": round(final, 2) if math.isfinite(final) else None,
        "total_return": round(total, 6) if math.isfinite(total) else None,
        "max_drawdown": round(drawdown, 6) if math.isfinite(drawdown) else None,
        "sharpe": None if sharpe is None else round(sharpe, 4),
    }
    for name in ("final_equity", "total_return", "max_drawdown"):
        if figures[name] is None:
            unknown[name] = "the equity curve is not finite"
    figures["unknown"] = unknown
    return figures


@dataclass
class Standing:
    """The tournament compared: the blend, the best single member in hindsight, equal weights."""

    names: list[str]
    close_ts: NDArray[np.int64]
    members: list[dict[str, Any]]
    blended: dict[str, Any]
    equal_weight: dict[str, Any]
    best_single: dict[str, Any]
    reranks: list[Rerank]
    blended_equity: NDArray[np.float64]
    equal_equity: NDArray[np.float64]

    def as_dict(self) -> dict[str, Any]:
        last = self.reranks[-1] if self.reranks else None
        return {
            "members": self.members,
            "blended": self.blended,
            "equal_weight": self.equal_weight,
            "best_single": self.best_single,
            "current": None if last is None else last.as_dict(self.names),
            "reranks": [r.as_dict(self.names) for r in self.reranks],
        }


def compare(
    names: Sequence[str],
    close_ts: Sequence[int] | NDArray[np.int64],
    first_open_ms: int,
    equity: Sequence[Sequence[float]] | NDArray[np.float64],
    realised: Sequence[Sequence[float]] | NDArray[np.float64],
    start_equity: float,
    rules: Rules,
) -> Standing:
    """Rank, blend and compare: the blended curve against the best single member (chosen in
    hindsight, by final equity; labelled so) and an equal-weight blend rebalanced at the same
    times."""
    import numpy as np

    ts = np.asarray(close_ts, dtype=np.int64)
    books = np.atleast_2d(np.asarray(equity, dtype=np.float64))
    reranks = schedule(ts, realised, start_equity, first_open_ms, rules, alive=books)
    blended = blend(ts, books, start_equity, reranks)
    equal = blend(ts, books, start_equity, reranks, equal=True)
    members = []
    for k, name in enumerate(names):
        figures = curve_figures(ts, books[k], start_equity)
        members.append({"name": name, **figures})
    finals = [m["final_equity"] if m["final_equity"] is not None else -math.inf for m in members]
    best = int(np.argmax(finals))
    return Standing(
        names=list(names),
        close_ts=ts,
        members=members,
        blended=curve_figures(ts, blended, start_equity),
        equal_weight=curve_figures(ts, equal, start_equity),
        best_single={
            "name": names[best],
            "chosen": "in hindsight: the member with the highest final equity",
            **curve_figures(ts, books[best], start_equity),
        },
        reranks=reranks,
        blended_equity=blended,
        equal_equity=equal,
    )
