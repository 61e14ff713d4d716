"""``hmas health``: the exit code watchdogs read, its JSON and table, and every bad input."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

Run = Callable[..., Result]
NAMES = [
    "store",
    "integrity",
    "last_run",
    "fetch",
    "kill_switch",
    "guardian",
    "errors",
    "llm_budget",
]


@pytest.fixture
def db(hmas: Run, tmp_path: Path) -> Path:
    assert hmas("run", "--source", "sample", "-s", "BTC-USD", "ETH-USD", "--once").exit_code == 0
    return tmp_path / "home" / "hmas.db"


def test_healthy_exits_0_with_one_json_object(hmas: Run, db: Path) -> None:
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    result = hmas("health", "--json")
    assert result.exit_code == 0, result.stdout
    data = json.loads(result.stdout)
    assert (data["status"], data["exit_code"]) == ("healthy", 0)
    assert [c["name"] for c in data["checks"]] == NAMES
    assert all(set(c) == {"name", "status", "value", "detail"} for c in data["checks"])
    assert result.stderr == ""
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before  # read-only


def test_the_table_fits_80_columns(hmas: Run, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HMAS_KILL_SWITCH", "1")  # the longest details: a warning among them
    result = hmas("health")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "hmas health: DEGRADED (exit 1)"
    assert lines[1].split() == ["check", "status", "value", "detail"]
    assert max(len(line) for line in lines) <= 80
    rows = {line.split()[0]: line.split()[1] for line in lines[3:] if not line.startswith(" ")}
    assert rows == dict.fromkeys(NAMES, "ok") | {"kill_switch": "WARN"}


def test_degraded_exits_1(hmas: Run, db: Path) -> None:
    Path(f"{db}.kill-switch").touch()
    result = hmas("health", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert (data["status"], data["exit_code"]) == ("degraded", 1)
    (switch,) = [c for c in data["checks"] if c["name"] == "kill_switch"]
    assert (switch["status"], switch["value"]) == ("warn", True)


def test_a_missing_store_is_down_with_the_usual_message(hmas: Run, tmp_path: Path) -> None:
    path = tmp_path / "hmsa.db"
    result = hmas("--db-url", f"sqlite:///{path}", "health", "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["status"] == "down"
    assert result.stderr == (
        f"Error: no hmas store at {path}; check HMAS_DB_URL or --db-url, or create one with "
        "hmas db upgrade\n"
    )
    assert not path.exists()  # never creates one
    table = hmas("--db-url", f"sqlite:///{path}", "health")
    assert table.exit_code == 2
    assert table.stdout.startswith("hmas health: DOWN (exit 2)\n")


def test_a_damaged_store_is_down(hmas: Run, db: Path) -> None:
    from tests.store.damage import damage

    damage(db, "middle")
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    result = hmas("health", "--json")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    (integrity,) = [c for c in data["checks"] if c["name"] == "integrity"]
    assert (data["status"], integrity["status"]) == ("down", "fail")
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_max_age_and_runs_are_taken(hmas: Run, db: Path) -> None:
    result = hmas("health", "--max-age", "90m", "--runs", "1", "--json")
    assert result.exit_code == 0
    (last,) = [c for c in json.loads(result.stdout)["checks"] if c["name"] == "last_run"]
    assert last["detail"].endswith("; max age 1h30m (--max-age)")
    (errors,) = [c for c in json.loads(result.stdout)["checks"] if c["name"] == "errors"]
    assert errors["detail"] == "no errors in the last 1 run"


DURATION = "expected a duration such as 30d, 12h, 2w or 90m (a whole number and one of m, h, d, w)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-age", "nonsense"], f"{DURATION}, got 'nonsense'"),
        (["--max-age", ""], f"{DURATION}, got ''"),
        (["--max-age", "2x"], f"{DURATION}, got '2x'"),
        (["--max-age", "1.5h"], f"{DURATION}, got '1.5h'"),
        (["--max-age", "-1h"], f"{DURATION}, got '-1h'"),
        (["--max-age", "0m"], "must be above 0 and at most 10950d, got '0m'"),
        (["--runs", "0"], "must be a count from 1 to 100000, got 0"),
        (["--runs", "-3"], "must be a count from 1 to 100000, got -3"),
        (["--runs", "100001"], "must be a count from 1 to 100000, got 100001"),
    ],
)
def test_bad_input_is_a_one_line_usage_error(
    hmas: Run, tmp_path: Path, args: list[str], message: str
) -> None:
    result = hmas("health", *args)
    option = args[0]
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: Invalid value for {option}: {message}; see hmas health --help\n"
    )
    assert not (tmp_path / "home" / "hmas.db").exists()


def test_a_runs_count_that_is_no_number_is_refused(hmas: Run) -> None:
    result = hmas("health", "--runs", "ten")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: Invalid value for '--runs': Input should be a valid integer, unable to parse "
        "string as an integer; see hmas health --help\n"
    )


def test_help_has_an_example(hmas: Run) -> None:
    result = hmas("health", "--help")
    assert result.exit_code == 0
    assert "Example: hmas health --max-age 2h --json" in result.stdout
