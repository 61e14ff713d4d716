"""``hmas health``: is this store fit to run on, and are its runs keeping up? Read-only.

Each check has a status (``ok``, ``warn``, ``fail``), a value for scripts and a one-line detail.
The report is *healthy* (exit 0) when every check is ok, *degraded* (exit 1) when one warns,
*down* (exit 2) when one fails. Nothing here writes: the store is opened as read-only commands
open it (never created, never migrated) and only read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import func, select
from sqlmodel import Session, col

from hmas.errors import HmasError, StoreError
from hmas.store.models import Account, Candle, FetchRun, Run

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Engine

    from hmas.settings import Settings

logger = logging.getLogger(__name__)

Status = Literal["ok", "warn", "fail"]

#: The max age of the last run when none is given and the last run was no loop (cron).
DEFAULT_MAX_AGE = timedelta(hours=2)
#: A loop's default max age is 3 periods (start to start of its last two iterations) ...
PERIODS = 3
#: ... and never less than this (a loop with --sleep-seconds 0 would otherwise look stale
#: after a few seconds of slow network).
MIN_LOOP_MAX_AGE = timedelta(minutes=5)
#: How many stale series a detail names before "and N more".
NAMED = 3

EXIT_CODES = {"healthy": 0, "degraded": 1, "down": 2}


@dataclass(frozen=True)
class Check:
    """One check: ``value`` is for scripts (a number, a flag, a name), ``shown`` for the table."""

    name: str
    status: Status
    value: Any
    detail: str
    shown: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "status": self.status,
            "value": self.value,
            "detail": self.detail,
        }


@dataclass
class HealthReport:
    """Every check, the overall status and its exit code."""

    checks: list[Check] = field(default_factory=list)
    checked_at: datetime = field(default_factory=lambda: datetime.now(tz=UTC))
    #: The store's own error when it could not be opened (printed as the usual ``Error:`` line).
    error: str | None = None

    @property
    def status(self) -> str:
        """``healthy``, ``degraded`` or ``down``."""
        states = {c.status for c in self.checks}
        return "down" if "fail" in states else "degraded" if "warn" in states else "healthy"

    @property
    def exit_code(self) -> int:
        """0 healthy, 1 degraded, 2 down."""
        return EXIT_CODES[self.status]

    def as_dict(self) -> dict[str, Any]:
        """JSON form: ``status``, ``exit_code``, ``checks``."""
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "checked_at": self.checked_at.isoformat(timespec="seconds"),
            "checks": [c.as_dict() for c in self.checks],
        }


def age_text(seconds: float) -> str:
    """A short age: ``45s``, ``12m``, ``3h05m``, ``2d04h``."""
    s = max(int(seconds), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h}h{m:02d}m" if m else f"{h}h"
    d, h = divmod(s // 3600, 24)
    return f"{d}d{h:02d}h" if h else f"{d}d"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def check_health(
    settings: Settings,
    *,
    max_age: timedelta | None = None,
    runs: int = 10,
    now: datetime | None = None,
) -> HealthReport:
    """Every check of ``hmas health`` on the configured store (never created, never written)."""
    from hmas.store.engine import make_engine

    report = HealthReport(checked_at=now or datetime.now(tz=UTC))
    try:
        engine = make_engine(settings.resolved_db_url(), create=False)
    except HmasError as exc:
        report.error = str(exc)
        report.checks.append(Check("store", "fail", None, str(exc), "cannot open"))
        report.checks.append(_kill_switch(None, settings))
        return report
    try:
        _checks(report, engine, settings, max_age=max_age, runs=runs)
    finally:
        engine.dispose()
    return report


def _checks(
    report: HealthReport,
    engine: Engine,
    settings: Settings,
    *,
    max_age: timedelta | None,
    runs: int,
) -> None:
    from hmas.store.engine import HEAD_REVISION, existing_revision

    try:
        revision = existing_revision(engine)
    except HmasError as exc:
        report.error = str(exc)
        report.checks.append(Check("store", "fail", None, str(exc), "unusable"))
        report.checks.append(_kill_switch(None, settings))
        return
    if revision != HEAD_REVISION:
        report.checks.append(
            Check(
                "store",
                "fail",
                revision,
                f"schema at revision {revision}, not at head {HEAD_REVISION}; run hmas db "
                "upgrade (every writing command upgrades it too)",
                revision,
            )
        )
    else:
        report.checks.append(
            Check("store", "ok", revision, f"{engine.dialect.name} store at head", revision)
        )
    now = report.checked_at
    steps: tuple[tuple[str, Callable[[], Check]], ...] = (
        ("integrity", lambda: _integrity(engine)),
        ("last_run", lambda: _last_run(engine, now, max_age)),
        ("fetch", lambda: _fetches(engine, now, _max_age_of(engine, max_age)[0])),
        ("kill_switch", lambda: _kill_switch(engine, settings)),
        ("guardian", lambda: _guardian(engine, settings, now)),
        ("errors", lambda: _errors(engine, runs)),
        ("llm_budget", lambda: _llm_budget(engine, settings)),
    )
    for name, step in steps:
        try:
            report.checks.append(step())
        except StoreError as exc:  # a damaged table, a lost server: this check could not read
            report.checks.append(Check(name, "fail", None, str(exc), "unreadable"))


def _integrity(engine: Engine) -> Check:
    from hmas.store.integrity import quick_check

    result = quick_check(engine)
    if result.check == "none":
        return Check(
            "integrity",
            "ok",
            None,
            f"no quick check on {result.backend}; hmas db check reads every table",
            "n/a",
        )
    if not result.ok:
        more = f" (and {len(result.problems) - 1} more)" if len(result.problems) > 1 else ""
        return Check(
            "integrity",
            "fail",
            result.problems[0],
            f"PRAGMA quick_check: {result.problems[0]}{more}; restore the store from a backup "
            "(hmas db check lists the damage)",
            "damaged",
        )
    return Check("integrity", "ok", "ok", f"PRAGMA quick_check: ok in {result.seconds:.2f} s", "ok")


def _max_age_of(engine: Engine, given: timedelta | None) -> tuple[timedelta, str]:
    """The max age and how it was chosen (given; 3 periods of the last loop; the default)."""
    if given is not None:
        return given, f"{age_text(given.total_seconds())} (--max-age)"
    with Session(engine) as session:
        last_two = list(
            session.execute(select(Run).order_by(col(Run.id).desc()).limit(2)).scalars()
        )
    if len(last_two) == 2:
        last, before = last_two
        same_loop = (last.pid, last.host) == (
            before.pid,
            before.host,
        ) and last.iteration == before.iteration + 1
        if same_loop:
            period = _aware(last.started_at) - _aware(before.started_at)
            chosen = max(PERIODS * period, MIN_LOOP_MAX_AGE)
            return chosen, (
                f"{age_text(chosen.total_seconds())} (default: {PERIODS} x the "
                f"{age_text(period.total_seconds())} between the last loop's iterations)"
            )
    return DEFAULT_MAX_AGE, f"{age_text(DEFAULT_MAX_AGE.total_seconds())} (default)"


def _last_run(engine: Engine, now: datetime, given: timedelta | None) -> Check:
    max_age, why = _max_age_of(engine, given)
    with Session(engine) as session:
        run = session.execute(select(Run).order_by(col(Run.id).desc()).limit(1)).scalars().first()
    if run is None:
        return Check("last_run", "warn", None, f"no run recorded (max age {why})", "none")
    when = _aware(run.finished_at or run.started_at)
    age = (now - when).total_seconds()
    verb = "finished" if run.finished_at is not None else "started (still running)"
    detail = f"run {run.id} ({run.status}) {verb} {age_text(age)} ago; max age {why}"
    status: Status = "warn" if age > max_age.total_seconds() else "ok"
    return Check("last_run", status, round(age), detail, f"{age_text(age)} ago")


def _fetches(engine: Engine, now: datetime, max_age: timedelta) -> Check:
    from hmas.market import timeframe_ms

    latest = (
        select(func.max(col(FetchRun.id)))
        .group_by(col(FetchRun.exchange), col(FetchRun.symbol), col(FetchRun.timeframe))
        .scalar_subquery()
    )
    with Session(engine) as session:
        rows = session.execute(
            select(
                col(FetchRun.exchange),
                col(FetchRun.symbol),
                col(FetchRun.timeframe),
                col(FetchRun.source),
            )
            .where(col(FetchRun.id).in_(latest))
            .order_by(col(FetchRun.exchange), col(FetchRun.symbol), col(FetchRun.timeframe))
        ).all()
        # Files are imported history: only series kept current from a market are checked.
        live = [r for r in rows if r.source != "file"]
        newest: dict[tuple[str, str, str], int | None] = {}
        for r in live:
            ts = session.execute(
                select(func.max(col(Candle.ts))).where(
                    col(Candle.exchange) == r.exchange,
                    col(Candle.symbol) == r.symbol,
                    col(Candle.timeframe) == r.timeframe,
                )
            ).scalar_one()
            newest[(r.exchange, r.symbol, r.timeframe)] = None if ts is None else int(ts)
    if not live:
        skipped = f" ({len(rows)} imported from files, not checked)" if rows else ""
        return Check("fetch", "ok", 0, f"no series fetched from a market{skipped}", "none")
    now_ms = int(now.timestamp() * 1000)
    stale: list[str] = []
    for (exchange, symbol, timeframe), ts in newest.items():
        limit_ms = 2 * timeframe_ms(timeframe) + int(max_age.total_seconds() * 1000)
        if ts is None:
            stale.append(f"{symbol} {timeframe} on {exchange}: no candle stored")
        elif now_ms - ts > limit_ms:
            stale.append(
                f"{symbol} {timeframe} on {exchange}: newest candle "
                f"{age_text((now_ms - ts) / 1000)} old"
            )
    rule = f"newest candle at most 2 bars + {age_text(max_age.total_seconds())} old"
    if stale:
        named = "; ".join(stale[:NAMED]) + (
            f"; and {len(stale) - NAMED} more" if len(stale) > NAMED else ""
        )
        return Check(
            "fetch",
            "warn",
            len(stale),
            f"{len(stale)} of {len(newest)} series stale ({rule}): {named}",
            f"{len(stale)}/{len(newest)} stale",
        )
    return Check("fetch", "ok", 0, f"{len(newest)} series fresh ({rule})", f"{len(newest)} fresh")


def _kill_switch(engine: Engine | None, settings: Settings) -> Check:
    from hmas.store.switch import file_switch_on, switch_file

    name = settings.decision.engine
    on: list[str] = []
    if settings.kill_switch:
        on.append("the setting (HMAS_KILL_SWITCH / kill_switch)")
    if file_switch_on(settings):
        on.append(f"the file {switch_file(settings)}")
    stored: bool | None = None
    if engine is not None:
        with Session(engine) as session:
            account = session.get(Account, name)
        stored = bool(account is not None and account.kill_switch)
        if stored:
            on.append(f"the store ({name} account)")
    if on:
        return Check(
            "kill_switch",
            "warn",
            True,
            f"engaged by {', '.join(on)}: every new trade is refused; hmas kill-switch off",
            "ON",
        )
    unknown = " (stored switch unknown: the store cannot be read)" if stored is None else ""
    return Check("kill_switch", "ok", False, f"off: setting, file and store{unknown}", "off")


def _guardian(engine: Engine, settings: Settings, now: datetime) -> Check:
    from hmas.store import pauses
    from hmas.store.llm_calls import utc_day

    name = settings.decision.engine
    with Session(engine) as session:
        account = session.get(Account, name)
        held = pauses.active(session, name, now)
    if account is None and held:
        account = Account(
            engine=name,
            starting_equity=0.0,
            equity=0.0,
            day="",
            day_start_equity=0.0,
            peak_equity=0.0,
        )
    if account is None:
        return Check("guardian", "ok", "trading", f"no {name} paper account yet", "trading")
    risk = settings.risk
    daily_limit, dd_limit = risk.limits()
    now_ms = int(now.timestamp() * 1000)
    engaged: list[str] = []
    streak = f"loss streak {account.consecutive_losses} of {risk.max_consecutive_losses}"
    if account.paused_until_ts is not None and account.paused_until_ts > now_ms:
        until = datetime.fromtimestamp(account.paused_until_ts / 1000, tz=UTC)
        engaged.append(f"paused until {until.strftime('%Y-%m-%dT%H:%MZ')} after a run of losses")
    if account.day == utc_day(now) and account.day_start_equity > 0:
        loss = (account.day_start_equity - account.equity) / account.day_start_equity
        if loss >= daily_limit:
            engaged.append(f"today's loss {loss:.2%} at the {daily_limit:.2%} daily limit")
    for p in held:
        if p.trigger in ("loss_streak", "daily_loss"):
            continue  # shown above from the account, with its numbers
        ends = pauses.aware(p.expires_at) if p.expires_at is not None else None
        to = f" until {ends.strftime('%Y-%m-%dT%H:%MZ')}" if ends is not None else ""
        scope = "" if p.scope == "*" else f" on {p.scope}"
        engaged.append(f"paused{scope}{to} by #{p.id} {p.trigger}: {p.reason}")
    peak = max(account.peak_equity, account.equity)
    if peak > 0:
        drawdown = (peak - account.equity) / peak
        if drawdown >= dd_limit:
            engaged.append(f"drawdown {drawdown:.2%} at the {dd_limit:.2%} maximum")
    if engaged:
        state = "paused" if engaged[0].startswith("paused") else "halted"
        return Check(
            "guardian",
            "warn",
            state,
            f"{name} account: {'; '.join(engaged)} ({streak}): new trades are refused",
            state,
        )
    return Check(
        "guardian",
        "ok",
        "trading",
        f"{name} account trading: equity {account.equity:,.2f}, {streak}",
        "trading",
    )


def _errors(engine: Engine, runs: int) -> Check:
    with Session(engine) as session:
        rows = session.execute(
            select(col(Run.id), col(Run.status), col(Run.errors))
            .where(col(Run.status) != "running")
            .order_by(col(Run.id).desc())
            .limit(runs)
        ).all()
    if not rows:
        return Check("errors", "ok", 0, "no finished run recorded", "0/0")
    bad = [r for r in rows if r.status in ("error", "partial")]
    failed = [r for r in rows if r.status == "error"]
    shown = f"{len(bad)}/{len(rows)}"
    last_n = f"the last {len(rows)} run" + ("s" if len(rows) > 1 else "")
    if not bad:
        return Check("errors", "ok", 0, f"no errors in {last_n}", shown)
    latest = bad[0]
    first = next(iter((latest.errors or {}).items()), None)
    example = f"; latest: run {latest.id} {latest.status}" + (
        f", {first[0]}: {(str(first[1]).splitlines() or [''])[0][:120]}" if first else ""
    )
    if len(failed) == len(rows):
        return Check("errors", "fail", len(bad), f"every one of {last_n} failed{example}", shown)
    return Check("errors", "warn", len(bad), f"{len(bad)} of {last_n} had errors{example}", shown)


def _llm_budget(engine: Engine, settings: Settings) -> Check:
    if not settings.uses_llm():
        return Check(
            "llm_budget",
            "ok",
            None,
            f"unknown: the llm engine is not configured (decision.engine = "
            f"{settings.decision.engine})",
            "unknown",
        )
    from hmas.store.llm_calls import spent_on, utc_day

    budget = settings.llm.daily_budget_usd
    spent = spent_on(engine)
    left = budget - spent
    detail = f"${spent:.4f} of ${budget:.2f} spent on {utc_day()} (UTC)"
    if left <= 0:
        return Check(
            "llm_budget",
            "warn",
            0.0,
            f"{detail}: the budget is spent, LLM calls are refused until the next UTC day",
            "$0.00 left",
        )
    return Check("llm_budget", "ok", round(left, 6), detail, f"${left:.2f} left")
