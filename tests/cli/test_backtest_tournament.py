"""``hmas backtest --tournament``: each configuration backtested, ranked and blended; bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hmas.store.engine import make_engine, upgrade
from tests.backtest.conftest import store_frame
from tests.cli.test_output_formats import LOOSE, invoke
from tests.decision.conftest import sample_frame

WEEK = 7 * 86_400_000
ENTRANTS = {
    "baseline": "[risk]\nrisk_per_trade = 0.01\n",
    "cautious": "[risk]\nrisk_per_trade = 0.005\nmax_open_positions = 1\n",
    "wide_stop": "[alpha]\nstop_atr = 2.5\nmax_stop_atr = 5.0\n",
}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], Path]]:
    """A store with 1,500 fixed hourly sample bars of BTC-USD and ETH-USD (ETH-USD trades under
    the loose thresholds), and a directory of entrants."""
    tmp = tmp_path_factory.mktemp("tourney")
    url = f"sqlite:///{tmp / 'bt.db'}"
    engine = make_engine(url)
    upgrade(engine)
    for symbol in ("BTC-USD", "ETH-USD"):
        store_frame(engine, "sample", symbol, "1h", sample_frame(symbol))
    engine.dispose()
    cfgs = tmp / "cfgs"
    cfgs.mkdir()
    for name, text in ENTRANTS.items():
        (cfgs / f"{name}.toml").write_text(text)
    yield ["--db-url", url], cfgs


@pytest.fixture
def loose(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in LOOSE.items():
        monkeypatch.setenv(key, value)


def _stored_runs(db: list[str]) -> int:
    code, out, _ = invoke([*db, "backtest", "list", "--limit", "1000", "--json"], terminal=False)
    assert code == 0
    return len(json.loads(out))


def test_a_tournament_in_json(db: tuple[list[str], Path], loose: None) -> None:
    args, cfgs = db
    code, out, err = invoke(
        [*args, "backtest", "-s", "ETH-USD", "--tournament", str(cfgs), "--json"], terminal=True
    )
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data["tournament"] == {
        "window": "30d",
        "rerank": "7d",
        "weights": pytest.approx([3 / 6, 2 / 6, 1 / 6], abs=1e-6),
        "weights_rule": "the default, linear by rank",
    }
    assert data["bars"] == 1500 and data["sample_data"] is True
    names = [m["name"] for m in data["members"]]
    assert names == sorted(ENTRANTS)  # the files' sorted order
    assert sum(m["trades"] for m in data["members"]) > 0  # the books moved: a real comparison
    # Each entrant is a stored run, the same as its figures here.
    for member in data["members"]:
        code, shown, _ = invoke(
            [*args, "backtest", "show", str(member["backtest_id"]), "--json"], terminal=False
        )
        run = json.loads(shown)
        assert run["metrics"]["total_return"] == pytest.approx(member["total_return"], abs=1e-6)
        assert run["metrics"]["trades"] == member["trades"]
        assert run["config_hash"] == member["config_hash"]
    assert len({m["config_hash"] for m in data["members"]}) == 3
    # The best single member is the one with the highest final equity, chosen in hindsight.
    best = max(data["members"], key=lambda m: m["final_equity"])
    assert data["best_single"]["name"] == best["name"]
    assert data["best_single"]["total_return"] == best["total_return"]
    assert "hindsight" in data["best_single"]["chosen"]
    for curve in ("blended", "equal_weight"):
        assert isinstance(data[curve]["total_return"], float)
        assert isinstance(data[curve]["max_drawdown"], float)
    # Re-ranks: epoch-aligned weeks; equal before the first full 30-day window, then by rank.
    from datetime import datetime

    for r in data["reranks"]:
        at = datetime.fromisoformat(r["at"].replace("Z", "+00:00"))
        assert int(at.timestamp() * 1000) % WEEK == 0
        weights = sorted(m["weight"] for m in r["members"])
        if r["full_window"]:
            assert weights == pytest.approx([1 / 6, 2 / 6, 3 / 6], abs=1e-6)
            ranked = sorted(r["members"], key=lambda m: m["rank"])
            pnl = [m["window_pnl"] for m in ranked]
            assert pnl == sorted(pnl, reverse=True)
        else:
            assert weights == pytest.approx([1 / 3] * 3)
    assert [r["full_window"] for r in data["reranks"]].count(False) >= 1
    assert data["current"] == data["reranks"][-1]
    assert "NaN" not in out and "Infinity" not in out


def test_a_tournament_as_tables(db: tuple[list[str], Path], loose: None) -> None:
    args, cfgs = db
    code, out, _ = invoke(
        [*args, "backtest", "-s", "ETH-USD", "--tournament", str(cfgs)], terminal=False
    )
    assert code == 0
    assert "Tournament: 3 configurations on ETH-USD 1h" in out
    assert "weights by rank 50/33.3333/16.6667 %" in out
    for name in ENTRANTS:
        assert name in out
    assert "Blend compared" in out and "(in hindsight)" in out
    assert "equal weight" in out and "blended by rank" in out
    assert "Weights by re-rank" in out


def test_weights_from_the_tournament_section(
    db: tuple[list[str], Path], loose: None, tmp_path: Path
) -> None:
    args, cfgs = db
    main = tmp_path / "main.toml"
    main.write_text('[tournament]\nweights = [0.7, 0.2, 0.1]\nwindow = "14d"\nrerank = "1d"\n')
    code, out, _ = invoke(
        [
            *args,
            "--config",
            str(main),
            "backtest",
            "-s",
            "ETH-USD",
            "--tournament",
            str(cfgs),
            "--json",
        ],
        terminal=False,
    )
    assert code == 0
    data = json.loads(out)
    assert data["tournament"]["weights"] == [0.7, 0.2, 0.1]
    assert data["tournament"]["window"] == "14d" and data["tournament"]["rerank"] == "1d"
    full = [r for r in data["reranks"] if r["full_window"]]
    assert full and all(sorted(m["weight"] for m in r["members"]) == [0.1, 0.2, 0.7] for r in full)


def _bad_dirs(tmp: Path) -> dict[str, list[str]]:
    """Each bad --tournament (and the arguments that give it), by case name."""
    (tmp / "empty").mkdir()
    mixed = tmp / "mixed"
    mixed.mkdir()
    (mixed / "a.toml").write_text("")
    (mixed / "b.toml").write_text("")
    (mixed / "notes.txt").write_text("x")
    bad = tmp / "bad"
    bad.mkdir()
    (bad / "a.toml").write_text("")
    (bad / "b.toml").write_text("[risk]\nrisk_per_trade = 5\n")
    one = tmp / "one"
    one.mkdir()
    (one / "a.toml").write_text("")
    own = tmp / "own"
    own.mkdir()
    (own / "a.toml").write_text("")
    (own / "b.toml").write_text("[tournament]\nwindow = '7d'\n")
    equity = tmp / "equity"
    equity.mkdir()
    (equity / "a.toml").write_text("")
    (equity / "b.toml").write_text("[paper]\nstarting_equity = 5000\n")
    (tmp / "x.json").write_text("{}")
    (tmp / "sum.toml").write_text("[tournament]\nweights = [0.5, 0.4]\n")
    (tmp / "count.toml").write_text("[tournament]\nweights = [0.5, 0.3, 0.2]\n")
    return {
        "empty": ["--tournament", str(tmp / "empty")],
        "mixed": ["--tournament", str(mixed)],
        "bad": ["--tournament", str(bad)],
        "one": ["--tournament", str(one)],
        "own": ["--tournament", str(own)],
        "equity": ["--tournament", str(equity)],
        "json": ["--tournament", str(tmp / "x.json")],
        "missing": ["--tournament", str(tmp / "nowhere")],
        "sum": ["--tournament", str(mixed / "a.toml"), "--tournament", str(mixed / "b.toml")],
        "count": ["--tournament", str(mixed / "a.toml"), "--tournament", str(mixed / "b.toml")],
        "export": ["--tournament", str(bad), "--export", str(tmp / "out")],
        "ablate": ["--tournament", str(bad), "--ablate", "macro"],
        "strategy": ["--tournament", str(bad), "--strategy", "reference"],
        "llm": [
            "--tournament",
            str(mixed / "a.toml"),
            "--tournament",
            str(mixed / "b.toml"),
            "--engine",
            "llm",
        ],
    }


BAD = {
    "empty": "Error: --tournament {tmp}/empty has no .toml file; put one configuration per file "
    "in it (e.g. fast.toml, slow.toml)",
    "mixed": "Error: --tournament {tmp}/mixed: {tmp}/mixed/notes.txt is not a .toml file; the "
    "directory must hold only the configurations (one .toml file each)",
    "bad": "Error: --tournament {tmp}/bad/b.toml: invalid configuration: risk.risk_per_trade "
    "(HMAS_RISK__RISK_PER_TRADE): Input should be less than or equal to 0.1",
    "one": "Error: a tournament needs at least 2 configurations, got 1 ({tmp}/one/a.toml); add "
    "another .toml file",
    "own": "Error: --tournament {tmp}/own/b.toml sets tournament, which is the command's, not one "
    "configuration's; move it to the main configuration (--config)",
    "equity": "Error: --tournament {tmp}/equity/b.toml starts its paper book with 5000 USD, "
    "{tmp}/equity/a.toml with 100000 USD; the books are ranked by P&L in money, so give every "
    "configuration the same [paper] starting_equity and account_currency",
    "json": "Error: --tournament {tmp}/x.json is not a .toml file; give a directory of .toml "
    "configurations or .toml files",
    "missing": "Error: --tournament {tmp}/nowhere: no such file or directory; give a directory "
    "of .toml configurations",
    "sum": "Error: invalid configuration: tournament.weights (HMAS_TOURNAMENT__WEIGHTS): must sum "
    "to 1, not 0.9; e.g. [0.4, 0.3, 0.2, 0.1]",
    "count": "Error: tournament.weights has 3 weights for 2 configurations; give one per "
    "configuration or remove tournament.weights (linear by rank)",
    "export": "Error: --tournament does not take --export; run them without it",
    "ablate": "Error: --tournament does not take --ablate; run them without it",
    "strategy": "Error: --tournament ranks configurations of the rules strategy; drop --strategy",
    "llm": "Error: --tournament {tmp}/mixed/a.toml runs the LLM engine; a tournament backtest "
    "runs the rules engine only (each entrant would call the models for every bar)",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_tournaments_exit_2_on_one_line_storing_nothing(
    db: tuple[list[str], Path], tmp_path: Path, case: str
) -> None:
    args, _ = db
    given = _bad_dirs(tmp_path)[case]
    config = ["--config", str(tmp_path / f"{case}.toml")] if case in ("sum", "count") else []
    before = _stored_runs(args)
    if case == "llm":  # a fresh store: nothing may be created for a refused command
        args = ["--db-url", f"sqlite:///{tmp_path / 'never.db'}"]
    code, out, err = invoke([*args, *config, "backtest", "-s", "BTC-USD", *given], terminal=False)
    assert code == 2
    assert out == ""
    assert err == BAD[case].format(tmp=tmp_path) + "\n"
    if case == "llm":
        assert not (tmp_path / "never.db").exists()
    else:
        assert _stored_runs(args) == before


def test_list_refuses_the_tournament_option(db: tuple[list[str], Path]) -> None:
    args, cfgs = db
    code, _, err = invoke([*args, "backtest", "list", "--tournament", str(cfgs)], terminal=False)
    assert code == 2
    assert err == "Error: hmas backtest list takes --limit and --json only, not --tournament\n"


def test_source_sample_from_a_clean_store(tmp_path: Path, loose: None) -> None:
    cfgs = Path(__file__).parents[2] / "examples" / "tournament"
    url = f"sqlite:///{tmp_path / 'clean.db'}"
    code, out, _ = invoke(
        [
            "--db-url",
            url,
            "backtest",
            "-s",
            "BTC-USD",
            "--source",
            "sample",
            "--tournament",
            str(cfgs),
            "--json",
        ],
        terminal=False,
    )
    assert code == 0
    data = json.loads(out)
    assert [m["name"] for m in data["members"]] == [
        "baseline",
        "cautious",
        "near_target",
        "wide_stop",
    ]
    assert data["tournament"]["weights"] == [0.4, 0.3, 0.2, 0.1]
    assert data["sample_data"] is True


@pytest.mark.shared
def test_the_real_btc_file(shared_data: Path, tmp_path: Path) -> None:
    cfgs = Path(__file__).parents[2] / "examples" / "tournament"
    url = f"sqlite:///{tmp_path / 'real.db'}"
    path = shared_data / "ohlcv" / "coinbase_btc_usd_1h.csv"
    code, out, err = invoke(
        [
            "--db-url",
            url,
            "backtest",
            "-s",
            "BTC-USD",
            "--source",
            "file",
            "--path",
            str(path),
            "--timerange",
            "20180101-20190101",
            "--tournament",
            str(cfgs),
            "--json",
        ],
        terminal=False,
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["bars"] == 8760 and data["sample_data"] is False
    assert len(data["members"]) == 4
    assert data["reranks"][0]["full_window"] is False
    assert any(r["full_window"] for r in data["reranks"])
