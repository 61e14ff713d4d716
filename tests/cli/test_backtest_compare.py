"""``hmas backtest --compare / --ablate / --walk-forward``: output, JSON, bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hmas.store.engine import make_engine, upgrade
from tests.backtest.conftest import store_frame
from tests.cli.test_output_formats import LOOSE, invoke
from tests.decision.conftest import sample_frame

RUN = ["backtest", "-s", "BTC-USD", "ETH-USD"]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], Path]]:
    tmp = tmp_path_factory.mktemp("cmp")
    url = f"sqlite:///{tmp / 'bt.db'}"
    engine = make_engine(url)
    upgrade(engine)
    for symbol in ("BTC-USD", "ETH-USD"):
        store_frame(engine, "sample", symbol, "1h", sample_frame(symbol))
    engine.dispose()
    (tmp / "strict.toml").write_text("[mother]\nmin_expected_value_r = 100.0\n")
    (tmp / "bad.toml").write_text("[mother]\nnope = 1\n")
    yield ["--db-url", url], tmp


@pytest.fixture(autouse=True)
def loose(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in LOOSE.items():
        monkeypatch.setenv(key, value)


def test_compare_files_and_engines_in_json(db: tuple[list[str], Path]) -> None:
    args, tmp = db
    code, out, err = invoke(
        [*args, *RUN, "--compare", "rules", str(tmp / "strict.toml"), "--json"], terminal=True
    )
    assert code == 0, err
    data = json.loads(out)
    assert {r["label"] for r in data["runs"]} == {"rules", "strict"}
    assert data["paired_test"]["verdict"] in (
        "distinguishable from noise",
        "not distinguishable from noise",
    )
    assert "NaN" not in out and "Infinity" not in out


def test_compare_prints_a_ranked_table(db: tuple[list[str], Path]) -> None:
    args, tmp = db
    code, out, _ = invoke(
        [*args, *RUN, "--compare", "rules", str(tmp / "strict.toml")], terminal=False
    )
    assert code == 0
    assert "Comparison on the same candles" in out
    assert "rules vs strict" in out or "strict vs rules" in out
    assert "SAMPLE DATA" in out


def test_ablate_all_table(db: tuple[list[str], Path]) -> None:
    args, _ = db
    code, out, err = invoke([*args, *RUN, "--ablate", "all"], terminal=False)
    assert code == 0, err
    assert "none (baseline)" in out
    for agent in ("alpha", "technical", "sentiment", "macro", "execution", "rationale"):
        assert agent in out
    assert "cannot be removed" in out


def test_walk_forward_json(db: tuple[list[str], Path]) -> None:
    args, _ = db
    code, out, err = invoke([*args, *RUN, "--walk-forward", "2", "--json"], terminal=False)
    assert code == 0, err
    data = json.loads(out)
    assert len(data["windows"]) == 2 and data["pooled"]["windows"] == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--compare", "rules"], "Error: --compare needs at least two configurations"),
        (
            ["--compare", "rules", "{tmp}/bad.toml"],
            "Error: --compare {tmp}/bad.toml: invalid configuration: unknown setting mother.nope",
        ),
        (
            ["--compare", "rules", "{tmp}/none.toml"],
            "Error: --compare {tmp}/none.toml: config file not found",
        ),
        (
            ["--compare", "rules", "llm", "--engine", "llm"],
            "Error: --engine sets the engine of one run",
        ),
        (
            ["--ablate", "bogus"],
            "Error: --ablate names unknown agent(s) bogus; agents that can "
            "be removed: alpha, technical, sentiment, macro",
        ),
        (["--ablate", "execution"], "Error: --ablate: execution cannot be removed"),
        (["--walk-forward", "1"], "Error: --walk-forward needs at least 2 windows, got 1"),
        (
            ["--walk-forward", "2", "--strategy", "reference"],
            "Error: --walk-forward re-estimates the rules' base rates",
        ),
        (
            ["--walk-forward", "2", "--ablate", "macro"],
            "Error: --ablate and --walk-forward are separate runs",
        ),
        (
            ["--ablate", "macro", "--export", "{tmp}/x"],
            "Error: --ablate prints a table of several runs; drop --export",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(
    db: tuple[list[str], Path], extra: list[str], message: str
) -> None:
    args, tmp = db
    extra = [e.replace("{tmp}", str(tmp)) for e in extra]
    code, out, err = invoke([*args, *RUN, *extra], terminal=False)
    assert code == 2
    assert out == ""
    assert err.startswith(message.replace("{tmp}", str(tmp))), err
    assert err.count("\n") == 1
