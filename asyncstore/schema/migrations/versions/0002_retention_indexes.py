"""Retention indexes: each chunk of cleanup_old_data finds its rows through an index.

Without them, every cleanup ends with a chunk that scans the whole trades table while holding
the write lock (a stall for every bot on a large database).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 07:38:32.529062
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLOSED_OR_CANCELLED = sa.text("status IN ('closed', 'cancelled')")


def upgrade() -> None:
    op.create_index(
        "ix_trades_retention",
        "trades",
        [sa.text("coalesce(exit_time, created_at)")],
        sqlite_where=CLOSED_OR_CANCELLED,
        postgresql_where=CLOSED_OR_CANCELLED,
    )
    op.create_index(
        "ix_performance_metrics_retention",
        "performance_metrics",
        [sa.text("coalesce(calculated_at, created_at)")],
    )


def downgrade() -> None:
    op.drop_index("ix_performance_metrics_retention", table_name="performance_metrics")
    op.drop_index("ix_trades_retention", table_name="trades")
