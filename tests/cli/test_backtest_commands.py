"""``hmas backtest``, ``backtest list`` and ``backtest show ID``: output, exit codes, bad input."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hmas.cli import app
from hmas.store.engine import make_engine, upgrade
from tests.backtest.conftest import store_frame
from tests.cli.test_output_formats import LOOSE, check_common, invoke
from tests.decision.conftest import sample_frame

STORED = "BTC-USD 1h on sample is stored from 2025-10-30T12:00Z to 2025-12-31T23:00Z"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """A store with 1,500 fixed hourly sample bars of BTC-USD and ETH-USD, and two runs."""
    tmp = tmp_path_factory.mktemp("bt")
    url = f"sqlite:///{tmp / 'bt.db'}"
    engine = make_engine(url)
    upgrade(engine)
    for symbol in ("BTC-USD", "ETH-USD"):
        store_frame(engine, "sample", symbol, "1h", sample_frame(symbol))
    engine.dispose()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in LOOSE.items():
            mp.setenv(key, value)
        mp.setenv("HMAS_DATA_DIR", str(tmp))
        for args in (["-s", "BTC-USD", "ETH-USD"], ["-s", "ETH-USD", "--strategy", "reference"]):
            ran = CliRunner().invoke(app, ["--db-url", url, "backtest", *args, "--json"])
            assert ran.exit_code == 0, ran.stderr
    yield ["--db-url", url]


@pytest.fixture
def loose(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in LOOSE.items():
        monkeypatch.setenv(key, value)


def test_a_run_in_json_prints_only_json(db: list[str], loose: None) -> None:
    code, out, err = invoke([*db, "backtest", "-s", "ETH-USD", "--json"], terminal=True)
    assert code == 0 and err == ""  # no progress bar with --json, even on a terminal
    data = json.loads(out)
    assert list(data) == [
        "id",
        "strategy",
        "engine",
        "hmas_version",
        "symbols",
        "timeframe",
        "start",
        "end",
        "bars",
        "series",
        "sample_data",
        "config_hash",
        "data_hash",
        "metrics",
        "trades",
    ]
    assert data["id"] >= 3 and data["sample_data"] is True and data["bars"] == 1500
    for key in (
        "win_rate",
        "total_return",
        "annualised_return",
        "sharpe",
        "sortino",
        "calmar",
        "max_drawdown",
        "max_drawdown_duration_bars",
        "profit_factor",
        "expectancy_r",
        "exposure",
        "fees_paid",
        "refusals",
        "per_symbol",
        "monthly_returns",
        "equity_daily",
        "calibration",
        "unknown",
    ):
        assert key in data["metrics"], key
    assert "NaN" not in out and "Infinity" not in out


@pytest.mark.parametrize("terminal", [True, False])
def test_a_run_as_tables(db: list[str], loose: None, terminal: bool) -> None:
    code, out, err = invoke([*db, "backtest", "-s", "BTC-USD", "ETH-USD"], terminal=terminal)
    assert code == 0, err
    check_common("backtest", out)
    assert "SAMPLE DATA" in out
    for title in ("Per symbol", "Monthly returns", "Calibration of p(win)", "Trades ("):
        assert title in out
    if terminal:
        assert [line for line in out.splitlines() if len(line) > 80] == []
    else:
        assert "\x1b" not in out and "╭" not in out and err == ""  # no progress in a pipe


def test_a_progress_bar_on_a_terminal_only(db: list[str], loose: None) -> None:
    env = {"TTY_COMPATIBLE": "1", "TERM": "xterm-256color", "COLUMNS": "80"}
    args = [*db, "backtest", "-s", "BTC-USD", "--timerange", "20251201-"]
    shown = CliRunner().invoke(app, args, env=env)
    assert shown.exit_code == 0
    assert "deciding BTC-USD" in shown.stderr and "simulating" in shown.stderr
    piped = CliRunner().invoke(app, args, env={**env, "TTY_COMPATIBLE": "0"})
    assert piped.exit_code == 0 and piped.stderr == ""


@pytest.mark.parametrize("terminal", [True, False])
def test_list_and_show(db: list[str], terminal: bool) -> None:
    code, out, _ = invoke([*db, "backtest", "list"], terminal=terminal)
    assert code == 0
    check_common("backtest list", out)
    assert "Backtests (" in out and "reference" in out and "BTC-USD,ETH-USD*" in out
    code, out, _ = invoke([*db, "backtest", "show", "1"], terminal=terminal)
    assert code == 0
    check_common("backtest show", out)
    assert "Backtest 1: rules on BTC-USD, ETH-USD 1h" in out


def test_list_and_show_in_json(db: list[str]) -> None:
    rows = json.loads(
        invoke([*db, "backtest", "list", "--json", "--limit", "1"], terminal=False)[1]
    )
    assert len(rows) == 1 and rows[0]["id"] == max(r["id"] for r in rows)
    shown = json.loads(invoke([*db, "backtest", "show", "2", "--json"], terminal=False)[1])
    assert shown["strategy"] == "reference" and shown["symbols"] == ["ETH-USD"]
    assert shown["metrics"]["trades"] == len(shown["trades"])


def test_check_lookahead_passes_and_stores_nothing(db: list[str], loose: None) -> None:
    before = json.loads(invoke([*db, "backtest", "list", "--json"], terminal=False)[1])
    args = [*db, "backtest", "-s", "ETH-USD", "--check-lookahead", "--lookahead-bars", "3"]
    code, out, _ = invoke([*args, "--json"], terminal=False)
    assert code == 0
    report = json.loads(out)
    assert report["ok"] is True and report["checked"]["sampled"] == 3
    assert json.loads(invoke([*db, "backtest", "list", "--json"], terminal=False)[1]) == before
    code, out, _ = invoke(args, terminal=False)
    assert code == 0 and out.startswith("No lookahead: ")


def test_check_lookahead_exits_1_on_a_change(
    db: list[str], loose: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.backtest.test_lookahead import _peeking_features

    _peeking_features(monkeypatch)
    args = [*db, "backtest", "-s", "ETH-USD", "--check-lookahead", "--lookahead-bars", "3"]
    code, out, _ = invoke(args, terminal=False)
    assert code == 1
    assert out.startswith("LOOKAHEAD: ")
    assert "feature peek" in out


def test_export_and_plot(db: list[str], loose: None, tmp_path: Path) -> None:
    args = ["backtest", "-s", "ETH-USD", "--export", str(tmp_path / "x"), "--plot"]
    code, out, _ = invoke([*db, *args, str(tmp_path / "x.png")], terminal=False)
    assert code == 0
    assert (tmp_path / "x" / "trades.csv").exists() and (tmp_path / "x.png").exists()
    assert (
        f"Exported to {tmp_path / 'x'}/" in out and f"Plot written to {tmp_path / 'x.png'}" in out
    )


def test_source_sample_fetches_first(tmp_path: Path, loose: None) -> None:
    db = ["--db-url", f"sqlite:///{tmp_path / 'fresh.db'}"]
    code, out, err = invoke(
        [*db, "backtest", "-s", "BTC-USD", "--source", "sample", "--json"], terminal=False
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["series"][0]["exchange"] == "sample" and data["bars"] > 0


BAD = [
    (
        ["-s", "BTC-USD", "--start", "2020-01-01"],
        f"--start 2020-01-01T00:00Z is before the first stored bar; {STORED}; give a later date "
        "or fetch older candles",
    ),
    (
        ["-s", "BTC-USD", "--timerange", "-20270101"],
        f"--timerange end 2027-01-01T00:00Z is after the last stored bar; {STORED} (the range "
        "ends before --end, so 2026-01-01T00:00Z takes every bar); give an earlier date or fetch "
        "newer candles",
    ),
    (
        ["-s", "BTC-USD", "--start", "2025-12-01", "--end", "2025-12-01"],
        "--end 2025-12-01T00:00Z is the same time as --start 2025-12-01T00:00Z: the range is "
        "empty; the end must come after the start (the bar opening at the end is not included)",
    ),
    (
        ["-s", "BTC-USD", "--timerange", "20251201-20251115"],
        "--timerange end 2025-11-15T00:00Z is before --timerange start 2025-12-01T00:00Z: the "
        "range is empty; the end must come after the start (the bar opening at the end is not "
        "included)",
    ),
    (
        ["-s", "XRP-USD"],
        "no XRP-USD 1h candles stored; fetch them first, e.g. hmas fetch --symbols XRP-USD "
        "--timeframe 1h",
    ),
    (
        ["-s", "BTC-USD", "--timerange", "2018-01-01"],
        "invalid --timerange '2018-01-01'; write it as YYYYMMDD-YYYYMMDD (either side may be "
        "empty), e.g. 20180101-20190101",
    ),
    (
        ["-s", "BTC-USD", "--timerange", "20180231-"],
        "invalid --timerange '20180231-': 20180231 is not a date; write it as YYYYMMDD-YYYYMMDD "
        "(either side may be empty), e.g. 20180101-20190101",
    ),
    (
        ["-s", "BTC-USD", "--timerange", "20180101-", "--start", "2018-01-01"],
        "use either --timerange or --start/--end, not both",
    ),
    (
        ["-s", "BTC-USD", "--start", "yesterday"],
        "invalid date 'yesterday'; use ISO format, e.g. 2024-03-01 or 2024-03-01T12:00Z",
    ),
    (
        ["-s", "BTC-USD", "--strategy", "momentum"],
        "unknown --strategy 'momentum'; use rules or reference",
    ),
    (
        ["-s", "BTC-USD", "-t", "3h"],
        "unsupported timeframe '3h'; use one of 1m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 12h, 1d",
    ),
    (["-s", "BTC"], "invalid symbol 'BTC'; write it as BASE-QUOTE, e.g. BTC-USD"),
    ([], "give at least one symbol, e.g. --symbols BTC-USD"),
    (
        ["-s", "BTC-USD", "--plot", "x.jpg"],
        "--plot x.jpg must name a .png file, e.g. --plot backtest.png",
    ),
    (
        ["-s", "BTC-USD", "--lookahead-bars", "5"],
        "--lookahead-bars applies with --check-lookahead only",
    ),
    (
        ["-s", "BTC-USD", "--check-lookahead", "--plot", "x.png"],
        "--check-lookahead runs a check only; drop --export and --plot",
    ),
    (["-s", "BTC-USD", "--limit", "5"], "--limit applies to hmas backtest list only"),
    (["-s", "BTC-USD", "--path", "x.csv"], "--path is only read with --source file"),
    (["show", "9"], "no backtest with id 9; list them with hmas backtest list"),
    (["show"], "give one backtest id, e.g. hmas backtest show 3"),
    (["show", "x"], "backtest id must be a whole number, not 'x'"),
    (["show", "0"], "backtest id must be between 1 and 2147483647, not 0"),
    (
        ["list", "--start", "2020-01-01"],
        "hmas backtest list takes --limit and --json only, not --start",
    ),
    (["show", "1", "--limit", "3"], "--limit applies to hmas backtest list only"),
    (["list", "-s", "BTC-USD"], "hmas backtest list takes --limit and --json only, not --symbols"),
    (
        ["show", "1", "--plot", "x.png"],
        "hmas backtest show takes --json only, not --plot",
    ),
    (["list", "--limit", "0"], "--limit must be at least 1, not 0"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[" ".join(a) or "none" for a, _ in BAD])
def test_bad_input_is_one_line_and_exit_2(db: list[str], args: list[str], message: str) -> None:
    code, out, err = invoke([*db, "backtest", *args], terminal=False)
    assert (code, out) == (2, "")
    assert err == f"Error: {message}\n"


def test_the_fear_and_greed_index_is_refused(
    db: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HMAS_SENTIMENT__USE_FEAR_GREED_INDEX", "true")
    code, _, err = invoke([*db, "backtest", "-s", "BTC-USD"], terminal=False)
    assert code == 2
    assert err == (
        "Error: sentiment.use_fear_greed_index is on, and a backtest reads only stored candles "
        "(its decisions would differ from live ones that read the index); turn it off for the "
        "backtest, e.g. HMAS_SENTIMENT__USE_FEAR_GREED_INDEX=false\n"
    )


def test_a_gap_range_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gap.db'}"
    engine = make_engine(url)
    upgrade(engine)
    frame = sample_frame("BTC-USD")
    store_frame(engine, "sample", "BTC-USD", "1h", frame.drop(frame.index[100:110]))
    engine.dispose()
    code, _, err = invoke(
        [
            "--db-url",
            url,
            "backtest",
            "-s",
            "BTC-USD",
            "--start",
            "2025-11-03T16:00Z",
            "--end",
            "2025-11-04T02:00Z",
        ],
        terminal=False,
    )
    assert code == 2
    assert re.match(
        r"Error: no BTC-USD 1h candles are stored on sample from 2025-11-03T16:00Z", err
    )
