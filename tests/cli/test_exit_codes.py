"""Every row of the README's exit-code table, each cause run as a real command.

0 success; 1 an error (network down past retries, invalid data in a file, a symbol failing in
``run`` for such a reason); 2 bad usage or configuration; 3 refused by a guard; 130/143 ``run``
stopped by SIGINT/SIGTERM.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ccxt
import pytest
from typer.testing import Result

from tests.cli.test_input_bad_input import store_counts

Run = Callable[..., Result]
DOWN = (
    "coinbase: loading markets failed after 1 attempts (NetworkError); "
    "check your connection or try again later"
)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def load_markets(self: Any, reload: bool = False, params: Any = None) -> Any:
        raise ccxt.NetworkError("connection refused")

    monkeypatch.setattr(ccxt.coinbase, "load_markets", load_markets)
    monkeypatch.setenv("HMAS_FETCH__RETRIES", "0")


@pytest.fixture
def coinbase_lists_btc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Coinbase answers with one market, BTC/USD, and candles for nobody (no network)."""
    markets = {"BTC/USD": {"base": "BTC", "quote": "USD", "spot": True}}
    monkeypatch.setattr(ccxt.coinbase, "load_markets", lambda self, *a, **k: markets)

    def fetch_ohlcv(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise ccxt.NetworkError("connection refused")

    monkeypatch.setattr(ccxt.coinbase, "fetch_ohlcv", fetch_ohlcv)
    monkeypatch.setenv("HMAS_FETCH__RETRIES", "0")


# --- 0: success ------------------------------------------------------------------------------


def test_0_success(hmas: Run) -> None:
    assert hmas("fetch", "--source", "sample", "-s", "BTC-USD", "--limit", "300").exit_code == 0
    assert hmas("run", "--source", "sample", "-s", "BTC-USD", "--once").exit_code == 0


# --- 1: an error -----------------------------------------------------------------------------


def test_1_network_down_fetch(hmas: Run, offline: None) -> None:
    result = hmas("fetch", "-s", "BTC-USD")
    assert (result.exit_code, result.stderr) == (1, f"Error: {DOWN}\n")


def test_1_network_down_run(hmas: Run, offline: None) -> None:
    result = hmas("run", "-s", "BTC-USD", "--once", "--json")
    assert result.exit_code == 1
    (line,) = result.stdout.splitlines()  # run --json is NDJSON: one line per symbol
    assert json.loads(line)["error"] == DOWN


def test_1_invalid_data_in_a_file(hmas: Run, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "ts,open,high,low,close,volume\n2024-03-01T00:00Z,1,2,0.5,1.5,3\n"
        "2024-03-01T01:00Z,1,0.5,2,1,3\n"
    )
    result = hmas("fetch", "--source", "file", "--path", str(path), "-s", "ABC-USD")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: bad.csv: high < low at 2024-03-01T01:00:00+00:00\n",
    )
    assert store_counts()["candle"] == 0


