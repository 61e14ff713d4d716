"""The ledger: what a stored position is charged, read from its signal's guardian record."""

from __future__ import annotations

from hmas.risk.ledger import position_terms
from hmas.settings import load_settings


def test_a_position_is_charged_the_costs_its_signal_was_sized_with() -> None:
    record = {
        "proposal": {"fee_bps": 30.0, "spread_bps": 4.0, "slippage_bps": 1.5, "quote_rate": 2.0},
        "verdict": {"limits": {"gap_allowance": 0.2}},
    }
    assert position_terms(record, "coinbase", load_settings()) == {
        "fee_bps": 30.0,
        "spread_bps": 4.0,
        "slippage_bps": 1.5,
        "quote_rate": 2.0,
        "gap_allowance": 0.2,
    }


def test_a_signal_stored_before_the_cost_model_is_charged_the_taker_fee_alone() -> None:
    settings = load_settings()
    old = {"proposal": {"symbol": "BTC-USD", "entry": 100.0, "stop": 95.0, "size": 2.0}}
    assert position_terms(old, "coinbase", settings) == {"fee_bps": 60.0}
    assert position_terms({}, "nowhere", settings) == {"fee_bps": 10.0}
