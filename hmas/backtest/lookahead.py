"""The lookahead check: re-decide bars on history cut at them and compare with the backtest's.

A bar's decision in the backtest comes from the history pass, which computed it together with
the bars after it (the rest of its segment). Here the bar is decided again on the candles up to
it and no further, exactly as a live ``decide`` reads them (``Windowing.start(t)`` to *t* for
the rules; the series up to *t* for the reference strategy), and every feature and every
column of the decision must come out the same, bit for bit. Any column that differs is a bar
whose result knew something of its future.

Checked: every trade's signal bar (its entry), its exit bar (and the bar of the exit signal
before a signal exit), and a seeded random sample of other simulated bars.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hmas.backtest.data import iso

if TYPE_CHECKING:
    import pandas as pd

    from hmas.backtest.engine import Progress
    from hmas.backtest.run import BacktestResult
    from hmas.backtest.strategy import Plan
    from hmas.settings import Settings

#: Other bars checked per symbol besides the entries and exits.
SAMPLE_BARS = 50
SEED = 20_190_101


@dataclass(frozen=True)
class Change:
    """One column of one bar that differs between the history pass and the cut history."""

    symbol: str
    bar: str
    why: str
    column: str
    history: Any
    cut: Any

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "bar": self.bar,
            "why": self.why,
            "column": self.column,
            "history": self.history,
            "cut": self.cut,
        }


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if a is None and isinstance(b, float) and math.isnan(b):
        return True
    if b is None and isinstance(a, float) and math.isnan(a):
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    """A cell as JSON: numbers as floats (NaN as None), the rest as text."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return None if not math.isfinite(value) else value
    if isinstance(value, bool | int | str) or value is None:
        return value
    return str(value)


def _diff(history: pd.Series, cut: pd.Series, prefix: str) -> list[tuple[str, Any, Any]]:
    found = []
    for column in sorted(set(history.index) | set(cut.index), key=str):
        a = history.get(column, "(missing)")
        b = cut.get(column, "(missing)")
        if not _same(a, b):
            found.append((f"{prefix}{column}", _plain(a), _plain(b)))
    return found


def _rows_to_check(plan: Plan, result: BacktestResult, sample: int) -> dict[int, str]:
    """Row -> why (``entry``, ``exit``, ``exit signal``, joined by ``+``; or ``sample``)."""
    import numpy as np

    symbol = plan.series.symbol
    why: dict[int, list[str]] = {}

    def add(ts: int | None, reason: str, back: int = 0) -> None:
        if ts is None:
            return
        at = int(np.searchsorted(plan.ts, ts))
        if at < len(plan.ts) and int(plan.ts[at]) == ts and at - back >= 0:
            reasons = why.setdefault(at - back, [])
            if reason not in reasons:
                reasons.append(reason)

    for trade in result.simulation.trades:
        if trade.symbol != symbol:
            continue
        add(trade.signal_ts, "entry")
        add(trade.exit_ts, "exit")
        if trade.exit_reason == "signal":
            add(trade.exit_ts, "exit signal", back=1)
    others = np.setdiff1d(np.arange(len(plan.ts)), np.fromiter(why, dtype=np.int64))
    rng = np.random.default_rng(SEED)
    picked = rng.choice(others, size=min(sample, len(others)), replace=False)
    rows = {row: "+".join(reasons) for row, reasons in why.items()}
    rows.update({int(row): "sample" for row in picked})
    return dict(sorted(rows.items()))


def _rules_changes(plan: Any, row: int, settings: Settings) -> list[tuple[str, Any, Any]]:
    import pandas as pd

    from hmas.decision.history import span, windowing
    from hmas.decision.pipeline import compute

    t = int(plan.ts[row])
    inputs = plan.series.inputs
    first = pd.Timestamp(windowing(settings, plan.series.timeframe).start(t), unit="ms", tz="UTC")
    out = compute(span(inputs, first, pd.Timestamp(t, unit="ms", tz="UTC")), settings)
    assert out.decided is not None
    i = plan.offset + row
    part, at = plan.history.locate(i)
    try:
        kept = part.output.features.iloc[part.position(at)]
    except KeyError:
        # The pass kept no features at this bar: those of its segment's window, recomputed
        # (the window the pass computed them over, so the same numbers).
        from hmas.indicators import compute_features

        assert part.output.decided is not None
        window = span(
            inputs,
            pd.Timestamp(part.window_start, unit="ms", tz="UTC"),
            part.output.decided.index[-1],
        )
        kept = compute_features(window.candles).loc[pd.Timestamp(t, unit="ms", tz="UTC")]
    found = _diff(kept, out.features.iloc[-1], "feature ")
    found += _diff(plan.decided.iloc[row], out.decided.iloc[-1], "decision ")
    return found


def _reference_changes(plan: Any, row: int) -> list[tuple[str, Any, Any]]:
    import pandas as pd

    from hmas.backtest.strategy import REFERENCE_FEATURES, reference_signals
    from hmas.indicators import compute_features

    t = pd.Timestamp(int(plan.ts[row]), unit="ms", tz="UTC")
    full = plan.features
    cut = compute_features(plan.series.inputs.candles.loc[:t], only=REFERENCE_FEATURES)
    found = _diff(full.loc[t], cut.iloc[-1], "feature ")
    found += _diff(
        reference_signals(full.loc[[t]]).iloc[-1], reference_signals(cut.iloc[[-1]]).iloc[-1], ""
    )
    return found


def check(
    result: BacktestResult,
    settings: Settings,
    *,
    sample: int = SAMPLE_BARS,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Re-decide the checked bars of every symbol on cut history; every change found."""
    plans = result.plans
    todo = [(plan, _rows_to_check(plan, result, sample)) for plan in plans]
    total = sum(len(rows) for _, rows in todo)
    counts = {"entry": 0, "exit": 0, "sample": 0}
    changes: list[Change] = []
    done = 0
    for plan, rows in todo:
        for row, why in rows.items():
            if progress is not None:
                progress("checking lookahead", done, total)
            done += 1
            reasons = why.split("+")
            counts["entry"] += "entry" in reasons
            counts["exit"] += "exit" in reasons
            counts["sample"] += "sample" in reasons
            if result.strategy == "rules":
                found = _rules_changes(plan, row, settings)
            else:
                found = _reference_changes(plan, row)
            bar = iso(int(plan.ts[row]))
            changes += [Change(plan.series.symbol, bar, why, *f) for f in found]
    if progress is not None:
        progress("checking lookahead", total, total)
    return {
        "ok": not changes,
        "checked": {
            "total": total,
            "entries": counts["entry"],
            "exits": counts["exit"],
            "sampled": counts["sample"],
        },
        "changes": [c.as_dict() for c in changes],
    }
