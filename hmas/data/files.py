"""Import OHLCV from files: CSV (plain or CryptoDataDownload), ccxt/freqtrade JSON, feather.

Every file is read and validated whole before anything is stored, so a bad row anywhere means
nothing of the file is written.
"""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hmas.errors import CandleDataError, DataFileError, DataFileNotFoundError, UsageError
from hmas.market import OHLCV_COLUMNS, timeframe_ms, validate_candle_frame

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

_TIME_COLUMNS = ("ts", "timestamp", "date", "datetime", "time", "open_time", "unix")
# CryptoDataDownload writes hourly dates as "2019-10-17 09-AM".
_CDD_HOURLY = "%Y-%m-%d %I-%p"


def read_ohlcv_file(path: Path, *, symbol: str, timeframe: str) -> pd.DataFrame:
    """Read and validate an OHLCV file into a candle frame; ``DataFileError`` naming the problem."""
    if not path.exists():
        raise DataFileNotFoundError(f"file not found: {path}; pass an existing file with --path")
    if path.is_dir():
        raise DataFileNotFoundError(f"{path} is a directory; pass an OHLCV file with --path")
    if not path.is_file():
        raise DataFileNotFoundError(f"{path} is not a regular file; pass an OHLCV file with --path")
    try:
        with path.open("rb"):
            pass
    except PermissionError:
        raise DataFileNotFoundError(
            f"cannot read {path}: permission denied; check the file's permissions"
        ) from None
    if path.stat().st_size == 0:
        raise DataFileNotFoundError(f"{path.name}: the file is empty; pass a file with candles")
    name = path.name.lower()
    try:
        if name.endswith(".feather"):
            frame = _read_feather(path, symbol)
        elif name.endswith((".json", ".json.gz", ".jsongz")):
            frame = _read_json(path, symbol)
        else:
            frame = _read_csv(path, symbol=symbol)
    except (DataFileError, CandleDataError, UsageError):
        raise
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path.name}: cannot be read as OHLCV ({exc})") from exc
    try:
        frame = validate_candle_frame(frame, what=path.name)
    except CandleDataError as exc:
        raise DataFileError(str(exc)) from None
    _check_spacing(frame, timeframe, path.name)
    return frame


def _read_feather(path: Path, symbol: str) -> pd.DataFrame:
    import pandas as pd

    try:
        raw = pd.read_feather(path)
    except Exception as exc:  # pyarrow raises its own error types
        raise DataFileError(f"{path.name}: not a readable feather file ({exc})") from exc
    return _from_columns(raw, path.name, symbol=symbol)


def _read_json(path: Path, symbol: str) -> pd.DataFrame:
    import pandas as pd

    opener: Any = gzip.open if path.name.lower().endswith(("gz",)) else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            data = json.load(fh)
    except (json.JSONDecodeError, EOFError, gzip.BadGzipFile) as exc:
        raise DataFileError(f"{path.name}: not valid JSON ({exc})") from exc
    if isinstance(data, dict):
        # freqtrade's "split"/"columns" orientations; anything else is not OHLCV.
        data = data.get("data", data)
    if not isinstance(data, list) or not data:
        raise DataFileError(
            f"{path.name}: expected a JSON list of [ms, open, high, low, close, volume]"
        )
    if isinstance(data[0], dict):
        return _from_columns(pd.DataFrame(data), path.name, symbol=symbol)
    if not all(isinstance(row, list) and len(row) >= 6 for row in data):
        raise DataFileError(f"{path.name}: every row must be [ms, open, high, low, close, volume]")
    raw = pd.DataFrame([row[:6] for row in data], columns=["ts", *OHLCV_COLUMNS])
    return _from_columns(raw, path.name)


