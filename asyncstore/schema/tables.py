"""The spec's three tables as SQLAlchemy 2 typed declarative models.

Every column, enumeration CHECK, foreign key and the four named indexes of
`spec/database-documentation.md` exist exactly as named. Deliberate differences, each for a reason:
- `trade_type` is VARCHAR(20): the spec's VARCHAR(10) cannot hold its own value 'optimization';
- `ix_trades_open_by_bot`, a partial index over open trades only, keeps `get_open_trades(bot_id)`
  fast however many closed trades a bot has accumulated;
- `ix_trades_retention` and `ix_performance_metrics_retention` index the retention age (revision
  0002), so each chunk of `cleanup_old_data` finds its rows without scanning the table: without
  them the last chunk of every cleanup scans every trade while holding the write lock.

Beside the spec's tables, asyncstore keeps `change_log` (revision 0004, the change feed of other
processes) and `bot_activity` (revision 0005, each bot's heartbeats and balance per minute,
recorded by a trigger: asyncstore.schema.activity).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from asyncstore.types import ExactDecimal, JSONDocument, UTCDateTime

__all__ = [
    "BOT_ACTIVITY",
    "BOTS",
    "BOT_STATUSES",
    "BOT_TYPES",
    "DIRECTIONS",
    "METRICS",
    "TRADES",
    "TRADE_STATUSES",
    "TRADE_TYPES",
    "Base",
    "BotActivity",
    "BotInstance",
    "CHANGE_LOG",
    "ChangeLogEntry",
    "PerformanceMetrics",
    "Trade",
]

TRADE_TYPES = ("paper", "live", "optimization")
DIRECTIONS = ("long", "short")
TRADE_STATUSES = ("open", "closed", "cancelled")
BOT_TYPES = TRADE_TYPES
BOT_STATUSES = ("running", "stopped", "error")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Money = ExactDecimal(20, 8)
Ratio = ExactDecimal(10, 4)
Percent = ExactDecimal(5, 2)


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    allowed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=column)


def _created_at() -> Mapped[datetime]:
    # Written by asyncstore on insert; the server default covers rows written by other tools.
    return mapped_column(UTCDateTime(), nullable=False, server_default=func.current_timestamp())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class BotInstance(Base):
    __tablename__ = "bot_instances"
    __table_args__ = (_one_of("type", BOT_TYPES), _one_of("status", BOT_STATUSES))

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(20), nullable=False)
    config_file: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    current_balance: Mapped[Decimal | None] = mapped_column(Money)
    total_pnl: Mapped[Decimal | None] = mapped_column(Money)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime())
    extra_metadata: Mapped[Any | None] = mapped_column(JSONDocument())
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _created_at()


class Trade(Base):
    __tablename__ = "trades"
    __table_args__ = (
        _one_of("trade_type", TRADE_TYPES),
        _one_of("direction", DIRECTIONS),
        _one_of("status", TRADE_STATUSES),
        Index("idx_symbol_status", "symbol", "status"),
        Index("idx_entry_time", "entry_time"),
        Index("idx_strategy", "entry_logic_name", "exit_logic_name"),
        Index("idx_bot_trade_type", "bot_id", "trade_type"),
        Index(
            "ix_trades_open_by_bot",
            "bot_id",
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    bot_id: Mapped[str] = mapped_column(String(255), ForeignKey("bot_instances.id"), nullable=False)
    trade_type: Mapped[str] = mapped_column(String(20), nullable=False)
    strategy_name: Mapped[str | None] = mapped_column(String(100))
    entry_logic_name: Mapped[str] = mapped_column(String(100), nullable=False)
    exit_logic_name: Mapped[str] = mapped_column(String(100), nullable=False)
    symbol: Mapped[str] = mapped_column(String(20), nullable=False)
    interval: Mapped[str] = mapped_column(String(10), nullable=False)
    entry_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    exit_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    buy_order_created: Mapped[datetime | None] = mapped_column(UTCDateTime())
    buy_order_closed: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sell_order_created: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sell_order_closed: Mapped[datetime | None] = mapped_column(UTCDateTime())
    entry_price: Mapped[Decimal | None] = mapped_column(Money)
    exit_price: Mapped[Decimal | None] = mapped_column(Money)
    entry_value: Mapped[Decimal | None] = mapped_column(Money)
    exit_value: Mapped[Decimal | None] = mapped_column(Money)
    size: Mapped[Decimal | None] = mapped_column(Money)
    direction: Mapped[str] = mapped_column(String(10), nullable=False)
    commission: Mapped[Decimal | None] = mapped_column(Money)
    gross_pnl: Mapped[Decimal | None] = mapped_column(Money)
    net_pnl: Mapped[Decimal | None] = mapped_column(Money)
    pnl_percentage: Mapped[Decimal | None] = mapped_column(Ratio)
    exit_reason: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    extra_metadata: Mapped[Any | None] = mapped_column(JSONDocument())
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _created_at()


class PerformanceMetrics(Base):
    __tablename__ = "performance_metrics"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    bot_id: Mapped[str | None] = mapped_column(
        String(255), ForeignKey("bot_instances.id"), index=True
    )
    sharpe_ratio: Mapped[Decimal | None] = mapped_column(Ratio)
    win_rate: Mapped[Decimal | None] = mapped_column(Percent)
    profit_factor: Mapped[Decimal | None] = mapped_column(Ratio)
    max_drawdown: Mapped[Decimal | None] = mapped_column(Ratio)
    total_return: Mapped[Decimal | None] = mapped_column(Ratio)
    total_trades: Mapped[int | None] = mapped_column(Integer)
    winning_trades: Mapped[int | None] = mapped_column(Integer)
    losing_trades: Mapped[int | None] = mapped_column(Integer)
    avg_win: Mapped[Decimal | None] = mapped_column(Money)
    avg_loss: Mapped[Decimal | None] = mapped_column(Money)
    largest_win: Mapped[Decimal | None] = mapped_column(Money)
    largest_loss: Mapped[Decimal | None] = mapped_column(Money)
    calculated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    extra_metadata: Mapped[Any | None] = mapped_column(JSONDocument())
    created_at: Mapped[datetime] = _created_at()


class ChangeLogEntry(Base):
    """One committed write transaction's changes, for the change feed of other processes.

    The writer adds one row per group commit, inside that transaction, so a row exists exactly
    when its changes are committed, and `seq` follows commit order (SQLite runs one write
    transaction at a time). A process watching the database reads the rows after the last
    `seq` it saw (asyncstore.sqlite.feed). PostgreSQL announces commits with NOTIFY instead
    and leaves this table empty. The writer keeps only the most recent rows
    (asyncstore.feed.log)."""

    __tablename__ = "change_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    committed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    origin: Mapped[str] = mapped_column(String(36), nullable=False)  # the writing Store
    changes: Mapped[str] = mapped_column(String, nullable=False)  # JSON (asyncstore.feed.wire)


class BotActivity(Base):
    """One bot's heartbeats in one time bucket: minutes (60 s), rolled up into hours (3600 s).

    Written by the database itself: a trigger on bot_instances upserts the minute bucket of
    every heartbeat (asyncstore.schema.activity); retention folds minutes older than
    `activity_minutes_days` into hourly buckets and deletes hours older than the trades'
    retention (asyncstore.operations.activity_retention). Read by
    asyncstore.repository.activity (equity history, heartbeat timeline). A missing bucket is
    time without a heartbeat: downtime.

    The primary key starts with the bot, so one bot's buckets of one size are one index range in
    time order (every read and every roll-up chunk is such a range). `status` has no CHECK of
    its own: it is copied from bot_instances, which checks it, and a second list of statuses
    here could fall out of step and make heartbeats fail."""

    __tablename__ = "bot_activity"
    __table_args__ = (CheckConstraint("bucket_seconds IN (60, 3600)", name="bucket_seconds"),)

    # Activity is derived from the bot's own heartbeats: it goes with the bot, never keeps it.
    bot_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("bot_instances.id", ondelete="CASCADE"), primary_key=True
    )
    bucket_seconds: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    # As of the bucket's latest heartbeat.
    current_balance: Mapped[Decimal | None] = mapped_column(Money)
    total_pnl: Mapped[Decimal | None] = mapped_column(Money)
    heartbeats: Mapped[int] = mapped_column(Integer, nullable=False)
    first_beat: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_beat: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


# The retention age of DESIGN.md §2, as indexed expressions; the retention SQL spells them
# exactly so, which is what lets SQLite use these indexes.
TRADE_RETENTION_AGE = func.coalesce(Trade.exit_time, Trade.created_at)
TRADE_RETENTION_STATUSES = ("closed", "cancelled")
METRICS_RETENTION_AGE = func.coalesce(
    PerformanceMetrics.calculated_at, PerformanceMetrics.created_at
)

Index(
    "ix_trades_retention",
    TRADE_RETENTION_AGE,
    sqlite_where=Trade.status.in_(TRADE_RETENTION_STATUSES),
    postgresql_where=Trade.status.in_(TRADE_RETENTION_STATUSES),
)
Index("ix_performance_metrics_retention", METRICS_RETENTION_AGE)


# The tables themselves, typed as Tables (the ORM classes' __table__ is typed as a FromClause).
TRADES: Table = Trade.__table__  # type: ignore[assignment]
BOTS: Table = BotInstance.__table__  # type: ignore[assignment]
METRICS: Table = PerformanceMetrics.__table__  # type: ignore[assignment]
CHANGE_LOG: Table = ChangeLogEntry.__table__  # type: ignore[assignment]
BOT_ACTIVITY: Table = BotActivity.__table__  # type: ignore[assignment]

# The tables that hold the platform's data (not the SQLite change log): the ones compaction and
# the vacuum after a cleanup work on.
DATA_TABLES: tuple[Table, ...] = (TRADES, BOTS, METRICS, BOT_ACTIVITY)
