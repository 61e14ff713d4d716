"""The metrics read from the store: each figure against what the store holds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session
from typer.testing import Result

from hmas.metrics.store import StoreCollector, read
from hmas.settings import load_settings
from hmas.store.engine import make_engine
from hmas.store.models import Account, FetchRun, LlmCall, Run, Signal, utcnow


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def store(hmas: Callable[..., Result], tmp_path: Path) -> Any:
    db = f"sqlite:///{tmp_path / 'm.db'}"
    result = hmas("--db-url", db, "run", "-s", "BTC-USD", "ETH-USD", "--source", "sample", "--once")
    assert result.exit_code == 0, result.stderr
    engine = make_engine(db)
    with Session(engine) as session:
        # A guardian refusal, a failed symbol, a failed fetch and a failed LLM call, planted.
        signal = session.get(Signal, 1)
        assert signal is not None
        signal.rejection_reason = "guardian: paused: …; kill_switch: …"
        signal.guardian = {"refused_by": ["paused", "kill_switch"]}
        session.add(signal)
        session.add(
            Run(
                engine="rules",
                config_hash="x",
                status="partial",
                errors={"SOL-USD": "down"},
                started_at=utcnow() - timedelta(seconds=3),
                finished_at=utcnow(),
            )
        )
        session.add(
            FetchRun(
                source="exchange", exchange="kraken", symbol="X-USD", timeframe="1h", status="error"
            )
        )
        session.add(
            LlmCall(
                day="2026-01-01", batch="b", agent="macro", vendor="v", model="m", status="deadline"
            )
        )
        account = session.get(Account, "rules")
        assert account is not None
        account.peak_equity, account.equity = 110_000.0, 99_000.0
        account.day_start_equity = 100_000.0
        session.add(account)
        session.commit()
    yield engine
    engine.dispose()


def test_every_figure_is_what_the_store_holds(store: Any) -> None:
    from hmas.risk.account import utc_day

    settings = load_settings()
    f = read(store, settings)
    assert f.signals == {("BTC-USD", "REJECTED"): 1, ("ETH-USD", "REJECTED"): 1}
    assert f.refusals == {"paused": 1, "kill_switch": 1}
    account = f.accounts["rules"]
    assert account.equity == 99_000.0
    assert account.drawdown == pytest.approx(0.1)
    with Session(store) as session:
        row = session.get(Account, "rules")
        assert row is not None
        today = row.day == utc_day(int(utcnow().timestamp() * 1000))
    assert account.daily_pnl == (-1000.0 if today else 0.0)
    assert account.open_positions == 0 and not account.paused and not account.kill_switch
    assert f.runs == {"ok": 1, "partial": 1}
    assert f.last_run_duration == pytest.approx(3, abs=0.5)
    assert f.symbol_errors == {"SOL-USD": 1}
    assert f.fetch_errors == {"kraken": 1}
    assert f.agent_errors == {"macro": 1}
    assert f.llm_spend_today == 0.0
    assert f.kill_switch is False


def test_the_kill_switch_counts_from_the_setting_the_file_and_the_account(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HMAS_KILL_SWITCH", "1")
    assert read(store, load_settings()).kill_switch is True
    monkeypatch.delenv("HMAS_KILL_SWITCH")
    with Session(store) as session:
        account = session.get(Account, "rules")
        assert account is not None
        account.kill_switch = True
        session.add(account)
        session.commit()
    f = read(store, load_settings())
    assert f.kill_switch is True and f.accounts["rules"].kill_switch is True


def test_the_exposition_parses_back_to_the_figures(store: Any) -> None:
    registry = CollectorRegistry()
    registry.register(
        StoreCollector(store, load_settings(), notifications=lambda: {("discord", "failed"): 2})
    )
    got = samples(generate_latest(registry).decode())
    assert got[("hmas_signals_total", (("decision", "REJECTED"), ("symbol", "BTC-USD")))] == 1
    assert got[("hmas_guardian_refusals_total", (("rule", "paused"),))] == 1
    assert got[("hmas_paper_equity", (("currency", "USD"), ("engine", "rules")))] == 99_000
    assert got[("hmas_kill_switch", ())] == 0
    assert got[("hmas_agent_errors_total", (("agent", "macro"),))] == 1
    assert got[("hmas_notifications_total", (("channel", "discord"), ("outcome", "failed")))] == 2
    assert ("hmas_last_run_duration_seconds", ()) in got
