"""Table models of the store (SQLModel).

Candle times are integer epoch milliseconds in UTC (ccxt's unit): exact, compact, identical on
SQLite and PostgreSQL, and fast to bulk-insert and read back into a DataFrame. Audit times
(when a fetch ran) are timezone-aware datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Text, UniqueConstraint
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
    #: 'running', 'ok', 'error', or 'interrupted' (its process ended without recording how).
    status: str = Field(default="running", max_length=16)
    error: str | None = Field(default=None, max_length=2000)
    #: The process that ran the fetch, to tell a live fetch from one a kill left 'running'.
    pid: int | None = None
    host: str | None = Field(default=None, max_length=255)


def _ts_col(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(BigInteger, nullable=nullable))


class Analysis(SQLModel, table=True):
    """Features and Layer 2 views for one bar, with the snapshot needed to replay them."""

    __tablename__ = "analysis"
    __table_args__ = (
        UniqueConstraint(
            "exchange",
            "symbol",
            "timeframe",
            "bar_ts",
            "engine",
            "config_hash",
            name="uq_analysis_bar",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    exchange: str = Field(max_length=64)
    symbol: str = Field(max_length=64)
    timeframe: str = Field(max_length=8)
    bar_ts: int = Field(sa_column=Column(BigInteger, nullable=False))
    engine: str = Field(max_length=32)
    config_hash: str = Field(max_length=32)
    hmas_version: str = Field(max_length=32)
    #: The candles' source ('exchange', 'sample', 'file'): sample analyses are marked as such.
    source: str = Field(max_length=16)
    window_first_ts: int = Field(sa_column=Column(BigInteger, nullable=False))
    window_last_ts: int = Field(sa_column=Column(BigInteger, nullable=False))
    window_len: int
    #: sha256 of the candle window and of every context series used (see decision.snapshot).
    snapshot_hash: str = Field(max_length=64)
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    features: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    views: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Signal(SQLModel, table=True):
    """A decision for one bar: unique per (exchange, symbol, timeframe, bar, engine, config)."""

    __tablename__ = "signal"
    __table_args__ = (
        UniqueConstraint(
            "exchange",
            "symbol",
            "timeframe",
            "bar_ts",
            "engine",
            "config_hash",
            name="uq_signal_bar",
        ),
        Index("ix_signal_symbol_bar", "symbol", "bar_ts"),
    )

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    analysis_id: int = Field(foreign_key="analysis.id")
    run_id: int | None = Field(default=None, foreign_key="run.id")
    exchange: str = Field(max_length=64)
    symbol: str = Field(max_length=64)
    timeframe: str = Field(max_length=8)
    bar_ts: int = Field(sa_column=Column(BigInteger, nullable=False))
    engine: str = Field(max_length=32)
    config_hash: str = Field(max_length=32)
    hmas_version: str = Field(max_length=32)
    source: str = Field(max_length=16)
    decision: str = Field(max_length=16)
    action: str = Field(max_length=8)
    confidence: float | None = None
    entry: float | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    size: float | None = None
    reward_risk: float | None = None
    expected_value_r: float | None = None
    risk_adjusted_ev_r: float | None = None
    consensus: float | None = None
    quality: float | None = None
    conviction: float | None = None
    rejection_reason: str | None = Field(default=None, max_length=2000)
    rounds: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    guardian: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    #: USD spent on LLM calls for this signal (its agents and the mother); None: rules only,
    #: or a price unknown.
    cost_usd: float | None = None


class SignalResult(SQLModel, table=True):
    """The outcome of an approved signal's paper position (pending until it closes)."""

    __tablename__ = "signal_result"

    signal_id: int = Field(foreign_key="signal.id", primary_key=True)
    status: str = Field(max_length=16)
    fill_ts: int | None = _ts_col(nullable=True)
    fill_price: float | None = None
    exit_ts: int | None = _ts_col(nullable=True)
    exit_price: float | None = None
    bars_held: int = 0
    r_multiple: float | None = None
    pnl_money: float | None = None
    pnl_pct: float | None = None
    mae_r: float | None = None
    mfe_r: float | None = None
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class Position(SQLModel, table=True):
    """A simulated position opened from an approved signal. Paper only: no order is ever sent."""

    __tablename__ = "position"
    __table_args__ = (Index("ix_position_engine_status", "engine", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    signal_id: int = Field(foreign_key="signal.id", unique=True)
    engine: str = Field(max_length=32)
    exchange: str = Field(max_length=64)
    symbol: str = Field(max_length=64)
    timeframe: str = Field(max_length=8)
    side: str = Field(max_length=8)
    entry: float
    stop_loss: float
    take_profit: float
    size: float
    opened_bar_ts: int = Field(sa_column=Column(BigInteger, nullable=False))
    #: 'open' or 'closed'.
    status: str = Field(max_length=16)
    closed_ts: int | None = _ts_col(nullable=True)


class Account(SQLModel, table=True):
    """The paper account of one engine: equity, daily start, peak, pause and kill switch."""

    __tablename__ = "account"

    engine: str = Field(primary_key=True, max_length=32)
    starting_equity: float
    equity: float
    day: str = Field(max_length=10)
    day_start_equity: float
    peak_equity: float
    consecutive_losses: int = 0
    paused_until_ts: int | None = _ts_col(nullable=True)
    kill_switch: bool = False
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class Run(SQLModel, table=True):
    """One iteration of ``hmas run``: what it did and how it ended."""

    __tablename__ = "run"

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    finished_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    iteration: int = 0
    pid: int = 0
    host: str = Field(default="", max_length=255)
    engine: str = Field(max_length=32)
    config_hash: str = Field(max_length=32)
    #: 'running', 'ok', 'partial' (a symbol failed), 'error', 'interrupted'.
    status: str = Field(default="running", max_length=16)
    symbols: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    signals_created: int = 0
    approved: int = 0
    errors: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Lease(SQLModel, table=True):
    """Who runs one series (exchange/symbol/timeframe) now: a lease ``hmas run`` renews.

    ``token`` grows by one on every acquisition and is never reused for the key (a released
    lease keeps its row with an empty ``owner``): a runner's writes are fenced by it
    (``hmas.store.locks``). A lease whose ``expires_at`` has passed may be taken over.
    """

    __tablename__ = "lease"

    key: str = Field(primary_key=True, max_length=200)
    #: The holder's random id, empty when the lease was released.
    owner: str = Field(max_length=64)
    token: int = Field(sa_column=Column(BigInteger, nullable=False))
    pid: int
    host: str = Field(max_length=255)
    acquired_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    renewed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class BacktestRun(SQLModel, table=True):
    """One ``hmas backtest``: what it ran on (config, data range and hash), its metrics, trades.

    ``series`` lists each symbol's exchange, source and simulated bars; ``metrics`` and
    ``trades`` are the JSON ``hmas backtest show`` prints (numbers or null, never NaN).
    """

    __tablename__ = "backtest_run"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    hmas_version: str = Field(max_length=32)
    strategy: str = Field(max_length=32)
    engine: str = Field(max_length=32)
    timeframe: str = Field(max_length=8)
    symbols: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    #: Open time of the first and of the last simulated bar (epoch ms).
    start_ts: int = Field(sa_column=Column(BigInteger, nullable=False))
    end_ts: int = Field(sa_column=Column(BigInteger, nullable=False))
    bars: int
    #: sha256 of every candle read (the symbols', the benchmark's, the universe's, warm-up too).
    data_hash: str = Field(max_length=64)
    config_hash: str = Field(max_length=32)
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    series: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    sample_data: bool = False
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    trades: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )


class LlmCall(SQLModel, table=True):
    """One call to an LLM provider (or one answer taken from this log: ``status = cached``).

    Written at one place, ``hmas.llm.client.LlmClient`` through the store's call ledger, for
    every call. ``prompt`` is the request body (never its headers: no key is ever here);
    ``response`` the answer as received (redacted, cut at 20,000 characters). A row is
    ``pending`` from just before the call (its ``estimate_usd`` counts against the budgets)
    until the call ends. ``batch`` groups the calls of one signal until its analysis and signal
    exist; ``cache_key`` is the hash of (vendor, model, prompt, schema).
    """

    __tablename__ = "llm_call"
    __table_args__ = (
        Index("ix_llm_call_day", "day"),
        Index("ix_llm_call_batch", "batch"),
        Index("ix_llm_call_cache_key", "cache_key"),
        Index("ix_llm_call_signal", "signal_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    #: The UTC day of the call (``YYYY-MM-DD``): the daily budget's key.
    day: str = Field(max_length=10)
    batch: str = Field(max_length=64)
    analysis_id: int | None = Field(default=None, foreign_key="analysis.id")
    signal_id: int | None = Field(default=None, foreign_key="signal.id")
    agent: str = Field(max_length=32)
    vendor: str = Field(max_length=64)
    model: str = Field(max_length=128)
    attempt: int = 1
    cache_key: str | None = Field(default=None, max_length=64)
    prompt: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    response: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float | None = None
    estimate_usd: float | None = None
    latency_s: float = 0.0
    #: 'pending', 'ok', 'error', 'deadline' or 'cached'.
    status: str = Field(max_length=16)
    http_status: int | None = None
    error: str | None = Field(default=None, max_length=2000)


class Pause(SQLModel, table=True):
    """A pause of new trades: what triggered it, why, and when it ends (docs/risk.md, "Pauses").

    ``scope`` is ``*`` (every symbol of the engine) or one symbol (a data-quality pause).
    Active while ``lifted_at`` is NULL and ``expires_at`` is NULL or later than now; lifted by
    ``hmas resume`` (``lifted_by``, ``lift_reason``) or by its expiry (nothing is written then).
    """

    __tablename__ = "pause"
    __table_args__ = (Index("ix_pause_engine_lifted", "engine", "lifted_at"),)

    id: int | None = Field(default=None, primary_key=True)
    engine: str = Field(max_length=32)
    #: 'loss_streak', 'daily_loss', 'api_errors', 'slippage' or 'data_quality'.
    trigger: str = Field(max_length=16)
    scope: str = Field(default="*", max_length=64)
    reason: str = Field(max_length=2000)
    started_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    expires_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    lifted_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    lifted_by: str | None = Field(default=None, max_length=128)
    lift_reason: str | None = Field(default=None, max_length=2000)
