"""Rationale agent: setup outcomes by the position rules, the causal base rate, the journal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import Field

from hmas.agents import rationale
from hmas.agents.base import AgentContext, AgentView
from hmas.settings import Settings
from tests.agents.frames import hourly_index, shared_btc_candles


def ctx(horizon: int = 48) -> AgentContext:
    """A BTC-USD 1h context with ``horizon`` bars before a setup expires."""
    return AgentContext(
        settings=Settings(risk={"expiry": f"{horizon}h"}),
        symbol="BTC-USD",
        exchange="coinbase",
        timeframe="1h",
    )


def path(high: list[float], low: list[float], close: float = 100.0) -> pd.DataFrame:
    """Candles with the given highs and lows around a flat close."""
    n = len(high)
    return pd.DataFrame(
        {
            "open": np.full(n, close),
            "high": np.asarray(high, dtype=float),
            "low": np.asarray(low, dtype=float),
            "close": np.full(n, close),
            "volume": np.full(n, 10.0),
        },
        index=hourly_index(n),
    )


def plan(
    n: int, trades: dict[int, tuple[str, float, float]], setup: str = "mean_reversion"
) -> pd.DataFrame:
    """Alpha's output: ``{bar: (action, stop, target)}``, HOLD elsewhere, entry at 100."""
    action = np.full(n, "HOLD", dtype=object)
    stop, target, entry = (np.full(n, np.nan) for _ in range(3))
    kinds = np.full(n, None, dtype=object)
    for bar, (side, s, t) in trades.items():
        action[bar], stop[bar], target[bar], entry[bar], kinds[bar] = side, s, t, 100.0, setup
    return pd.DataFrame(
        {
            "action": action,
            "confidence": np.where(action == "HOLD", 0.0, 0.6),
            "entry": entry,
            "stop": stop,
            "target": target,
            "reward_risk": np.where(action == "HOLD", np.nan, 2.0),
            "setup": kinds,
            "abstained": np.zeros(n, dtype=bool),
            "abstain_reason": np.full(n, None, dtype=object),
        },
        index=hourly_index(n),
    )


FLAT_HIGH, FLAT_LOW = 101.0, 99.0


def one_win_one_loss() -> tuple[pd.DataFrame, pd.DataFrame]:
    """BUY at bar 0 wins at bar 2 (high 111); BUY at bar 3 loses at bar 5 (low 94).

    The other BUYs (bars 1, 2, 4, 5, 8) and the SELL (bar 9) ask for the base rate with stops
    and targets so wide that they never resolve within the path.
    """
    high = [FLAT_HIGH] * 10
    low = [FLAT_LOW] * 10
    high[2] = 111.0
    low[5] = 94.0
    buy, wide = ("BUY", 95.0, 110.0), ("BUY", 50.0, 200.0)
    trades = {0: buy, 3: buy, 1: wide, 2: wide, 4: wide, 5: wide, 8: wide}
    trades[9] = ("SELL", 200.0, 50.0)
    return path(high, low), plan(10, trades)


# --- outcomes ----------------------------------------------------------------------------


def test_one_setup_wins_and_one_loses() -> None:
    features, alpha = one_win_one_loss()
    out = rationale.run_rules(features, ctx().with_upstream(alpha=alpha))
    row = out.iloc[8]
    assert (row["base_rate_trades"], row["base_rate_wins"], row["base_rate_losses"]) == (2, 1, 1)
    assert row["base_rate"] == pytest.approx(0.5)
    view = rationale.view_at(out, 8)
    assert (view.base_rate, view.base_rate_trades, view.base_rate_wins) == (0.5, 2, 1)
    # Filled at the next open (100): the win exits at its target 110 (+10 / 5 = +2R), the loss
    # at its stop 95 (-1R); no expiry, so its mean payoff is unknown (null, never NaN).
    assert (view.base_rate_win_r, view.base_rate_loss_r, view.base_rate_expired_r) == (
        2.0,
        -1.0,
        None,
    )
    assert (view.base_rate_losses, view.base_rate_expired, view.base_rate_bucket) == (1, 0, "<3R")


