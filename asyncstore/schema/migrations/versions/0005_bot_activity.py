"""Bot activity: each bot's heartbeats, status and balance per minute, recorded by a trigger.

`bot_activity` holds one row per bot per time bucket (60 s, rolled up into 3600 s by retention);
the trigger `bot_activity_on_heartbeat` on bot_instances upserts the minute bucket of every
heartbeat, whatever stamped it (asyncstore.schema.activity). Existing rows are untouched: the
history starts with the first heartbeat after the upgrade.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from asyncstore.schema.activity import create_activity_trigger, drop_activity_trigger
from asyncstore.types import ExactDecimal, UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bot_activity",
        sa.Column("bot_id", sa.String(length=255), nullable=False),
        sa.Column("bucket_seconds", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("bucket_start", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("current_balance", ExactDecimal(precision=20, scale=8), nullable=True),
        sa.Column("total_pnl", ExactDecimal(precision=20, scale=8), nullable=True),
        sa.Column("heartbeats", sa.Integer(), nullable=False),
        sa.Column("first_beat", UTCDateTime(), nullable=False),
        sa.Column("last_beat", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "bucket_seconds IN (60, 3600)", name=op.f("ck_bot_activity_bucket_seconds")
        ),
        sa.ForeignKeyConstraint(
            ["bot_id"],
            ["bot_instances.id"],
            name=op.f("fk_bot_activity_bot_id_bot_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "bot_id", "bucket_seconds", "bucket_start", name=op.f("pk_bot_activity")
        ),
    )
    # Last, once the table it writes exists.
    create_activity_trigger(op.get_bind())


def downgrade() -> None:
    drop_activity_trigger(op.get_bind())
    op.drop_table("bot_activity")
