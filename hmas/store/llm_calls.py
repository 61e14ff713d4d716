"""The LLM call log in the store: reservations against the budgets, rows, the cache, the spend.

Every call is a row of ``llm_call``. Just before a call is made its row is inserted as
``pending`` with the call's worst-case cost (``estimate_usd``), in one serialised step with the
check of the budgets (``ledger_session``): two processes, or two hosts on one PostgreSQL store,
can never both pass a check that only one of them fits in. When the call ends the row gets its
answer, tokens and cost. A spend counts a finished row's cost (unknown: 0) and a pending row's
estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, or_, select, update
from sqlmodel import Session, col

from hmas.errors import BudgetExceededError
from hmas.store.models import LlmCall, Signal, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.sql.elements import ColumnElement

#: The columns a finished call may set (``finish``).
_FINISHED = (
    "response",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_usd",
    "latency_s",
    "status",
    "http_status",
    "error",
    "attempt",
    "cache_key",
)


def utc_day(now: datetime | None = None) -> str:
    """The UTC day (``YYYY-MM-DD``) of ``now`` (default: now): the daily budget's key."""
    return (now or datetime.now(tz=UTC)).astimezone(UTC).strftime("%Y-%m-%d")


def _spend_expr() -> ColumnElement[Any]:
    """A row's spend: its cost once finished, its estimate while pending (unknown: 0)."""
    return func.coalesce(
        func.sum(
            case(
                (col(LlmCall.status) == "pending", func.coalesce(col(LlmCall.estimate_usd), 0.0)),
                else_=func.coalesce(col(LlmCall.cost_usd), 0.0),
            )
        ),
        0.0,
    )


def _spent(session: Session, *where: Any) -> float:
    value = session.execute(select(_spend_expr()).where(*where)).scalar_one()
    return float(value or 0.0)


@dataclass(frozen=True)
class Budget:
    """The limits a call is checked against: per UTC day, and per signal (its batch)."""

    daily_usd: float
    signal_usd: float
    #: What the batch limit is called in a refusal, and how to raise it.
    batch_name: str = "the per-signal LLM cap"
    batch_fix: str = "raise llm.signal_cap_usd or route agents to cheaper models"


def reserve(
    engine: Engine,
    fields: dict[str, Any],
    budget: Budget | None,
    *,
    now: datetime | None = None,
) -> int:
    """Insert a ``pending`` row for a call about to be made; BudgetExceededError (and no row)
    when its estimate would take the day's or the batch's spend past ``budget``."""
    from hmas.store.serial import ledger_session

    day = utc_day(now)
    estimate = float(fields.get("estimate_usd") or 0.0)
    with ledger_session(engine) as session:
        if budget is not None:
            today = _spent(session, col(LlmCall.day) == day)
            if today + estimate > budget.daily_usd + 1e-12:
                raise BudgetExceededError(
                    f"the daily LLM budget is spent: ${today:.4f} of ${budget.daily_usd:.2f} "
                    f"used on {day} (UTC) and the next call ({fields.get('agent')} on "
                    f"{fields.get('vendor')}/{fields.get('model')}) may cost up to "
                    f"${estimate:.4f}; the call was not made. Raise llm.daily_budget_usd or "
                    "wait for the next UTC day (hmas report --costs shows the spend)"
                )
            batch = str(fields.get("batch"))
            this = _spent(session, col(LlmCall.batch) == batch)
            if this + estimate > budget.signal_usd + 1e-12:
                raise BudgetExceededError(
                    f"{budget.batch_name} is reached: ${this:.4f} of "
                    f"${budget.signal_usd:.2f} spent and the next call ({fields.get('agent')}) "
                    f"may cost up to ${estimate:.4f}; the call was not made. "
                    f"{budget.batch_fix[:1].upper()}{budget.batch_fix[1:]}"
                )
        row = LlmCall(day=day, status="pending", **fields)
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def finish(engine: Engine, call_id: int, values: dict[str, Any]) -> None:
    """Write what a reserved call ended with."""
    data = {k: v for k, v in values.items() if k in _FINISHED}
    with Session(engine) as session:
        session.execute(update(LlmCall).where(col(LlmCall.id) == call_id).values(**data))
        session.commit()


def insert(engine: Engine, fields: dict[str, Any], *, now: datetime | None = None) -> int:
    """Log a call that needed no reservation (refused at its deadline, or answered from cache)."""
    with Session(engine, expire_on_commit=False) as session:
        row = LlmCall(day=utc_day(now), **fields)
        session.add(row)
        session.commit()
        assert row.id is not None
        return row.id


def cached_answers(engine: Engine, cache_key: str, *, batch: str | None = None) -> list[str]:
    """The answers logged for ``cache_key`` that a provider returned (status ok), the given
    batch's first, then the newest first."""
    order: list[Any] = []
    if batch is not None:
        order.append(case((col(LlmCall.batch) == batch, 0), else_=1))
    order.append(col(LlmCall.id).desc())
    stmt = (
        select(col(LlmCall.response))
        .where(
            col(LlmCall.cache_key) == cache_key,
            col(LlmCall.status) == "ok",
            col(LlmCall.response).is_not(None),
        )
        .order_by(*order)
        .limit(20)
    )
    with Session(engine) as session:
        return [str(r) for r in session.execute(stmt).scalars() if r is not None]


