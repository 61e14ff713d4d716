"""The command line as users run it: help, errors with exit codes, config and db commands."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from hmas.cli import app

Run = Callable[..., Result]


def all_commands() -> list[list[str]]:
    from typer.main import get_command

    root = get_command(app)
    paths: list[list[str]] = []

    def walk(cmd: object, path: list[str]) -> None:
        sub = getattr(cmd, "commands", None)
        if sub:
            for name, child in sub.items():
                walk(child, [*path, name])
        else:
            paths.append(path)

    walk(root, [])
    return paths


def test_every_command_has_help_with_an_example(hmas: Run) -> None:
    commands = all_commands()
    assert ["fetch"] in commands and ["candles"] in commands
    assert ["config", "show"] in commands and ["db", "upgrade"] in commands
    for path in commands:
        result = hmas(*path, "--help")
        assert result.exit_code == 0, path
        assert "Example:" in result.stdout, f"hmas {' '.join(path)} --help has no example"


def test_every_command_is_documented() -> None:
    docs = (Path(__file__).parents[2] / "README.md").read_text() + "".join(
        p.read_text() for p in (Path(__file__).parents[2] / "docs").glob("*.md")
    )
    for path in all_commands():
        assert f"hmas {' '.join(path)}" in docs, f"hmas {' '.join(path)} is not documented"


def test_version(hmas: Run) -> None:
    from hmas import __version__

    assert hmas("--version").stdout == f"hmas {__version__}\n"


def test_python_dash_m_works() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hmas", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("hmas ")


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys\nfrom hmas.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "mods = ('pandas', 'ccxt', 'sqlmodel', 'sqlalchemy', 'numpy', 'rich')\n"
        "heavy = [m for m in mods if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "HEAVY="


def test_config_show_masks_secrets(hmas: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HMAS_EXCHANGE_CREDENTIALS__API_KEY", "top-secret-key")
    result = hmas("config", "show", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["exchange_credentials"]["api_key"] == "**********"
    assert data["fetch"]["exchange"] == "coinbase"
    assert "top-secret-key" not in result.stdout
    table = hmas("config", "show")
    assert "top-secret-key" not in table.stdout
    assert "fetch.exchange" in table.stdout


def test_config_check_valid_and_invalid(hmas: Run, tmp_path: Path) -> None:
    ok = hmas("config", "check")
    assert ok.exit_code == 0
    assert ok.stdout == "Configuration is valid.\n"
    bad = tmp_path / "bad.toml"
    bad.write_text("[fetch]\nretries = 'many'\n")
    result = hmas("--config", str(bad), "config", "check")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: invalid configuration: fetch.retries (HMAS_FETCH__RETRIES): "
        "Input should be a valid integer, unable to parse string as an integer\n"
    )
    assert result.stdout == ""


def test_db_upgrade_and_status(hmas: Run, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    first = hmas("--db-url", url, "db", "upgrade", "--json")
    assert json.loads(first.stdout) == {
        "from": None,
        "to": "0007_pauses",
        "applied": [
            "0001_candles",
            "0002_signals",
            "0003_fetch_owner",
            "0004_backtest_run",
            "0005_llm_call",
            "0006_leases",
            "0007_pauses",
        ],
    }
    second = hmas("--db-url", url, "db", "upgrade")
    assert second.stdout == "The store is up to date (0007_pauses).\n"
    status = json.loads(hmas("--db-url", url, "db", "status", "--json").stdout)
    assert status["up_to_date"] is True
    assert status["backend"] == "sqlite"


def test_database_that_cannot_be_opened(hmas: Run) -> None:
    result = hmas("--db-url", "sqlite:////no/such/dir/hmas.db", "candles")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: cannot open database sqlite:////no/such/dir/hmas.db: directory /no/such/dir "
        "does not exist; create it or set HMAS_DB_URL\n"
    )


def test_default_store_is_created_in_the_data_directory(hmas: Run, tmp_path: Path) -> None:
    assert hmas("db", "upgrade").exit_code == 0
    result = hmas("candles")
    assert result.exit_code == 0
    assert "The store holds no candles yet" in result.stdout
    assert (tmp_path / "home" / "hmas.db").exists()
