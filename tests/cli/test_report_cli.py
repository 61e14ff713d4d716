"""``hmas report`` end to end: the period's analysis, --html, --png, and every bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.report.conftest import stock

Run = Callable[..., Result]


@pytest.fixture
def book(tmp_path: Path) -> list[str]:
    """``--db-url`` of the hand-made store of tests/report (its figures are worked by hand)."""
    url = f"sqlite:///{tmp_path / 'book.db'}"
    stock(url)
    return ["--db-url", url]


def test_report_json_of_a_period(hmas: Run, book: list[str]) -> None:
    result = hmas(
        *book,
        "report",
        "--since",
        "2024-03-02",
        "--until",
        "2024-03-03",
        "--symbol",
        "btc-usd",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    # The first report's keys, restricted to the period.
    assert data["signals"] == {"BTC-USD": {"APPROVED": 2, "REJECTED": 0}}
    assert data["closed_trades"] == 2 and data["win_rate"] == 0.0
    assert data["period"] == {
        "since": "2024-03-02T00:00:00+00:00",
        "until": "2024-03-04T00:00:00+00:00",
        "symbol": "BTC-USD",
        "engine": "rules",
    }
    assert data["performance"]["expectancy_r"]["mean"] == -1.0
    assert [p["equity"] for p in data["equity"]["points"]] == [102_000, 101_000, 100_000]
    assert data["costs"]["total_usd"] == 0.03  # signal 2's call (signal 7 is ETH-USD)
    assert [r["symbols"] for r in data["backtests"]["runs"]] == [["BTC-USD"]]
    assert "NaN" not in result.stdout and "Infinity" not in result.stdout


def test_report_text_in_a_pipe(hmas: Run, book: list[str]) -> None:
    result = hmas(*book, "report")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Signals per symbol" in out  # the first report, unchanged
    assert "expectancy      +0.125R (95% CI" in out
    assert "Per-agent attribution (closed trades)" in out
    assert "cooldown" in out and "mother: trade proposed" in out
    assert "Calibration of p_win (Brier 0.2525 vs 0.1875 constant)" in out
    assert "per approved signal $0.0120" in out
    assert "Backtest runs (2 of 2)" in out


def test_report_html_and_png(hmas: Run, book: list[str], tmp_path: Path) -> None:
    page, figures = tmp_path / "r.html", tmp_path / "figs" / "new"
    result = hmas(*book, "report", "--html", str(page), "--png", str(figures), "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["html"] == str(page)
    assert sorted(p.name for p in figures.iterdir()) == [
        "costs.png",
        "drawdown.png",
        "equity.png",
        "reliability.png",
    ]
    assert data["png"]["skipped"] == {}
    assert all(
        (figures / f"{n}.png").read_bytes().startswith(b"\x89PNG") for n in data["png"]["written"]
    )
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "https://" not in text
    again = hmas(*book, "report", "--png", str(figures))
    assert again.exit_code == 0 and f"wrote equity: {figures / 'equity.png'}" in again.stdout


def test_report_on_the_sample_market(hmas: Run, tmp_path: Path) -> None:
    assert hmas("fetch", "--source", "sample", "-s", "BTC-USD", "--limit", "300").exit_code == 0
    assert hmas("decide", "BTC-USD", "--json").exit_code == 0
    page = tmp_path / "sample.html"
    result = hmas("report", "--json", "--html", str(page), "--png", str(tmp_path / "png"))
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["performance"]["signals"] == 1
    assert data["performance"]["sample_data_signals"] == 1
    assert "SAMPLE DATA" in page.read_text()
    # One signal and no closed trade: the figures are skipped, each with its reason.
    assert set(data["png"]["skipped"]) == {"equity", "drawdown", "reliability", "costs"}


def test_report_on_the_real_btc_file(hmas: Run, shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / "ohlcv" / "coinbase_btc_usd_1h.csv"
    fetched = hmas(
        "fetch",
        "--source",
        "file",
        "--path",
        str(path),
        "-s",
        "BTC-USD",
        "-t",
        "1h",
        "-e",
        "coinbase",
    )
    assert fetched.exit_code == 0, fetched.stderr
    assert hmas("decide", "BTC-USD", "-e", "coinbase", "--at", "2019-10-01T00:00").exit_code == 0
    assert hmas("decide", "BTC-USD", "-e", "coinbase").exit_code == 0
    result = hmas(
        "report",
        "--since",
        "2019-09-01",
        "--symbol",
        "BTC-USD",
        "--json",
        "--html",
        str(tmp_path / "btc.html"),
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["performance"]["signals"] == 2
    assert data["performance"]["sample_data_signals"] == 0
    assert {a["agent"] for a in data["attribution"]["agents"]} >= {"technical", "sentiment"}
    assert "SAMPLE DATA" not in (tmp_path / "btc.html").read_text()


def refused(hmas: Run, args: list[str], message: str, tmp_path: Path) -> None:
    before = sorted(p.name for p in tmp_path.iterdir())
    result = hmas(*args)
    assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n")
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


BAD = [
    (
        ["--since", "yesterday"],
        "--since 'yesterday' is not a date; use ISO format, e.g. 2024-03-01 or 2024-03-01T12:00Z",
    ),
    (
        ["--until", "2024-02-30"],
        "--until '2024-02-30' is not a date; use ISO format, e.g. 2024-03-01 or 2024-03-01T12:00Z",
    ),
    (
        ["--since", "2024-05-01", "--until", "2024-04-01"],
        "--since 2024-05-01 is not before --until 2024-04-01; swap them or widen",
    ),
    (["--since", "2999-01-01"], "--since 2999-01-01 is in the future; give a past date"),
    (
        ["--symbol", "XRP-USD"],
        "--symbol XRP-USD: no signal stored for it; the store has signals for BTC-USD, ETH-USD",
    ),
    (["--symbol", "BTCUSD"], "invalid symbol 'BTCUSD'; write it as BASE-QUOTE, e.g. BTC-USD"),
    (
        ["--days", "7", "--costs", "--since", "2024-03-01"],
        "use either --days or --since/--until, not both",
    ),
    (
        ["--costs", "--html", "x.html"],
        "--costs prints the spend only; drop it to write --html or --png",
    ),
    (["--days", "3"], "Invalid value for --days: --days needs --costs; see hmas report --help"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_report_refuses(
    hmas: Run, book: list[str], tmp_path: Path, args: list[str], message: str
) -> None:
    refused(hmas, [*book, "report", *args], message, tmp_path)


def test_report_refuses_bad_paths(hmas: Run, book: list[str], tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    cases = [
        (
            ["--html", str(tmp_path)],
            f"--html {tmp_path} is a directory; give a file name, e.g. report.html",
        ),
        (
            ["--html", str(tmp_path / "no" / "r.html")],
            f"--html {tmp_path / 'no' / 'r.html'}: the directory {tmp_path / 'no'} does not exist; "
            "create it or give another",
        ),
        (["--png", str(a_file)], f"--png {a_file} is a file, not a directory"),
        (
            ["--png", str(a_file / "figs")],
            f"cannot create --png {a_file / 'figs'}: a parent is a file",
        ),
        # A bad symbol refuses before the --png directory is made.
        (
            ["--symbol", "DOGE-USD", "--png", str(tmp_path / "new")],
            "--symbol DOGE-USD: no signal stored for it; the store has signals for "
            "BTC-USD, ETH-USD",
        ),
    ]
    for args, message in cases:
        refused(hmas, [*book, "report", *args], message, tmp_path)


def test_report_of_a_symbol_with_candles_but_no_signal(hmas: Run, tmp_path: Path) -> None:
    assert hmas("fetch", "--source", "sample", "-s", "ETH-USD", "--limit", "50").exit_code == 0
    assert hmas("fetch", "--source", "sample", "-s", "BTC-USD", "--limit", "300").exit_code == 0
    assert hmas("decide", "BTC-USD").exit_code == 0
    result = hmas("report", "--symbol", "ETH-USD")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: --symbol ETH-USD: no signal stored for it (its candles are); decide it first, "
        "e.g. hmas decide ETH-USD\n",
    )
