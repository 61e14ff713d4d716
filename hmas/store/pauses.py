"""Stored pauses: start one, read those in force, lift them, and list what changed.

A pause is active while it is not lifted and not expired; expiry writes nothing (a reader
compares ``expires_at`` with its clock), so an expired pause needs no process to end it.
The triggers that start pauses live in ``hmas.risk.pauses``; ``hmas resume`` lifts them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlmodel import Session, col

from hmas.store.models import FetchRun, LlmCall, Pause

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

#: Every trigger, in the order docs/risk.md lists them.
TRIGGERS: tuple[str, ...] = ("loss_streak", "daily_loss", "api_errors", "slippage", "data_quality")
#: LLM call statuses that count as errors of the vendor.
LLM_ERROR_STATUSES = ("error", "deadline")


def aware(value: datetime) -> datetime:
    """A stored datetime in UTC (SQLite returns naive datetimes)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def is_active(pause: Pause, now: datetime) -> bool:
    """Whether ``pause`` is in force at ``now``."""
    return pause.lifted_at is None and (pause.expires_at is None or aware(pause.expires_at) > now)


def active(
    session: Session, engine_name: str, now: datetime, *, symbol: str | None = None
) -> list[Pause]:
    """The engine's pauses in force at ``now`` (those covering ``symbol``, if given), oldest
    first."""
    stmt = select(Pause).where(
        col(Pause.engine) == engine_name,
        col(Pause.lifted_at).is_(None),
        or_(col(Pause.expires_at).is_(None), col(Pause.expires_at) > now),
    )
    if symbol is not None:
        stmt = stmt.where(col(Pause.scope).in_(("*", symbol)))
    return list(session.scalars(stmt.order_by(col(Pause.id))).all())


def last_end(
    session: Session, engine_name: str, trigger: str, scope: str, now: datetime
) -> datetime | None:
    """When the latest ended pause of ``trigger`` on ``scope`` ended (lifted or expired).

    A trigger reads only evidence after it, so a lifted pause is not started again at once
    by the very errors (or gaps, or fills) that started it.
    """
    return ended(of_engine(session, engine_name), trigger, scope, now)


def of_engine(session: Session, engine_name: str) -> list[Pause]:
    """Every pause the engine ever had (few: one a trigger fires), for ``ended``."""
    return list(session.scalars(select(Pause).where(col(Pause.engine) == engine_name)).all())


def ended(rows: Iterable[Pause], trigger: str, scope: str, now: datetime) -> datetime | None:
    """``last_end`` over pauses already read (one query for every trigger of a decision)."""
    mine = [p for p in rows if p.trigger == trigger and p.scope == scope]
    ends = [aware(p.lifted_at) for p in mine if p.lifted_at is not None]
    ends += [
        aware(p.expires_at)
        for p in mine
        if p.lifted_at is None and p.expires_at is not None and aware(p.expires_at) <= now
    ]
    return max(ends, default=None)


def start(
    session: Session,
    engine_name: str,
    trigger: str,
    reason: str,
    now: datetime,
    *,
    scope: str = "*",
    expires_at: datetime | None = None,
) -> Pause | None:
    """Store a pause of ``trigger`` unless one on the same scope is already in force (None)."""
    for held in active(session, engine_name, now):
        if held.trigger == trigger and held.scope == scope:
            return None
    pause = Pause(
        engine=engine_name,
        trigger=trigger,
        scope=scope,
        reason=reason[:2000],
        started_at=now,
        expires_at=expires_at,
    )
    session.add(pause)
    session.flush()
    return pause


def lift(
    session: Session,
    engine_name: str,
    now: datetime,
    *,
    by: str,
    reason: str | None,
    triggers: tuple[str, ...] | None = None,
) -> list[Pause]:
    """Lift the engine's pauses in force (of ``triggers``, if given); return those lifted."""
    lifted = []
    for pause in active(session, engine_name, now):
        if triggers is not None and pause.trigger not in triggers:
            continue
        pause.lifted_at = now
        pause.lifted_by = by[:128]
        pause.lift_reason = reason[:2000] if reason else None
        session.add(pause)
        lifted.append(pause)
    session.flush()
    return lifted


def error_counts(session: Session, since: datetime) -> tuple[int, int]:
    """(failed exchange fetches, failed LLM calls) after ``since``, by any runner (fetches by
    their start, LLM calls by their creation)."""
    from sqlalchemy import func

    fetches = (
        select(func.count())
        .where(col(FetchRun.status) == "error", col(FetchRun.started_at) > since)
        .scalar_subquery()
    )
    calls = (
        select(func.count())
        .where(col(LlmCall.status).in_(LLM_ERROR_STATUSES), col(LlmCall.created_at) > since)
        .scalar_subquery()
    )
    row = session.execute(select(fetches, calls)).one()  # one round trip for both
    return int(row[0]), int(row[1])


def as_dict(pause: Pause, now: datetime | None = None) -> dict[str, Any]:
    """A pause as JSON-able data (``active`` when ``now`` is given)."""
    data: dict[str, Any] = {
        "id": pause.id,
        "engine": pause.engine,
        "trigger": pause.trigger,
        "scope": pause.scope,
        "reason": pause.reason,
        "started_at": aware(pause.started_at).isoformat(),
        "expires_at": aware(pause.expires_at).isoformat() if pause.expires_at else None,
        "lifted_at": aware(pause.lifted_at).isoformat() if pause.lifted_at else None,
        "lifted_by": pause.lifted_by,
        "lift_reason": pause.lift_reason,
    }
    if now is not None:
        data["active"] = is_active(pause, now)
    return data


def events_between(engine: Engine, since: datetime, now: datetime) -> list[dict[str, Any]]:
    """The pauses started, lifted or expired in ``(since, now]``, as ``pause_started`` /
    ``pause_lifted`` events in time order: what a notifier sends (the run loop passes them to
    its ``on_event``). Read from the store, so a lift by ``hmas resume`` in another process
    and a pause started by another runner are seen too."""
    events: list[tuple[datetime, str, dict[str, Any]]] = []
    with Session(engine) as session:
        rows = session.scalars(
            select(Pause).where(
                or_(
                    col(Pause.started_at) > since,
                    col(Pause.lifted_at) > since,
                    col(Pause.expires_at) > since,
                )
            )
        ).all()
    for p in rows:
        started = aware(p.started_at)
        if since < started <= now:
            events.append((started, "pause_started", as_dict(p)))
        if p.lifted_at is not None and since < aware(p.lifted_at) <= now:
            events.append((aware(p.lifted_at), "pause_lifted", {**as_dict(p), "how": "resume"}))
        elif (
            p.expires_at is not None
            and since < aware(p.expires_at) <= now
            and (p.lifted_at is None or aware(p.lifted_at) > aware(p.expires_at))
        ):
            events.append((aware(p.expires_at), "pause_lifted", {**as_dict(p), "how": "expiry"}))
    events.sort(key=lambda e: (e[0], e[1]))
    return [{"event": name, **data} for _, name, data in events]
