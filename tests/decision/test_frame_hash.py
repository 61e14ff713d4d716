"""hmas.decision.snapshot.frame_hash: the same digest whatever the frame's layout."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from hmas.decision.snapshot import frame_hash


def _candles() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    index = pd.date_range("2024-01-01", periods=50, freq="h", tz="UTC", name="ts")
    values = rng.uniform(90, 110, size=(50, 5))
    return pd.DataFrame(values, index=index, columns=["open", "high", "low", "close", "volume"])


def test_the_hash_is_of_the_times_then_the_values_row_after_row() -> None:
    frame = _candles()
    digest = hashlib.sha256()
    digest.update(frame.index.as_unit("ms").asi8.astype("<i8").tobytes())
    digest.update(np.ascontiguousarray(frame.to_numpy(dtype="<f8")).tobytes())
    assert frame_hash(frame) == digest.hexdigest()


def test_columns_in_another_order_or_more_columns_hash_the_same() -> None:
    frame = _candles()
    other = frame[["close", "volume", "open", "low", "high"]].assign(extra=1.0)
    # The same columns in two blocks (a column set apart): the same digest.
    mixed = frame.assign(volume=frame["volume"].to_numpy().copy())
    assert frame_hash(other) == frame_hash(frame) == frame_hash(mixed)
    changed = frame.copy()
    changed.iloc[7, 2] += 1e-9
    assert frame_hash(changed) != frame_hash(frame)
