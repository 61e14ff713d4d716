"""Helpers shared by the rules agents: reading columns, labelling rows, building output frames.

Every agent runs once per signal on a short window (~600 bars), where pandas' fixed cost per
call (a Series per column, a rolling object per statistic) outweighs the arithmetic; and once
per backtest over a whole history, where only the per-row work counts. So inputs are read
once into numpy arrays, the rules run on arrays, and the output frame is built in one call.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

logger = logging.getLogger(__name__)

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Objects = npt.NDArray[np.object_]
Array = npt.NDArray[Any]

_OBJECT = np.dtype(object)


def _finite_floats(data: pd.Series | pd.DataFrame) -> Floats:
    """A column as float64 with anything non-finite (or not a number) as NaN."""
    if isinstance(data, pd.DataFrame):  # duplicated column names: take the first
        data = data.iloc[:, 0]
    dtype = data.dtype
    if isinstance(dtype, np.dtype) and dtype == np.float64:
        values = data.to_numpy()  # already numbers: no coercion (to_numeric costs ~10 µs)
    else:
        values = pd.to_numeric(data, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    # A fresh array: never a view of the caller's frame.
    out: Floats = np.where(np.isfinite(values), values, np.nan)
    return out


#: The feature frame ``compute`` is running the agents on, with the arrays it was built from
#: (``hmas.indicators.feature_arrays``): set only inside ``known_columns``.
_KNOWN: ContextVar[tuple[pd.DataFrame, Mapping[str, Floats]] | None] = ContextVar(
    "hmas_known_columns", default=None
)


@contextmanager
def known_columns(frame: pd.DataFrame, arrays: Mapping[str, Floats]) -> Iterator[None]:
    """While inside, ``column(frame, name)`` copies ``arrays[name]`` (already float64 with
    infinities as NaN) instead of reading the frame through pandas: about 30 µs a column on a
    one-signal window, and the agents read some thirty. ``frame`` must not change inside."""
    token = _KNOWN.set((frame, arrays))
    try:
        yield
    finally:
        _KNOWN.reset(token)


def _known(frame: pd.DataFrame, name: str) -> Floats | None:
    known = _KNOWN.get()
    if known is None or known[0] is not frame:
        return None
    values = known[1].get(name)
    return None if values is None else values.copy()


def column(features: pd.DataFrame, name: str) -> Floats:
    """Column ``name`` as float64 with anything non-finite as NaN (all NaN when absent)."""
    values = _known(features, name)
    if values is not None:
        return values
    if name not in features.columns:
        return np.full(len(features), np.nan)
    return _finite_floats(features[name])


def column_values(frame: pd.DataFrame | None, name: str, index: pd.Index) -> Array:
    """``frame[name]`` (a frame already on ``index``) as float64, non-finite values as NaN."""
    if frame is not None:
        known = _known(frame, name)
        if known is not None and len(known) == len(index):
            return known
    if frame is None or name not in frame.columns:
        return np.full(len(index), np.nan)
    values = _finite_floats(frame[name])
    if len(values) != len(index):
        return np.full(len(index), np.nan)
    return values


def true_flags(frame: pd.DataFrame, name: str, n: int) -> Bools:
    """Rows where ``frame[name]`` is True (all False when the column is absent)."""
    if name not in frame.columns:
        return np.zeros(n, dtype=bool)
    data = frame[name]
    if isinstance(data, pd.Series) and isinstance(data.dtype, np.dtype) and data.dtype == bool:
        return data.to_numpy(copy=True)  # a plain bool column: the flags themselves
    flags: Bools = data.eq(True).to_numpy(dtype=bool, na_value=False)
    return flags


def align_on(frame: pd.DataFrame | None, index: pd.Index) -> pd.DataFrame | None:
    """``frame`` on ``index`` by exact timestamp (no forward fill: never a later value)."""
    if frame is None:
        return None
    if frame.index.equals(index):
        return frame
    try:
        unique = frame[~frame.index.duplicated(keep="last")]
        return unique.reindex(index)
    except (TypeError, ValueError) as exc:
        logger.warning("cannot align frame on the symbol's index: %s", exc)
        return None


def join_flags(flags: list[tuple[str, Bools]], n: int) -> Objects:
    """Per row, the labels whose flag is set, joined by ``, `` (None when none is set)."""
    codes = np.zeros(n, dtype=np.int64)
    for bit, (_, flag) in enumerate(flags):
        codes |= flag.astype(np.int64) << bit

    def text(code: int) -> str | None:
        labels = [label for bit, (label, _) in enumerate(flags) if code >> bit & 1]
        return ", ".join(labels) if labels else None

    # Few distinct combinations occur: format each once and gather. While the codes are
    # small, a table indexed by the code spares np.unique's sort of the rows.
    if len(flags) <= 16:
        counts = np.bincount(codes, minlength=1)
        table = np.empty(len(counts), dtype=object)
        for code in np.flatnonzero(counts).tolist():
            table[code] = text(code)
        by_code: Objects = table[codes]
        return by_code
    unique, inverse = np.unique(codes, return_inverse=True)
    texts = np.empty(len(unique), dtype=object)
    for k, code in enumerate(unique.tolist()):
        texts[k] = text(code)
    out: Objects = texts[inverse.reshape(-1)] if n else np.empty(0, dtype=object)
    return out


def filled(n: int, value: str | None) -> Objects:
    """An object array of ``n`` references to ``value`` (np.full copies a str per row: slow)."""
    out = np.empty(n, dtype=object)
    out.fill(value)
    return out


def pick(n: int, default: str | None, *cases: tuple[Bools, str | None]) -> Objects:
    """Per row, the label of the first true case, else ``default`` (shared str objects: fast)."""
    out = filled(n, default)
    for mask, label in reversed(cases):
        out[mask] = label
    return out


def labelled(conditions: list[Array], labels: list[str | None], default: str | None) -> Array:
    """Per row, the label of the first true condition, else ``default`` (an object array)."""
    return pick(len(conditions[0]), default, *zip(conditions, labels, strict=True))


def frame_of(columns: dict[str, Any], index: pd.Index) -> pd.DataFrame:
    """The output frame from one array per column, built in one call without copying.

    Text columns (object arrays of str/None, or numpy str arrays) stay ``object``: pandas 3
    would infer its string dtype from a column holding a string, so a cut history could get
    another dtype than the full one. Numeric arrays go in as they are; an array given for two
    columns, or a view of another array, is copied so no two columns share memory.
    """
    names: list[str] = []
    arrays: list[Array] = []
    seen: set[int] = set()
    for name, given in columns.items():
        values = given.copy() if id(given) in seen or given.base is not None else given
        seen.add(id(values))
        names.append(name)
        arrays.append(values.astype(_OBJECT) if values.dtype.kind == "U" else values)
    if (
        _FROM_ARRAYS is not None
        and len(index) <= _CONSOLIDATE_ROWS
        and all(len(a) == len(index) for a in arrays)
    ):
        # pandas' own path from equal-length numpy arrays (what ``DataFrame(dict)`` calls after
        # checking and converting every column): half the public constructor's cost on a
        # one-signal window (0.28 against 0.55 ms for 34 columns of 1,000 rows). It copies the
        # columns into one block per dtype, which on a long history costs more than it saves
        # (17 against 1 ms for 65 columns of 85,000 rows): there the public path is taken.
        frame: pd.DataFrame = _FROM_ARRAYS(
            arrays, columns=_labels(tuple(names)), index=index, verify_integrity=False
        )
        return frame
    data = {
        name: pd.Series(a, index=index, dtype=_OBJECT, copy=False) if a.dtype == _OBJECT else a
        for name, a in zip(names, arrays, strict=True)
    }
    return pd.DataFrame(data, index=index, copy=False)


@functools.lru_cache(maxsize=256)
def _labels(names: tuple[str, ...]) -> pd.Index:
    """The column labels as pandas infers them from ``names``, built once per set of names (an
    Index is immutable, so frames can share it; inferring the labels' dtype cost ~30 µs)."""
    return pd.Index(list(names))


#: ``DataFrame._from_arrays`` where pandas has it (2.x and 3.x do); else the public constructor.
_FROM_ARRAYS = getattr(pd.DataFrame, "_from_arrays", None)
#: Longest frame built by ``_FROM_ARRAYS`` (a live decision's window is 520 to 1,073 bars on
#: hourly and daily bars at the defaults).
_CONSOLIDATE_ROWS = 5_000


def rolling_count(valid: Bools, window: int, min_periods: int) -> Floats:
    """``pd.Series(x).rolling(window, min_periods).count()`` from ``valid = notna(x)``, exactly.

    pandas counts the valid values of each window (a sum of exact small integers) and gives NaN
    while the window holds fewer than ``min_periods`` rows, whatever their values. Windows run
    along the last axis, so a 2-D ``valid`` counts each row.
    """
    counts = _window_sums(valid, window).astype(np.float64)
    counts[..., : max(min(min_periods, window), 1) - 1] = np.nan
    return counts


def _window_sums(valid: Bools, window: int) -> npt.NDArray[np.int64]:
    """How many of the last ``window`` values (the bar's own included) are set, per bar."""
    n = valid.shape[-1]
    total = np.zeros((*valid.shape[:-1], n + 1), dtype=np.int64)
    np.cumsum(valid, axis=-1, out=total[..., 1:])
    ends = np.arange(1, n + 1)
    sums: npt.NDArray[np.int64] = total[..., ends] - total[..., np.maximum(ends - window, 0)]
    return sums


#: Longest window ranked by comparing every pair in numpy (O(n w)); beyond it pandas' skiplist
#: (O(n log w), plus a fixed cost per call) is cheaper: measured on 600 bars with the macro
#: agent's 500-bar window, and on 500k bars from ~300. The pair counts (at most 2 × the window)
#: must also fit int16.
PAIRWISE_SPAN = 160
#: Window cells compared per chunk (bounds the memory on long histories).
_CHUNK_CELLS = 1 << 20


def rolling_rank(values: Floats, window: int, min_periods: int, *, pct: bool = False) -> Floats:
    """``pd.Series(v).rolling(window, min_periods).rank(method="average", pct=pct)``, exactly.

    Windows run along the last axis (a 2-D array ranks each row). pandas' average rank of a
    value with ``b`` smaller and ``e`` equal values (itself included) in its window is
    ``(2b + e + 1) / 2``, exact in floating point, over ``nobs`` valid values for ``pct``; NaN
    for a NaN value or fewer than ``min_periods`` valid values. Short windows compare every
    pair in numpy; long ones, or any series holding an infinity (which pandas' skiplist
    orders its own way), go to pandas itself.
    """
    n = values.shape[-1]
    span = min(window, n)
    if n == 0 or span > PAIRWISE_SPAN or np.isinf(values).any():
        return _pandas_rank(values, window, min_periods, pct=pct)
    pad = np.full((*values.shape[:-1], n + span - 1), np.nan)
    pad[..., span - 1 :] = values
    # 2b + e: the values below, plus those at or below (NaN is neither). Each window is laid
    # out along the second-last axis so the counts add whole rows (numpy's fast reduction);
    # they fit int16 as the window is at most PAIRWISE_SPAN long.
    twice = np.empty(values.shape, dtype=np.int16)
    step = max(1, _CHUNK_CELLS // (span * max(1, values.size // n)))
    for start in range(0, n, step):
        stop = min(n, start + step)
        lags = sliding_window_view(pad[..., start : stop + span - 1], stop - start, axis=-1)
        current = values[..., None, start:stop]
        below = (lags < current).sum(axis=-2, dtype=np.int16)
        below += (lags <= current).sum(axis=-2, dtype=np.int16)
        twice[..., start:stop] = below
    valid = ~np.isnan(values)
    nobs = _window_sums(valid, window)
    rank = (twice + 1) / 2
    if pct:
        rank /= np.maximum(nobs, 1)
    out: Floats = np.where(valid & (nobs >= min_periods), rank, np.nan)
    return out


def _pandas_rank(values: Floats, window: int, min_periods: int, *, pct: bool) -> Floats:
    """``rolling_rank`` by pandas, one series (row) at a time."""
    if values.ndim > 1:
        rows = [_pandas_rank(row, window, min_periods, pct=pct) for row in values]
        return np.stack(rows) if rows else np.empty(values.shape)
    ranks = (
        pd.Series(values)
        .rolling(window, min_periods=min_periods)
        .rank(method="average", pct=pct)
        .to_numpy(dtype=np.float64, na_value=np.nan)
    )
    return ranks
