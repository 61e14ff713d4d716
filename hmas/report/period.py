"""The report's period: which signals it reads, their outcomes, and the paper equity curve.

A period is ``[since, until)`` on a signal's bar time (``until`` given as a date alone counts
that whole day), optionally one symbol. A signal's outcome belongs to the period of its signal;
the equity curve adds the realised P&L of the account's positions in the order they closed,
starting from the starting equity plus whatever closed before ``since``.

Every rate is a float or ``None`` with the reason in ``unknown``: never NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from hmas.errors import UsageError
from hmas.store.models import Account, Candle, Position, Signal, SignalResult

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

#: Statuses of a closed paper position (``pending``: not filled or still open).
CLOSED = ("win", "loss", "expired")
DAY_MS = 86_400_000
DATE_HINT = "use ISO format, e.g. 2024-03-01 or 2024-03-01T12:00Z"


@dataclass(frozen=True)
class Period:
    """Signals whose bar opens in ``[since_ms, until_ms)`` (either open-ended), of ``symbol``."""

    since_ms: int | None = None
    until_ms: int | None = None
    symbol: str | None = None

    def as_dict(self) -> dict[str, Any]:
        from hmas.market import ms_to_datetime

        def iso(ms: int | None) -> str | None:
            return None if ms is None else ms_to_datetime(ms).isoformat()

        return {"since": iso(self.since_ms), "until": iso(self.until_ms), "symbol": self.symbol}


def _when(value: str, option: str) -> int:
    from hmas.market import datetime_to_ms, parse_when

    try:
        return datetime_to_ms(parse_when(value))
    except (UsageError, OverflowError, OSError, ValueError):
        raise UsageError(f"{option} {value!r} is not a date; {DATE_HINT}") from None


def parse_period(
    since: str | None, until: str | None, symbol: str | None, *, now_ms: int | None = None
) -> Period:
    """The period of ``--since``/``--until``/``--symbol``, or a ``UsageError`` naming the fix.

    ``until`` as a date alone (``2024-03-31``) includes that day; with a time it is exclusive.
    """
    from hmas import market

    lo = _when(since, "--since") if since is not None else None
    hi = _when(until, "--until") if until is not None else None
    if until is not None and hi is not None and len(until.strip()) == 10:
        hi += DAY_MS
    now = market.now_ms() if now_ms is None else now_ms
    if lo is not None and lo > now:
        raise UsageError(f"--since {since} is in the future; give a past date")
    if lo is not None and hi is not None and lo >= hi:
        raise UsageError(f"--since {since} is not before --until {until}; swap them or widen")
    return Period(lo, hi, symbol)


def check_symbol(engine: Engine, symbol: str) -> None:
    """``UsageError`` unless the store has signals of ``symbol`` (the message says what it has)."""
    with Session(engine) as session:
        known = list(
            session.execute(select(col(Signal.symbol)).distinct().order_by(col(Signal.symbol)))
            .scalars()
            .all()
        )
        if symbol in known:
            return
        candles = session.execute(
            select(func.count()).where(col(Candle.symbol) == symbol)
        ).scalar_one()
    if candles:
        raise UsageError(
            f"--symbol {symbol}: no signal stored for it (its candles are); "
            f"decide it first, e.g. hmas decide {symbol}"
        )
    if known:
        raise UsageError(
            f"--symbol {symbol}: no signal stored for it; the store has signals for "
            f"{', '.join(known)}"
        )
    raise UsageError(
        f"--symbol {symbol}: the store has no signal yet; run hmas decide or hmas run first"
    )


@dataclass
class Row:
    """One stored signal with what the report reads of it (its outcome when it has one)."""

    id: int
    symbol: str
    bar_ts: int
    engine: str
    source: str
    decision: str
    action: str
    confidence: float | None
    quality: float | None
    p_win: float | None
    #: The proposal's side ('long', 'short' or 'none').
    side: str
    #: Each voter's vote: 'long', 'short', 'neutral', or None when it did not vote.
    votes: dict[str, str | None]
    refused_by: list[str]
    failed_checks: list[str]
    cost_usd: float | None
    status: str | None = None
    r_multiple: float | None = None
    pnl_money: float | None = None
    exit_ts: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def closed(self) -> bool:
        return self.status in CLOSED


def _vote(view: object) -> str | None:
    return str(view) if view in ("long", "short", "neutral") else None


def row_of(signal: Signal, result: SignalResult | None) -> Row:
    """A ``Row`` from a stored signal (its rounds and guardian record) and its result."""
    from hmas.decision.verdict import refused_by

    rounds = signal.rounds or {}
    gather = rounds.get("gather") or {}
    resolve = rounds.get("resolve") or {}
    checks = (rounds.get("decide") or {}).get("checks") or []
    p_win = resolve.get("p_win")
    return Row(
        id=int(signal.id or 0),
        symbol=signal.symbol,
        bar_ts=signal.bar_ts,
        engine=signal.engine,
        source=signal.source,
        decision=signal.decision,
        action=signal.action,
        confidence=signal.confidence,
        quality=signal.quality,
        p_win=float(p_win) if isinstance(p_win, int | float) else None,
        side=str((gather.get("proposal") or {}).get("side") or "none"),
        votes={
            str(v.get("agent")): None if v.get("abstained") else _vote(v.get("view"))
            for v in gather.get("votes") or []
        },
        refused_by=refused_by(signal.guardian or {}),
        failed_checks=[str(c.get("rule")) for c in checks if c.get("passed") is False],
        cost_usd=signal.cost_usd,
        status=result.status if result else None,
        r_multiple=result.r_multiple if result else None,
        pnl_money=result.pnl_money if result else None,
        exit_ts=result.exit_ts if result else None,
    )


def rows(engine: Engine, period: Period) -> list[Row]:
    """The period's signals, oldest bar first, each with its outcome."""
    stmt = select(Signal, SignalResult).join(
        SignalResult, col(SignalResult.signal_id) == col(Signal.id), isouter=True
    )
    if period.symbol is not None:
        stmt = stmt.where(col(Signal.symbol) == period.symbol)
    if period.since_ms is not None:
        stmt = stmt.where(col(Signal.bar_ts) >= period.since_ms)
    if period.until_ms is not None:
        stmt = stmt.where(col(Signal.bar_ts) < period.until_ms)
    stmt = stmt.order_by(col(Signal.bar_ts), col(Signal.id))
    with Session(engine, expire_on_commit=False) as session:
        return [row_of(s, r) for s, r in session.execute(stmt).all()]


