"""Initial schema: the spec's three tables, as asyncstore 0.1 created them.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 07:38:00.100257
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from asyncstore.types import ExactDecimal, JSONDocument, UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bot_instances",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("config_file", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("current_balance", ExactDecimal(precision=20, scale=8), nullable=True),
        sa.Column("total_pnl", ExactDecimal(precision=20, scale=8), nullable=True),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_heartbeat", UTCDateTime(timezone=True), nullable=True),
        sa.Column("extra_metadata", JSONDocument(), nullable=True),
        sa.Column(
            "created_at",
            UTCDateTime(timezone=True),
            server_default=sa.func.current_timestamp(),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            UTCDateTime(timezone=True),
            server_default=sa.func.current_timestamp(),
            nullable=False,
        ),
        sa.CheckConstraint(
            "type IN ('paper', 'live', 'optimization')", name=op.f("ck_bot_instances_type")
        ),
        sa.CheckConstraint(
            "status IN ('running', 'stopped', 'error')", name=op.f("ck_bot_instances_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_instances")),
    )
    op.create_table(
        "performance_metrics",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("bot_id", sa.String(length=255), nullable=True),
        sa.Column("sharpe_ratio", ExactDecimal(precision=10, scale=4), nullable=True),
        sa.Column("win_rate", ExactDecimal(precision=5, scale=2), nullable=True),
        sa.Column("profit_factor", ExactDecimal(precision=10, scale=4), nullable=True),
        sa.Column("max_drawdown", ExactDecimal(precision=10, scale=4), nullable=True),
        sa.Column("total_return", ExactDecimal(precision=10, scale=4), nullable=True),
        sa.Column("total_trades", sa.Integer(), nullable=True),
        sa.Column("winning_trades", sa.Integer(), nullable=True),
        sa.Column("losing_trades", sa.Integer(), nullable=True),
        sa.Column("avg_win", ExactDecimal(precision=20, scale=8), nullable=True),
        sa.Column("avg_loss", ExactDecimal(precision=20, scale=8), nullable=True),
        sa.Column("largest_win", ExactDecimal(precision=20, scale=8), nullable=True),
        sa.Column("largest_loss", ExactDecimal(precision=20, scale=8), nullable=True),
        sa.Column("calculated_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("extra_metadata", JSONDocument(), nullable=True),
        sa.Column(
            "created_at",
            UTCDateTime(timezone=True),
            server_default=sa.func.current_timestamp(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["bot_id"],
            ["bot_instances.id"],
            name=op.f("fk_performance_metrics_bot_id_bot_instances"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_performance_metrics")),
    )
    with op.batch_alter_table("performance_metrics", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_performance_metrics_bot_id"), ["bot_id"], unique=False)

    op.create_table(
        "trades",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("bot_id", sa.String(length=255), nullable=False),
        sa.Column("trade_type", sa.String(length=20), nullable=False),
        sa.Column("strategy_name", sa.String(length=100), nullable=True),
        sa.Column("entry_logic_name", sa.String(length=100), nullable=False),
        sa.Column("exit_logic_name", sa.String(length=100), nullable=False),
        sa.Column("symbol", sa.String(length=20), nullable=False),
        sa.Column("interval", sa.String(length=10), nullable=False),
        sa.Column("entry_time", UTCDateTime(timezone=True), nullable=True),
        sa.Column("exit_time", UTCDateTime(timezone=True), nullable=True),
        sa.Column("buy_order_created", UTCDateTime(timezone=True), nullable=True),
        sa.Column("buy_order_closed", UTCDateTime(timezone=True), nullable=True),
        sa.Column("sell_order_created", UTCDateTime(timezone=True), nullable=True),
        sa.Column("sell_order_closed", UTCDateTime(timezone=True), nullable=True),
        sa.Column("entry_price", ExactDecimal(precision=20, scale=8), nullable=True),
        sa.Column("exit_price", ExactDecimal(precision=20, scale=8), nullable=True),
        sa.Column("entry_value", ExactDecimal(precision=20, scale=8), nullable=True),
        sa.Column("exit_value", ExactDecimal(precision=20, scale=8), nullable=True),
        sa.Column("size", ExactDecimal(precision=20, scale=8), nullable=True),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("commission", ExactDecimal(precision=20, scale=8), nullable=True),
        sa.Column("gross_pnl", ExactDecimal(precision=20, scale=8), nullable=True),
        sa.Column("net_pnl", ExactDecimal(precision=20, scale=8), nullable=True),
        sa.Column("pnl_percentage", ExactDecimal(precision=10, scale=4), nullable=True),
        sa.Column("exit_reason", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("extra_metadata", JSONDocument(), nullable=True),
        sa.Column(
            "created_at",
            UTCDateTime(timezone=True),
            server_default=sa.func.current_timestamp(),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            UTCDateTime(timezone=True),
            server_default=sa.func.current_timestamp(),
            nullable=False,
        ),
        sa.CheckConstraint(
            "trade_type IN ('paper', 'live', 'optimization')", name=op.f("ck_trades_trade_type")
        ),
        sa.CheckConstraint("direction IN ('long', 'short')", name=op.f("ck_trades_direction")),
        sa.CheckConstraint(
            "status IN ('open', 'closed', 'cancelled')", name=op.f("ck_trades_status")
        ),
        sa.ForeignKeyConstraint(
            ["bot_id"], ["bot_instances.id"], name=op.f("fk_trades_bot_id_bot_instances")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trades")),
    )
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.create_index("idx_bot_trade_type", ["bot_id", "trade_type"], unique=False)
        batch_op.create_index("idx_entry_time", ["entry_time"], unique=False)
        batch_op.create_index("idx_strategy", ["entry_logic_name", "exit_logic_name"], unique=False)
        batch_op.create_index("idx_symbol_status", ["symbol", "status"], unique=False)
        batch_op.create_index(
            "ix_trades_open_by_bot",
            ["bot_id"],
            unique=False,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_trades_open_by_bot",
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )
        batch_op.drop_index("idx_symbol_status")
        batch_op.drop_index("idx_strategy")
        batch_op.drop_index("idx_entry_time")
        batch_op.drop_index("idx_bot_trade_type")

    op.drop_table("trades")
    with op.batch_alter_table("performance_metrics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_performance_metrics_bot_id"))

    op.drop_table("performance_metrics")
    op.drop_table("bot_instances")
