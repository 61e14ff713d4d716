"""The root's own options under bad input: one line, exit 2, nothing created."""

from __future__ import annotations

from collections.abc import Callable
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
    assert "backtest" not in text
    for command in ("fetch", "analyze", "decide", "run", "report", "replay", "signals"):
        assert f"  {command} " in text