def _read_csv(path: Path, *, symbol: str) -> pd.DataFrame:
    import pandas as pd

    with path.open(encoding="utf-8", errors="strict") as fh:
        first = fh.readline()
    # CryptoDataDownload files start with a banner line before the header.
    skip = 1 if "cryptodatadownload" in first.lower() else 0
    try:
        raw = pd.read_csv(path, skiprows=skip, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataFileNotFoundError(f"{path.name}: the file has no rows") from None
    except pd.errors.ParserError as exc:
        reason = " ".join(str(exc).split())
        raise DataFileError(
            f"{path.name}: malformed CSV ({reason}); expected columns ts,open,high,low,close,volume"
        ) from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    base = symbol.split("-", maxsplit=1)[0].upper()
    wide = [c for c in raw.columns if c.lower().startswith(f"{base.lower()}:")]
    assets = sorted(
        {
            c.split(":", 1)[0].upper()
            for c in raw.columns
            if ":" in c and c.split(":", 1)[1].lower() in OHLCV_COLUMNS
        }
    )
    if not wide and assets:
        raise UsageError(
            f"{path.name} has columns for {', '.join(assets)} but none for {base}; "
            f"pass one of those with --symbols (e.g. --symbols {assets[0]}-USD)"
        )
    if wide:
        # Wide layout with one column group per asset ("BTC:open", …): keep this symbol's
        # group and drop the rows before the asset was listed (all of its cells empty).
        time_col = raw.columns[0]
        sub = raw[[time_col, *wide]].copy()
        sub.columns = ["ts", *[c.split(":", 1)[1].lower() for c in wide]]
        values = sub.drop(columns="ts")
        sub = sub[~(values == "").all(axis=1)]
        return _from_columns(sub, path.name, base=base)
    if len(raw) == 0:
        raise DataFileNotFoundError(f"{path.name}: the file has a header but no rows")
    return _from_columns(raw, path.name, base=base, symbol=symbol)


#: Quote currencies tried when a file writes its symbol without a separator (``BTCUSD``).
_QUOTES = ("USDT", "USDC", "BUSD", "USD", "EUR", "GBP", "JPY", "BTC", "ETH")


def _check_symbol_column(raw: pd.DataFrame, column: Any, name: str, symbol: str) -> None:
    """Refuse a file whose own symbol column names another market than ``--symbols``."""
    values = sorted({str(v).strip() for v in raw[column].tolist() if str(v).strip()})
    if not values:
        return
    if len(values) > 1:
        shown = ", ".join(values[:5]) + (" …" if len(values) > 5 else "")
        raise UsageError(
            f"{name} holds several symbols ({shown}) in its {column} column; "
            "import a file of one symbol"
        )
    (found,) = values
    compact = "".join(ch for ch in found.upper() if ch.isalnum())
    if compact == symbol.replace("-", ""):
        return
    upper = found.upper()
    as_user = next(
        (
            f"{upper[: -len(q)]}-{q}"
            for q in _QUOTES
            if upper.endswith(q) and len(upper) > len(q) and upper[: -len(q)].isalnum()
        ),
        None,
    )
    if as_user is None:
        as_user = upper.replace("/", "-").replace("_", "-")
    raise UsageError(
        f"{name} holds {found} candles (its {column} column) but --symbols says {symbol}; "
        f"pass --symbols {as_user} or the right file"
    )


def _from_columns(
    raw: pd.DataFrame, name: str, base: str | None = None, *, symbol: str | None = None
) -> pd.DataFrame:
    """Map a table's columns onto ts/open/high/low/close/volume and parse the times."""
    import pandas as pd

    lower = {str(c).strip().lower(): c for c in raw.columns}
    symbol_col = next((lower[c] for c in ("symbol", "pair", "ticker") if c in lower), None)
    if symbol is not None and symbol_col is not None:
        _check_symbol_column(raw, symbol_col, name, symbol)
    time_col = next((lower[c] for c in _TIME_COLUMNS if c in lower), None)
    volume_col: Any
    if base is not None and f"volume_{base.lower()}" in lower:
        # CryptoDataDownload: volume_btc is in the base currency, volume in the quote.
        volume_col = lower[f"volume_{base.lower()}"]
    elif base is not None and f"volume {base.lower()}" in lower:
        volume_col = lower[f"volume {base.lower()}"]
    else:
        volume_col = lower.get("volume")
    mapping = {c: lower.get(c) for c in ("open", "high", "low", "close")}
    missing = [c for c, v in mapping.items() if v is None]
    if time_col is None:
        missing.insert(0, "a time column (ts, timestamp or date)")
    if volume_col is None:
        missing.append("volume")
    if missing:
        found = ", ".join(str(c) for c in raw.columns)
        raise DataFileError(f"{name}: missing column(s) {', '.join(missing)}; found: {found}")
    frame = pd.DataFrame(
        {c: raw[mapping[c]].to_numpy() for c in ("open", "high", "low", "close")}
        | {"volume": raw[volume_col].to_numpy()}
    )
    index = _parse_times(raw[time_col], name)
    frame.index = index
    frame.index.name = "ts"
    return frame


def _parse_times(col: pd.Series, name: str) -> pd.DatetimeIndex:
    """Epoch seconds/milliseconds, ISO strings or CryptoDataDownload dates -> UTC index."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        idx = pd.DatetimeIndex(col)
        return idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    text = col.astype(str).str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().all():
        # Epoch in milliseconds (ccxt) or seconds: ms values are above ~1e11 after 1973.
        values = numeric.astype("int64").to_numpy()
        if float(numeric.abs().max()) > 1e11:
            return pd.DatetimeIndex(pd.to_datetime(values, unit="ms", utc=True))
        return pd.DatetimeIndex(pd.to_datetime(values, unit="s", utc=True))
    for fmt in (_CDD_HOURLY, None):
        try:
            parsed = (
                pd.to_datetime(text, format=fmt, utc=True)
                if fmt
                else pd.to_datetime(text, utc=True, format="ISO8601")
            )
            return pd.DatetimeIndex(parsed)
        except (ValueError, TypeError):
            continue
    bad = next((v for v in text if _unparseable(v)), text.iloc[0])
    raise DataFileError(f"{name}: cannot parse time {bad!r}; use ISO 8601 or epoch milliseconds")


def _unparseable(value: str) -> bool:
    import pandas as pd

    try:
        pd.to_datetime(value, utc=True)
    except (ValueError, TypeError):
        return True
    return False


def _check_spacing(frame: pd.DataFrame, timeframe: str, name: str) -> None:
    """Refuse a file whose candles are not of ``timeframe`` (gaps are allowed, other steps not)."""
    import numpy as np
    import pandas as pd

    from hmas.market import TIMEFRAMES

    step = timeframe_ms(timeframe)
    if len(frame) < 2:
        return
    ms = pd.DatetimeIndex(frame.index).as_unit("ms").asi8
    diffs = np.diff(ms)
    # The most frequent spacing (the smallest on a tie): gaps only ever add longer spacings.
    values, counts = np.unique(diffs, return_counts=True)
    typical = int(values[np.argmax(counts)])
    if typical == step and not (diffs % step).any():
        return
    detected = next((tf for tf, v in TIMEFRAMES.items() if v == typical), None)
    if detected is not None:
        raise DataFileError(
            f"{name}: candles are {detected} apart but --timeframe is {timeframe}; "
            f"pass --timeframe {detected}"
        )
    raise DataFileError(
        f"{name}: candles are not on a {timeframe} grid (typical spacing {typical // 1000} s)"
    )
