"""Concurrent verdicts: many real ``hmas decide`` processes at once never break a limit.

Processes decide the latest bar of the sample symbols together, each bar one the mother
approves under permissive thresholds (a config file; the product's thresholds are untouched),
against ``max_open_positions = 3``. Only symbols with such a bar take part (an approval needs
a measured history with an edge, which the thresholds do not waive): at least four, so the
limit is contested. Loading the book, judging and saving is one serialised step
(SQLite ``BEGIN IMMEDIATE``, PostgreSQL an advisory transaction lock), so at most three
positions open, whatever the interleaving. The store starts without an account row, so the
first decisions also race to create it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from hmas.data.sample import SAMPLE_SYMBOLS
from hmas.decision.history import compute_history
from hmas.decision.pipeline import MarketInputs
from hmas.market import index_to_ms
from hmas.store.candles import CandleStore
from hmas.store.engine import upgrade
from tests.decision.conftest import permissive, sample_frame

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

LIMIT = 2
TRIALS = 4

CONFIG = f"""
[mother]
min_expected_value_r = -100.0
min_consensus = 0.0
min_confidence = 0.0

[execution]
max_cost_r = 100.0
max_cost_to_target = 100.0

[macro]
high_vol_pct = 1.0

[risk]
max_open_positions = {LIMIT}
max_leverage = 100.0  # the notional cap must not refuse first: the open positions are contested
max_signals_per_hour = 1000
max_signals_per_day = 10000
"""


def approvable_bar(symbol: str, frames: dict[str, Any]) -> int | None:
    """The latest bar of ``symbol`` the mother approves (the history pass: the live decision)."""
    settings = permissive()
    universe = {s: f for s, f in frames.items() if s != symbol}
    benchmark = universe.get(settings.macro.benchmark)
    inputs = MarketInputs("sample", symbol, "1h", frames[symbol], "sample", benchmark, universe)
    decided = compute_history(inputs, settings).decided
    assert decided is not None
    ms = index_to_ms(decided.index)
    flags = decided["approved"].to_numpy(dtype=bool)
    approved = [ms[i] for i in range(len(ms)) if flags[i]]
    return approved[-1] if approved else None


@pytest.fixture
def contested_store(db_url: str, engine_factory: Any) -> tuple[str, list[str]]:
    """The sample symbols whose latest stored bar is an approvable one; no account row yet."""
    frames = {s: sample_frame(s) for s in list(SAMPLE_SYMBOLS)[:7]}
    bars = {s: approvable_bar(s, frames) for s in frames}
    symbols = [s for s, bar in bars.items() if bar is not None]
    assert len(symbols) > LIMIT, f"approvable bars: {bars}"
    engine = engine_factory(db_url)
    upgrade(engine)
    store = CandleStore(engine)
    for symbol in symbols:
        last = bars[symbol]
        frame = frames[symbol]
        ms = index_to_ms(frame.index)
        rows = [[t, *v] for t, v in zip(ms, frame.to_numpy().tolist(), strict=True) if t <= last]
        store.upsert("sample", symbol, "1h", rows, source="sample")
    return db_url, symbols


def _reset(engine: Any) -> None:
    """Forget every decision and the account for the next trial (candles and analyses stay)."""
    with engine.begin() as conn:
        for table in ("signal_result", "position", "signal", "account"):
            conn.execute(text(f"DELETE FROM {table}"))


def _decide_all(url: str, config: Path, tmp_path: Path, symbols: list[str]) -> list[Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HMAS_")}
    env["HMAS_DATA_DIR"] = str(tmp_path / "home")
    hmas_cmd = [sys.executable, "-m", "hmas"]
    procs = [
        subprocess.Popen(
            [*hmas_cmd, "--db-url", url, "--config", str(config), "decide", symbol, "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for symbol in symbols
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        results.append((proc.returncode, out, err))
    return results


def test_concurrent_decisions_never_exceed_the_open_position_limit(
    contested_store: tuple[str, list[str]], engine_factory: Any, tmp_path: Path
) -> None:
    url, symbols = contested_store
    engine = engine_factory(url)
    config = tmp_path / "permissive.toml"
    config.write_text(CONFIG)
    seen = []
    for _ in range(TRIALS):
        _reset(engine)
        results = _decide_all(url, config, tmp_path, symbols)
        signals = []
        for code, out, err in results:
            assert code in (0, 3), (code, err)
            assert len(err.strip().splitlines()) <= 1, err
            assert "UNIQUE constraint" not in err and "UniqueViolation" not in err, err
            signals.append(json.loads(out))
        with engine.connect() as conn:
            open_now = conn.execute(
                text("SELECT count(*) FROM position WHERE status = 'open'")
            ).scalar_one()
            accounts = conn.execute(text("SELECT count(*) FROM account")).scalar_one()
        approved = [s for s in signals if s["decision"] == "APPROVED"]
        refused = [
            s
            for s in signals
            if (s["rejection_reason"] or "").startswith("guardian: max_open_positions")
        ]
        # More proposals reached the guardian than the limit allows: the limit was contested.
        assert len(approved) + len(refused) > LIMIT, signals
        assert len(approved) == open_now <= LIMIT, signals
        assert accounts == 1
        seen.append(open_now)
    assert max(seen) == LIMIT, seen
