"""The auto-pause triggers: each reads its evidence and starts a stored pause with its reason.

The rules are pure functions (``*_reason``: evidence in, a reason or None out); ``evaluate``
reads the evidence from the store where it lives and stores the pauses, and runs where the
guardian's state is read (``ledger.guardian_state``), so every deciding command and every runner
sees the same pauses. ``resume`` lifts them. docs/risk.md ("Pauses") has the table.

- loss_streak: the account's own pause (``paused_until_ts``), stored as a row for the record;
- daily_loss: the guardian's daily loss limit once reached, stored until the UTC day ends. It
  is the stored, visible form of that limit, not a second one: the limit keeps refusing, and
  ``hmas resume`` does not lift it (no command loosens a prop-firm limit);
- api_errors: failed exchange fetches and LLM calls (every runner's) in a window;
- slippage: the realised entry slippage of the latest fills against the model's estimate;
- data_quality: missing candles in a symbol's last K bars (this symbol only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlmodel import Session, col

from hmas.risk.guardian import ActivePause
from hmas.store import pauses as store
from hmas.store.models import Account, Candle, Pause, Signal, SignalResult

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from hmas.risk.book import PaperBook
    from hmas.settings import Settings

DAY_MS = 86_400_000
#: Pauses the guardian refuses through the ``paused`` limit from the state's ``pauses``; the
#: loss streak's refuses through ``paused_until_ts`` and the daily loss's is the limit itself.
STORED_REFUSALS = ("api_errors", "slippage", "data_quality")


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def daily_loss_reason(day_start_equity: float, equity: float, limit: float) -> str | None:
    """The guardian's realised daily-loss refusal, as a pause reason (None below the limit)."""
    if not (math.isfinite(day_start_equity) and day_start_equity > 0 and math.isfinite(equity)):
        return None
    loss = (day_start_equity - equity) / day_start_equity
    if loss < limit:
        return None
    return (
        f"today's loss is {loss:.2%} of the day-start equity {day_start_equity:,.2f}, at or "
        f"beyond the {limit:.2%} daily loss limit"
    )


def api_errors_reason(fetches: int, calls: int, limit: int, window: str) -> str | None:
    """A burst of failed fetches and LLM calls at or above ``limit`` (0: disabled)."""
    if limit <= 0 or fetches + calls < limit:
        return None
    return (
        f"{fetches + calls} errors within {window} ({fetches} exchange fetch(es), {calls} LLM "
        f"call(s)), at or above the limit of {limit}"
    )