def test_only_setups_resolved_by_the_bar_count() -> None:
    features, alpha = one_win_one_loss()
    out = rationale.run_rules(features, ctx().with_upstream(alpha=alpha))
    counts = out[["base_rate_trades", "base_rate_wins", "base_rate_losses"]].to_numpy()
    assert counts[1].tolist() == [0, 0, 0]  # bar 0's win is known only at bar 2
    assert counts[2].tolist() == [1, 1, 0]  # resolved on this very bar: it counts
    assert counts[4].tolist() == [1, 1, 0]  # bar 3's loss is known only at bar 5
    assert counts[5].tolist() == [2, 1, 1]
    assert out["base_rate"].iloc[4] == 1.0


def test_directions_and_setups_are_separate_groups() -> None:
    features, alpha = one_win_one_loss()
    out = rationale.run_rules(features, ctx().with_upstream(alpha=alpha))
    assert out["base_rate_trades"].iloc[9] == 0  # the first SELL: no SELL history
    assert np.isnan(out["base_rate"].iloc[9])
    alpha.loc[alpha.index[8], "setup"] = "trend_following"
    out = rationale.run_rules(features, ctx().with_upstream(alpha=alpha))
    assert out["base_rate_trades"].iloc[8] == 0


def test_hold_bars_carry_no_base_rate() -> None:
    features, alpha = one_win_one_loss()
    out = rationale.run_rules(features, ctx().with_upstream(alpha=alpha))
    holds = (alpha["action"] == "HOLD").to_numpy()
    assert (out["base_rate_trades"].to_numpy()[holds] == 0).all()
    assert out["base_rate"][holds].isna().all()


def test_stop_counts_first_when_both_are_inside_one_bar() -> None:
    # The BUY at bar 0 fills at bar 1's open (100); bar 1 reaches both 95 and 110.
    features = path([FLAT_HIGH, 120.0, FLAT_HIGH], [FLAT_LOW, 80.0, FLAT_LOW])
    alpha = plan(3, {0: ("BUY", 95.0, 110.0), 2: ("BUY", 95.0, 110.0)})
    out = rationale.run_rules(features, ctx(horizon=5).with_upstream(alpha=alpha))
    row = out.iloc[2]
    assert (row["base_rate_trades"], row["base_rate_losses"], row["base_rate_wins"]) == (1, 1, 0)


def test_expiry_counts_as_a_trade_but_not_a_win() -> None:
    n = 8
    features = path([FLAT_HIGH] * n, [FLAT_LOW] * n)
    alpha = plan(n, {0: ("BUY", 95.0, 110.0), 6: ("BUY", 95.0, 110.0)})
    out = rationale.run_rules(features, ctx(horizon=3).with_upstream(alpha=alpha))
    # Bar 0's setup expires at bar 3 untouched; bar 6 sees it.
    assert out["base_rate_trades"].iloc[6] == 1
    assert out["base_rate_expired"].iloc[6] == 1
    assert out["base_rate"].iloc[6] == 0.0


def test_short_setups_mirror_the_long_rules() -> None:
    # SELLs at bars 0 and 1 (stop 105, target 90): bar 1's low 89 wins the first, bar 2's
    # high 106 stops the second; bar 3 asks.
    features = path([101.0, 101.0, 106.0, 101.0], [99.0, 89.0, 99.0, 99.0])
    trades = {bar: ("SELL", 105.0, 90.0) for bar in (0, 1, 3)}
    out = rationale.run_rules(features, ctx(horizon=10).with_upstream(alpha=plan(4, trades)))
    counts = out[["base_rate_trades", "base_rate_wins", "base_rate_losses"]].to_numpy()
    assert counts[1].tolist() == [1, 1, 0]
    assert counts[3].tolist() == [2, 1, 1]


def test_a_setup_fills_at_the_next_open_and_gaps_exit_there() -> None:
    # BUY at bar 0 (close 100, stop 95, target 110); bar 1 opens at 90, below the stop: the
    # paper position is stopped at that open, a loss on bar 1 (as the book would book it).
    # BUY at bar 2: bar 3 is missing (NaN), so it neither fills nor counts toward the horizon
    # of 2: the setup fills at bar 4's open, expires at bar 5's close and counts from bar 5
    # (the close-entry simulator this replaced counted the NaN bar and expired it at bar 4).
    features = path([101.0, 91.0, 101.0, np.nan, 101.0, 101.0, 101.0], [99.0, 89.0] + [99.0] * 5)
    features.loc[features.index[1], ["open", "close"]] = 90.0
    features.loc[features.index[3], ["open", "close"]] = np.nan
    alpha = plan(7, {bar: ("BUY", 95.0, 110.0) for bar in (0, 2, 4, 5)})
    out = rationale.run_rules(features, ctx(horizon=2).with_upstream(alpha=alpha))
    counts = out[["base_rate_trades", "base_rate_losses", "base_rate_expired"]].to_numpy()
    assert counts[2].tolist() == [1, 1, 0]
    assert counts[4].tolist() == [1, 1, 0]  # bar 2's setup has held one usable bar so far
    assert counts[5].tolist() == [2, 1, 1]


