"""The pure verdict and the recorded-answers seam of compute."""

from __future__ import annotations

import numpy as np

from hmas.agents.registry import BY_NAME
from hmas.decision.pipeline import MarketInputs, compute, views_at
from hmas.decision.verdict import decided_bar, refused_by, verdict
from hmas.risk.guardian import AccountState
from tests.decision.conftest import permissive


def _state() -> AccountState:
    return AccountState(equity=50_000.0, day_start_equity=50_000.0, peak_equity=50_000.0)


def _approved(out: object) -> int:
    decided = out.decided  # type: ignore[attr-defined]
    return int(np.flatnonzero((decided["approved"] & decided["data_ok"]).to_numpy())[-1])


def test_a_recorded_answer_replaces_the_agents_output_and_is_marked(
    sample_inputs: MarketInputs,
) -> None:
    settings = permissive()
    live = compute(sample_inputs, settings)
    i = _approved(live)
    ts = live.features.index[i]
    live_views = views_at(live, i)
    hold = BY_NAME["alpha"].view_model(action="HOLD", hold_reason="recorded: no trade")
    out = compute(sample_inputs, settings, answers={"alpha": {ts: hold}})
    views = views_at(out, i)
    assert views["alpha"]["recorded"] is True
    assert views["alpha"]["action"] == "HOLD" and views["alpha"]["hold_reason"] == (
        "recorded: no trade"
    )
    assert "recorded" not in views["technical"] and "recorded" not in live_views["alpha"]
    assert bool(out.frames["alpha"]["recorded"].iloc[i])
    assert not out.frames["alpha"]["recorded"].drop(index=ts).any()
    # Later layers and the mother read the answer: no trade, so nothing to approve.
    assert out.decided is not None and not out.decided["approved"].iloc[i]
    assert out.frames["execution"]["verdict"].iloc[i] == "N/A"
    judged = verdict(decided_bar(out, i), _state(), settings)
    assert judged.decision == "REJECTED"
    assert judged.reason == "no trade proposed (recorded: no trade)"
    # Every other bar is the live one.
    assert views_at(out, i - 1) == views_at(live, i - 1)


def test_verdict_names_the_guards_that_refused(sample_inputs: MarketInputs) -> None:
    settings = permissive()
    out = compute(sample_inputs, settings)
    bar = decided_bar(out, _approved(out))
    ok = verdict(bar, _state(), settings)
    assert ok.decision == "APPROVED" and ok.refused_by == [] and not ok.kill_switch
    assert "refused_by" not in ok.guardian and ok.guardian["checked"] is True
    # Sized for the account's equity, not for the equity the row was computed with.
    assert ok.size is not None and ok.size < float(bar.row["size"])
    killed = verdict(bar, _state(), _kill(settings))
    assert killed.decision == "REJECTED" and killed.kill_switch
    assert killed.refused_by == ["kill_switch"] == refused_by(killed.guardian)
    assert (killed.reason or "").startswith("guardian: kill_switch: ")
    gap = verdict(
        bar.__class__(**{**bar.__dict__, "row": {**bar.row, "data_ok": False}}), _state(), settings
    )
    assert gap.refused_by == ["missing_candles"] and gap.guardian["checked"] is False
    assert gap.entry is None and gap.action == "HOLD"


def _kill(settings: object) -> object:
    return settings.model_copy(update={"kill_switch": True})  # type: ignore[attr-defined]
