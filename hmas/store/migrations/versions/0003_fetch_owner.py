"""fetch_run: the process (pid, host) that ran it, to reconcile fetches a kill left running

Revision ID: 0003_fetch_owner
Revises: 0002_signals
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_fetch_owner"
down_revision: str | None = "0002_signals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fetch_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("host", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fetch_run", schema=None) as batch_op:
        batch_op.drop_column("host")
        batch_op.drop_column("pid")