def test_reward_risk_buckets_are_separate_groups() -> None:
    # Two BUYs at 2R win; the BUY at bar 8 asks at 2R (<3R: both count), at 3R exactly (3-4R:
    # none count; a 3R target is not pushed below the edge by the last bit) and at 7R (>=6R).
    features, alpha = one_win_one_loss()
    for target, trades, bucket in ((110.0, 2, "<3R"), (115.0, 0, "3-4R"), (135.0, 0, ">=6R")):
        alpha.loc[alpha.index[8], ["stop", "target"]] = (95.0, target)
        out = rationale.run_rules(features, ctx().with_upstream(alpha=alpha))
        assert (out["base_rate_trades"].iloc[8], out["base_rate_bucket"].iloc[8]) == (
            trades,
            bucket,
        )


def test_bucket_edges_are_a_setting() -> None:
    features, alpha = one_win_one_loss()
    settings = Settings(rationale={"reward_risk_buckets": [1.5]})
    context = AgentContext(settings=settings, symbol="BTC-USD", exchange="x", timeframe="1h")
    out = rationale.run_rules(features, context.with_upstream(alpha=alpha))
    assert out["base_rate_bucket"].iloc[8] == ">=1.5R"
    assert out["base_rate_bucket"].iloc[9] == "<1.5R"  # the SELL at 200/50 is 1R
    assert rationale.bucket_labels(()) == ["any R"]
    assert rationale.bucket_labels((3.0, 4.0, 6.0)) == ["<3R", "3-4R", "4-6R", ">=6R"]


def test_payoffs_are_what_the_positions_paid() -> None:
    # BUY at bar 0 (close 100, stop 95, target 110) expires after 3 bars at bar 3's close 102:
    # +2 / 5 = +0.4R. BUY at bar 4: bar 5 opens at 100 and bar 6 opens at 90, beyond the
    # stop: it exits at that open, -10 / 5 = -2R (a gap costs more than the planned 1R).
    features = path([FLAT_HIGH] * 9, [FLAT_LOW] * 9)
    features.loc[features.index[3], ["close", "high"]] = (102.0, 102.5)
    features.loc[features.index[6], ["open", "low", "close"]] = (90.0, 89.0, 92.0)
    alpha = plan(9, {0: ("BUY", 95.0, 110.0), 4: ("BUY", 95.0, 110.0), 8: ("BUY", 95.0, 110.0)})
    out = rationale.run_rules(features, ctx(horizon=3).with_upstream(alpha=alpha))
    row = out.iloc[8]
    assert (row["base_rate_trades"], row["base_rate_expired"], row["base_rate_losses"]) == (2, 1, 1)
    assert row["base_rate_expired_r"] == pytest.approx(0.4)
    assert row["base_rate_loss_r"] == pytest.approx(-2.0)
    assert np.isnan(row["base_rate_win_r"])
    view = rationale.view_at(out, 8)
    assert view.base_rate_win_r is None
    assert view.base_rate_expired_r == pytest.approx(0.4)


def test_payoffs_leave_the_lookback_with_their_setups() -> None:
    # Integer sums: a payoff that leaves the lookback leaves nothing behind, so the mean of
    # the remaining ones is exact.
    features, alpha = one_win_one_loss()
    out = rationale.run_rules(
        features,
        AgentContext(
            settings=Settings(rationale={"base_rate_lookback": "6h"}),
            symbol="BTC-USD",
            exchange="x",
            timeframe="1h",
        ).with_upstream(alpha=alpha),
    )
    # At bar 8 the win opened at bar 0 is 8 hours old: only bar 3's loss (5 hours) counts.
    row = out.iloc[8]
    assert (row["base_rate_trades"], row["base_rate_wins"]) == (1, 0)
    assert np.isnan(row["base_rate_win_r"])
    assert row["base_rate_loss_r"] == -1.0


# --- causality ---------------------------------------------------------------------------


