"""Candle repository: bulk upserts, series reads into DataFrames, fetch history."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from hmas.errors import StoreError, UsageError
from hmas.store.models import Candle, FetchRun, utcnow

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import NDArray
    from sqlalchemy.engine import Connection, Engine

_T = Candle.__table__  # type: ignore[attr-defined]
_F = FetchRun.__table__  # type: ignore[attr-defined]


def _reason(exc: Exception) -> str:
    """The driver's first line, never the SQL or its parameters."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


_COLS = ("ts", "open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class SeriesInfo:
    """One stored series and its extent."""

    exchange: str
    symbol: str
    timeframe: str
    source: str
    count: int
    first_ts: int
    last_ts: int


class CandleStore:
    """Reads and writes candles on one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name

    # --- writes -------------------------------------------------------------------------

    def upsert(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        rows: Sequence[Sequence[float]],
        *,
        source: str,
        fetch_id: int | None = None,
    ) -> int:
        """Insert ``[ms, o, h, l, c, v]`` rows, skipping keys already stored; return rows added.

        Stored candles are never overwritten: a signal's snapshot hash must stay reproducible.
        """
        if not rows:
            return 0
        params = [
            {
                "exchange": exchange,
                "symbol": symbol,
                "timeframe": timeframe,
                "ts": int(r[0]),
                "open": float(r[1]),
                "high": float(r[2]),
                "low": float(r[3]),
                "close": float(r[4]),
                "volume": float(r[5]),
                "source": source,
                "fetch_id": fetch_id,
            }
            for r in rows
        ]
        lo = min(int(r[0]) for r in rows)
        hi = max(int(r[0]) for r in rows)
        insert = sqlite_insert if self._dialect == "sqlite" else pg_insert
        stmt = insert(_T).on_conflict_do_nothing(
            index_elements=["exchange", "symbol", "timeframe", "ts"]
        )
        try:
            with self.engine.begin() as conn:
                before = self._count(conn, exchange, symbol, timeframe, lo, hi)
                conn.execute(stmt, params)
                after = self._count(conn, exchange, symbol, timeframe, lo, hi)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"could not store candles for {symbol} {timeframe}: {_reason(exc)}"
            ) from exc
        return after - before

    @staticmethod
    def _count(
        conn: Connection, exchange: str, symbol: str, timeframe: str, lo: int, hi: int
    ) -> int:
        q = select(func.count()).where(
            _T.c.exchange == exchange,
            _T.c.symbol == symbol,
            _T.c.timeframe == timeframe,
            _T.c.ts >= lo,
            _T.c.ts <= hi,
        )
        return int(conn.execute(q).scalar_one())

    # --- reads --------------------------------------------------------------------------

    def last_ts(self, exchange: str, symbol: str, timeframe: str) -> int | None:
        """Open time of the newest stored candle of a series, or None."""
        q = select(func.max(_T.c.ts)).where(
            _T.c.exchange == exchange, _T.c.symbol == symbol, _T.c.timeframe == timeframe
        )
        with self.engine.connect() as conn:
            value = conn.execute(q).scalar_one_or_none()
        return None if value is None else int(value)

    def timestamps(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        since: int | None = None,
        until: int | None = None,
    ) -> list[int]:
        """Every stored open time of a series in [since, until], ascending."""
        sql = "SELECT ts FROM candle WHERE exchange = ? AND symbol = ? AND timeframe = ?"
        params: list[Any] = [exchange, symbol, timeframe]
        if since is not None:
            sql += " AND ts >= ?"
            params.append(since)
        if until is not None:
            sql += " AND ts <= ?"
            params.append(until)
        stamps: list[int] = self._fetch_array(sql + " ORDER BY ts", params, "int64").tolist()
        return stamps

    def frame(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        *,
        tail: int | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> pd.DataFrame:
        """The stored candles of a series as a candle frame (the last ``tail`` if given)."""
        import pandas as pd

        # Plain DB-API tuples: numpy converts them ~50x faster than SQLAlchemy Row objects,
        # which is what keeps "latest 300 candles" around a millisecond.
        sql = (
            "SELECT ts, open, high, low, close, volume FROM candle"
            " WHERE exchange = ? AND symbol = ? AND timeframe = ?"
        )
        params: list[Any] = [exchange, symbol, timeframe]
        if since is not None:
            sql += " AND ts >= ?"
            params.append(since)
        if until is not None:
            sql += " AND ts <= ?"
            params.append(until)
        if tail is not None:
            sql += " ORDER BY ts DESC LIMIT ?"
            params.append(tail)
        else:
            sql += " ORDER BY ts"
        flat = self._fetch_array(sql, params, "float64")
        raw = flat.reshape(len(flat) // len(_COLS), len(_COLS))
        data = raw[::-1] if tail is not None else raw
        ms = data[:, 0].astype("int64")
        # Straight to UTC nanoseconds: the same index as localising ms times, without a pass.
        index = pd.DatetimeIndex((ms * 1_000_000).view("datetime64[ns]"), name="ts").tz_localize(
            "UTC"
        )
        return pd.DataFrame(data[:, 1:], index=index, columns=list(_COLS[1:]))

    def _fetch_array(self, sql: str, params: list[Any], dtype: str) -> NDArray[Any]:
        """Every value of the query's rows, row after row, as one numpy array of ``dtype``.

        Straight from the DB-API cursor into numpy (no SQLAlchemy rows, no list of tuples):
        reading 525,600 candles is then the driver's own time. Epoch-ms times are exact in a
        float64 (below 2**53).
        """
        import itertools

        import numpy as np

        if self._dialect != "sqlite":
            sql = sql.replace("?", "%s")
        try:
            with self.engine.connect() as conn:
                cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                try:
                    cursor.execute(sql, params)
                    values = itertools.chain.from_iterable(cursor)  # type: ignore[arg-type]
                    return np.fromiter(values, dtype=dtype)
                finally:
                    cursor.close()
        except Exception as exc:  # DB-API errors differ per driver
            from hmas.store.engine import translate_error, where_of

            translated = translate_error(exc, where_of(self.engine))
            if translated is not None:
                raise translated from exc
            raise StoreError(f"could not read candles: {_reason(exc)}") from exc

    def symbols(self, exchange: str, timeframe: str) -> dict[str, str]:
        """The symbols with candles stored for one exchange and timeframe, with their source.

        A loose index scan (one index probe per symbol) rather than a GROUP BY over every
        candle: this runs for every decision, and a year of 1-minute candles is 525,600 rows
        per symbol.
        """
        walk = text(
            "WITH RECURSIVE s(sym) AS ("
            " SELECT MIN(symbol) FROM candle WHERE exchange = :e"
            " UNION ALL"
            " SELECT (SELECT MIN(symbol) FROM candle WHERE exchange = :e AND symbol > s.sym)"
            " FROM s WHERE s.sym IS NOT NULL"
            ") SELECT sym FROM s WHERE sym IS NOT NULL"
        )
        latest = text(
            "SELECT source FROM candle WHERE exchange = :e AND symbol = :s AND timeframe = :t"
            " ORDER BY ts DESC LIMIT 1"
        )
        found: dict[str, str] = {}
        with self.engine.connect() as conn:
            for (sym,) in conn.execute(walk, {"e": exchange}).all():
                source = conn.execute(latest, {"e": exchange, "s": sym, "t": timeframe}).scalar()
                if source is not None:
                    found[str(sym)] = str(source)
        return found

    def exchanges_for(self, symbol: str, timeframe: str) -> list[str]:
        """The exchanges a symbol's candles of ``timeframe`` are stored under (index probes)."""
        walk = text(
            "WITH RECURSIVE s(ex) AS ("
            " SELECT MIN(exchange) FROM candle"
            " UNION ALL"
            " SELECT (SELECT MIN(exchange) FROM candle WHERE exchange > s.ex)"
            " FROM s WHERE s.ex IS NOT NULL"
            ") SELECT ex FROM s WHERE ex IS NOT NULL"
        )
        probe = text(
            "SELECT 1 FROM candle WHERE exchange = :e AND symbol = :s AND timeframe = :t LIMIT 1"
        )
        with self.engine.connect() as conn:
            exchanges = [str(e) for (e,) in conn.execute(walk).all()]
            return [
                e
                for e in exchanges
                if conn.execute(probe, {"e": e, "s": symbol, "t": timeframe}).first() is not None
            ]

    def resolve_exchange(
        self, symbol: str, timeframe: str, exchange: str | None, preferred: str
    ) -> str:
        """The exchange a series is stored under: ``exchange``, the only one, or ``preferred``."""
        matches = self.exchanges_for(symbol, timeframe)
        if exchange is not None:
            matches = [e for e in matches if e == exchange]
        if not matches:
            where = f" on {exchange}" if exchange else ""
            raise UsageError(
                f"no {symbol} {timeframe} candles stored{where}; fetch them first, e.g. "
                f"hmas fetch --symbols {symbol} --timeframe {timeframe}"
            )
        if len(matches) > 1:
            if preferred in matches:
                return preferred
            raise UsageError(
                f"{symbol} {timeframe} is stored for {', '.join(matches)}; pick one with --exchange"
            )
        return matches[0]

    def series_info(self, exchange: str, symbol: str, timeframe: str) -> SeriesInfo | None:
        """One stored series and its extent, as ``series`` lists it (None when not stored).

        Reads only that series' rows, not every series of the symbol.
        """
        q = select(func.min(_T.c.source), func.count(), func.min(_T.c.ts), func.max(_T.c.ts)).where(
            _T.c.exchange == exchange, _T.c.symbol == symbol, _T.c.timeframe == timeframe
        )
        with self.engine.connect() as conn:
            source, count, first, last = conn.execute(q).one()
        if not count:
            return None
        return SeriesInfo(exchange, symbol, timeframe, source, int(count), int(first), int(last))

    def span(
        self, exchange: str, symbol: str, timeframe: str, since: int, until: int
    ) -> tuple[int, int] | None:
        """The first and last stored open time of a series in [since, until] (None: none).

        Two index probes: a minimum and a maximum each, not a read of the range.
        """
        key = (_T.c.exchange == exchange, _T.c.symbol == symbol, _T.c.timeframe == timeframe)
        inside = (*key, _T.c.ts >= since, _T.c.ts <= until)
        q = select(
            select(func.min(_T.c.ts)).where(*inside).scalar_subquery(),
            select(func.max(_T.c.ts)).where(*inside).scalar_subquery(),
        )
        with self.engine.connect() as conn:
            first, last = conn.execute(q).one()
        return None if first is None else (int(first), int(last))

    def series(self, symbol: str | None = None) -> list[SeriesInfo]:
        """Every stored series (optionally of one symbol) with its extent and source."""
        q = (
            select(
                _T.c.exchange,
                _T.c.symbol,
                _T.c.timeframe,
                func.min(_T.c.source),
                func.count(),
                func.min(_T.c.ts),
                func.max(_T.c.ts),
            )
            .group_by(_T.c.exchange, _T.c.symbol, _T.c.timeframe)
            .order_by(_T.c.symbol, _T.c.exchange, _T.c.timeframe)
        )
        if symbol is not None:
            q = q.where(_T.c.symbol == symbol)
        with self.engine.connect() as conn:
            return [
                SeriesInfo(r[0], r[1], r[2], r[3], int(r[4]), int(r[5]), int(r[6]))
                for r in conn.execute(q).all()
            ]

    # --- fetch history ------------------------------------------------------------------

    def start_fetch(self, **fields: Any) -> int:
        """Record the start of a fetch; return its id."""
        with self.engine.begin() as conn:
            result = conn.execute(
                _F.insert().values(
                    started_at=utcnow(),
                    status="running",
                    received=0,
                    added=0,
                    gaps=0,
                    pid=os.getpid(),
                    host=socket.gethostname(),
                    **fields,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def finish_fetch(self, fetch_id: int, **fields: Any) -> None:
        """Record how a fetch ended."""
        with self.engine.begin() as conn:
            conn.execute(
                update(_F).where(_F.c.id == fetch_id).values(finished_at=utcnow(), **fields)
            )

    def fetches(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest fetch runs, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(_F).order_by(_F.c.id.desc()).limit(limit)).mappings().all()
        return [dict(r) for r in rows]
