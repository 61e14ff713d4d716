"""The mother: both consensus policies, votes and flags as columns, rounds rendered from them."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from hmas.decision import mother
from hmas.settings import Settings

LONG = {
    "action": "BUY",
    "setup": "mean_reversion",
    "entry": 100.0,
    "stop": 95.0,
    "target": 115.0,
    "confidence": 0.8,
}
#: 20 earlier setups of the group: 12 wins paying +3R on average, 6 losses at -1R, 2 expiries
#: at +0.5R (before costs); the sum is 36 - 6 + 1 = 31R.
HISTORY = {
    "base_rate_trades": 20,
    "base_rate_wins": 12,
    "base_rate_losses": 6,
    "base_rate_expired": 2,
    "base_rate_win_r": 3.0,
    "base_rate_loss_r": -1.0,
    "base_rate_expired_r": 0.5,
    "base_rate_bucket": "3-4R",
}


def frames(**views: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
    """One-bar agent outputs: alpha long with three voters that agree unless told otherwise."""
    base: dict[str, dict[str, Any]] = {
        "alpha": {"abstained": False, **LONG},
        "technical": {"abstained": False, "bias": "bullish", "confidence": 0.9, "trend": "up"},
        "sentiment": {
            "abstained": False,
            "bias": "bullish",
            "recommended_stance": "follow",
            "contrarian_bias": "neutral",
            "score": 60.0,
        },
        "macro": {"abstained": False, "tailwind": "long", "regime": "risk_on"},
        "execution": {
            "abstained": False,
            "verdict": "PASS",
            "total_cost_r": 0.05,
            "fee_bps": 20.0,
            "spread_bps": 4.0,
            "slippage_bps": 1.0,
        },
        "rationale": {"abstained": False, **HISTORY},
    }
    base.update(views)
    return {name: {k: [v] for k, v in view.items()} for name, view in base.items()}


def decide(settings: Settings, **views: dict[str, Any]) -> dict[str, Any]:
    out = mother.run_rules(frames(**views), settings, 100_000.0)
    return {str(k): v for k, v in out.iloc[0].items()}


def loose(policy: str, **mother_params: Any) -> Settings:
    return Settings(
        mother={
            "consensus_policy": policy,
            "min_expected_value_r": -10.0,
            "min_confidence": 0.0,
            **mother_params,
        }
    )


def test_weighted_policy_approves_agreement_and_rejects_below_the_consensus() -> None:
    settings = loose("weighted", min_consensus=0.6)
    row = decide(settings)
    assert row["approved"] and row["consensus"] == pytest.approx(1.0)
    split = decide(
        settings,
        technical={"abstained": False, "bias": "bearish", "confidence": 0.9, "trend": "up"},
        macro={"abstained": False, "tailwind": "short", "regime": "risk_off"},
    )
    assert not split["approved"] and split["reasons"] & mother.LOW_CONSENSUS
    view = mother.render(split, {}, settings)
    assert "consensus" in (view.rejection_reason or "")
    assert view.rounds["gather"]["conflicts"] == ["technical", "macro"]
    check = view.rounds["decide"]["checks"][3]
    assert check["rule"] == "consensus (weighted)" and check["passed"] is False


def test_supermajority_counts_only_confident_votes() -> None:
    settings = loose("supermajority", supermajority_share=0.5, supermajority_confidence=0.7)
    # technical (0.9) is confident; sentiment (0.6) and macro (its weight) are not; alpha
    # (0.8) proposes and does not vote.
    row = decide(settings)
    assert not row["approved"] and row["reasons"] & mother.LOW_CONSENSUS
    assert row["super_share"] == pytest.approx(1 / 3) and row["voters"] == 3
    view = mother.render(row, {}, settings)
    assert (view.rejection_reason or "").startswith("supermajority not reached (0.33 < 0.5")
    assert view.rounds["decide"]["policy"] == "supermajority"
    eased = loose("supermajority", supermajority_share=1 / 3, supermajority_confidence=0.7)
    assert decide(eased)["approved"]
    # The weighted policy approves the same bar: the policies differ.
    assert decide(loose("weighted", min_consensus=0.6))["approved"]


def test_the_proposer_does_not_vote_for_its_own_proposal() -> None:
    settings = loose("weighted", min_consensus=0.6)
    against = {
        "technical": {"abstained": False, "bias": "bearish", "confidence": 0.9, "trend": "down"},
        "sentiment": {
            "abstained": False,
            "bias": "bearish",
            "recommended_stance": "follow",
            "contrarian_bias": "neutral",
            "score": 30.0,
        },
        "macro": {"abstained": False, "tailwind": "short", "regime": "risk_off"},
    }
    # Every voter against a confident proposal: no support at all (alpha's own vote once
    # counted 0.8 of 2.9 for it).
    row = decide(settings, alpha={"abstained": False, **LONG, "confidence": 1.0}, **against)
    assert row["consensus"] == 0.0 and row["voters"] == 3
    assert not row["approved"] and row["reasons"] & mother.LOW_CONSENSUS
    assert "vote_alpha" not in row and "voted_alpha" not in row
    for policy in ("weighted", "supermajority"):
        assert decide(loose(policy), **against)["super_share"] == 0.0
    # The rounds name the proposal apart from the votes.
    gather = mother.render(row, {}, settings).rounds["gather"]
    assert gather["proposal"] == {"agent": "alpha", "side": "long"}
    assert [v["agent"] for v in gather["votes"]] == ["technical", "sentiment", "macro"]
    assert gather["conflicts"] == ["technical", "sentiment", "macro"]


def test_macro_without_a_read_of_the_market_casts_no_vote() -> None:
    unknown = {"abstained": False, "tailwind": "none", "regime": "unknown"}
    row = decide(loose("weighted", min_consensus=0.6), macro=unknown)
    # technical and sentiment agree: full consensus among the two that vote.
    assert row["consensus"] == pytest.approx(1.0) and row["voters"] == 2
    assert not row["voted_macro"] and not row["abstained_macro"] and row["vote_macro"] == 0
    assert row["voted_technical"] and row["voted_sentiment"]
    neutral = decide(
        loose("weighted"), macro={"abstained": False, "tailwind": "none", "regime": "neutral"}
    )
    assert neutral["consensus"] < 1.0 and neutral["voters"] == 3  # a split market is a vote
    views = {"macro": {**unknown, "notes": ["no market data beyond the symbol: regime unknown"]}}
    votes = mother.render(row, views, Settings()).rounds["gather"]["votes"]
    assert votes[2] == {
        "agent": "macro",
        "abstained": False,
        "view": "no vote: no market data beyond the symbol: regime unknown",
    }
    # Under the supermajority policy the silent voter does not dilute the share either.
    strict = loose("supermajority", supermajority_share=0.5, supermajority_confidence=0.7)
    assert decide(strict, macro=unknown)["super_share"] == pytest.approx(1 / 2)


def test_votes_and_flags_are_columns_the_rounds_are_rendered_from() -> None:
    settings = loose("weighted", min_consensus=0.0)
    row = decide(
        settings,
        technical={"abstained": True, "abstain_reason": "warming up"},
        execution={"abstained": False, "verdict": "FAIL", "total_cost_r": 2.0},
        macro={"abstained": False, "tailwind": "short", "regime": "risk_off"},
    )
    assert row["abstained_technical"] and row["vote_technical"] == 0
    assert row["vote_macro"] == -1 and not row["abstained_alpha"]
    assert row["flag_execution_fail"] and row["flag_macro_headwind"]
    assert row["high_flags"] == 1 and row["medium_flags"] == 1
    views = {
        "technical": {"abstained": True, "abstain_reason": "warming up"},
        "execution": {"verdict": "FAIL", "reasons": ["too dear"]},
    }
    gather = mother.render(row, views, settings).rounds["gather"]
    assert gather["votes"][0] == {
        "agent": "technical",
        "abstained": True,
        "view": "abstained: warming up",
    }
    assert [f["flag"] for f in gather["risk_flags"]] == ["execution_fail", "macro_headwind"]
    assert gather["risk_flags"][0]["detail"] == "too dear"
    assert not row["approved"] and row["reasons"] & mother.HIGH_FLAG


def test_missing_candles_are_a_column_and_a_check_of_round_three() -> None:
    settings = loose("weighted", min_consensus=0.0)
    out = mother.run_rules(frames(), settings, 100_000.0, missing=[2])
    row = {str(k): v for k, v in out.iloc[0].items()}
    assert row["approved"] and not row["data_ok"] and row["recent_missing"] == 2
    check = mother.render(row, {}, settings).rounds["decide"]["checks"][-1]
    assert check == {
        "rule": "candles missing in the last 50 bars <= limit",
        "value": 2,
        "threshold": 0,
        "passed": False,
    }


def test_the_probability_and_ev_shrink_measured_outcomes_toward_no_edge() -> None:
    settings = loose("weighted", min_consensus=0.0)
    row = decide(settings)
    # b = 15 / 5 = 3, c = 0.05R, k = 20 pseudo-trades that win +3R at 1/(1+3), else lose 1R.
    assert row["p_prior"] == pytest.approx(0.25)
    assert row["base_rate"] == pytest.approx(12 / 20)
    assert row["p_win"] == pytest.approx((12 + 20 * 0.25) / 40)
    assert row["history_weight"] == pytest.approx(0.5)
    # In R of the trade's risk budget: a stop-out at the stop less the 0.1 gap allowance
    # (94.5), paying a side's share of the auditor's round trip (2.5 bps of price: half the
    # 4 bps spread and of the 1 bp slippage; a 10 bps fee) loses u per unit, and the stop
    # distance 5 is 5/u of that budget (about 0.87).
    fill, out = 100.0 * (1 + 2.5e-4), 94.5 * (1 - 2.5e-4)
    scale = 5.0 / ((fill - out) + 0.001 * (fill + out))
    assert scale == pytest.approx(0.8706, abs=1e-4)
    # Net of this trade's cost, shrunk toward 0R: (31 - 20 * 0.05) / 40 stop distances.
    assert row["ev_r"] == pytest.approx(0.75 * scale)
    assert row["risk_adjusted_ev_r"] == pytest.approx(0.75 * scale)  # no flag raised
    assert row["payoff_raw_r"] == pytest.approx(31 / 20 * scale)
    resolve = mother.render(row, {"alpha": LONG, "rationale": HISTORY}, settings).rounds["resolve"]
    scenarios = resolve["scenarios"]
    assert sum(v["probability"] for v in scenarios.values()) == pytest.approx(1.0, abs=1e-3)
    ev = sum(v["probability"] * v["payoff_r"] for v in scenarios.values())
    assert ev == pytest.approx(resolve["expected_value_r"], abs=1e-3)
    assert scenarios["expiry"] == {"probability": 0.05, "payoff_r": round(0.45 * scale, 4)}
    assert resolve["history"] == {
        "group": "mean_reversion BUY 3-4R",
        "lookback": "30d",
        "trades": 20,
        "wins": 12,
        "losses": 6,
        "expired": 2,
        "raw_win_rate": 0.6,
        "raw_payoff_r": round(1.55 * scale, 4),
    }
    assert resolve["prior"]["win_rate"] == 0.25 and resolve["prior"]["payoff_r"] == 0.0


def test_a_setup_without_history_is_refused_with_its_group() -> None:
    settings = loose("weighted", min_consensus=0.0, min_expected_value_r=-100.0)
    none = {k: 0 for k in HISTORY if k.endswith(("trades", "wins", "losses", "expired"))}
    rationale = {"abstained": False, **none, "base_rate_bucket": "3-4R"}
    row = decide(settings, rationale=rationale)
    # On the prior alone: the no-edge rate and exactly 0R.
    assert row["p_win"] == pytest.approx(0.25) and row["ev_r"] == 0.0
    assert not row["approved"] and row["reasons"] & mother.NO_HISTORY
    views = {"alpha": LONG, "rationale": rationale}
    view = mother.render(row, views, settings)
    assert (
        "no measured history for mean_reversion BUY 3-4R (no such setup resolved in the "
        "last 30d)" in (view.rejection_reason or "")
    )
    check = view.rounds["decide"]["checks"][-2]
    assert check == {"rule": "measured history of comparable setups", "value": 0, "passed": False}
    assert view.rounds["resolve"]["history"]["raw_win_rate"] is None


def test_the_votes_inform_but_do_not_move_the_probability() -> None:
    settings = loose("weighted", min_consensus=0.0)
    agree = decide(settings)
    split = decide(
        settings,
        technical={"abstained": False, "bias": "bearish", "confidence": 0.9, "trend": "up"},
        macro={"abstained": False, "tailwind": "short", "regime": "risk_off"},
    )
    assert agree["consensus"] > split["consensus"]
    assert agree["p_win"] == split["p_win"] and agree["ev_r"] == split["ev_r"]
    assert mother.render(split, {}, settings).rounds["resolve"]["consensus"] == pytest.approx(
        split["consensus"], abs=1e-4
    )


def test_unknown_numbers_are_null_never_nan() -> None:
    settings = loose("weighted", min_consensus=0.0)
    # No cost estimate: the EV is unknown (and the costs flag refuses the trade).
    row = decide(settings, execution={"abstained": True, "abstain_reason": "no data"})
    assert math.isnan(row["ev_r"]) and not row["approved"]
    assert row["p_win"] == pytest.approx(17 / 40)  # the probability needs no cost
    # A count without its mean payoff (a view stored before payoffs were kept): unknown too.
    old = {"abstained": False, "base_rate_trades": 20, "base_rate_wins": 12}
    stale = decide(settings, rationale=old)
    assert math.isnan(stale["ev_r"]) and stale["reasons"] & mother.LOW_EV
    for decided in (row, stale):
        view = mother.render(decided, {}, settings)
        json.dumps(view.model_dump(mode="json"), allow_nan=False)
        assert view.expected_value_r is None
        assert view.rounds["resolve"]["expected_value_r"] is None


def test_the_size_budgets_the_auditors_costs_and_kelly_reads_the_payoff_after_them() -> None:
    from hmas.risk.costs import SideCosts, risk_per_unit

    settings = loose("weighted", min_consensus=0.0)
    row = decide(settings)
    # One side: 10 bps fee, 2 bps half spread, 0.5 bps slippage; the 10 % gap allowance.
    costs = SideCosts(10.0, 4.0, 0.5)
    assert (row["cost_fee_bps"], row["cost_spread_bps"], row["cost_slippage_bps"]) == (
        10.0,
        4.0,
        0.5,
    )
    unit = risk_per_unit(1.0, 100.0, 95.0, costs, 0.1)
    assert row["size"] * unit == pytest.approx(100_000.0 * row["risk_fraction"])
    assert row["reward_risk_net"] < row["reward_risk"] == 3.0
    sizing = mother.render(row, {}, settings).rounds["decide"]["sizing"]
    assert sizing == {
        "reward_risk_net": round(row["reward_risk_net"], 4),
        "cost_per_side_bps": {"fee": 10.0, "spread": 4.0, "slippage": 0.5},
        "gap_allowance": 0.1,
        "max_leverage": 1.0,
        "quote_rate": 1.0,
    }
    # A view with a quote rate is sized in the account currency.
    converted = decide(
        settings,
        execution={
            "abstained": False,
            "verdict": "PASS",
            "total_cost_r": 0.05,
            "fee_bps": 20.0,
            "spread_bps": 4.0,
            "slippage_bps": 1.0,
            "quote_rate": 20_000.0,
        },
    )
    assert converted["size"] == pytest.approx(row["size"] / 20_000)
    # Without the auditor there is no cost estimate: no size (and a high-severity flag).
    blind = decide(settings, execution={"abstained": True, "abstain_reason": "down"})
    assert not blind["approved"] and blind["size"] != blind["size"]  # NaN


def test_an_abstaining_proposer_is_refused_with_why_it_abstained() -> None:
    # An LLM alpha that failed keeps its rules values (hold reason included) under the
    # abstention: the signal says why it abstained, not the rules' hold reason.
    settings = loose("weighted")
    alpha = {
        **LONG,
        "action": "HOLD",
        "abstained": True,
        "abstain_reason": "LLM error (local/m): cannot reach the server",
        "hold_reason": "no setup",
    }
    row = decide(settings, alpha=alpha)
    view = mother.render(row, {"alpha": alpha}, settings)
    assert view.rejection_reason == (
        "no trade proposed (LLM error (local/m): cannot reach the server)"
    )