def _rate(values: list[float], name: str, unknown: dict[str, str]) -> dict[str, Any]:
    from hmas.stats import mean_ci

    ci = mean_ci(values).as_dict()
    if ci["mean"] is None:
        unknown[name] = "no closed trade in the period"
    elif ci["ci_low"] is None:
        unknown[f"{name}.ci"] = "one closed trade gives no interval"
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in ci.items()}


def _win_rate(wins: int, closed: int, unknown: dict[str, str]) -> dict[str, Any]:
    """The win rate with its Wilson interval (the bootstrap's collapses to 0-0 on no win)."""
    from hmas.stats import proportion_ci

    ci = proportion_ci(wins, closed).as_dict()
    if ci["mean"] is None:
        unknown["win_rate"] = "no closed trade in the period"
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in ci.items()}


def performance(signals: list[Row]) -> dict[str, Any]:
    """Signals and outcomes: counts, win rate (Wilson interval) and expectancy in R (bootstrap
    interval), P&L."""
    unknown: dict[str, str] = {}
    closed = [r for r in signals if r.closed]
    r_values = [r.r_multiple for r in closed if r.r_multiple is not None]
    out: dict[str, Any] = {
        "signals": len(signals),
        "approved": sum(r.decision == "APPROVED" for r in signals),
        "rejected": sum(r.decision == "REJECTED" for r in signals),
        "pending": sum(r.status == "pending" for r in signals),
        "closed_trades": len(closed),
        "wins": sum(r.status == "win" for r in closed),
        "losses": sum(r.status == "loss" for r in closed),
        "expired": sum(r.status == "expired" for r in closed),
        "win_rate": _win_rate(sum(r.status == "win" for r in closed), len(closed), unknown),
        "expectancy_r": _rate(r_values, "expectancy_r", unknown),
        "pnl": round(sum(r.pnl_money or 0.0 for r in closed), 2) if closed else None,
        "sample_data_signals": sum(r.source == "sample" for r in signals),
    }
    if not closed:
        unknown["pnl"] = "no closed trade in the period"
    per: dict[str, list[Row]] = {}
    for r in signals:
        per.setdefault(r.symbol, []).append(r)
    out["by_symbol"] = [_symbol_row(sym, rs) for sym, rs in sorted(per.items())]
    out["unknown"] = unknown
    return out


