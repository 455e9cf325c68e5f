"""Change log: one row per committed write transaction, for the change feed across processes.

A process that did not write (a dashboard, another bot's process) learns what changed on a SQLite
database by reading the rows after the last `seq` it saw, when `PRAGMA data_version` says the
file changed (asyncstore.sqlite.feed). PostgreSQL announces commits with NOTIFY; the table
exists there too, so both backends have one schema, and stays empty.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 13:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from asyncstore.types import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "change_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("committed_at", UTCDateTime(), nullable=False),
        sa.Column("origin", sa.String(length=36), nullable=False),
        sa.Column("changes", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_change_log")),
    )


def downgrade() -> None:
    op.drop_table("change_log")