def attach(
    engine: Engine,
    batch: str,
    *,
    analysis_id: int | None = None,
    signal_id: int | None = None,
) -> float | None:
    """Tie a batch's calls to their analysis / signal; the signal's cost (None: none priced).

    With ``signal_id`` the signal's ``cost_usd`` is set to the batch's spend.
    """
    values: dict[str, Any] = {}
    if analysis_id is not None:
        values["analysis_id"] = analysis_id
    if signal_id is not None:
        values["signal_id"] = signal_id
    with Session(engine) as session:
        if values:
            session.execute(update(LlmCall).where(col(LlmCall.batch) == batch).values(**values))
        total, priced = session.execute(
            select(func.sum(col(LlmCall.cost_usd)), func.count(col(LlmCall.cost_usd))).where(
                col(LlmCall.batch) == batch
            )
        ).one()
        cost = float(total) if priced else None
        if signal_id is not None:
            session.execute(update(Signal).where(col(Signal.id) == signal_id).values(cost_usd=cost))
        session.commit()
    return cost


def spent_on(engine: Engine, day: str | None = None) -> float:
    """USD spent (finished calls) and reserved (pending ones) on a UTC day (default: today)."""
    with Session(engine) as session:
        return _spent(session, col(LlmCall.day) == (day or utc_day()))


def spent_in(engine: Engine, batch: str) -> float:
    """USD spent and reserved by one batch (one signal, or one backtest)."""
    with Session(engine) as session:
        return _spent(session, col(LlmCall.batch) == batch)


def calls_of(
    engine: Engine, *, batch: str | None = None, signal_id: int | None = None
) -> list[LlmCall]:
    """The logged calls of a batch or of a signal, oldest first."""
    stmt = select(LlmCall).order_by(col(LlmCall.id))
    if batch is not None and signal_id is not None:
        stmt = stmt.where(or_(col(LlmCall.batch) == batch, col(LlmCall.signal_id) == signal_id))
    elif batch is not None:
        stmt = stmt.where(col(LlmCall.batch) == batch)
    elif signal_id is not None:
        stmt = stmt.where(col(LlmCall.signal_id) == signal_id)
    with Session(engine, expire_on_commit=False) as session:
        return list(session.execute(stmt).scalars())


def cost_report(
    engine: Engine,
    *,
    days: int | None = None,
    first_day: str | None = None,
    last_day: str | None = None,
    symbol: str | None = None,
) -> dict[str, Any]:
    """Spend by day, agent, vendor and model (``hmas report --costs``): USD, calls, tokens.

    ``days``: the last N UTC days; ``first_day``/``last_day`` (``YYYY-MM-DD``, included): a
    range of UTC days; ``symbol``: only the calls of that symbol's signals (a call whose signal
    was never stored has no symbol and is left out).
    """
    cost = func.coalesce(func.sum(func.coalesce(col(LlmCall.cost_usd), 0.0)), 0.0)
    where: list[Any] = [col(LlmCall.status) != "pending"]
    if days is not None:
        from datetime import timedelta

        first = utc_day(utcnow() - timedelta(days=days - 1))
        where.append(col(LlmCall.day) >= first)
    if first_day is not None:
        where.append(col(LlmCall.day) >= first_day)
    if last_day is not None:
        where.append(col(LlmCall.day) <= last_day)
    if symbol is not None:
        where.append(
            col(LlmCall.signal_id).in_(select(col(Signal.id)).where(col(Signal.symbol) == symbol))
        )

    def group(*keys: Any) -> list[dict[str, Any]]:
        stmt = (
            select(
                *keys,
                cost,
                func.count(),
                func.sum(case((col(LlmCall.status) == "cached", 1), else_=0)),
                func.sum(col(LlmCall.input_tokens)),
                func.sum(col(LlmCall.output_tokens)),
                func.sum(case((col(LlmCall.cost_usd).is_(None), 1), else_=0)),
            )
            .where(*where)
            .group_by(*keys)
            .order_by(*keys)
        )
        rows = []
        with Session(engine) as session:
            for row in session.execute(stmt):
                *names, usd, calls, cached, inp, out, unpriced = row
                item = {k.key: v for k, v in zip(keys, names, strict=True)}
                item.update(
                    cost_usd=round(float(usd or 0.0), 6),
                    calls=int(calls or 0),
                    cached=int(cached or 0),
                    input_tokens=int(inp or 0),
                    output_tokens=int(out or 0),
                    unpriced_calls=int(unpriced or 0),
                )
                rows.append(item)
        return rows

    by_day = group(col(LlmCall.day))
    return {
        "total_usd": round(sum(r["cost_usd"] for r in by_day), 6),
        "calls": sum(r["calls"] for r in by_day),
        "by_day": by_day,
        "by_agent": group(col(LlmCall.agent)),
        "by_vendor": group(col(LlmCall.vendor)),
        "by_model": group(col(LlmCall.vendor), col(LlmCall.model)),
    }
