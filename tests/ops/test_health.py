"""``check_health`` on real stores: each check, each state it reports, and that it never writes.

Time is the one thing moved by hand (``now=``): a store made by a real run is looked at later.
"""

from __future__ import annotations

import hashlib
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session
from typer.testing import CliRunner, Result

from hmas.cli import app
from hmas.ops.health import HealthReport, age_text, check_health
from hmas.settings import Settings, load_settings
from hmas.store.engine import HEAD_REVISION, make_engine
from hmas.store.models import LlmCall, Run

NAMES = [
    "store",
    "integrity",
    "last_run",
    "fetch",
    "kill_switch",
    "guardian",
    "errors",
    "llm_budget",
]


def hmas(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """The default store after one real run on the sample market (hourly candles)."""
    result = hmas("run", "--source", "sample", "-s", "BTC-USD", "--once")
    assert result.exit_code == 0, result.stderr
    return tmp_path / "home" / "hmas.db"


def sql(db: Path, statement: str, **params: Any) -> None:
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), params)
    finally:
        engine.dispose()


def add(db: Path, *rows: Any) -> None:
    engine = make_engine(f"sqlite:///{db}")
    try:
        with Session(engine) as session:
            session.add_all(rows)
            session.commit()
    finally:
        engine.dispose()


def checks(report: HealthReport) -> dict[str, Any]:
    return {c.name: c for c in report.checks}


def later(hours: float = 0, minutes: float = 0) -> datetime:
    return datetime.now(tz=UTC) + timedelta(hours=hours, minutes=minutes)


def settings(**overrides: Any) -> Settings:
    return load_settings(None, **overrides)


def test_a_store_right_after_a_run_is_healthy(db: Path) -> None:
    report = check_health(settings())
    assert [c.name for c in report.checks] == NAMES
    assert {c.name: c.status for c in report.checks} == dict.fromkeys(NAMES, "ok")
    assert (report.status, report.exit_code, report.error) == ("healthy", 0, None)
    got = checks(report)
    assert got["store"].value == HEAD_REVISION
    assert got["fetch"].detail == "1 series fresh (newest candle at most 2 bars + 2h old)"
    assert got["llm_budget"].value is None
    assert got["llm_budget"].detail.startswith("unknown: the llm engine is not configured")


def test_health_never_writes(db: Path) -> None:
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    check_health(settings(), now=later(hours=30))
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_a_late_run_and_stale_candles_degrade(db: Path) -> None:
    report = check_health(settings(), now=later(hours=3))
    got = checks(report)
    assert (report.status, report.exit_code) == ("degraded", 1)
    assert got["last_run"].status == "warn"
    assert got["last_run"].detail.endswith("; max age 2h (default)")
    assert got["last_run"].value >= 3 * 3600 - 5
    assert got["fetch"].status == "warn"
    assert got["fetch"].detail.startswith(
        "1 of 1 series stale (newest candle at most 2 bars + 2h old): BTC-USD 1h on sample: "
        "newest candle "
    )
    assert got["fetch"].value == 1


def test_max_age_given_moves_the_bar(db: Path) -> None:
    got = checks(check_health(settings(), max_age=timedelta(days=1), now=later(hours=3)))
    assert (got["last_run"].status, got["fetch"].status) == ("ok", "ok")
    assert got["last_run"].detail.endswith("; max age 1d (--max-age)")
    tight = checks(check_health(settings(), max_age=timedelta(minutes=1), now=later(minutes=5)))
    assert tight["last_run"].status == "warn"


def _loop_runs(db: Path, period: timedelta) -> None:
    start = datetime.now(tz=UTC) - period
    host = socket.gethostname()
    add(
        db,
        *(
            Run(
                started_at=at,
                finished_at=at,
                iteration=i,
                pid=4242,
                host=host,
                engine="rules",
                config_hash="x",
                status="ok",
            )
            for i, at in enumerate((start, start + period), start=1)
        ),
    )


def test_the_default_max_age_is_three_periods_of_the_last_loop(db: Path) -> None:
    _loop_runs(db, timedelta(minutes=10))
    ok = checks(check_health(settings(), now=later(minutes=25)))["last_run"]
    assert ok.status == "ok"
    assert ok.detail.endswith(
        "max age 30m (default: 3 x the 10m between the last loop's iterations)"
    )
    assert checks(check_health(settings(), now=later(minutes=35)))["last_run"].status == "warn"