def _symbol_row(symbol: str, signals: list[Row]) -> dict[str, Any]:
    closed = [r for r in signals if r.closed]
    r_values = [r.r_multiple for r in closed if r.r_multiple is not None]
    return {
        "symbol": symbol,
        "signals": len(signals),
        "approved": sum(r.decision == "APPROVED" for r in signals),
        "closed_trades": len(closed),
        "win_rate": round(sum(r.status == "win" for r in closed) / len(closed), 6)
        if closed
        else None,
        "expectancy_r": round(sum(r_values) / len(r_values), 6) if r_values else None,
        "pnl": round(sum(r.pnl_money or 0.0 for r in closed), 2) if closed else None,
    }


def equity(engine: Engine, period: Period, engine_name: str) -> dict[str, Any]:
    """The paper account's realised equity and drawdown after each position closed.

    Points are ``{"ts", "equity", "drawdown"}`` (drawdown: the fraction below the running
    peak); the first is the equity at the period's start (or the first close).
    """
    with Session(engine) as session:
        account = session.get(Account, engine_name)
        stmt = (
            select(col(SignalResult.exit_ts), col(SignalResult.pnl_money), col(Position.symbol))
            .join(Position, col(Position.signal_id) == col(SignalResult.signal_id))
            .where(
                col(Position.engine) == engine_name,
                col(SignalResult.status).in_(CLOSED),
                col(SignalResult.exit_ts).is_not(None),
            )
            .order_by(col(SignalResult.exit_ts), col(SignalResult.signal_id))
        )
        if period.symbol is not None:
            stmt = stmt.where(col(Position.symbol) == period.symbol)
        closes = [(int(ts), float(pnl or 0.0)) for ts, pnl, _sym in session.execute(stmt).all()]
    base: dict[str, Any] = {"engine": engine_name, "symbol": period.symbol}
    if account is None:
        return base | {
            "starting_equity": None,
            "points": [],
            "max_drawdown": None,
            "unknown": {"equity": f"no paper account for engine {engine_name} in the store yet"},
        }
    start = account.starting_equity
    before = [p for ts, p in closes if period.since_ms is not None and ts < period.since_ms]
    inside = [
        (ts, p)
        for ts, p in closes
        if (period.since_ms is None or ts >= period.since_ms)
        and (period.until_ms is None or ts < period.until_ms)
    ]
    level = start + sum(before)
    first_ts = (
        period.since_ms if period.since_ms is not None else (inside[0][0] if inside else None)
    )
    points: list[dict[str, Any]] = []
    peak = level
    if first_ts is not None:
        points.append({"ts": first_ts, "equity": round(level, 2), "drawdown": 0.0})
    for ts, pnl in inside:
        level += pnl
        peak = max(peak, level)
        points.append({"ts": ts, "equity": round(level, 2), "drawdown": round(1 - level / peak, 6)})
    unknown: dict[str, str] = {}
    if not inside:
        unknown["max_drawdown"] = "no position closed in the period"
    return base | {
        "starting_equity": start,
        "period_start_equity": round(start + sum(before), 2),
        "period_end_equity": round(level, 2),
        "closed_positions": len(inside),
        "points": points,
        "max_drawdown": max(p["drawdown"] for p in points) if inside else None,
        "unknown": unknown,
    }
