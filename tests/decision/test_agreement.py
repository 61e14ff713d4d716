"""The voters' agreement: pairs on bars where both vote, agreement with the proposals."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from hmas.decision.agreement import (
    history_agreement,
    markdown,
    measure_agreement,
    voters_of,
    votes,
)
from hmas.decision.history import compute_history
from hmas.decision.pipeline import MarketInputs
from hmas.settings import load_settings


def decided(**columns: list[float] | list[bool]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    return pd.DataFrame(columns, index=index)


def test_pairs_count_only_bars_where_both_cast_a_directional_vote() -> None:
    frame = decided(
        direction=[0, 0, 0, 0, 0, 0],
        vote_a=[1, 1, -1, -1, 0, 1],
        voted_a=[True, True, True, True, True, False],
        vote_b=[1, -1, -1, 1, 1, 1],
        voted_b=[True] * 6,
    )
    result = measure_agreement(frame)
    assert result.voters == ("a", "b")
    pair = result.pair("b", "a")
    # Bars 0-3: both directional (bar 4: a neutral; bar 5: a's vote did not count).
    assert (pair.both, pair.agree) == (4, 2)
    assert pair.rate == pytest.approx(0.5)
    # a is long on half of those bars, b on half: chance 0.5, kappa 0.
    assert pair.chance == pytest.approx(0.5)
    assert pair.kappa == pytest.approx(0.0)
    share = {s.voter: s for s in result.shares}
    assert (share["a"].long, share["a"].short, share["a"].neutral, share["a"].silent) == (
        2,
        2,
        1,
        1,
    )


def test_kappa_discounts_agreement_that_chance_alone_gives() -> None:
    # Both long on 9 bars of 10, agreeing on 8: 80% agreement, less than chance (82%).
    a = [1] * 9 + [-1]
    b = [1] * 8 + [-1, 1]
    pair = measure_agreement(decided(direction=[0] * 10, vote_a=a, vote_b=b)).pair("a", "b")
    assert pair.rate == pytest.approx(0.8)
    assert pair.chance == pytest.approx(0.9 * 0.9 + 0.1 * 0.1)
    assert pair.kappa is not None and pair.kappa < 0


def test_a_pair_that_never_votes_together_is_unknown_with_a_reason() -> None:
    pair = measure_agreement(decided(direction=[0, 0], vote_a=[1, 0], vote_b=[0, -1])).pair(
        "a", "b"
    )
    assert (pair.both, pair.rate, pair.kappa) == (0, None, None)
    assert pair.reason == "no bar where both cast a directional vote"
    one_sided = measure_agreement(decided(direction=[0, 0], vote_a=[1, 1], vote_b=[1, 1])).pair(
        "a", "b"
    )
    assert one_sided.rate == 1.0 and one_sided.kappa is None
    assert (one_sided.reason or "").startswith("kappa undefined")


def test_agreement_with_the_proposals_overall_and_per_setup() -> None:
    frame = decided(
        direction=[1, 1, -1, -1, 0],
        vote_t=[1, -1, -1, 0, 1],
        vote_m=[0, 0, 0, 0, 1],
        abstained_m=[False, False, False, True, False],
    )
    setups = ["trend", "revert", "revert", "revert", None]
    result = measure_agreement(frame, setups=setups)
    overall = result.with_proposer("t")
    assert (overall.proposals, overall.voted, overall.agree) == (4, 3, 2)
    assert overall.rate == pytest.approx(2 / 3) and overall.support == pytest.approx(0.5)
    revert = result.with_proposer("t", "revert")
    assert (revert.proposals, revert.voted, revert.agree) == (3, 2, 1)
    assert result.with_proposer("t", "trend").rate == 1.0
    silent = result.with_proposer("m")
    assert (silent.voted, silent.rate, silent.support) == (0, None, 0.0)
    assert silent.reason == "no directional vote on a proposal"
    with pytest.raises(ValueError, match="2 setups for 5"):
        measure_agreement(frame, setups=["a", "b"])


def test_a_frame_decided_before_the_voted_columns_reads_the_abstentions() -> None:
    frame = decided(direction=[1, 1], vote_x=[1, 1], abstained_x=[False, True])
    side, counted = votes(frame, "x")
    assert side.tolist() == [1.0, 0.0] and counted.tolist() == [True, False]
    assert voters_of(frame) == ("x",)


def test_the_json_form_has_no_nan_and_markdown_says_n_a() -> None:
    result = measure_agreement(decided(direction=[0, 1], vote_a=[np.nan, 1], vote_b=[0, 0]))
    text = json.dumps(result.as_dict(), allow_nan=False)
    assert "NaN" not in text
    for value in json.loads(text)["pairs"][0].values():
        assert not (isinstance(value, float) and math.isnan(value))
    table = markdown(result, "t")
    assert table.startswith("#### t") and "| a / b | 0 | n/a | n/a | n/a |" in table


def test_a_history_pass_measures_the_voters_without_the_proposer(
    sample_inputs: MarketInputs,
) -> None:
    history = compute_history(sample_inputs, load_settings())
    result = history_agreement(history)
    assert result.voters == ("technical", "sentiment", "macro")
    assert result.bars == len(history)
    # ETH-USD's market is BTC-USD: macro votes once BTC's 200-bar average exists.
    assert result.pair("technical", "macro").both > 0
    shares = {s.voter: s for s in result.shares}
    assert shares["macro"].silent >= 199  # no vote before the market's average exists
    setups = {q.setup for q in result.proposals}
    assert None in setups and setups - {None} <= {"mean_reversion", "trend_following"}
    json.dumps(result.as_dict(), allow_nan=False)


def test_alone_in_its_store_a_symbol_has_no_macro_vote(sample_inputs: MarketInputs) -> None:
    alone = MarketInputs("sample", "BTC-USD", "1h", sample_inputs.benchmark)  # type: ignore[arg-type]
    result = history_agreement(compute_history(alone, load_settings()))
    macro = {s.voter: s for s in result.shares}["macro"]
    assert macro.silent == result.bars  # the benchmark itself, with no other symbol stored
    assert result.pair("technical", "macro").reason == "no bar where both cast a directional vote"
    assert result.with_proposer("macro").support in (0.0, None)
