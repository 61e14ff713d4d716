"""candles and fetch history

Revision ID: 0001_candles
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_candles"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fetch_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("exchange", sa.String(length=64), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("since_ts", sa.BigInteger(), nullable=True),
        sa.Column("until_ts", sa.BigInteger(), nullable=True),
        sa.Column("path", sa.String(length=1024), nullable=True),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("first_ts", sa.BigInteger(), nullable=True),
        sa.Column("last_ts", sa.BigInteger(), nullable=True),
        sa.Column("gaps", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_fetch_run_series", "fetch_run", ["exchange", "symbol", "timeframe"])
    op.create_table(
        "candle",
        sa.Column("exchange", sa.String(length=64), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("ts", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("open", sa.Float(), nullable=False),
        sa.Column("high", sa.Float(), nullable=False),
        sa.Column("low", sa.Float(), nullable=False),
        sa.Column("close", sa.Float(), nullable=False),
        sa.Column("volume", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("fetch_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["fetch_id"], ["fetch_run.id"]),
        sa.PrimaryKeyConstraint("exchange", "symbol", "timeframe", "ts"),
        # The key is the only index reads need; WITHOUT ROWID clusters rows by it in SQLite.
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("candle")
    op.drop_index("ix_fetch_run_series", table_name="fetch_run")
    op.drop_table("fetch_run")
