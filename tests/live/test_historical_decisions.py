"""``decide --at`` a past bar is historical: it never opens, settles or counts in the live book."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from hmas.decision.service import load_inputs
from hmas.market import ms_to_datetime
from hmas.settings import load_settings
from hmas.store.engine import make_engine
from tests.decision.conftest import setup_bars

LOOSE = {
    "HMAS_MOTHER__MIN_EXPECTED_VALUE_R": "-100",
    "HMAS_MOTHER__MIN_CONSENSUS": "0",
    "HMAS_MOTHER__MIN_CONFIDENCE": "0",
    "HMAS_EXECUTION__MAX_COST_R": "100",
    "HMAS_EXECUTION__MAX_COST_TO_TARGET": "100",
    "HMAS_MACRO__HIGH_VOL_PCT": "1",
    "HMAS_RISK__MAX_SIGNALS_PER_HOUR": "1",
}


def _count(url: str, sql: str) -> Any:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()
    finally:
        engine.dispose()


def test_past_approvals_stay_out_of_the_live_book(
    hmas: Callable[..., Any], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    monkeypatch.setenv("HMAS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HMAS_DB_URL", url)
    for key, value in LOOSE.items():
        monkeypatch.setenv(key, value)
    assert hmas("fetch", "--source", "sample", "-s", "ETH-USD", "--limit", "1500").exit_code == 0
    settings = load_settings()
    engine = make_engine(url)
    inputs = load_inputs(engine, settings, "sample", "ETH-USD", "1h")
    engine.dispose()
    # Past bars only: the sample market ends at the clock's last closed hour, and a setup on
    # that latest bar would be a live decision (which rightly loads the live account).
    latest = int(inputs.candles.index[-1].value // 1_000_000)
    bars = [bar for bar in setup_bars(inputs, settings, 26) if bar < latest][:25]
    approved = []
    for bar in bars:
        result = hmas("decide", "ETH-USD", "--at", ms_to_datetime(bar).isoformat(), "--json")
        assert result.exit_code == 0
        signal = json.loads(result.stdout)
        if signal["decision"] == "APPROVED":
            approved.append(signal["id"])
    # Past approvals, though the hourly cap is 1: each is judged on a fresh book.
    assert len(approved) >= 2
    assert _count(url, "SELECT count(*) FROM position") == 0
    assert _count(url, "SELECT count(*) FROM signal_result") == 0
    assert _count(url, "SELECT count(*) FROM account") == 0  # the live account never loaded
    books = _count(
        url,
        f"SELECT count(*) FROM signal WHERE id IN ({','.join(map(str, approved))}) "
        'AND guardian LIKE \'%"book": "historical"%\'',
    )
    assert books == len(approved)
    # Replaying a historical signal reproduces it (judged on the stored fresh-book state).
    replayed = hmas("replay", str(approved[0]), "--json")
    assert replayed.exit_code == 0 and json.loads(replayed.stdout)["identical"] is True
