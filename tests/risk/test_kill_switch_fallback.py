"""The kill switch always engages: a switch file when the store cannot be written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from hmas.cli import app

Run = Callable[..., Result]


@pytest.fixture
def hmas() -> Run:
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args), catch_exceptions=False)

    return run


def _store(hmas: Run, path: Path) -> list[str]:
    db = ["--db-url", f"sqlite:///{path}"]
    assert hmas(*db, "fetch", "--source", "sample", "-s", "BTC-USD").exit_code == 0
    return db


def _engaged_note(path: Path, reason: str) -> str:
    return (
        f"The store could not be written: {reason}. Engaged the kill switch with the file "
        f"{path}.kill-switch instead; every command honours it, and hmas kill-switch off "
        "removes it.\nKill switch is ON (stored: unknown, file: on, HMAS_KILL_SWITCH: off).\n"
    )


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 3 MB tmpfs mount (root only): a disk that can honestly be filled."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 4096, 512, 1):  # down to the last byte
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def test_kill_switch_on_a_full_disk_engages_the_file(
    hmas: Run, small_disk: Path, tmp_path: Path
) -> None:
    path = small_disk / "hmas.db"
    db = _store(hmas, path)
    filler = _fill(small_disk)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HMAS_")}
    env["HMAS_DATA_DIR"] = str(tmp_path / "home")
    proc = subprocess.run(
        [sys.executable, "-m", "hmas", *db, "kill-switch", "on"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    reason = (
        f"cannot write to the store {path}: the database or disk is full; free space on that "
        "disk or point HMAS_DB_URL elsewhere"
    )
    assert proc.stdout == _engaged_note(path, reason)
    assert Path(f"{path}.kill-switch").exists()
    status = hmas(*db, "kill-switch", "status", "--json")
    assert status.exit_code == 0
    assert json.loads(status.stdout)["active"] is True
    # Turning it off needs the store: refused while the disk is full, and the file stays.
    off = hmas(*db, "kill-switch", "off")
    assert off.exit_code == 1
    assert off.stderr == f"Error: {reason}\n"
    assert Path(f"{path}.kill-switch").exists()
    filler.unlink()
    off = hmas(*db, "kill-switch", "off")
    assert off.exit_code == 0
    assert off.stdout == (
        f"Removed the kill-switch file {path}.kill-switch.\n"
        "Kill switch is off (stored: off, file: off, HMAS_KILL_SWITCH: off).\n"
    )
    assert not Path(f"{path}.kill-switch").exists()


def test_kill_switch_on_a_corrupted_store_engages_the_file(hmas: Run, tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    path.write_bytes(os.urandom(16384))
    result = hmas("--db-url", f"sqlite:///{path}", "kill-switch", "on")
    assert result.exit_code == 0
    assert result.stdout == _engaged_note(
        path,
        f"{path} is not an hmas store or is corrupted (file is not a database); restore it "
        "from a backup or point HMAS_DB_URL elsewhere",
    )
    status = hmas("--db-url", f"sqlite:///{path}", "kill-switch", "status")
    assert status.exit_code == 0
    assert (
        status.stdout == "Kill switch is ON (stored: unknown, file: on, HMAS_KILL_SWITCH: off).\n"
    )


def test_an_unreachable_server_engages_the_file_in_the_data_directory(
    hmas: Run, tmp_path: Path
) -> None:
    url = "postgresql://hmas:pw@127.0.0.1:1/hmas"
    result = hmas("--db-url", url, "kill-switch", "on", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    switch = tmp_path / "home" / "kill-switch"
    assert data["active"] is True and data["file"] is True and data["stored"] is None
    assert data["file_path"] == str(switch)
    assert data["notes"][0].startswith("The store could not be written: cannot open database ")
    assert "pw" not in result.stdout
    assert switch.exists()


def test_the_file_can_be_engaged_on_purpose(hmas: Run, tmp_path: Path) -> None:
    path = tmp_path / "hmas.db"
    db = _store(hmas, path)
    result = hmas(*db, "kill-switch", "on", "--file")
    assert result.exit_code == 0
    assert result.stdout == (
        f"Engaged the kill-switch file {path}.kill-switch (the store was not touched).\n"
        "Kill switch is ON (stored: unknown, file: on, HMAS_KILL_SWITCH: off).\n"
    )
    status = json.loads(hmas(*db, "kill-switch", "--json").stdout)
    assert status["stored"] is False and status["file"] is True and status["active"] is True
    bad = hmas(*db, "kill-switch", "status", "--file")
    assert bad.exit_code == 2
    assert "--file goes with on: hmas kill-switch on --file" in bad.stderr


def test_the_guardian_state_honours_the_file(tmp_path: Path) -> None:
    from sqlmodel import Session

    from hmas.risk.ledger import guardian_state
    from hmas.settings import load_settings
    from hmas.store.engine import make_engine, upgrade

    settings = load_settings(db_url=f"sqlite:///{tmp_path / 'g.db'}")
    engine = make_engine(settings.resolved_db_url())
    upgrade(engine)
    try:
        with Session(engine) as session:
            state = guardian_state(session, settings, "rules", "BTC-USD", 3_600_000, 3_600_000)
            assert state.kill_switch is False
            (tmp_path / "g.db.kill-switch").touch()
            state = guardian_state(session, settings, "rules", "BTC-USD", 3_600_000, 3_600_000)
            assert state.kill_switch is True
    finally:
        engine.dispose()


def test_decide_refuses_trades_while_the_file_is_there(
    hmas: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hmas.decision.service import load_inputs
    from hmas.market import ms_to_datetime
    from hmas.settings import load_settings
    from hmas.store.engine import make_engine
    from tests.decision.conftest import setup_bars

    for key, value in {
        "HMAS_MOTHER__MIN_EXPECTED_VALUE_R": "-100",
        "HMAS_MOTHER__MIN_CONSENSUS": "0",
        "HMAS_MOTHER__MIN_CONFIDENCE": "0",
        "HMAS_EXECUTION__MAX_COST_R": "100",
        "HMAS_EXECUTION__MAX_COST_TO_TARGET": "100",
        "HMAS_MACRO__HIGH_VOL_PCT": "1",
    }.items():
        monkeypatch.setenv(key, value)
    path = tmp_path / "d.db"
    db = ["--db-url", f"sqlite:///{path}"]
    assert (
        hmas(*db, "fetch", "--source", "sample", "-s", "ETH-USD", "--limit", "1500").exit_code == 0
    )
    engine = make_engine(f"sqlite:///{path}")
    settings = load_settings()
    bars = setup_bars(load_inputs(engine, settings, "sample", "ETH-USD", "1h"), settings, limit=25)
    engine.dispose()
    assert hmas(*db, "kill-switch", "on", "--file").exit_code == 0
    refused = 0
    for bar in bars:
        result = hmas(*db, "decide", "ETH-USD", "--at", ms_to_datetime(bar).isoformat(), "--json")
        signal = json.loads(result.stdout)
        killed = (signal["rejection_reason"] or "").startswith("guardian: kill_switch")
        assert signal["decision"] != "APPROVED"
        assert result.exit_code == (3 if killed else 0)
        refused += killed
    assert refused > 0, "at least one proposal must meet the kill switch"


def test_tournament_books_honour_the_engines_kill_switch(tmp_path: Path) -> None:
    """``hmas kill-switch on`` sets ``rules``; ``rules@<name>`` books (old and new) stop too."""
    from sqlmodel import Session

    from hmas.risk.ledger import guardian_state, set_kill_switch
    from hmas.settings import load_settings
    from hmas.store.engine import make_engine, upgrade

    settings = load_settings(db_url=f"sqlite:///{tmp_path / 't.db'}")
    engine = make_engine(settings.resolved_db_url())
    upgrade(engine)

    def killed(book: str) -> bool:
        with Session(engine) as session:
            state = guardian_state(session, settings, book, "BTC-USD", 3_600_000, 3_600_000)
            session.commit()
            return state.kill_switch

    try:
        assert killed("rules@fast") is False
        assert set_kill_switch(engine, settings, True) is True
        assert killed("rules@fast") is True
        assert killed("rules@created_later") is True
        assert killed("rules") is True
        assert killed("llm@other") is False  # another engine's books are not this switch's
        assert set_kill_switch(engine, settings, False) is False
        assert killed("rules@fast") is False and killed("rules@created_later") is False
    finally:
        engine.dispose()
