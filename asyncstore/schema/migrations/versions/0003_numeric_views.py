"""Numeric views: trades_numeric, bot_instances_numeric, performance_metrics_numeric.

Other tools (the sqlite3 CLI, Datasette, Grafana) read SQLite's exact decimal text as text, so
MAX, ORDER BY, comparisons and SUM over money answer wrong; the views give money as REAL on
SQLite and pass PostgreSQL's NUMERIC through, so one query reads both backends
(asyncstore.schema.numeric_views).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 11:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

from asyncstore.schema.numeric_views import create_numeric_views, drop_numeric_views

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The columns come from the database being migrated, not the models: a later revision that
    # adds a column drops and re-creates the views once the column exists.
    create_numeric_views(op.get_bind())


def downgrade() -> None:
    drop_numeric_views(op.get_bind())
