"""hmas fetch and hmas candles as users run them: sources, summaries, errors and exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

Run = Callable[..., Result]


def test_fetch_sample_is_idempotent_and_marked(hmas: Run) -> None:
    first = hmas(
        "fetch", "--source", "sample", "--symbols", "BTC-USD", "ETH-USD", "--limit", "50", "--json"
    )
    assert first.exit_code == 0, first.stderr
    rows = json.loads(first.stdout)
    assert [(r["symbol"], r["added"], r["sample_data"]) for r in rows] == [
        ("BTC-USD", 50, True),
        ("ETH-USD", 50, True),
    ]
    again = json.loads(
        hmas("fetch", "--source", "sample", "-s", "BTC-USD,ETH-USD", "--json").stdout
    )
    assert [r["added"] for r in again] == [0, 0]
    table = hmas("fetch", "--source", "sample", "-s", "BTC-USD")
    assert "SAMPLE DATA: synthetic offline market, not real prices" in table.stdout
    shown = json.loads(hmas("candles", "BTC-USD", "--tail", "3", "--json").stdout)
    assert shown["sample_data"] is True and len(shown["candles"]) == 3
    listing = json.loads(hmas("candles", "--json").stdout)
    assert {(s["symbol"], s["exchange"]) for s in listing} == {
        ("BTC-USD", "sample"),
        ("ETH-USD", "sample"),
    }


def test_fetch_file_and_gaps(hmas: Run, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        "ts,open,high,low,close,volume\n"
        "2024-03-01T00:00Z,1,2,0.5,1.5,3\n2024-03-01T01:00Z,1,2,0.5,1.5,3\n"
        "2024-03-01T04:00Z,1,2,0.5,1.5,3\n"
    )
    result = hmas("fetch", "--source", "file", "--path", str(path), "-s", "ABC-USD", "--json")
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert (row["exchange"], row["added"], row["gaps"], row["missing_candles"]) == ("file", 3, 1, 2)
    gaps = json.loads(hmas("candles", "ABC-USD", "--gaps", "--json").stdout)["gaps"]
    assert gaps == [
        {
            "first_missing": "2024-03-01T02:00:00+00:00",
            "last_missing": "2024-03-01T03:00:00+00:00",
            "missing": 2,
        }
    ]


def test_bad_file_writes_nothing(hmas: Run, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "ts,open,high,low,close,volume\n2024-03-01T00:00Z,1,2,0.5,1.5,3\n"
        "2024-03-01T01:00Z,1,0.5,2,1,3\n"
    )
    result = hmas("fetch", "--source", "file", "--path", str(path), "-s", "ABC-USD")
    assert result.exit_code == 1
    assert result.stderr == "Error: bad.csv: high < low at 2024-03-01T01:00:00+00:00\n"
    assert json.loads(hmas("candles", "--json").stdout) == []


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["fetch", "-s", "BTC-USD", "-e", "coinbas"],
            2,
            "Error: unknown exchange 'coinbas'; did you mean coinbase",
        ),
        (
            ["fetch", "--source", "sample", "-s", "PEPE-USD"],
            2,
            "Error: the sample market has no PEPE-USD; use one of BTC-USD, ETH-USD",
        ),
        (
            ["fetch", "--source", "sample", "-s", "BTC-USD", "-t", "7m"],
            2,
            "Error: unsupported timeframe '7m'; "
            "use one of 1m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 12h, 1d\n",
        ),
        (
            ["fetch", "--source", "file", "-s", "BTC-USD", "--path", "missing.csv"],
            2,
            "Error: file not found: missing.csv; pass an existing file with --path\n",
        ),
        (["fetch", "--source", "ftp", "-s", "BTC-USD"], 2, "'ftp'; use exchange, sample or file"),
        (["fetch", "--source", "sample"], 2, "give at least one symbol"),
        (
            [
                "fetch",
                "--source",
                "sample",
                "-s",
                "BTC-USD",
                "--since",
                "2024-01-01",
                "--limit",
                "5",
            ],
            2,
            "use either --since or --limit, not both",
        ),
        (["fetch", "--source", "sample", "-s", "BTC-USD", "--limit", "0"], 2, "--limit"),
        (["candles", "BTC-USD"], 2, "Error: no BTC-USD 1h candles stored; fetch them first"),
    ],
)
def test_fetch_bad_input(hmas: Run, args: list[str], code: int, message: str) -> None:
    hmas("db", "upgrade")  # read-only commands need an existing store
    result = hmas(*args)
    assert result.exit_code == code, result.stderr
    assert message in result.stderr
    assert result.stdout == ""
