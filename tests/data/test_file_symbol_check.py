"""A file imported under one symbol must hold that symbol: its own symbol column is checked,
and without one its prices are compared with the stored candles of the symbol."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.cli.test_input_bad_input import refused, store_counts

Run = Callable[..., Result]


@pytest.fixture
def hmas() -> Run:
    """The real command, run in process (as tests/cli's fixture of the same name)."""
    from typer.testing import CliRunner

    from hmas.cli import app

    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), catch_exceptions=False)


BANNER = "Timestamps are UTC timezone,https://www.CryptoDataDownload.com\n"


def cdd(path: Path, symbols: list[str], price: float = 8000.0) -> Path:
    """A small CryptoDataDownload-style file (banner, symbol column, newest first)."""
    lines = [BANNER, "date,symbol,open,high,low,close,volume_btc,volume\n"]
    for i, hour in enumerate(range(9, 3, -1)):
        sym = symbols[i % len(symbols)]
        p = price + hour
        lines.append(f"2019-10-17 {hour:02d}-AM,{sym},{p},{p + 5},{p - 5},{p + 1},1.5,12000\n")
    path.write_text("".join(lines))
    return path


def plain(path: Path, price: float, day: str = "2024-03-01", hours: int = 24) -> Path:
    rows = ["ts,open,high,low,close,volume"]
    for h in range(hours):
        p = price * (1 + h / 1000)
        rows.append(f"{day}T{h:02d}:00Z,{p},{p * 1.01},{p * 0.99},{p},5")
    path.write_text("\n".join(rows) + "\n")
    return path


def fetch_file(hmas: Run, path: Path, symbol: str, *extra: str) -> Result:
    return hmas("fetch", "--source", "file", "--path", str(path), "-s", symbol, *extra)


@pytest.mark.parametrize("value", ["BTCUSD", "BTC/USD", "BTC-USD", "btcusd"])
def test_symbol_column_disagreeing_is_refused(hmas: Run, tmp_path: Path, value: str) -> None:
    path = cdd(tmp_path / "btc.csv", [value])
    refused(
        hmas,
        ["fetch", "--source", "file", "--path", str(path), "-s", "ETH-USD"],
        f"btc.csv holds {value} candles (its symbol column) but --symbols says ETH-USD; "
        "pass --symbols BTC-USD or the right file",
    )
    ok = fetch_file(hmas, path, "BTC-USD", "--json")
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout)[0]["added"] == 6


def test_several_symbols_in_one_file_are_refused(hmas: Run, tmp_path: Path) -> None:
    path = cdd(tmp_path / "mixed.csv", ["BTCUSD", "ETHUSD"])
    refused(
        hmas,
        ["fetch", "--source", "file", "--path", str(path), "-s", "BTC-USD"],
        "mixed.csv holds several symbols (BTCUSD, ETHUSD) in its symbol column; "
        "import a file of one symbol",
    )


def test_wide_file_without_the_asset_is_refused(hmas: Run, tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(
        ",BTC:open,BTC:high,BTC:low,BTC:close,BTC:volume\n2024-03-01,1,2,0.5,1.5,3\n"
        "2024-03-02,1,2,0.5,1.5,3\n"
    )
    refused(
        hmas,
        ["fetch", "--source", "file", "--path", str(path), "-s", "XRP-USD", "-t", "1d"],
        "wide.csv has columns for BTC but none for XRP; pass one of those with --symbols "
        "(e.g. --symbols BTC-USD)",
    )


def test_real_coinbase_file_under_another_symbol(
    hmas: Run,
    shared_data: Path,
) -> None:
    path = shared_data / "ohlcv" / "coinbase_btc_usd_1h.csv"
    refused(
        hmas,
        ["fetch", "--source", "file", "--path", str(path), "-s", "ETH-USD"],
        "coinbase_btc_usd_1h.csv holds BTCUSD candles (its symbol column) but --symbols says "
        "ETH-USD; pass --symbols BTC-USD or the right file",
    )


def test_implausible_prices_warn_on_stderr_and_in_json(hmas: Run, tmp_path: Path) -> None:
    eth = fetch_file(hmas, plain(tmp_path / "eth.csv", 2000.0), "ETH-USD")
    assert eth.exit_code == 0, eth.stderr
    btc = plain(tmp_path / "btc.csv", 60000.0)
    result = fetch_file(hmas, btc, "ETH-USD", "-e", "other", "--json")
    assert result.exit_code == 0
    warning = (
        "btc.csv: prices look implausible for ETH-USD: median close 60690 against 2023 in the "
        "stored file 1h candles over the same period (30x); check --symbols"
    )
    assert result.stderr == f"Warning: {warning}\n"
    assert json.loads(result.stdout)[0]["warnings"] == [warning]
    assert store_counts()["candle"] == 48  # a warning, not a refusal


def test_nearest_stored_time_is_compared_without_overlap(hmas: Run, tmp_path: Path) -> None:
    assert fetch_file(hmas, plain(tmp_path / "eth.csv", 2000.0), "ETH-USD").exit_code == 0
    later = plain(tmp_path / "later.csv", 60000.0, day="2024-03-05")
    result = fetch_file(hmas, later, "ETH-USD", "--json")
    assert result.exit_code == 0
    (warning,) = json.loads(result.stdout)[0]["warnings"]
    assert "in the stored file 1h candles at the nearest stored time" in warning
    far = plain(tmp_path / "far.csv", 60000.0, day="2024-09-01")
    quiet = fetch_file(hmas, far, "ETH-USD", "--json")
    assert quiet.stderr == ""  # half a year away: prices may have moved, nothing to judge
    assert json.loads(quiet.stdout)[0]["warnings"] == []


def test_plausible_prices_and_sample_series_draw_no_warning(hmas: Run, tmp_path: Path) -> None:
    assert hmas("fetch", "--source", "sample", "-s", "ETH-USD", "--limit", "48").exit_code == 0
    assert fetch_file(hmas, plain(tmp_path / "eth.csv", 2000.0), "ETH-USD").exit_code == 0
    close = fetch_file(hmas, plain(tmp_path / "eth2.csv", 2600.0), "ETH-USD", "-e", "x", "--json")
    assert close.exit_code == 0 and close.stderr == ""
    assert json.loads(close.stdout)[0]["warnings"] == []