def test_1_backtest_check_lookahead_finds_a_change(
    hmas: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.backtest.test_lookahead import _peeking_features

    assert hmas("fetch", "--source", "sample", "-s", "BTC-USD", "--limit", "1200").exit_code == 0
    args = ("backtest", "-s", "BTC-USD", "--check-lookahead", "--lookahead-bars", "2")
    assert hmas(*args).exit_code == 0
    _peeking_features(monkeypatch)
    result = hmas(*args)
    assert result.exit_code == 1 and result.stdout.startswith("LOOKAHEAD: ")


# --- 2: bad usage or configuration -----------------------------------------------------------

USAGE = [
    (["run", "--source", "sample", "-s", "BTC-USD", "-t", "7m", "--once"], "unsupported timeframe"),
    (["run", "--source", "sample", "-s", "BTC-USD", "--iterations", "-5"], "--iterations must"),
    (["fetch", "-e", "krakenn", "-s", "BTC-USD"], "unknown exchange 'krakenn'; did you mean"),
    (["run", "--source", "sample", "-s", "XRP-EUR", "--once"], "the sample market has no XRP-EUR"),
    (["fetch", "--source", "file", "-s", "BTC-USD", "--path", "nope.csv"], "file not found"),
    (["signals", "show", "99999999999999999999"], "signal id must be between 1 and"),
    (["analyze", "BTC-USD", "--at", "yesterday"], "invalid date 'yesterday'"),
    (["--db-url", "bogus://x", "candles"], "cannot open database bogus://x"),
    (["backtest", "-s", "BTC-USD", "--timerange", "2018"], "invalid --timerange '2018'"),
]


@pytest.mark.parametrize(("args", "start"), USAGE)
def test_2_bad_usage(hmas: Run, args: list[str], start: str) -> None:
    result = hmas(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {start}")
    assert result.stderr.count("\n") == 1


def test_2_invalid_setting(hmas: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HMAS_FETCH__RETRIES", "-1")
    result = hmas("fetch", "--source", "sample", "-s", "BTC-USD")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: invalid configuration: fetch.retries")


def test_2_a_bad_news_file(hmas: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HMAS_NEWS__FILE", "nowhere.jsonl")
    result = hmas("run", "--source", "sample", "-s", "BTC-USD", "--once")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: news file not found: nowhere.jsonl; set news.file")
    assert store_counts() == dict.fromkeys(store_counts(), 0)  # refused before the store


def test_2_fetch_unknown_symbol_on_the_exchange(hmas: Run, coinbase_lists_btc: None) -> None:
    result = hmas("fetch", "-s", "ETH-USD")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: coinbase lists no ETH-USD market, and no market for ETH at all; check the symbol\n",
    )


def test_2_run_unknown_symbol_on_the_exchange_others_go_on(
    hmas: Run, coinbase_lists_btc: None
) -> None:
    """In ``run`` the market list loads inside the loop: the unknown symbol is recorded, the
    others go on, and the exit code is 2 (fix the command) even when another failed with 1."""
    result = hmas("run", "-s", "ETH-USD", "BTC-USD", "--once", "--json")
    assert result.exit_code == 2
    eth, btc = (json.loads(line) for line in result.stdout.splitlines())
    assert (eth["exit_code"], btc["exit_code"]) == (2, 1)
    assert eth["error"].startswith("coinbase lists no ETH-USD market")
    assert btc["error"].startswith("coinbase: fetching BTC-USD 1h candles failed after 1 attempts")


# --- 3: refused by a guard -------------------------------------------------------------------


def test_3_another_run_holds_the_lock(hmas: Run) -> None:
    from hmas.settings import load_settings
    from hmas.store import open_store
    from hmas.store.locks import acquire, lease_key

    engine = open_store(load_settings())
    lock = acquire(engine, [lease_key("sample", "BTC-USD", "1h")])
    result = hmas("run", "--symbols", "BTC-USD", "--source", "sample", "--once")
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: another hmas run holds the store lock (pid ")
    lock.release()
    engine.dispose()


def test_3_kill_switch_refuses_a_trade(hmas: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    from hmas.decision.service import load_inputs
    from hmas.market import ms_to_datetime
    from hmas.settings import load_settings
    from hmas.store import open_store
    from tests.decision.conftest import setup_bars

    for key, value in {
        "HMAS_MOTHER__MIN_EXPECTED_VALUE_R": "-100",
        "HMAS_MOTHER__MIN_CONSENSUS": "0",
        "HMAS_MOTHER__MIN_CONFIDENCE": "0",
        "HMAS_EXECUTION__MAX_COST_R": "100",
        "HMAS_EXECUTION__MAX_COST_TO_TARGET": "100",
        "HMAS_MACRO__HIGH_VOL_PCT": "1",
    }.items():
        monkeypatch.setenv(key, value)
    assert hmas("fetch", "--source", "sample", "-s", "ETH-USD", "--limit", "1500").exit_code == 0
    settings = load_settings()
    engine = open_store(settings)
    bars = setup_bars(load_inputs(engine, settings, "sample", "ETH-USD", "1h"), settings, limit=25)
    engine.dispose()
    monkeypatch.setenv("HMAS_KILL_SWITCH", "1")
    for bar in bars:
        result = hmas("decide", "ETH-USD", "--at", ms_to_datetime(bar).isoformat(), "--json")
        if (json.loads(result.stdout)["rejection_reason"] or "").startswith("guardian: kill"):
            assert result.exit_code == 3
            return
        assert result.exit_code == 0
    pytest.fail("no approved proposal met the kill switch")


def test_2_a_corrupted_store(hmas: Run, tmp_path: Path) -> None:
    from tests.store.damage import damage

    assert hmas("fetch", "--source", "sample", "-s", "BTC-USD", "--limit", "3000").exit_code == 0
    db = tmp_path / "home" / "hmas.db"
    damage(db, "middle")
    result = hmas("run", "--symbols", "BTC-USD", "--source", "sample", "--once")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: the store {db} is corrupted (quick_check: ")


# --- 130, 143: stopped by a signal -------------------------------------------------------------


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_130_143_run_stopped_by_a_signal(tmp_path: Path, sig: signal.Signals, code: int) -> None:
    from tests.cli.test_signals_process import _forever, _handlers_installed

    proc = _forever(tmp_path)
    _handlers_installed(proc.pid)
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
