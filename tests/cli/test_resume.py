"""``hmas resume``: lifts the pauses in force; bad input exits 2 with one line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

Run = Callable[..., Result]


def test_resume_with_nothing_paused(hmas: Run) -> None:
    result = hmas("resume", "--reason", "checked")
    assert (result.exit_code, result.stdout) == (0, "No pause in force.\n")
    data = json.loads(hmas("resume", "--json").stdout)
    assert data == {"engine": "rules", "lifted": [], "kept": []}


def test_resume_refuses_an_unknown_trigger(hmas: Run) -> None:
    result = hmas("resume", "--trigger", "nonsense")
    assert result.exit_code == 2
    assert "'nonsense'; use one of loss_streak, daily_loss, api_errors, slippage" in result.stderr


def test_a_negative_pause_threshold_is_refused(hmas: Run, tmp_path: Path) -> None:
    (tmp_path / "hmas.toml").write_text("[pause]\napi_errors = -1\n", encoding="utf-8")
    result = hmas("--config", str(tmp_path / "hmas.toml"), "resume")
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("Error: ")
    assert "pause.api_errors" in result.stderr


def test_a_stored_pause_refuses_trades_shows_in_health_and_resume_lifts_it(
    hmas: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: a pause in force (here an API-error burst, stored as the guardian would)
    refuses the trades ``decide`` would approve, naming the pause; ``hmas health`` names it;
    ``hmas resume`` lifts it and the next approvable bar is approved."""
    from datetime import timedelta

    from sqlmodel import Session

    from hmas.decision.service import load_inputs
    from hmas.settings import load_settings
    from hmas.store import open_store, pauses
    from hmas.store.models import utcnow
    from tests.decision.conftest import setup_bars

    for key, value in {
        "HMAS_MOTHER__MIN_EXPECTED_VALUE_R": "-100",
        "HMAS_MOTHER__MIN_CONSENSUS": "0",
        "HMAS_MOTHER__MIN_CONFIDENCE": "0",
        "HMAS_EXECUTION__MAX_COST_R": "100",
        "HMAS_EXECUTION__MAX_COST_TO_TARGET": "100",
        "HMAS_MACRO__HIGH_VOL_PCT": "1",
        "HMAS_PAUSE__API_ERRORS": "0",  # the stored pause below is the only one
    }.items():
        monkeypatch.setenv(key, value)
    assert hmas("fetch", "--source", "sample", "-s", "ETH-USD", "--limit", "1500").exit_code == 0
    settings = load_settings()
    engine = open_store(settings)
    db = settings.resolved_db_url().removeprefix("sqlite:///")
    bars = setup_bars(load_inputs(engine, settings, "sample", "ETH-USD", "1h"), settings, limit=25)
    with Session(engine) as session:
        now = utcnow()
        pauses.start(
            session,
            "rules",
            "api_errors",
            "12 errors in 15 minutes",
            now,
            expires_at=now + timedelta(hours=1),
        )
        session.commit()
    engine.dispose()

    def decide_latest(until: int) -> dict[str, object]:
        """Decide the latest bar (a live decision: it reads the live book and its pauses),
        after dropping the candles after ``until``."""
        import sqlite3
        from contextlib import closing

        with closing(sqlite3.connect(db)) as conn, conn:
            conn.execute("DELETE FROM candle WHERE symbol = 'ETH-USD' AND ts > ?", (until,))
        result = hmas("decide", "ETH-USD", "--json")
        assert result.exit_code == 0, result.stderr
        data: dict[str, object] = json.loads(result.stdout)
        return data

    refused = None
    for k, bar in enumerate(reversed(bars)):
        reason = str(decide_latest(bar)["rejection_reason"] or "")
        if "pause #" in reason:
            refused = k
            assert "api_errors" in reason
            break
    assert refused is not None, "no approvable proposal met the pause"

    health = json.loads(hmas("health", "--json").stdout)
    guardian = next(c for c in health["checks"] if c["name"] == "guardian")
    assert guardian["status"] == "warn" and "api_errors" in guardian["detail"]

    lifted = json.loads(hmas("resume", "--reason", "exchange is back", "--json").stdout)
    assert [p["trigger"] for p in lifted["lifted"]] == ["api_errors"]
    after = json.loads(hmas("health", "--json").stdout)
    guardian = next(c for c in after["checks"] if c["name"] == "guardian")
    assert "api_errors" not in guardian["detail"]
    later = [decide_latest(bar) for bar in list(reversed(bars))[refused + 1 :]]
    assert all("pause #" not in str(d["rejection_reason"] or "") for d in later)
