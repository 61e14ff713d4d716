"""The code's checks on what an LLM proposes: prices against the candles, text within bounds.

An LLM gives a view; it never sets a number the code owns. Every price it proposes is checked
against the candle snapshot of the bar it answers for, and either corrected to the nearest
valid value or rejected; each correction and rejection is a flag kept with the signal
(``rounds.llm``). Reward/risk is always recomputed from the prices the code accepted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

#: An entry further than this many ATR from the last close is moved to the nearest valid
#: value (the decision's fill is the next bar's open, so an entry far from the close is a
#: price the trade will never see).
ENTRY_MAX_ATR = 1.0
#: Prices outside [low / FAR, high × FAR] of the snapshot are another asset's, not a level.
FAR = 1.5
#: A stated reward/risk more than this far (relative) from the prices' own is inconsistent.
RR_TOLERANCE = 0.05
#: Text an LLM writes is cut to these lengths (characters) and list lengths.
MAX_TEXT = 2_000
MAX_JOURNAL = 20_000
MAX_ITEMS = 20


@dataclass
class Checked:
    """Fields after the checks, and what the checks did (one line each)."""

    fields: dict[str, Any]
    flags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Snapshot:
    """What prices are checked against: the bar's close, ATR and the window's extremes."""

    close: float
    atr: float
    low: float
    high: float

    def foreign(self, price: float) -> bool:
        """True for a price no level of this asset's window could be."""
        return not (self.low / FAR <= price <= self.high * FAR)


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def check_trade(fields: dict[str, Any], snap: Snapshot, max_stop_atr: float) -> Checked:
    """Alpha's proposal checked: BUY/SELL keep prices the code accepts, or become HOLD.

    Rejected (HOLD, with the reason as ``hold_reason``): a BUY/SELL without a stop or target, a
    price of another asset, a stop or target on the wrong side of the entry, a stop wider than
    ``max_stop_atr`` ATR. Corrected: a missing entry (the close), an entry further than
    ``ENTRY_MAX_ATR`` ATR from the close (moved to that bound). ``reward_risk`` is the prices'.
    """
    out = dict(fields)
    flags: list[str] = []
    action = out.get("action", "HOLD")
    stated = _finite(out.get("reward_risk"))
    out["reward_risk"] = None
    if action not in ("BUY", "SELL"):
        out.update(entry=None, stop=None, target=None)
        return Checked(out, flags)

    def reject(why: str) -> Checked:
        flags.append(f"proposal rejected: {why}")
        out.update(
            action="HOLD",
            entry=None,
            stop=None,
            target=None,
            reward_risk=None,
            setup=None,
            hold_reason=f"LLM proposal rejected by the code: {why}",
        )
        return Checked(out, flags)

    entry, stop, target = (_finite(out.get(k)) for k in ("entry", "stop", "target"))
    if stop is None:
        return reject(f"{action} without a stop")
    if target is None:
        return reject(f"{action} without a target")
    for name, price in (("entry", entry), ("stop", stop), ("target", target)):
        if price is not None and snap.foreign(price):
            return reject(
                f"{name} {price:g} is not a price of this asset (its window spans "
                f"{snap.low:g} to {snap.high:g})"
            )
    if entry is None:
        entry = snap.close
        flags.append(f"entry missing: set to the last close {snap.close:g}")
    band = ENTRY_MAX_ATR * snap.atr if snap.atr > 0 else 0.0
    nearest = min(max(entry, snap.close - band), snap.close + band)
    if nearest != entry:
        flags.append(
            f"entry {entry:g} is more than {ENTRY_MAX_ATR:g} ATR from the last close "
            f"{snap.close:g}: corrected to {nearest:g}"
        )
        entry = nearest
    sign = 1.0 if action == "BUY" else -1.0
    if (entry - stop) * sign <= 0:
        return reject(f"stop {stop:g} is on the wrong side of the entry {entry:g} for a {action}")
    if (target - entry) * sign <= 0:
        return reject(f"target {target:g} is on the wrong side of the entry {entry:g}")
    risk = abs(entry - stop)
    if snap.atr > 0 and risk > max_stop_atr * snap.atr:
        return reject(
            f"stop {stop:g} is {risk / snap.atr:.1f} ATR away (alpha.max_stop_atr {max_stop_atr:g})"
        )
    rr = abs(target - entry) / risk
    if stated is not None and abs(stated - rr) > RR_TOLERANCE * rr:
        flags.append(
            f"stated reward/risk {stated:g} does not match its prices ({rr:.2f}): the "
            "prices' figure is used"
        )
    out.update(entry=entry, stop=stop, target=target, reward_risk=rr)
    return Checked(out, flags)


def check_levels(fields: dict[str, Any], snap: Snapshot, names: tuple[str, ...]) -> Checked:
    """Price levels (support, resistance, Fibonacci): another asset's are dropped, flagged."""
    out = dict(fields)
    flags: list[str] = []
    for name in names:
        value = out.get(name)
        if isinstance(value, dict):
            kept = {}
            for label, price in value.items():
                p = _finite(price)
                if p is None or snap.foreign(p):
                    flags.append(f"{name}.{label} {price!r} dropped: not a price of this asset")
                else:
                    kept[str(label)[:64]] = p
            out[name] = kept or None
        elif value is not None:
            p = _finite(value)
            if p is None or snap.foreign(p):
                flags.append(f"{name} {value!r} dropped: not a price of this asset")
                out[name] = None
    return Checked(out, flags)


def clamp_text(value: Any, limit: int = MAX_TEXT) -> Any:
    """Strings cut to ``limit`` characters, lists to MAX_ITEMS items, recursively."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "… [cut]"
    if isinstance(value, list):
        return [clamp_text(v, limit) for v in value[:MAX_ITEMS]]
    if isinstance(value, dict):
        return {str(k)[:64]: clamp_text(v, limit) for k, v in list(value.items())[:MAX_ITEMS]}
    return value
