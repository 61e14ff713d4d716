"""Backtest runs in the store, on SQLite and PostgreSQL: kept, listed, read back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hmas.backtest.run import BacktestRequest, run_backtest
from hmas.backtest.runs import get_run, list_runs
from hmas.errors import UsageError
from hmas.store.engine import upgrade
from tests.backtest.conftest import permissive, store_frame
from tests.decision.conftest import sample_frame


def test_a_run_is_stored_listed_and_read_back(db_url: str, engine_factory: Any) -> None:
    engine = engine_factory(db_url)
    upgrade(engine)
    store_frame(engine, "sample", "ETH-USD", "1h", sample_frame("ETH-USD", 1200))
    settings = permissive()
    first = run_backtest(engine, settings, BacktestRequest(["ETH-USD"], "1h"))
    second = run_backtest(
        engine, settings, BacktestRequest(["ETH-USD"], "1h", strategy="reference")
    )
    assert (first.id, second.id) == (1, 2)
    rows = list_runs(engine)
    assert [r["id"] for r in rows] == [2, 1]
    assert rows[1]["trades"] == first.metrics["trades"]
    assert rows[1]["config_hash"] == settings.config_hash()
    stored = get_run(engine, 1)
    fresh = first.as_dict()
    for key in ("strategy", "symbols", "timeframe", "start", "end", "bars", "data_hash"):
        assert stored[key] == fresh[key]
    # Stored JSON reads back as written (PostgreSQL's JSON included): numbers, nulls, text.
    assert stored["metrics"] == json.loads(json.dumps(fresh["metrics"]))
    assert stored["trades"] == json.loads(json.dumps(fresh["trades"]))
    assert list_runs(engine, limit=1) == rows[:1]


def test_an_unknown_run_id_is_a_usage_error(db_url: str, engine_factory: Any) -> None:
    engine = engine_factory(db_url)
    upgrade(engine)
    with pytest.raises(UsageError) as info:
        get_run(engine, 9)
    assert str(info.value) == "no backtest with id 9; list them with hmas backtest list"
