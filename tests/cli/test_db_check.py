"""``hmas db check`` and the writing commands on a store with real damage (a page of garbage)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.store.damage import damage

Run = Callable[..., Result]


@pytest.fixture
def db(hmas: Run, tmp_path: Path) -> Path:
    """The default store with 3,000 hourly candles and a run's signal on it."""
    assert hmas("fetch", "--source", "sample", "-s", "BTC-USD", "--limit", "3000").exit_code == 0
    assert hmas("run", "--source", "sample", "-s", "BTC-USD", "--once").exit_code == 0
    return tmp_path / "home" / "hmas.db"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_intact_store_exits_0(hmas: Run, db: Path) -> None:
    result = hmas("db", "check")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"The store {db} is intact (integrity_check: ok, ")
    data = json.loads(hmas("db", "check", "--json").stdout)
    assert (data["ok"], data["backend"], data["check"], data["problems"]) == (
        True,
        "sqlite",
        "integrity_check",
        [],
    )


def test_damage_exits_1_and_prints_its_first_lines(hmas: Run, db: Path) -> None:
    damage(db, "middle")
    before = sha(db)
    result = hmas("db", "check")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"Damage found in the store {db} (integrity_check):"
    assert 1 <= len(lines) - 2 <= 11  # at most 10 lines of damage (and a line saying more)
    assert lines[-1] == "Restore the store from a backup, or point HMAS_DB_URL elsewhere."
    data = json.loads(hmas("db", "check", "--json").stdout)
    assert data["ok"] is False and data["problems"]
    assert sha(db) == before  # read-only


def test_a_file_that_is_no_database_is_damage_found(hmas: Run, tmp_path: Path) -> None:
    path = tmp_path / "bytes.db"
    path.write_bytes(os.urandom(64 * 1024))
    result = hmas("--db-url", f"sqlite:///{path}", "db", "check", "--json")
    assert result.exit_code == 1
    (problem,) = json.loads(result.stdout)["problems"]
    assert problem.startswith(f"{path} is not an hmas store or is corrupted (")


def test_a_missing_store_is_not_created(hmas: Run, tmp_path: Path) -> None:
    path = tmp_path / "none.db"
    result = hmas("--db-url", f"sqlite:///{path}", "db", "check")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: no hmas store at {path}; ")
    assert not path.exists()


WRITING = [
    ["fetch", "--source", "sample", "-s", "BTC-USD"],
    ["run", "--source", "sample", "-s", "BTC-USD", "--once"],
    ["decide", "BTC-USD"],
    ["analyze", "BTC-USD"],
]


@pytest.mark.parametrize("where", ["middle", "root"])
@pytest.mark.parametrize("args", WRITING, ids=lambda a: a[0])
def test_writing_commands_stop_on_a_damaged_store(
    hmas: Run, db: Path, args: list[str], where: str
) -> None:
    damage(db, where)
    before = sha(db)
    result = hmas(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: the store {db} is corrupted (")
    assert result.stderr.endswith("); restore it from a backup or point HMAS_DB_URL elsewhere\n")
    assert result.stderr.count("\n") == 1
    assert sha(db) == before  # nothing written on


def test_a_large_damaged_store_is_stopped_where_it_is_read(
    hmas: Run, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hmas.store import integrity

    # The store stands in for one past the size a writing command checks on open.
    monkeypatch.setattr(integrity, "CHECK_ON_OPEN_MAX_BYTES", 4096)
    damage(db, "root")  # every read of the candles meets the damage
    before = sha(db)
    result = hmas("fetch", "--source", "sample", "-s", "BTC-USD")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: the store {db} is corrupted (database disk image is malformed); restore it "
        "from a backup or point HMAS_DB_URL elsewhere\n"
    )
    assert sha(db) == before
    run = hmas("run", "--source", "sample", "-s", "BTC-USD", "--once")  # checked at its start
    assert run.exit_code == 2
    assert run.stderr.startswith(f"Error: the store {db} is corrupted (quick_check: ")


def test_the_kill_switch_still_engages_on_a_damaged_store(hmas: Run, db: Path) -> None:
    damage(db, "middle")
    result = hmas("kill-switch", "on", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert (data["active"], data["file"], data["stored"]) == (True, True, None)
    assert "is corrupted (quick_check: " in data["notes"][0]
