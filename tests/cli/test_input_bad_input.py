"""What a tired operator types, command by command: each is refused with exit 2 and one line
naming the problem (and the fix), or works as documented; a refused command writes nothing."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import Result

Run = Callable[..., Result]

TABLES = ("candle", "fetch_run", "analysis", "signal", "run", "position", "signal_result")
TIMEFRAMES = "1m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 12h, 1d"
BAD_DATE = "use ISO format, e.g. 2024-03-01 or 2024-03-01T12:00Z"
SAMPLE_ONLY = (
    "--exchange does not apply to --source sample (the offline sample market); "
    "drop --exchange or use --source exchange"
)


def store_counts() -> dict[str, int]:
    """Rows per table of the default store (all 0 when no store exists yet)."""
    path = Path(os.environ["HMAS_DATA_DIR"]) / "hmas.db"
    if not path.exists():
        return dict.fromkeys(TABLES, 0)
    with closing(sqlite3.connect(path)) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


@pytest.fixture
def stocked(hmas: Run) -> dict[str, int]:
    """A store with 300 sample BTC-USD 1h candles, one analysis and one signal."""
    assert hmas("fetch", "--source", "sample", "-s", "BTC-USD", "--limit", "300").exit_code == 0
    assert hmas("decide", "BTC-USD", "--json").exit_code == 0
    return store_counts()


def refused(hmas: Run, args: list[str], message: str, code: int = 2) -> None:
    """``hmas *args`` exits ``code`` with exactly ``Error: message`` and writes nothing."""
    before = store_counts()
    result = hmas(*args)
    assert (result.exit_code, result.stderr) == (code, f"Error: {message}\n")
    assert result.stdout == ""
    assert store_counts() == before


FETCH = [
    (["--limit", "0"], "--limit must be at least 1, not 0"),
    (["--limit", "-1"], "--limit must be at least 1, not -1"),
    (
        ["--limit", "abc"],
        "Invalid value for '--limit': Input should be a valid integer, unable to parse string "
        "as an integer; see hmas fetch --help",
    ),
    (["--limit"], "Option '--limit' requires an argument"),
    (["-t", ""], f"unsupported timeframe ''; use one of {TIMEFRAMES}"),
    (["-t", "7m"], f"unsupported timeframe '7m'; use one of {TIMEFRAMES}"),
    (["-t", "1M"], f"unsupported timeframe '1M'; use one of {TIMEFRAMES}"),
    (["--source", "bogus"], "unknown --source 'bogus'; use exchange, sample or file"),
    (["--source", ""], "unknown --source ''; use exchange, sample or file"),
    (["-e", "kraken"], SAMPLE_ONLY),
    (["--since", "2999-01-01"], None),
    (["--since", "2024-02-30"], f"invalid date '2024-02-30'; {BAD_DATE}"),
    (["--since", "yesterday"], f"invalid date 'yesterday'; {BAD_DATE}"),
    (["--since", ""], f"invalid date ''; {BAD_DATE}"),
    (["--since", "2024-01-01", "--limit", "5"], "use either --since or --limit, not both"),
    (["--path", "x.csv"], "--path is only read with --source file, not --source sample"),
]


@pytest.mark.parametrize(("extra", "message"), FETCH)
def test_fetch_refuses(hmas: Run, extra: list[str], message: str | None) -> None:
    args = ["fetch", "--source", "sample", "-s", "BTC-USD", *extra]
    if "--source" in extra:
        args = ["fetch", "-s", "BTC-USD", *extra]
    if message is None:  # a future --since: its message names the current time
        result = hmas(*args)
        assert result.exit_code == 2
        assert result.stderr.startswith("Error: --since 2999-01-01 is in the future (now is ")
        assert result.stderr.endswith("); give a past date\n")
        assert store_counts() == dict.fromkeys(TABLES, 0)
        return
    refused(hmas, args, message)


SYMBOLS = [
    ([""], "give at least one symbol, e.g. --symbols BTC-USD"),
    ([","], "give at least one symbol, e.g. --symbols BTC-USD"),
    (["BTC"], "invalid symbol 'BTC'; write it as BASE-QUOTE, e.g. BTC-USD"),
    (["BTCUSDT"], "invalid symbol 'BTCUSDT'; write it as BASE-QUOTE, e.g. BTC-USD"),
    (["BTC-USD", "btc-usd"], "--symbols lists BTC-USD twice; give each symbol once"),
    (["BTC-USD,BTC/USD"], "--symbols lists BTC-USD twice; give each symbol once"),
    (["BTC_USD"], "invalid symbol 'BTC_USD'; write it as BASE-QUOTE, e.g. BTC-USD"),
    (
        ["XRP-EUR"],
        "the sample market has no XRP-EUR; use one of BTC-USD, ETH-USD, SOL-USD, DOGE-USD, "
        "XRP-USD, ADA-USD, LTC-USD",
    ),
]


@pytest.mark.parametrize(("symbols", "message"), SYMBOLS)
@pytest.mark.parametrize("command", [["fetch"], ["run", "--once"]])
def test_symbols_refused(hmas: Run, command: list[str], symbols: list[str], message: str) -> None:
    refused(hmas, [*command, "--source", "sample", "--symbols", *symbols], message)


def test_symbols_are_normalised(hmas: Run) -> None:
    """Lower case, a slash and spaces are read as BASE-QUOTE (documented in docs/running.md)."""
    result = hmas("fetch", "--source", " SAMPLE ", "-s", " btc/usd , eth-usd", "-t", "1H", "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["symbol"], r["timeframe"]) for r in rows] == [("BTC-USD", "1h"), ("ETH-USD", "1h")]


RUN = [
    (["--iterations", "-5"], "--iterations must be -1 (run until stopped) or at least 1, not -5"),
    (["--iterations", "0"], "--iterations must be -1 (run until stopped) or at least 1, not 0"),
    (["--iterations", "2", "--once"], "use either --once or --iterations, not both"),
    (["--once", "--sleep-seconds", "5"], None),
    (["--iterations", "2", "--sleep-seconds", "inf"], None),
    (["--iterations", "2", "--sleep-seconds", "nan"], None),
    (["--iterations", "2", "--sleep-seconds", "-1"], None),
    (["--iterations", "2", "--sleep-seconds", "1e9"], None),
    (["--once", "-t", ""], f"unsupported timeframe ''; use one of {TIMEFRAMES}"),
    (["--once", "-t", "7m"], f"unsupported timeframe '7m'; use one of {TIMEFRAMES}"),
    (["--once", "-e", "kraken"], SAMPLE_ONLY),
    (["--once", "--max-signals-per-day", "-1"], "--max-signals-per-day must be at least 0, not -1"),
]


@pytest.mark.parametrize(("extra", "message"), RUN)
def test_run_refuses(hmas: Run, extra: list[str], message: str | None) -> None:
    if message is None:
        value = extra[extra.index("--sleep-seconds") + 1]
        if "--once" in extra:
            message = (
                "--sleep-seconds needs --iterations N (N > 1) or -1; one iteration never waits"
            )
        else:
            shown = {"1e9": "1000000000.0", "-1": "-1.0"}.get(value, value)
            message = f"--sleep-seconds must be a number from 0 to 86400 (one day), not {shown}"
    refused(hmas, ["run", "--source", "sample", "-s", "BTC-USD", *extra], message)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("bogus", "unknown --source 'bogus'; use exchange or sample"),
        ("file", "unknown --source 'file'; use exchange or sample"),
    ],
)
def test_run_source_refused(hmas: Run, source: str, message: str) -> None:
    refused(hmas, ["run", "--source", source, "-s", "BTC-USD", "--once"], message)


def test_run_sleep_zero_and_two_iterations_work(hmas: Run) -> None:
    result = hmas(
        "run", "--source", "sample", "-s", "BTC-USD", "--iterations", "2",
        "--sleep-seconds", "0", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["iteration"] for line in result.stdout.splitlines()] == [1, 2]


AT = [
    ("yesterday", f"invalid date 'yesterday'; {BAD_DATE}"),
    ("2024-13-01", f"invalid date '2024-13-01'; {BAD_DATE}"),
    ("", f"invalid date ''; {BAD_DATE}"),
    ("2024-02-30", f"invalid date '2024-02-30'; {BAD_DATE}"),
]


@pytest.mark.parametrize(("at", "message"), AT)
@pytest.mark.parametrize("command", ["analyze", "decide"])
def test_at_malformed(
    hmas: Run, stocked: dict[str, int], command: str, at: str, message: str
) -> None:
    refused(hmas, [command, "BTC-USD", "--at", at], message)


ANALYZE = [
    (["BTC"], "invalid symbol 'BTC'; write it as BASE-QUOTE, e.g. BTC-USD"),
    ([""], "give at least one symbol, e.g. SYMBOL BTC-USD"),
    (["BTC-USD", "-t", "7m"], f"unsupported timeframe '7m'; use one of {TIMEFRAMES}"),
    (["BTC-USD", "-t", ""], f"unsupported timeframe ''; use one of {TIMEFRAMES}"),
    (["BTC-USD", "-e", ""], "--exchange needs an exchange id, e.g. --exchange coinbase"),
    (
        ["BTC-USD", "-e", "kraken"],
        "no BTC-USD 1h candles stored on kraken; fetch them first, e.g. "
        "hmas fetch --symbols BTC-USD --timeframe 1h",
    ),
    (
        ["ETH-USD"],
        "no ETH-USD 1h candles stored; fetch them first, e.g. "
        "hmas fetch --symbols ETH-USD --timeframe 1h",
    ),
]


@pytest.mark.parametrize(("args", "message"), ANALYZE)
@pytest.mark.parametrize("command", ["analyze", "decide"])
def test_analyze_and_decide_refuse(
    hmas: Run, stocked: dict[str, int], command: str, args: list[str], message: str
) -> None:
    refused(hmas, [command, *args], message)


def test_analyze_accepts_lower_case(hmas: Run, stocked: dict[str, int]) -> None:
    result = hmas("analyze", " btc-usd ", "-t", "1H", "-e", "SAMPLE", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["symbol"] == "BTC-USD"


DECIDE = [
    ([], "give a SYMBOL or --analysis ID (one of them)"),
    (["BTC-USD", "--analysis", "1"], "give a SYMBOL or --analysis ID (one of them)"),
    (
        ["--analysis", "1", "--at", "2024-03-01"],
        "--at cannot be used with --analysis (the analysis fixes its bar); give SYMBOL instead",
    ),
    (
        ["--analysis", "1", "-t", "4h", "-e", "sample"],
        "-t, -e cannot be used with --analysis (the analysis fixes its bar); give SYMBOL instead",
    ),
    (["--analysis", "999"], "no analysis with id 999; see hmas signals list"),
]


@pytest.mark.parametrize(("args", "message"), DECIDE)
def test_decide_refuses(hmas: Run, stocked: dict[str, int], args: list[str], message: str) -> None:
    refused(hmas, ["decide", *args], message)


IDS = [
    ("99999999999999999999", "must be between 1 and 2147483647, not 99999999999999999999"),
    ("2147483648", "must be between 1 and 2147483647, not 2147483648"),
    ("0", "must be between 1 and 2147483647, not 0"),
]


@pytest.mark.parametrize(("value", "message"), IDS)
@pytest.mark.parametrize(
    ("command", "what"),
    [
        (["signals", "show"], "signal id"),
        (["replay"], "signal id"),
        (["decide", "--analysis"], "analysis id"),
    ],
)
def test_ids_out_of_range(
    hmas: Run, stocked: dict[str, int], command: list[str], what: str, value: str, message: str
) -> None:
    refused(hmas, [*command, value], f"{what} {message}")


@pytest.mark.parametrize("command", [["signals", "show"], ["replay"]])
def test_negative_and_missing_ids(hmas: Run, stocked: dict[str, int], command: list[str]) -> None:
    path = " ".join(command)
    refused(hmas, [*command, "--", "-5"], "signal id must be between 1 and 2147483647, not -5")
    refused(hmas, [*command, "-5"], f"No such option: -5; see hmas {path} --help")
    refused(hmas, [*command, "abc"], f"Invalid value for 'signal_id': Input should be a valid "
            f"integer, unable to parse string as an integer; see hmas {path} --help")  # fmt: skip
    refused(hmas, [*command, "12345"], "no signal with id 12345; list them with hmas signals list")


SIGNALS_LIST = [
    (["--decision", "maybe"], "unknown --decision 'maybe'; use APPROVED or REJECTED"),
    (["--decision", ""], "unknown --decision ''; use APPROVED or REJECTED"),
    (["--limit", "0"], "--limit must be at least 1, not 0"),
    (["--limit", "-1"], "--limit must be at least 1, not -1"),
    (["--since", "2024-02-30"], f"invalid date '2024-02-30'; {BAD_DATE}"),
    (["--symbol", "BTC"], "invalid symbol 'BTC'; write it as BASE-QUOTE, e.g. BTC-USD"),
    (["--symbol", ""], "give at least one symbol, e.g. SYMBOL BTC-USD"),
]


@pytest.mark.parametrize(("args", "message"), SIGNALS_LIST)
def test_signals_list_refuses(
    hmas: Run, stocked: dict[str, int], args: list[str], message: str
) -> None:
    refused(hmas, ["signals", "list", *args], message)


def test_signals_list_lower_case_decision(hmas: Run, stocked: dict[str, int]) -> None:
    result = hmas("signals", "list", "--decision", " rejected ", "-s", "btc-usd", "--json")
    assert result.exit_code == 0, result.stderr
    assert [s["decision"] for s in json.loads(result.stdout)] == ["REJECTED"]


CANDLES = [
    (["BTC-USD", "--tail", "0"], "--tail must be at least 1, not 0"),
    (["BTC-USD", "--tail", "-1"], "--tail must be at least 1, not -1"),
    (["BTC-USD", "--gaps", "--tail", "5"], "use either --gaps or --tail, not both"),
    (["--tail", "5"], "--tail need a SYMBOL, e.g. hmas candles BTC-USD --tail 5"),
    (["--gaps"], "--gaps need a SYMBOL, e.g. hmas candles BTC-USD --tail 5"),
    (["-t", "4h", "-e", "sample"], "-t, -e need a SYMBOL, e.g. hmas candles BTC-USD --tail 5"),
    (["BTC-USD", "-t", "7m"], f"unsupported timeframe '7m'; use one of {TIMEFRAMES}"),
    (["BTC"], "invalid symbol 'BTC'; write it as BASE-QUOTE, e.g. BTC-USD"),
    (
        ["BTC-USD", "-e", "kraken"],
        "no BTC-USD 1h candles stored on kraken; fetch them first, e.g. "
        "hmas fetch --symbols BTC-USD --timeframe 1h",
    ),
]


@pytest.mark.parametrize(("args", "message"), CANDLES)
def test_candles_refuses(hmas: Run, stocked: dict[str, int], args: list[str], message: str) -> None:
    refused(hmas, ["candles", *args], message)


def test_candles_lower_case_works(hmas: Run, stocked: dict[str, int]) -> None:
    result = hmas("candles", "btc-usd", "-t", "1H", "-e", "Sample", "-n", "2", "--json")
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)["candles"]) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["BTC-USD"], "Got unexpected extra argument(s) (BTC-USD); see hmas report --help"),
        (["--limit", "5"], "No such option: --limit; see hmas report --help"),
    ],
)
def test_report_refuses(hmas: Run, stocked: dict[str, int], args: list[str], message: str) -> None:
    refused(hmas, ["report", *args], message)


def test_replay_config_directory_refused(
    hmas: Run, stocked: dict[str, int], tmp_path: Path
) -> None:
    before = store_counts()
    result = hmas("replay", "1", "--config", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Invalid value for '--config': ")
    assert result.stderr.count("\n") == 1
    assert store_counts() == before


FILES = [
    ("dir", "{path} is a directory; pass an OHLCV file with --path"),
    ("empty.csv", "empty.csv: the file is empty; pass a file with candles"),
    ("header.csv", "header.csv: the file has a header but no rows"),
    ("missing.csv", "file not found: {path}; pass an existing file with --path"),
]


@pytest.mark.parametrize(("name", "message"), FILES)
def test_fetch_file_unusable_paths(
    hmas: Run, stocked: dict[str, int], tmp_path: Path, name: str, message: str
) -> None:
    path = tmp_path / name
    if name == "dir":
        path.mkdir()
    elif name == "empty.csv":
        path.write_text("")
    elif name == "header.csv":
        path.write_text("ts,open,high,low,close,volume\n")
    args = ["fetch", "--source", "file", "-s", "BTC-USD", "--path", str(path)]
    refused(hmas, args, message.format(path=path))


def test_fetch_file_unreadable(
    hmas: Run, stocked: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "secret.csv"
    path.write_text("ts,open,high,low,close,volume\n2024-03-01T00:00Z,1,2,0.5,1.5,3\n")
    path.chmod(0)
    real_open = Path.open

    def no_read(self: Path, *args: object, **kwargs: object) -> object:
        # chmod 0 does not stop root (the CI container): refuse the read the way the OS would.
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", no_read)
    args = ["fetch", "--source", "file", "-s", "BTC-USD", "--path", str(path)]
    refused(hmas, args, f"cannot read {path}: permission denied; check the file's permissions")


def test_fetch_file_needs_path_and_one_symbol(hmas: Run, stocked: dict[str, int]) -> None:
    refused(hmas, ["fetch", "--source", "file", "-s", "BTC-USD"], "--source file needs --path FILE")
    refused(
        hmas,
        ["fetch", "--source", "file", "-s", "BTC-USD", "ETH-USD", "--path", "x.csv"],
        "--source file imports one symbol; pass exactly one with --symbols",
    )


def test_a_symbol_quoted_in_another_currency_needs_its_conversion_pair(hmas: Run) -> None:
    fixture = Path(__file__).resolve().parents[1] / "data" / "btc_usd_1h_300.csv"
    file_args = ["fetch", "--source", "file", "--path", str(fixture)]
    assert hmas(*file_args, "-s", "ETH-BTC").exit_code == 0  # prices in "BTC": a stand-in
    message = (
        "ETH-BTC is quoted in BTC but the account is in USD (paper.account_currency): no BTC-USD "
        "candles are stored to convert the equity (nor BTC-USDT, BTC-USDC, USD-BTC, USDT-BTC, "
        "USDC-BTC); fetch them, e.g. hmas fetch --symbols BTC-USD --timeframe 1h, or keep the "
        "account in BTC (HMAS_PAPER__ACCOUNT_CURRENCY=BTC)"
    )
    for command in ("analyze", "decide"):
        refused(hmas, [command, "ETH-BTC"], message)
    assert hmas(*file_args, "-s", "BTC-USD").exit_code == 0
    result = hmas("decide", "ETH-BTC", "--json")
    assert result.exit_code in (0, 3), result.stderr
    views = hmas("analyze", "ETH-BTC", "--json")
    assert views.exit_code == 0, views.stderr
    last_close = float(fixture.read_text().strip().splitlines()[-1].split(",")[4])
    assert json.loads(views.stdout)["views"]["execution"]["quote_rate"] == last_close
