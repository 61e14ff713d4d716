"""The mother: both consensus policies, votes and flags as columns, rounds rendered from them."""

from __future__ import annotations

from typing import Any

import pytest

from hmas.decision import mother
from hmas.settings import Settings

LONG = {"action": "BUY", "entry": 100.0, "stop": 95.0, "target": 115.0, "confidence": 0.8}


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
        "rationale": {"abstained": False, "base_rate_trades": 20, "base_rate_wins": 12},
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
    settings = loose("supermajority", supermajority_share=0.75, supermajority_confidence=0.7)
    # alpha 0.8 and technical 0.9 are confident; sentiment (0.6) and macro (its weight) are not.
    row = decide(settings)
    assert not row["approved"] and row["reasons"] & mother.LOW_CONSENSUS
    assert row["super_share"] == pytest.approx(0.5)
    view = mother.render(row, {}, settings)
    assert (view.rejection_reason or "").startswith("supermajority not reached (0.5 < 0.75")
    assert view.rounds["decide"]["policy"] == "supermajority"
    eased = loose("supermajority", supermajority_share=0.5, supermajority_confidence=0.7)
    assert decide(eased)["approved"]
    # The weighted policy approves the same bar: the policies differ.
    assert decide(loose("weighted", min_consensus=0.6))["approved"]


def test_votes_and_flags_are_columns_the_rounds_are_rendered_from() -> None:
    settings = loose("weighted", min_consensus=0.0)
    row = decide(
        settings,
        technical={"abstained": True, "abstain_reason": "warming up"},
        execution={"abstained": False, "verdict": "FAIL", "total_cost_r": 2.0},
        macro={"abstained": False, "tailwind": "short", "regime": "risk_off"},
    )
    assert row["abstained_technical"] and row["vote_technical"] == 0
    assert row["vote_alpha"] == 1 and row["vote_macro"] == -1
    assert row["flag_execution_fail"] and row["flag_macro_headwind"]
    assert row["high_flags"] == 1 and row["medium_flags"] == 1
    views = {
        "technical": {"abstained": True, "abstain_reason": "warming up"},
        "execution": {"verdict": "FAIL", "reasons": ["too dear"]},
    }
    gather = mother.render(row, views, settings).rounds["gather"]
    assert gather["votes"][1] == {
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
