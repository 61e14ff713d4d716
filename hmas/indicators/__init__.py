"""Indicators: pure ``DataFrame -> DataFrame`` feature functions (pandas-ta's TA-Lib mode).

TA-Lib is used only inside this package, so it can be swapped without touching the agents;
the tests hold every column to pandas-ta's ``talib=True`` results. See docs/indicators.md
for every column.
"""

from __future__ import annotations

from hmas.indicators.features import (
    FEATURE_COLUMNS,
    OUTPUT_COLUMNS,
    SECONDS_PER_YEAR,
    FeatureParams,
    compute_features,
    feature_arrays,
    feature_warmup,
)
from hmas.indicators.resample import align_closed, higher_timeframe, resample_closed
from hmas.indicators.swings import SWING_COLUMNS, confirmed_swings, swing_levels

__all__ = [
    "FEATURE_COLUMNS",
    "OUTPUT_COLUMNS",
    "SECONDS_PER_YEAR",
    "SWING_COLUMNS",
    "FeatureParams",
    "align_closed",
    "compute_features",
    "confirmed_swings",
    "feature_arrays",
    "feature_warmup",
    "higher_timeframe",
    "resample_closed",
    "swing_levels",
]
