"""Risk: the guardian's hard limits, paper positions followed to their outcome, the paper account.

Pure logic (no database, no I/O): the store persists these objects and the pipeline wires them.
Every model is a frozen pydantic model; store it with ``model_dump_json()`` (NaN and infinities
become strings) and load it back with ``model_validate_json()``. See docs/risk.md.
"""

from __future__ import annotations

from hmas.risk.account import (
    PaperAccount,
    account_state,
    apply_outcome,
    new_account,
    roll_day,
    utc_day,
)
from hmas.risk.guardian import (
    LIMIT_IDS,
    TOLERANCE,
    AccountState,
    GuardianVerdict,
    Proposal,
    Violation,
    check,
    effective_limits,
    max_size,
    proposal_problems,
)
from hmas.risk.positions import PositionOutcome, follow, follow_arrays

__all__ = [
    "LIMIT_IDS",
    "TOLERANCE",
    "AccountState",
    "GuardianVerdict",
    "PaperAccount",
    "PositionOutcome",
    "Proposal",
    "Violation",
    "account_state",
    "apply_outcome",
    "check",
    "effective_limits",
    "follow",
    "follow_arrays",
    "max_size",
    "new_account",
    "proposal_problems",
    "roll_day",
    "utc_day",
]