def test_a_fast_loop_gets_at_least_five_minutes(db: Path) -> None:
    _loop_runs(db, timedelta(seconds=20))
    got = checks(check_health(settings(), now=later(minutes=4)))["last_run"]
    assert got.status == "ok"
    assert "max age 5m (default: 3 x the 20s between" in got.detail


def test_no_run_recorded_degrades(tmp_path: Path) -> None:
    assert hmas("fetch", "--source", "sample", "-s", "BTC-USD", "--limit", "50").exit_code == 0
    report = check_health(settings())
    got = checks(report)
    assert report.status == "degraded"
    assert (got["last_run"].status, got["last_run"].detail) == (
        "warn",
        "no run recorded (max age 2h (default))",
    )
    assert (got["errors"].status, got["errors"].detail) == ("ok", "no finished run recorded")
    assert got["guardian"].detail == "no rules paper account yet"


def test_files_are_history_not_stale_series(tmp_path: Path) -> None:
    csv = tmp_path / "btc.csv"
    csv.write_text(
        "ts,open,high,low,close,volume\n"
        + "".join(f"{1704067200000 + i * 3600000},1,2,0.5,1.5,10\n" for i in range(5))
    )
    args = ["fetch", "--source", "file", "--path", str(csv), "-s", "BTC-USD", "-t", "1h"]
    assert hmas(*args, "--exchange", "coinbase").exit_code == 0
    got = checks(check_health(settings()))["fetch"]
    assert (got.status, got.detail) == (
        "ok",
        "no series fetched from a market (1 imported from files, not checked)",
    )


@pytest.mark.parametrize("source", ["setting", "file", "store"])
def test_the_kill_switch_from_any_source_degrades(db: Path, source: str) -> None:
    if source == "setting":
        chosen = settings(kill_switch=True)
        named = "the setting (HMAS_KILL_SWITCH / kill_switch)"
    elif source == "file":
        chosen = settings()
        Path(f"{db}.kill-switch").touch()
        named = f"the file {db}.kill-switch"
    else:
        chosen = settings()
        assert hmas("kill-switch", "on").exit_code == 0
        named = "the store (rules account)"
    report = check_health(chosen)
    got = checks(report)["kill_switch"]
    assert (report.status, got.status, got.value) == ("degraded", "warn", True)
    assert got.detail == f"engaged by {named}: every new trade is refused; hmas kill-switch off"


def test_a_guardian_pause_degrades(db: Path) -> None:
    until = int((datetime.now(tz=UTC) + timedelta(hours=5)).timestamp() * 1000)
    sql(db, "UPDATE account SET paused_until_ts = :u, consecutive_losses = 0", u=until)
    got = checks(check_health(settings()))["guardian"]
    assert (got.status, got.value) == ("warn", "paused")
    assert "paused until " in got.detail and got.detail.endswith(
        "(loss streak 0 of 3): new trades are refused"
    )
    # Past the pause the account trades again.
    assert checks(check_health(settings(), now=later(hours=6)))["guardian"].status == "ok"


def test_the_daily_loss_and_drawdown_limits_degrade(db: Path) -> None:
    today = datetime.now(tz=UTC).strftime("%Y-%m-%d")
    sql(
        db,
        "UPDATE account SET day = :d, day_start_equity = 100000, equity = 94000, "
        "peak_equity = 100000",
        d=today,
    )
    got = checks(check_health(settings()))["guardian"]
    assert got.status == "warn"
    assert "today's loss 6.00% at the 5.00% daily limit" in got.detail
    sql(db, "UPDATE account SET day = '2000-01-01', equity = 89000")  # another day: drawdown only
    got = checks(check_health(settings()))["guardian"]
    assert got.status == "warn" and "today's loss" not in got.detail
    assert "drawdown 11.00% at the 10.00% maximum" in got.detail


def _run_with(db: Path, status: str, errors: dict[str, str] | None = None) -> None:
    now = datetime.now(tz=UTC)
    add(
        db,
        Run(
            started_at=now,
            finished_at=now,
            iteration=1,
            pid=1,
            host="h",
            engine="rules",
            config_hash="x",
            status=status,
            errors=errors or {},
        ),
    )


