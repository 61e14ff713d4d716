"""``compute_history(since=)``: the pass from the segment holding ``since`` equals the full pass."""

from __future__ import annotations

import pandas as pd

from hmas.decision.history import compute_history, span, windowing
from hmas.decision.pipeline import MarketInputs
from hmas.market import index_to_ms
from hmas.settings import load_settings


def test_a_pass_since_a_bar_equals_the_rows_of_the_full_pass(sample_inputs: MarketInputs) -> None:
    settings = load_settings(decision={"segment": "3d"})
    ms = index_to_ms(sample_inputs.candles.index)
    since = ms[1100]
    win = windowing(settings, "1h")
    # Only the warm-up of ``since`` is read, as the backtest of a range reads it.
    first = pd.Timestamp(win.start(since), unit="ms", tz="UTC")
    short = span(sample_inputs, first, sample_inputs.candles.index[-1])
    heard: list[tuple[int, int]] = []
    part = compute_history(short, settings, since=since, progress=lambda d, t: heard.append((d, t)))
    full = compute_history(sample_inputs, settings)
    assert part.index[0] == pd.Timestamp(win.anchor(since), unit="ms", tz="UTC")
    assert part.index[0] <= pd.Timestamp(since, unit="ms", tz="UTC")
    assert part.decided is not None and full.decided is not None
    # pd.concat of one or several segments may type text columns differently; values are equal.
    pd.testing.assert_frame_equal(
        part.decided, full.decided.loc[part.index[0] :], check_dtype=False
    )
    pd.testing.assert_frame_equal(part.features, full.features.loc[part.index[0] :])
    total = len(part.parts)
    assert heard == [(k, total) for k in range(total + 1)]
