"""hmas.agents.common: the columns the agents read, with and without the known arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hmas.agents.common import column, column_values, known_columns
from hmas.indicators import compute_features, feature_arrays
from tests.agents.frames import FIXTURE


@pytest.fixture
def candles() -> pd.DataFrame:
    frame = pd.read_csv(FIXTURE)
    frame.index = pd.to_datetime(frame.pop("ts"), utc=True)
    return frame[["open", "high", "low", "close", "volume"]].astype("float64")


def test_feature_arrays_are_the_frames_columns_read_only(candles: pd.DataFrame) -> None:
    frame, arrays = feature_arrays(candles)
    pd.testing.assert_frame_equal(frame, compute_features(candles))
    floats = [c for c in frame.columns if frame[c].dtype == np.float64]
    assert sorted(arrays) == sorted(floats)
    for name, values in arrays.items():
        np.testing.assert_array_equal(values, frame[name].to_numpy())
        assert not values.flags.writeable


def test_known_columns_give_the_same_values_as_the_frame_each_a_fresh_copy(
    candles: pd.DataFrame,
) -> None:
    frame, arrays = feature_arrays(candles)
    slow = {name: column(frame, name) for name in (*arrays, "absent")}
    with known_columns(frame, arrays):
        for name, expected in slow.items():
            got = column(frame, name)
            np.testing.assert_array_equal(got, expected)
            assert got.flags.writeable
            if name in arrays:
                assert not np.shares_memory(got, arrays[name])
                assert not np.shares_memory(got, frame[name].to_numpy())
        values = column_values(frame, "close", frame.index)
        values[:] = 0.0  # the caller's copy: neither the arrays nor the frame change
        assert column(frame, "close")[0] == frame["close"].iloc[0] != 0.0


def test_another_frame_inside_the_scope_is_read_from_itself(candles: pd.DataFrame) -> None:
    frame, arrays = feature_arrays(candles)
    other = frame.copy()
    other["close"] = 1.0
    with known_columns(frame, arrays):
        assert (column(other, "close") == 1.0).all()
        assert (column_values(other, "close", other.index) == 1.0).all()
    # Outside the scope nothing is known.
    assert (column(other, "close") == 1.0).all()
