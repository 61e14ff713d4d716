"""Exchange down: one failed market load per exchange and iteration, its error printed once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import ccxt
import pytest
from typer.testing import Result

from hmas.data.exchange import ExchangeSource
from hmas.errors import ExchangeNetworkError
from tests.cli.test_input_bad_input import store_counts

Run = Callable[..., Result]


@pytest.fixture
def hmas() -> Run:
    """The real command, run in process (as tests/cli's fixture of the same name)."""
    from typer.testing import CliRunner

    from hmas.cli import app

    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), catch_exceptions=False)


DOWN = (
    "coinbase: loading markets failed after {n} attempts (NetworkError); "
    "check your connection or try again later"
)


@pytest.fixture
def unreachable(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Coinbase's market list cannot be fetched; returns the times of each attempt."""
    attempts: list[float] = []

    def load_markets(self: Any, reload: bool = False, params: Any = None) -> Any:
        attempts.append(time.monotonic())
        raise ccxt.NetworkError("coinbase GET https://api.coinbase.com/ connection refused")

    monkeypatch.setattr(ccxt.coinbase, "load_markets", load_markets)
    monkeypatch.setenv("HMAS_FETCH__BACKOFF_SECONDS", "0")
    return attempts


def test_second_check_fails_at_once_with_the_same_error(unreachable: list[float]) -> None:
    source = ExchangeSource("coinbase", retries=2, backoff_seconds=0, sleep=lambda s: None)
    with pytest.raises(ExchangeNetworkError) as first:
        source.check_market("BTC-USD")
    assert len(unreachable) == 3
    with pytest.raises(ExchangeNetworkError) as second:
        source.check_market("ETH-USD")
    assert len(unreachable) == 3  # no new attempt
    assert str(second.value) == str(first.value) == DOWN.format(n=3)


@pytest.mark.parametrize(("retries", "attempts"), [("0", 1), ("2", 3)])
def test_run_loads_markets_once_and_prints_the_error_once(
    hmas: Run,
    unreachable: list[float],
    monkeypatch: pytest.MonkeyPatch,
    retries: str,
    attempts: int,
) -> None:
    monkeypatch.setenv("HMAS_FETCH__RETRIES", retries)
    before = store_counts()
    result = hmas("run", "--symbols", "BTC-USD", "ETH-USD", "SOL-USD", "--once", "--json")
    assert result.exit_code == 1
    assert len(unreachable) == attempts  # one load (with its retries) for the whole run
    error = DOWN.format(n=attempts)
    assert result.stderr.count(error) == 1
    assert result.stderr.count("same error as BTC-USD") == 2
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [s["error"] for s in lines] == [error] * 3
    after = store_counts()
    assert after["candle"] == before["candle"] and after["signal"] == before["signal"]


def test_each_iteration_tries_again(
    hmas: Run,
    unreachable: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HMAS_FETCH__RETRIES", "0")
    result = hmas(
        "run", "-s", "BTC-USD", "ETH-USD", "--iterations", "2", "--sleep-seconds", "0", "--json"
    )
    assert result.exit_code == 1
    assert len(unreachable) == 2  # the network may be back: one load per iteration


def test_fetch_command_fails_fast_too(
    hmas: Run,
    unreachable: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HMAS_FETCH__RETRIES", "1")
    result = hmas("fetch", "-s", "BTC-USD", "ETH-USD")
    assert (result.exit_code, result.stderr.splitlines()[-1]) == (1, f"Error: {DOWN.format(n=2)}")
    assert len(unreachable) == 2
