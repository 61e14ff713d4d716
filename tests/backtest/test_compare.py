"""Comparisons, ablation and walk-forward on the same candles (hmas.backtest.compare & co)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hmas.backtest.ablation import ablate, agents_of
from hmas.backtest.compare import Candidate, changed, compare, load_once
from hmas.backtest.data import Range
from hmas.backtest.run import BacktestRequest
from hmas.backtest.walkforward import bounds, walk_forward
from hmas.decision.history import compute_history
from hmas.errors import ConfigError, UsageError
from hmas.stats import difference_ci, paired_block_bootstrap
from tests.backtest.conftest import permissive

REQUEST = BacktestRequest(symbols=["BTC-USD", "ETH-USD"], timeframe="1h")


def test_a_config_against_itself_is_not_distinguishable(sample_engine: Any) -> None:
    s = permissive()
    result = compare(sample_engine, [Candidate("a", s), Candidate("b", s)], REQUEST, store=False)
    data = result.as_dict()
    a, b = (r["summary"] for r in data["runs"])
    assert a["trades"] > 0 and a == b
    test = data["paired_test"]
    assert test["mean"] == 0.0 and test["ci_low"] == 0.0 and test["ci_high"] == 0.0
    assert test["p_value"] == 1.0 and test["verdict"] == "not distinguishable from noise"


def test_configs_run_on_the_same_candles_and_are_ranked(sample_engine: Any) -> None:
    base = permissive()
    strict = changed(base, "mother", min_expected_value_r=100.0)  # approves nothing
    result = compare(sample_engine, [Candidate("strict", strict), Candidate("base", base)], REQUEST)
    data = result.as_dict()
    returns = [r["summary"]["total_return"] for r in data["runs"]]
    assert returns == sorted(returns, reverse=True) and returns[0] != returns[1]
    hashes = {r["label"]: r["config_hash"] for r in data["runs"]}
    assert hashes["strict"] != hashes["base"]
    assert all(r["id"] is not None for r in data["runs"])  # stored: backtest show ID
    assert {e.result.data_hash for e in result.entries} == {data["data_hash"]}
    strict_run = next(r for r in data["runs"] if r["label"] == "strict")
    assert strict_run["summary"]["trades"] == 0


def test_the_warm_up_is_the_longest_of_the_configurations(sample_engine: Any) -> None:
    short = permissive()
    long = changed(short, "rationale", base_rate_lookback="40d")
    one = load_once(sample_engine, [Candidate("s", short)], REQUEST)
    both = load_once(sample_engine, [Candidate("s", short), Candidate("l", long)], REQUEST)
    assert both[0].first == one[0].first
    assert both[0].warmup_bars >= one[0].warmup_bars


def test_ablating_an_agent_changes_its_config_hash_and_alpha_means_no_trade(
    sample_engine: Any,
) -> None:
    s = permissive()
    result = ablate(sample_engine, s, REQUEST, agents_of(["all"]), store=False).as_dict()
    rows = {r["agent"]: r for r in result["rows"]}
    base = result["baseline"]
    assert base["approvals"] > 0
    assert rows["alpha"]["approvals"] == 0
    assert rows["alpha"]["delta_approvals"] == -base["approvals"]
    assert rows["alpha"]["delta_expectancy_r"]["mean"] is None
    for name in ("execution", "rationale"):
        assert rows[name]["removed"] is False and "cannot be removed" in rows[name]["reason"]
    hashes = {r["config_hash"] for r in rows.values() if r["removed"]}
    assert len(hashes) == 4 and base["config_hash"] not in hashes
    # The votes do not move the probability (docs/agents.md): removing a voter keeps Brier.
    assert rows["technical"]["delta_brier"] == pytest.approx(0.0, abs=1e-12)


def test_a_voter_removed_has_no_vote(sample_engine: Any) -> None:
    s = changed(permissive(), "decision", ablate=["technical"])
    series = load_once(sample_engine, [Candidate("x", s)], REQUEST)
    history = compute_history(series[0].inputs, s, since=series[0].first)
    decided = history.decided
    assert decided is not None
    assert bool(decided["abstained_technical"].all())
    assert not bool(decided["voted_technical"].any())
    assert not bool(decided["flag_counter_trend"].any())


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (
            ["bogus"],
            "--ablate names unknown agent(s) bogus; agents that can be removed: "
            "alpha, technical, sentiment, macro",
        ),
        (["execution"], "--ablate: execution cannot be removed"),
        (["all", "macro"], "--ablate all removes every agent in turn: give it alone"),
    ],
)
def test_bad_ablate_names_are_refused(names: list[str], message: str) -> None:
    with pytest.raises((ConfigError, UsageError)) as err:
        agents_of(names)
    assert str(err.value).startswith(message)


def test_walk_forward_windows_are_checked(sample_engine: Any) -> None:
    s = permissive()
    series = load_once(sample_engine, [Candidate("x", s)], REQUEST)
    with pytest.raises(UsageError, match="at least 2 windows"):
        bounds(series, 1)
    with pytest.raises(UsageError, match="fewer than 100000 windows"):
        bounds(series, 100_000)
    cuts = bounds(series, 3)
    assert cuts[0][0] == series[0].first and cuts[-1][1] == series[0].last + 3_600_000
    assert all(a[1] == b[0] for a, b in itertools.pairwise(cuts))


def test_walk_forward_pools_its_windows(sample_engine: Any) -> None:
    s = permissive()
    data = walk_forward(sample_engine, s, REQUEST, 3, store=False).as_dict()
    windows, pooled = data["windows"], data["pooled"]
    assert len(windows) == 3
    assert pooled["trades"] == sum(w["trades"] for w in windows)
    assert pooled["approvals"] == sum(w["approvals"] for w in windows)
    chained = float(np.prod([1 + w["total_return"] for w in windows]) - 1)
    assert pooled["total_return"] == pytest.approx(chained, abs=1e-6)
    assert pooled["max_drawdown"] >= max(w["max_drawdown"] for w in windows) - 1e-9
    assert len({w["config_hash"] for w in windows}) == 3


def test_base_rates_are_frozen_inside_a_walk_forward_window(sample_engine: Any) -> None:
    s = permissive()
    series = load_once(sample_engine, [Candidate("x", s)], REQUEST)[0]
    index = pd.DatetimeIndex(series.inputs.candles.index)
    cutoff = index[len(index) * 2 // 3]
    frozen = changed(s, "rationale", base_rate_cutoff=cutoff.to_pydatetime())
    plain = compute_history(series.inputs, s, since=series.first)
    held = compute_history(series.inputs, frozen, since=series.first)
    rat, moving = held.frames["rationale"], plain.frames["rationale"]
    after = rat[(rat.index >= cutoff) & rat["action"].isin(["BUY", "SELL"])]
    assert len(after)
    keys = ["setup", "action", "base_rate_bucket"]
    assert (after.groupby(keys, dropna=False)["base_rate_trades"].nunique() == 1).all()
    # Before the cutoff nothing changes; after it, the moving base rate does change.
    before = rat.index < cutoff
    assert rat.loc[before, "base_rate_trades"].equals(moving.loc[before, "base_rate_trades"])
    assert not rat.loc[~before, "base_rate_trades"].equals(moving.loc[~before, "base_rate_trades"])


def test_a_frozen_decision_is_the_live_one(sample_engine: Any) -> None:
    from hmas.backtest.lookahead import check
    from hmas.backtest.run import run_backtest

    s = permissive()
    series = load_once(sample_engine, [Candidate("x", s)], REQUEST)[0]
    middle = int(pd.DatetimeIndex(series.inputs.candles.index)[-400].timestamp() * 1000)
    frozen = changed(s, "rationale", base_rate_cutoff=datetime.fromtimestamp(middle / 1000, tz=UTC))
    request = BacktestRequest(["BTC-USD", "ETH-USD"], "1h", Range(start=middle))
    result = run_backtest(sample_engine, frozen, request, store=False)
    assert check(result, frozen, sample=20)["ok"]


def test_the_default_config_hash_has_no_new_keys() -> None:
    s = permissive()
    config = s.decision_config()
    assert "ablate" not in config["decision"]
    assert "base_rate_cutoff" not in config["rationale"]
    assert changed(s, "decision", ablate=["Macro"]).decision.ablate == ["macro"]


def test_paired_block_bootstrap() -> None:
    rng = np.random.default_rng(1)
    zero = paired_block_bootstrap(np.zeros(40))
    assert (zero.mean, zero.low, zero.high, zero.p_value) == (0.0, 0.0, 0.0, 1.0)
    shifted = paired_block_bootstrap(rng.normal(0.5, 1.0, 400))
    assert shifted.distinguishable and shifted.p_value is not None and shifted.p_value < 0.01
    noise = paired_block_bootstrap(rng.normal(0.0, 1.0, 400))
    assert noise.low is not None and noise.low < 0 < (noise.high or 0)
    assert paired_block_bootstrap([1.0]).distinguishable is None


def test_difference_ci() -> None:
    d = difference_ci([1.0, 2.0, 3.0], [0.0, 1.0])
    assert d.mean == pytest.approx(1.5) and d.low is not None and d.low <= 1.5 <= (d.high or 0)
    assert difference_ci([], [1.0]).mean is None