def test_runs_with_errors_degrade_and_all_failed_is_down(db: Path) -> None:
    _run_with(db, "partial", {"ETH-USD": "coinbase: loading markets failed\nmore"})
    report = check_health(settings())
    got = checks(report)["errors"]
    assert (report.status, got.status, got.value, got.shown) == ("degraded", "warn", 1, "1/2")
    assert got.detail.startswith("1 of the last 2 runs had errors; latest: run 2 partial, ")
    assert got.detail.endswith("ETH-USD: coinbase: loading markets failed")
    # The window: the last run alone failed, and it is every run of a window of one.
    _run_with(db, "error")
    one = check_health(settings(), runs=1)
    assert (one.status, one.exit_code, checks(one)["errors"].status) == ("down", 2, "fail")
    assert checks(one)["errors"].detail.startswith("every one of the last 1 run failed")
    assert checks(check_health(settings(), runs=3))["errors"].status == "warn"


def test_the_llm_budget_left_today(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HMAS_DECISION__ENGINE", "llm")
    monkeypatch.setenv("HMAS_LLM__DAILY_BUDGET_USD", "1")
    today = datetime.now(tz=UTC).strftime("%Y-%m-%d")

    def spend(usd: float) -> None:
        add(
            db,
            LlmCall(
                day=today,
                batch="b",
                agent="alpha",
                vendor="deepseek",
                model="m",
                cost_usd=usd,
                status="ok",
            ),
        )

    spend(0.25)
    got = checks(check_health(settings()))["llm_budget"]
    assert (got.status, got.value, got.shown) == ("ok", 0.75, "$0.75 left")
    spend(0.80)
    got = checks(check_health(settings()))["llm_budget"]
    assert (got.status, got.value) == ("warn", 0.0)
    assert got.detail.endswith("the budget is spent, LLM calls are refused until the next UTC day")


def test_a_missing_store_is_down_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.db"
    report = check_health(settings(db_url=f"sqlite:///{path}"))
    assert (report.status, report.exit_code) == ("down", 2)
    assert report.error == (
        f"no hmas store at {path}; check HMAS_DB_URL or --db-url, or create one with "
        "hmas db upgrade"
    )
    assert [c.name for c in report.checks] == ["store", "kill_switch"]
    assert not path.exists()


def test_a_store_behind_head_is_down_and_left_as_it_is(tmp_path: Path) -> None:
    from alembic import command

    from hmas.store.engine import alembic_config

    path = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            cfg = alembic_config(engine)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0004_backtest_run")
    finally:
        engine.dispose()
    report = check_health(settings(db_url=f"sqlite:///{path}"))
    got = checks(report)["store"]
    assert (report.status, got.status, got.value) == ("down", "fail", "0004_backtest_run")
    assert got.detail == (
        f"schema at revision 0004_backtest_run, not at head {HEAD_REVISION}; run hmas db "
        "upgrade (every writing command upgrades it too)"
    )
    engine = make_engine(f"sqlite:///{path}", create=False)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()
    assert version == "0004_backtest_run"  # not upgraded


def test_a_damaged_store_is_down(db: Path) -> None:
    from tests.store.damage import damage

    damage(db, "middle")
    report = check_health(settings())
    got = checks(report)["integrity"]
    assert (report.status, report.exit_code, got.status, got.shown) == (
        "down",
        2,
        "fail",
        "damaged",
    )
    assert got.detail.startswith("PRAGMA quick_check: ")
    assert got.detail.endswith("; restore the store from a backup (hmas db check lists the damage)")


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (59, "59s"),
        (60, "1m"),
        (3599, "59m"),
        (3600, "1h"),
        (3900, "1h05m"),
        (86400, "1d"),
        (90000, "1d01h"),
        (-5, "0s"),
    ],
)
def test_ages_are_short(seconds: float, shown: str) -> None:
    assert age_text(seconds) == shown


def test_the_report_is_json_ready() -> None:
    from hmas.ops.health import Check

    report = HealthReport([Check("a", "ok", 1, "fine"), Check("b", "warn", None, "late")])
    data = report.as_dict()
    assert (data["status"], data["exit_code"]) == ("degraded", 1)
    assert data["checks"][1] == {"name": "b", "status": "warn", "value": None, "detail": "late"}
