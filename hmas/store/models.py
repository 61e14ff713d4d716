"""Table models of the store (SQLModel).

Candle times are integer epoch milliseconds in UTC (ccxt's unit): exact, compact, identical on
SQLite and PostgreSQL, and fast to bulk-insert and read back into a DataFrame. Audit times
(when a fetch ran) are timezone-aware datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime, Index
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(tz=UTC)


class Candle(SQLModel, table=True):
    """One closed OHLCV candle; the key is (exchange, symbol, timeframe, ts)."""

    __tablename__ = "candle"
    __table_args__ = {"sqlite_with_rowid": False}

    exchange: str = Field(primary_key=True, max_length=64)
    symbol: str = Field(primary_key=True, max_length=64)
    timeframe: str = Field(primary_key=True, max_length=8)
    ts: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    open: float
    high: float
    low: float
    close: float
    volume: float
    #: 'exchange', 'sample' (synthetic offline market) or 'file'.
    source: str = Field(max_length=16)
    fetch_id: int | None = Field(default=None, foreign_key="fetch_run.id")


class FetchRun(SQLModel, table=True):
    """One fetch of one symbol: what was asked, what was stored, how it ended."""

    __tablename__ = "fetch_run"
    __table_args__ = (Index("ix_fetch_run_series", "exchange", "symbol", "timeframe"),)

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    finished_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    source: str = Field(max_length=16)
    exchange: str = Field(max_length=64)
    symbol: str = Field(max_length=64)
    timeframe: str = Field(max_length=8)
    since_ts: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    until_ts: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    path: str | None = Field(default=None, max_length=1024)
    received: int = 0
    added: int = 0
    first_ts: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    last_ts: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    gaps: int = 0
    #: 'running', 'ok' or 'error'.
    status: str = Field(default="running", max_length=16)
    error: str | None = Field(default=None, max_length=2000)
