"""``hmas run --tournament DIR``: one paper book per configuration, standings, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_output_formats import invoke

EXAMPLES = Path(__file__).parents[2] / "examples" / "tournament"
NAMES = ["baseline", "cautious", "near_target", "wide_stop"]


def _lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


def test_run_once_twice_on_the_sample_market(tmp_path: Path) -> None:
    db = ["--db-url", f"sqlite:///{tmp_path / 'live.db'}"]
    args = [*db, "run", "-s", "BTC-USD", "--source", "sample", "--once"]
    code, out, _ = invoke([*args, "--tournament", str(EXAMPLES), "--json"], terminal=False)
    assert code == 0
    first = _lines(out)
    decided, last = first[:-1], first[-1]
    assert [d["book"] for d in decided] == [f"rules@{n}" for n in NAMES]
    assert all(d["symbol"] == "BTC-USD" and d["status"] == "ok" for d in decided)
    assert all(d["created"] is True for d in decided)
    assert len({d["signal_id"] for d in decided}) == 4
    assert list(last) == ["standings"]
    table = last["standings"]
    assert isinstance(table, dict)
    assert [m["name"] for m in table["members"]] == NAMES
    assert [m["book"] for m in table["members"]] == [f"rules@{n}" for n in NAMES]
    assert table["tournament"]["weights"] == [0.4, 0.3, 0.2, 0.1]
    assert sum(m["weight"] for m in table["members"]) == pytest.approx(1.0)
    # The same bar again: no new decision, the same standings.
    code, out, _ = invoke([*args, "--tournament", str(EXAMPLES), "--json"], terminal=False)
    assert code == 0
    second = _lines(out)
    assert [d["created"] for d in second[:-1]] == [False] * 4
    assert [d["signal_id"] for d in second[:-1]] == [d["signal_id"] for d in decided]
    assert second[-1] == last
    # The table view: each book's line and the standings.
    code, out, _ = invoke([*args, "--tournament", str(EXAMPLES)], terminal=False)
    assert code == 0
    assert "BTC-USD rules@baseline" in out and "Tournament standings" in out
    for name in NAMES:
        assert f"rules@{name}" in out
    # A plain run keeps the engine's own book (and its JSON has no "book").
    code, out, _ = invoke([*args, "--json"], terminal=False)
    assert code == 0
    (plain,) = _lines(out)
    assert "book" not in plain and plain["created"] is True


@pytest.mark.parametrize(
    ("files", "config", "message"),
    [
        (
            {},
            None,
            "Error: --tournament {d} has no .toml file; put one configuration per file in "
            "it (e.g. fast.toml, slow.toml)",
        ),
        (
            {"a.toml": ""},
            None,
            "Error: a tournament needs at least 2 configurations, got 1 "
            "({d}/a.toml); add another .toml file",
        ),
        (
            {"a.toml": "", "b.yaml": ""},
            None,
            "Error: --tournament {d}: {d}/b.yaml is not a .toml "
            "file; the directory must hold only the configurations (one .toml file each)",
        ),
        (
            {"a.toml": "", "b.toml": "[alpha]\nstop_atr = -1\n"},
            None,
            "Error: --tournament {d}/b.toml: invalid configuration: alpha.stop_atr "
            "(HMAS_ALPHA__STOP_ATR): Input should be greater than 0",
        ),
        (
            {"a.toml": "", "b.toml": ""},
            "[tournament]\nweights = [0.6, 0.3, 0.1]\n",
            "Error: "
            "tournament.weights has 3 weights for 2 configurations; give one per configuration or "
            "remove tournament.weights (linear by rank)",
        ),
        (
            {"a.toml": "", "b.toml": ""},
            "[tournament]\nweights = [0.6, 0.6]\n",
            "Error: invalid "
            "configuration: tournament.weights (HMAS_TOURNAMENT__WEIGHTS): must sum to 1, not 1.2; "
            "e.g. [0.4, 0.3, 0.2, 0.1]",
        ),
        (
            {"a.toml": "", "b.toml": ""},
            '[tournament]\nrerank = "soon"\n',
            "Error: invalid "
            "configuration: tournament.rerank (HMAS_TOURNAMENT__RERANK): expected a "
            "duration such as 30d, 12h, 2w or 90m (a whole number and one of m, h, d, w), got "
            "'soon'",
        ),
    ],
)
def test_bad_tournaments_exit_2_before_the_store_is_touched(
    tmp_path: Path, files: dict[str, str], config: str | None, message: str
) -> None:
    cfgs = tmp_path / "cfgs"
    cfgs.mkdir()
    for name, text in files.items():
        (cfgs / name).write_text(text)
    root = []
    if config is not None:
        (tmp_path / "main.toml").write_text(config)
        root = ["--config", str(tmp_path / "main.toml")]
    store = tmp_path / "live.db"
    code, out, err = invoke(
        [
            *root,
            "--db-url",
            f"sqlite:///{store}",
            "run",
            "-s",
            "BTC-USD",
            "--source",
            "sample",
            "--once",
            "--tournament",
            str(cfgs),
        ],
        terminal=False,
    )
    assert code == 2 and out == ""
    assert err == message.format(d=cfgs) + "\n"
    assert not store.exists()
