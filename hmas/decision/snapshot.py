"""Input snapshots: which candles a decision read, and a hash proving they are unchanged."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from hmas.decision.pipeline import MarketInputs


_OHLCV = ("open", "high", "low", "close", "volume")


def frame_hash(frame: pd.DataFrame) -> str:
    """sha256 of a candle frame's timestamps (ms) and OHLCV values, bit for bit."""
    import pandas as pd

    digest = hashlib.sha256()
    ms = pd.DatetimeIndex(frame.index).as_unit("ms").asi8.astype("<i8")
    digest.update(ms.tobytes())
    # Row after row, as ``frame[[...]].to_numpy()`` lays them out.
    if list(frame.columns) == list(_OHLCV):
        # The store's candle frame: its one block read at once (no Series per column).
        values: np.ndarray[Any, Any] = frame.to_numpy(dtype="<f8")
    else:
        values = np.column_stack([frame[name].to_numpy(dtype="<f8") for name in _OHLCV])
    digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def _extent(frame: pd.DataFrame) -> dict[str, Any]:
    from hmas.market import index_to_ms

    n = len(frame.index)
    ends = index_to_ms(frame.index[[0, -1]]) if n else [None, None]
    return {"first_ts": ends[0], "last_ts": ends[-1], "count": n, "hash": frame_hash(frame)}


def describe(inputs: MarketInputs) -> tuple[dict[str, Any], str]:
    """The context record of every series read, and one hash over all of them."""
    series: dict[str, Any] = {"symbol": {"symbol": inputs.symbol, **_extent(inputs.candles)}}
    if inputs.benchmark is not None:
        series["benchmark"] = _extent(inputs.benchmark)
    series["universe"] = {sym: _extent(f) for sym, f in sorted(inputs.universe.items())}
    if inputs.fear_greed is not None or inputs.fear_greed_error is not None:
        series["fear_greed"] = {"values": inputs.fear_greed, "error": inputs.fear_greed_error}
    conversion = inputs.conversion
    if conversion is not None and conversion.frame is not None:
        series["conversion"] = {**conversion.record(), **_extent(conversion.frame)}
    digest = hashlib.sha256()
    digest.update(series["symbol"]["hash"].encode())
    if "benchmark" in series:
        digest.update(b"benchmark" + series["benchmark"]["hash"].encode())
    for sym, ext in series["universe"].items():
        digest.update(sym.encode() + ext["hash"].encode())
    if "fear_greed" in series:
        import json

        digest.update(json.dumps(series["fear_greed"], sort_keys=True).encode())
    if "conversion" in series:
        pair = series["conversion"]
        digest.update(b"conversion" + pair["symbol"].encode() + pair["hash"].encode())
    return series, digest.hexdigest()
