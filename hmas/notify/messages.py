"""What a notification says: the events of a stored signal, as plain text (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from hmas.decision.verdict import KILL_SWITCH, refused_by

if TYPE_CHECKING:
    from hmas.store.models import Signal

EventKind = Literal["approved", "paused", "kill_switch", "resumed"]

#: The guardian's limits that halt all trading (as opposed to refusing one trade): a loss
#: streak's pause, the daily loss limit, the maximum drawdown.
PAUSES = ("paused", "daily_loss", "max_drawdown")

#: How a summary names each kind, singular and plural.
KIND_NAMES: dict[str, tuple[str, str]] = {
    "approved": ("approved signal", "approved signals"),
    "paused": ("guardian pause", "guardian pauses"),
    "kill_switch": ("kill-switch refusal", "kill-switch refusals"),
    "resumed": ("pause lifted", "pauses lifted"),
}


@dataclass(frozen=True)
class Event:
    """One thing worth a message."""

    kind: EventKind
    text: str


def _price(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.6g}"


def _bar(signal: Signal) -> str:
    from hmas.market import ms_to_datetime

    return ms_to_datetime(signal.bar_ts).strftime("%Y-%m-%d %H:%MZ")


def _head(signal: Signal) -> str:
    sample = " [SAMPLE DATA]" if signal.source == "sample" else ""
    return f"{signal.symbol} {signal.timeframe} (bar {_bar(signal)}, signal {signal.id}){sample}"


def _proposed_action(signal: Signal) -> str:
    """The side the mother proposed (a refused signal's own action is HOLD)."""
    proposal = signal.guardian.get("proposal") or {}
    return str(proposal.get("side") or signal.action)


def _details(signal: Signal, limits: list[str]) -> str:
    violations = (signal.guardian.get("verdict") or {}).get("violations") or []
    found = [f"{v.get('limit')}: {v.get('detail')}" for v in violations if v.get("limit") in limits]
    return "; ".join(found) or ", ".join(limits)


def events_for(signal: Signal) -> list[Event]:
    """The events of a newly stored signal: at most one (the kill switch before a pause)."""
    if signal.decision == "APPROVED":
        r = f" R:R {signal.reward_risk:.2f}" if signal.reward_risk is not None else ""
        ev = f" EV {signal.expected_value_r:+.2f}R" if signal.expected_value_r is not None else ""
        return [
            Event(
                "approved",
                f"hmas (paper): APPROVED {signal.action} {_head(signal)}\n"
                f"entry {_price(signal.entry)} stop {_price(signal.stop_loss)} "
                f"target {_price(signal.take_profit)} size {signal.size:.6g}{r}{ev}"
                if signal.size is not None
                else f"hmas (paper): APPROVED {signal.action} {_head(signal)}",
            )
        ]
    refused = refused_by(signal.guardian)
    if KILL_SWITCH in refused:
        return [
            Event(
                "kill_switch",
                f"hmas (paper): kill switch on, refused {_proposed_action(signal)} {_head(signal)}",
            )
        ]
    pauses = [name for name in refused if name in PAUSES]
    if pauses:
        return [
            Event(
                "paused",
                f"hmas (paper): guardian paused trading, refused {_proposed_action(signal)} "
                f"{_head(signal)}\n{_details(signal, pauses)}",
            )
        ]
    return []


def pause_event(stage: str, pause: Mapping[str, Any]) -> Event | None:
    """The message of a stored pause that started or was lifted (the run loop's
    ``pause_started`` / ``pause_lifted`` events, ``hmas.store.pauses.events_between``)."""
    scope = "every symbol" if pause.get("scope") in (None, "*") else str(pause["scope"])
    head = f"pause #{pause.get('id')} ({pause.get('trigger')}, {scope})"
    if stage == "pause_started":
        until = f" until {pause['expires_at']}" if pause.get("expires_at") else ""
        return Event(
            "paused", f"hmas (paper): guardian paused trading: {head}{until}\n{pause.get('reason')}"
        )
    if stage == "pause_lifted":
        how = "by hmas resume" if pause.get("how") == "resume" else "at its expiry"
        why = f": {pause['lift_reason']}" if pause.get("lift_reason") else ""
        return Event("resumed", f"hmas (paper): {head} lifted {how}{why}")
    return None


def switch_event(on: bool) -> Event:
    """The message of ``hmas kill-switch on`` / ``off``, naming who turned it."""
    import getpass
    import socket

    try:
        who = f"{getpass.getuser()}@{socket.gethostname()}"
    except (OSError, KeyError):
        who = socket.gethostname()
    if on:
        return Event("kill_switch", f"hmas (paper): kill switch turned ON by {who}: no new trade")
    return Event("kill_switch", f"hmas (paper): kill switch turned off by {who}")


def summary(held: dict[str, int]) -> str:
    """``3 more held back by the rate limit: 2 approved signals, 1 kill-switch refusal``."""
    total = sum(held.values())
    parts = [f"{n} {KIND_NAMES[kind][0 if n == 1 else 1]}" for kind, n in sorted(held.items()) if n]
    return f"{total} more held back by the rate limit: {', '.join(parts)}"
