"""analyze, decide, run, signals, replay, report and kill-switch as users run them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from hmas.settings import DECISION_MODEL

Run = Callable[..., Result]
CONTRACT = {
    "id",
    "symbol",
    "timeframe",
    "bar_ts",
    "engine",
    "decision",
    "action",
    "confidence",
    "entry",
    "stop_loss",
    "take_profit",
    "size",
    "reward_risk",
    "expected_value_r",
    "consensus",
    "quality",
    "rejection_reason",
}


@pytest.fixture
def db(tmp_path: Path) -> list[str]:
    return ["--db-url", f"sqlite:///{tmp_path / 'cli.db'}"]


def run_once(hmas: Run, db: list[str]) -> list[dict[str, object]]:
    result = hmas(
        *db, "run", "--symbols", "BTC-USD", "ETH-USD", "--source", "sample", "--once", "--json"
    )
    assert result.exit_code == 0, result.stderr
    data: list[dict[str, object]] = [json.loads(line) for line in result.stdout.splitlines()]
    return data


def test_run_once_twice_in_the_same_bar(hmas: Run, db: list[str]) -> None:
    first = run_once(hmas, db)
    assert [s["created"] for s in first] == [True, True]
    second = run_once(hmas, db)
    assert [s["created"] for s in second] == [False, False]


def test_analyze_decide_signals_replay_report(hmas: Run, db: list[str]) -> None:
    run_once(hmas, db)
    analysis = json.loads(hmas(*db, "analyze", "BTC-USD", "-e", "sample", "--json").stdout)
    assert set(analysis["views"]) == {
        "alpha",
        "technical",
        "sentiment",
        "macro",
        "execution",
        "rationale",
    }
    assert analysis["sample_data"] is True
    assert analysis["created"] is False  # run already analysed this bar
    decided = json.loads(hmas(*db, "decide", "--analysis", str(analysis["id"]), "--json").stdout)
    assert set(decided) >= CONTRACT
    assert decided["created"] is False
    listed = json.loads(hmas(*db, "signals", "list", "--symbol", "BTC-USD", "--json").stdout)
    assert [s["id"] for s in listed] == [decided["id"]]
    shown = json.loads(hmas(*db, "signals", "show", str(decided["id"]), "--json").stdout)
    assert set(shown["rounds"]) == {"gather", "resolve", "decide"}
    assert shown["views"]["rationale"]["journal"].startswith("## Setup")
    replayed = json.loads(hmas(*db, "replay", str(decided["id"]), "--json").stdout)
    assert replayed == {
        "signal_id": decided["id"],
        "identical": True,
        "differences": [],
        "config_changed": False,
        "model_changed": False,
        "stored_model": DECISION_MODEL,
        "model": DECISION_MODEL,
    }
    report = json.loads(hmas(*db, "report", "--json").stdout)
    assert report["signals"]["BTC-USD"]["APPROVED"] + report["signals"]["BTC-USD"]["REJECTED"] == 1
    assert report["sample_data_signals"] == 2
    text = hmas(*db, "signals", "show", str(decided["id"]))
    assert "round 1: gather" in text.stdout and "guardian" in text.stdout
    assert "replays identically" in hmas(*db, "replay", str(decided["id"])).stdout


def test_kill_switch(hmas: Run, db: list[str]) -> None:
    assert hmas(*db, "kill-switch", "on").stdout == (
        "Kill switch is ON (stored: on, file: off, HMAS_KILL_SWITCH: off).\n"
    )
    status = json.loads(hmas(*db, "kill-switch", "status", "--json").stdout)
    assert status == {
        "stored": True,
        "file": False,
        "file_path": db[1].removeprefix("sqlite:///") + ".kill-switch",
        "environment": False,
        "active": True,
        "notes": [],
    }
    hmas(*db, "kill-switch", "off")
    assert json.loads(hmas(*db, "kill-switch", "--json").stdout)["active"] is False


def test_run_refused_while_another_holds_the_lock(hmas: Run, db: list[str], tmp_path: Path) -> None:
    from hmas.store.engine import make_engine, upgrade
    from hmas.store.locks import acquire, lease_key

    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    upgrade(engine)
    lock = acquire(engine, [lease_key("sample", "BTC-USD", "1h")])
    result = hmas(*db, "run", "--symbols", "BTC-USD", "--source", "sample", "--once")
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: another hmas run holds the store lock (pid ")
    lock.release()
    engine.dispose()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["decide"], 2, "give a SYMBOL or --analysis ID (one of them)"),
        (
            ["decide", "--analysis", "999"],
            2,
            "Error: no analysis with id 999; see hmas signals list\n",
        ),
        (
            ["signals", "show", "5"],
            2,
            "Error: no signal with id 5; list them with hmas signals list\n",
        ),
        (["replay", "5"], 2, "Error: no signal with id 5; list them with hmas signals list\n"),
        (
            ["analyze", "BTC-USD"],
            2,
            "Error: no BTC-USD 1h candles stored; fetch them first, e.g. "
            "hmas fetch --symbols BTC-USD --timeframe 1h\n",
        ),
        (
            ["analyze", "BTCUSD"],
            2,
            "Error: invalid symbol 'BTCUSD'; write it as BASE-QUOTE, e.g. BTC-USD\n",
        ),
        (
            ["analyze", "BTC-USD", "--at", "yesterday"],
            2,
            "Error: invalid date 'yesterday'; use ISO format, "
            "e.g. 2024-03-01 or 2024-03-01T12:00Z\n",
        ),
        (["run", "--source", "sample", "--once"], 2, "give at least one symbol"),
        (
            ["run", "-s", "BTC-USD", "--source", "file", "--once"],
            2,
            "'file'; use exchange or sample",
        ),
        (
            ["run", "-s", "BTC-USD", "--once", "--iterations", "3"],
            2,
            "use either --once or --iterations",
        ),
        (["signals", "list", "--decision", "maybe"], 2, "'maybe'; use APPROVED or REJECTED"),
        (["kill-switch", "maybe"], 2, "'maybe'; use on, off or status"),
    ],
)
def test_bad_input(hmas: Run, db: list[str], args: list[str], code: int, message: str) -> None:
    hmas(*db, "db", "upgrade")  # read-only commands need an existing store
    result = hmas(*db, *args)
    assert result.exit_code == code
    assert message in result.stderr
    assert result.stdout == ""


def test_decide_exits_3_when_the_kill_switch_refuses(
    hmas: Run, db: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
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
    fetched = hmas(*db, "fetch", "--source", "sample", "-s", "ETH-USD", "--limit", "1500")
    assert fetched.exit_code == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    settings = load_settings()
    bars = setup_bars(load_inputs(engine, settings, "sample", "ETH-USD", "1h"), settings, limit=25)
    engine.dispose()
    monkeypatch.setenv("HMAS_KILL_SWITCH", "1")
    codes = []
    for bar in bars:
        result = hmas(*db, "decide", "ETH-USD", "--at", ms_to_datetime(bar).isoformat(), "--json")
        signal = json.loads(result.stdout)
        refused = (signal["rejection_reason"] or "").startswith("guardian: kill_switch")
        assert result.exit_code == (3 if refused else 0)
        codes.append(result.exit_code)
    assert 3 in codes, "at least one approved proposal must meet the kill switch"