def data_quality_reason(
    timestamps: Sequence[int], step_ms: int, bars: int, limit: float
) -> str | None:
    """More than ``limit`` of the last ``bars`` candles missing between the stored ones."""
    if bars <= 0 or limit <= 0:
        return None
    # The rule of hmas.data.gaps.find_gaps (which the risk layer cannot import): the missing
    # candles between each stored one and the next on the grid.
    stamps = sorted(timestamps)
    missing = sum(max((b - a) // step_ms - 1, 0) for a, b in pairwise(stamps))
    if missing / bars <= limit:
        return None
    return (
        f"{missing} of the last {bars} candles are missing ({missing / bars:.0%}), more than "
        f"the {limit:.0%} allowed"
    )


@dataclass(frozen=True)
class Fill:
    """One paper fill: its realised entry slippage and the model's estimate, in bps."""

    realised_bps: float
    estimated_bps: float


def slippage_reason(
    fills: Sequence[Fill], count: int, multiple: float, floor_bps: float
) -> str | None:
    """The mean realised slippage of the last ``count`` fills beyond ``multiple`` x the mean
    estimate and beyond ``floor_bps`` (fewer fills: nothing to judge yet)."""
    if count <= 0 or len(fills) < count:
        return None
    last = fills[-count:]
    realised = sum(f.realised_bps for f in last) / count
    estimated = sum(f.estimated_bps for f in last) / count
    if realised <= floor_bps or realised <= multiple * estimated:
        return None
    return (
        f"the last {count} fills slipped {realised:.1f} bps on average against the model's "
        f"{estimated:.1f} bps, more than {multiple:g}x the estimate"
    )


def _fills(session: Session, engine_name: str, since_ms: int | None, count: int) -> list[Fill]:
    """The engine's latest ``count`` fills (after ``since_ms``), oldest first.

    The paper book fills at the next bar's open plus the model's price cost, so the slippage
    beyond the estimate is the gap between the signal's entry (its bar's close) and that open.
    """
    from hmas.risk.costs import SideCosts

    stmt = (
        select(
            col(Signal.action),
            col(Signal.entry),
            col(Signal.guardian),
            col(SignalResult.fill_price),
        )
        .join(SignalResult, col(SignalResult.signal_id) == col(Signal.id))
        .where(col(Signal.engine) == engine_name, col(SignalResult.fill_price).is_not(None))
    )
    if since_ms is not None:
        stmt = stmt.where(col(SignalResult.fill_ts) > since_ms)
    rows = session.execute(stmt.order_by(col(SignalResult.fill_ts).desc()).limit(count)).all()
    fills = []
    for action, entry, guardian, fill_price in reversed(rows):
        if not entry or fill_price is None:
            continue
        sign = 1.0 if action == "BUY" else -1.0
        proposal = (guardian or {}).get("proposal") or {}
        costs = SideCosts(
            float(proposal.get("fee_bps", 0.0)),
            float(proposal.get("spread_bps", 0.0)),
            float(proposal.get("slippage_bps", 0.0)),
        )
        realised = sign * (float(fill_price) - entry) / entry * 10_000
        fills.append(Fill(realised, float(costs.price_bps)))
    return fills


def evaluate(
    session: Session,
    settings: Settings,
    engine_name: str,
    book: PaperBook,
    now: datetime,
    *,
    symbol: str | None = None,
    exchange: str | None = None,
    timeframe: str | None = None,
    bar_ts: int | None = None,
    history: list[Pause] | None = None,
) -> list[Pause]:
    """Run every trigger on the store's evidence at ``now``; return the pauses it started.

    ``history``: the engine's pauses (``store.of_engine``) when the caller read them already;
    otherwise they are read once, when a trigger first asks.
    """
    started: list[Pause | None] = []
    params = settings.pause
    read: list[list[Pause]] = [] if history is None else [history]

    def since(trigger: str, scope: str = "*") -> datetime | None:
        if not read:
            read.append(store.of_engine(session, engine_name))
        return store.ended(read[0], trigger, scope, now)

    account = book.account
    if account.paused_until_ts is not None and account.paused_until_ts > _ms(now):
        held = [p for p in store.active(session, engine_name, now) if p.trigger == "loss_streak"]
        until = _dt(account.paused_until_ts)
        if held:
            held[0].expires_at = max(store.aware(held[0].expires_at or until), until)
            session.add(held[0])
        else:
            reason = (
                f"{settings.risk.max_consecutive_losses} losses in a row; paused for "
                f"{settings.risk.pause_bars} bars"
            )
            started.append(
                store.start(session, engine_name, "loss_streak", reason, now, expires_at=until)
            )

    if params.daily_loss and account.day:
        why = daily_loss_reason(account.day_start_equity, account.equity, settings.risk.limits()[0])
        day_end = datetime.fromisoformat(account.day).replace(tzinfo=UTC) + timedelta(days=1)
        if why is not None and day_end > now:
            started.append(
                store.start(session, engine_name, "daily_loss", why, now, expires_at=day_end)
            )

    if params.api_errors > 0:
        window = now - timedelta(milliseconds=_duration(params.api_errors_window))
        after = since("api_errors")
        fetches, calls = store.error_counts(session, max(window, after) if after else window)
        why = api_errors_reason(fetches, calls, params.api_errors, params.api_errors_window)
        if why is not None:
            until = now + timedelta(milliseconds=params.duration("api_errors"))
            started.append(
                store.start(session, engine_name, "api_errors", why, now, expires_at=until)
            )

    if params.slippage_fills > 0:
        after = since("slippage")
        fills = _fills(session, engine_name, _ms(after) if after else None, params.slippage_fills)
        why = slippage_reason(
            fills, params.slippage_fills, params.slippage_multiple, params.slippage_floor_bps
        )
        if why is not None:
            until = now + timedelta(milliseconds=params.duration("slippage"))
            started.append(
                store.start(session, engine_name, "slippage", why, now, expires_at=until)
            )

    if params.data_quality_bars > 0 and None not in (symbol, exchange, timeframe, bar_ts):
        assert symbol is not None and timeframe is not None and bar_ts is not None
        from hmas.market import timeframe_ms

        step = timeframe_ms(timeframe)
        first = bar_ts - params.data_quality_bars * step
        after = since("data_quality", symbol)
        if after is not None:
            first = max(first, _ms(after))
        stamps = session.scalars(
            select(col(Candle.ts)).where(
                col(Candle.exchange) == exchange,
                col(Candle.symbol) == symbol,
                col(Candle.timeframe) == timeframe,
                col(Candle.ts) >= first,
                col(Candle.ts) <= bar_ts,
            )
        ).all()
        why = data_quality_reason(
            [int(t) for t in stamps], step, params.data_quality_bars, params.data_quality_missing
        )
        if why is not None:
            until = now + timedelta(milliseconds=params.duration("data_quality"))
            started.append(
                store.start(
                    session,
                    engine_name,
                    "data_quality",
                    f"{symbol} {timeframe}: {why}",
                    now,
                    scope=symbol,
                    expires_at=until,
                )
            )
    return [p for p in started if p is not None]


def _duration(text: str) -> int:
    from hmas.settings import duration_ms

    return duration_ms(text)


def active_pauses(
    session: Session,
    engine_name: str,
    now: datetime,
    symbol: str,
    *,
    rows: Iterable[Pause] | None = None,
) -> tuple[ActivePause, ...]:
    """The stored pauses the guardian refuses ``symbol``'s trades for (``STORED_REFUSALS``).

    ``rows``: every pause of the engine already read in this session (``store.of_engine``
    and those started since), filtered here instead of read again.
    """
    if rows is None:
        held = store.active(session, engine_name, now, symbol=symbol)
    else:
        held = sorted(
            (
                p
                for p in rows
                if p.engine == engine_name and p.scope in ("*", symbol) and store.is_active(p, now)
            ),
            key=lambda p: p.id or 0,
        )
    return tuple(
        ActivePause(
            id=p.id or 0,
            trigger=p.trigger,
            scope=p.scope,
            reason=p.reason,
            expires_ts=_ms(store.aware(p.expires_at)) if p.expires_at is not None else None,
        )
        for p in held
        if p.trigger in STORED_REFUSALS
    )


@dataclass
class Resumed:
    """What ``resume`` did: the pauses lifted and those kept (the daily loss limit)."""

    lifted: list[Pause]
    kept: list[Pause]


def resume(
    session: Session,
    settings: Settings,
    engine_name: str,
    now: datetime,
    *,
    trigger: str | None,
    by: str,
    reason: str | None,
) -> Resumed:
    """Lift the engine's pauses in force (of ``trigger``, if given), recording who and why.

    A loss-streak pause also clears the account's ``paused_until_ts``. A daily-loss pause is
    kept: it is the guardian's daily loss limit, which only the next UTC day lifts.
    """
    del settings
    wanted = tuple(t for t in store.TRIGGERS if t != "daily_loss" and trigger in (None, t))
    kept = [
        p
        for p in store.active(session, engine_name, now)
        if p.trigger == "daily_loss" and trigger in (None, "daily_loss")
    ]
    lifted = store.lift(session, engine_name, now, by=by, reason=reason, triggers=wanted)
    if "loss_streak" in wanted:
        account = session.get(Account, engine_name)
        if account is not None and account.paused_until_ts is not None:
            if account.paused_until_ts > _ms(now) and not any(
                p.trigger == "loss_streak" for p in lifted
            ):
                # Paused before the pause rows existed: record the lift all the same.
                row = store.start(
                    session,
                    engine_name,
                    "loss_streak",
                    "a run of losses (paused before pauses were stored)",
                    now,
                    expires_at=_dt(account.paused_until_ts),
                )
                if row is not None:
                    lifted += store.lift(
                        session, engine_name, now, by=by, reason=reason, triggers=("loss_streak",)
                    )
            account.paused_until_ts = None
            session.add(account)
    session.flush()
    return Resumed(lifted, kept)