def random_alpha(features: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Random proposals of two setups in both directions on about a fifth of the bars."""
    rng = np.random.default_rng(seed)
    n = len(features)
    close = features["close"].to_numpy()
    side = rng.choice([0, 1, -1], size=n, p=[0.8, 0.1, 0.1])
    trade = side != 0
    return pd.DataFrame(
        {
            "action": np.select([side > 0, side < 0], ["BUY", "SELL"], "HOLD"),
            "confidence": np.where(trade, 0.5, 0.0),
            "entry": np.where(trade, close, np.nan),
            "stop": np.where(trade, close * (1 - side * rng.uniform(0.002, 0.02, n)), np.nan),
            "target": np.where(trade, close * (1 + side * rng.uniform(0.005, 0.05, n)), np.nan),
            "reward_risk": np.where(trade, 2.5, np.nan),
            "setup": np.where(
                trade, rng.choice(["mean_reversion", "trend_following"], size=n), None
            ),
            "abstained": rng.random(n) < 0.02,
        },
        index=features.index,
    )


def test_cut_property_on_real_btc_with_real_alpha(shared_data: Path) -> None:
    from hmas.agents import alpha as alpha_agent
    from hmas.indicators.features import compute_features

    features = compute_features(shared_btc_candles())
    context = ctx()
    proposed = alpha_agent.run_rules(features, context)
    full = rationale.run_rules(features, context.with_upstream(alpha=proposed))
    # Groups split by reward/risk bucket: up to 20 setups of one group in 30 days.
    assert full["base_rate_trades"].max() >= 15
    assert full["base_rate_win_r"].notna().sum() > 100
    rng = np.random.default_rng(1)
    for cut in rng.integers(300, len(features), 5):
        part = rationale.run_rules(
            features.iloc[:cut], context.with_upstream(alpha=proposed.iloc[:cut])
        )
        pd.testing.assert_frame_equal(part, full.iloc[:cut])


# --- the journal -------------------------------------------------------------------------


class FakeView(AgentView):
    """A stand-in for an agent view the rationale does not know."""

    agent: str = "technical"
    bias: str = "bearish"
    confidence: float | None = None
    patterns: list[str] = Field(default_factory=list)


def journal_views() -> dict[str, Any]:
    """Views as the pipeline hands them over: models and plain dicts."""
    return {
        "technical": FakeView(),
        "macro": {
            "agent": "macro",
            "regime": "risk_off",
            "tailwind": "short",
            "volatility_regime": "high",
            "volatility_percentile": 0.93,
            "correlation_btc": None,
            "notes": ["benchmark close below its 200-bar SMA: risk-off"],
        },
        "sentiment": {"agent": "sentiment", "abstained": True, "abstain_reason": "timeout"},
        "execution": {
            "agent": "execution",
            "fee_bps": 20.0,
            "spread_bps": 3.5,
            "slippage_bps": None,
            "total_cost_bps": 30.1,
            "total_cost_r": 0.12,
            "cost_to_target": 0.05,
            "liquidity_grade": "A",
            "verdict": "PASS",
            "reasons": [],
        },
    }


def test_journal_has_the_fixed_sections_in_order() -> None:
    features, alpha = one_win_one_loss()
    out = rationale.run_rules(features, ctx().with_upstream(alpha=alpha))
    view = rationale.view_at(out, 8, journal_views())
    headings = [line for line in view.journal.splitlines() if line.startswith("## ")]
    assert headings == [f"## {name}" for name in rationale.SECTIONS]
    assert view.word_count == len(view.journal.split())
    text = view.journal
    assert "- Alpha proposes BUY (mean_reversion), confidence 0.6" in text
    assert "- **technical**: bias bearish; confidence n/a; patterns none" in text
    assert "- **sentiment**: abstained (timeout)" in text
    assert "  - notes: benchmark close below its 200-bar SMA: risk-off\n" in text
    assert "- sentiment abstained: timeout" in text
    assert "- macro tailwind is short, against this BUY" in text
    assert "- technical bias is bearish, against this BUY" in text
    assert "- macro: volatility regime high (percentile 0.93)" in text
    assert "slippage n/a bps" in text
    assert "liquidity grade A; verdict PASS" in text
    assert (
        "- earlier mean_reversion BUY setups of reward/risk <3R on this symbol, opened in the "
        "last 30d and resolved by this bar: 2 (1 wins, 1 losses, 0 expired after 48 bars)"
    ) in text
    assert "- base rate 50.0% (target first; an expiry counts as a trade, not a win)" in text
    assert (
        "- mean payoff before costs, in R of the planned risk: wins +2R, losses -1R, expiries n/a"
    ) in text
    assert "- BUY at 100, stop 50, target 200, reward/risk 2" in text
    assert "Bar 2024-03-01T08:00:00+00:00 of BTC-USD (coinbase, 1h)" in text


def test_journal_is_deterministic_and_takes_models_or_dicts() -> None:
    features, alpha = one_win_one_loss()
    out = rationale.run_rules(features, ctx().with_upstream(alpha=alpha))
    views = journal_views()
    first = rationale.view_at(out, 8, views)
    as_dicts = {k: v.model_dump() if isinstance(v, AgentView) else v for k, v in views.items()}
    assert rationale.view_at(out, 8, as_dicts) == first
    assert rationale.view_at(out, 8, dict(reversed(views.items()))) == first


def test_journal_of_a_hold_and_without_views() -> None:
    features, alpha = one_win_one_loss()
    out = rationale.run_rules(features, ctx().with_upstream(alpha=alpha))
    view = rationale.view_at(out, 6)
    assert view.base_rate is None and view.base_rate_trades == 0
    assert "- Alpha proposes HOLD (n/a), confidence 0" in view.journal
    assert "- no other agent views given" in view.journal
    assert "- execution auditor: n/a" in view.journal
    assert "## Plan\n- no trade" in view.journal


def test_journal_mentions_an_abstaining_alpha() -> None:
    features, alpha = one_win_one_loss()
    alpha.loc[alpha.index[8], ["abstained", "abstain_reason"]] = [True, "data quality: x"]
    out = rationale.run_rules(features, ctx().with_upstream(alpha=alpha))
    view = rationale.view_at(out, 8)
    assert "- Alpha abstained: data quality: x" in view.journal
    assert view.base_rate_trades == 0


# --- hostile input -----------------------------------------------------------------------


def hostile() -> dict[str, pd.DataFrame]:
    """Feature frames no agent should raise on."""
    base, _ = one_win_one_loss()
    nan = base.copy()
    nan.loc[:, :] = np.nan
    zeros = base.copy()
    zeros.loc[:, :] = 0.0
    mixed = base.copy()
    mixed.iloc[::3, :] = np.nan
    mixed.iloc[1, 3] = -1.0
    return {
        "empty": base.iloc[:0],
        "one row": base.iloc[:1],
        "all NaN": nan,
        "zeros": zeros,
        "mixed": mixed,
        "no high": base.drop(columns=["high"]),
    }


@pytest.mark.parametrize("name", list(hostile()))
@pytest.mark.parametrize("alpha_kind", ["trades", "none", "no columns", "junk"])
def test_hostile_input_never_raises(name: str, alpha_kind: str) -> None:
    features = hostile()[name]
    _, good = one_win_one_loss()
    junk = good.iloc[: len(features)].copy()
    junk["stop"] = junk["stop"].astype(object)
    if len(junk):
        junk.iloc[0, junk.columns.get_loc("stop")] = "x"
        junk.iloc[-1, junk.columns.get_loc("action")] = None
    alpha: Any = {
        "trades": good.iloc[: len(features)],
        "none": None,
        "no columns": pd.DataFrame(index=features.index),
        "junk": junk,
    }[alpha_kind]
    out = rationale.run_rules(features, ctx().with_upstream(alpha=alpha))
    assert len(out) == len(features)
    assert not np.isinf(out.select_dtypes("number").to_numpy(dtype=float)).any()
    for i in range(len(out)):
        view = rationale.view_at(out, i, {"macro": {"agent": "macro", "tailwind": None}})
        assert [line for line in view.journal.splitlines() if line.startswith("## ")] == [
            f"## {s}" for s in rationale.SECTIONS
        ]
        if view.abstained:
            assert view.abstain_reason is not None
            assert view.abstain_reason.startswith("data quality: ")


def test_risk_flags_of_other_views_are_listed() -> None:
    features, alpha = one_win_one_loss()
    out = rationale.run_rules(features, ctx().with_upstream(alpha=alpha))
    views = {
        "mother": {"agent": "mother", "risk_flags": ["daily loss near limit", "thin book"]},
        "guard": {"agent": "guard", "risks": "one text, not a list"},
    }
    journal = rationale.view_at(out, 8, views).journal
    assert "- mother: daily loss near limit\n- mother: thin book" in journal
    assert "- guard: one text, not a list" in journal
    assert "- none flagged" not in journal
