"""The root's own options under bad input: one line, exit 2, nothing created."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import Result

Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HMAS_DATA_DIR", str(tmp_path / "data"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--log-level", "bogus", "candles"],
            "Error: Invalid value for --log-level: 'bogus' is not a log level; use one of "
            "DEBUG, INFO, WARNING, ERROR; see hmas --help",
        ),
        (["--log-level"], "Error: Option '--log-level' requires an argument; see hmas --help"),
        (["--bogus", "candles"], "Error: No such option: --bogus; see hmas --help"),
        (["frobnicate"], "Error: No such command 'frobnicate'; see hmas --help"),
        (["--db-url"], "Error: Option '--db-url' requires an argument; see hmas --help"),
    ],
)
def test_bad_root_options_are_one_line(
    hmas: Run, tmp_path: Path, argv: list[str], message: str
) -> None:
    result = hmas(*argv)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", message + "\n")
    assert not (tmp_path / "data").exists()


def test_config_that_is_a_directory(hmas: Run, tmp_path: Path) -> None:
    result = hmas("--config", str(tmp_path), "candles")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: Invalid value for '--config' (env var: 'HMAS_CONFIG'): file '{tmp_path}' is a "
        "directory; see hmas --help\n"
    )
    assert not (tmp_path / "data").exists()


def test_log_level_in_any_case(hmas: Run) -> None:
    result = hmas("--log-level", " info ", "config", "check")
    assert result.exit_code == 0, result.stderr


def test_help_lists_only_commands_that_exist(hmas: Run) -> None:
    text = hmas("--help").stdout
    for command in ("fetch", "analyze", "decide", "run", "backtest", "report", "replay", "signals"):
        assert f"  {command} " in text


def test_a_file_that_is_no_csv_is_one_line(hmas: Run, tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    path.write_text("root:x:0:0:root:/root:/bin/bash\n" * 3 + "a,b,c,d\n")
    result = hmas("fetch", "--source", "file", "--path", str(path), "-s", "BTC-USD")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("Error: passwd: malformed CSV (Error tokenizing data.")
    assert result.stderr.endswith("; expected columns ts,open,high,low,close,volume\n")
    import sqlite3

    with closing(sqlite3.connect(tmp_path / "data" / "hmas.db")) as conn:
        assert conn.execute("SELECT count(*) FROM candle").fetchone() == (0,)


@pytest.mark.parametrize(
    "argv",
    [
        ["candles", "BTC-USD", "--tail", "99999999999999999999"],
        ["signals", "list", "--limit", "2147483648"],
        ["fetch", "--source", "sample", "-s", "BTC-USD", "--limit", "99999999999"],
    ],
)
def test_counts_beyond_any_store_are_refused(hmas: Run, tmp_path: Path, argv: list[str]) -> None:
    result = hmas(*argv)
    option, value = argv[-2], argv[-1]
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"Error: {option} must be at most 2147483647, not {value}\n"
    assert not (tmp_path / "data").exists()
