"""TradeRepository: the spec's repository API, async, over a Store.

Writes are validated and encoded here, then go through the Store's single writer; reads go to the
read-only pool. The repository never owns a transaction: each write call is one operation that
commits (or fails) on its own, possibly in a group commit with other callers.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from asyncstore.bot_scope import BotRepository
from asyncstore.bulk import BulkTradeWriter
from asyncstore.codec import CompiledSQL, TableCodec
from asyncstore.errors import FieldError, InvalidDataError, NotFoundError
from asyncstore.ids import new_id
from asyncstore.maintenance import trade_summary, trade_summary_query
from asyncstore.metrics import ClosedTrade, compute_metrics
from asyncstore.models import BotInstance, PerformanceMetrics, Trade
from asyncstore.operations import Heartbeat, InsertRows, UpdateReturning
from asyncstore.queries import (
    ALL_BOTS,
    BOT_BY_ID,
    BOTS_WITH_STATUS,
    TRADE_BY_ID,
    trades_with_status,
)
from asyncstore.retention import CleanupReport, ProgressCallback, run_cleanup
from asyncstore.schemas import (
    BotInstanceCreate,
    BotInstanceRecord,
    BotInstanceUpdate,
    PerformanceMetricsCreate,
    PerformanceMetricsRecord,
    TradeCreate,
    TradeRecord,
    TradeUpdate,
)
from asyncstore.store import Store
from asyncstore.types import DECIMAL_CONTEXT, ExactDecimal, UTCDateTime, quantum
from asyncstore.validation import (
    require_days,
    validate,
    validate_bot_id,
    validate_bot_status,
    validate_limit,
    validate_money,
    validate_symbol,
)

__all__ = ["TradeRepository"]

RecordT = TypeVar("RecordT", bound=BaseModel)

TRADES = Trade.__table__
BOTS = BotInstance.__table__
METRICS = PerformanceMetrics.__table__

TRADE_CODEC = TableCodec(TRADES)  # type: ignore[arg-type]
BOT_CODEC = TableCodec(BOTS)  # type: ignore[arg-type]
METRICS_CODEC = TableCodec(METRICS)  # type: ignore[arg-type]


def _now() -> datetime:
    return datetime.now(UTC)


def _fits(table: Any, column: str, value: Any) -> bool:
    """Whether a computed figure, rounded to its DECIMAL column's scale, fits that column."""
    type_ = table.c[column].type
    if value is None or not isinstance(type_, ExactDecimal):
        return True
    rounded = Decimal(value).quantize(quantum(type_.scale), context=DECIMAL_CONTEXT)
    return rounded.is_zero() or rounded.adjusted() < type_.precision - type_.scale


def _id_text(value: Any) -> str | None:
    """A caller's trade/metrics id in canonical form, or None when it cannot be a UUID."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


class TradeRepository:
    """Trades, bot instances and performance metrics of one Store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # --- bot instances --------------------------------------------------------------------

    async def create_bot_instance(self, data: Mapping[str, Any] | BaseModel) -> BotInstanceRecord:
        """Insert a bot instance. An existing id raises DuplicateError.

        `status` defaults to "running"; a running bot's `started_at` defaults to now.
        """
        bot = validate(BotInstanceCreate, data, "bot instance", round_decimals=self._rounding)
        now = _now()
        values = {**bot.__dict__, "created_at": now, "updated_at": now}
        if bot.status == "running" and bot.started_at is None:
            values["started_at"] = now
        op = InsertRows(
            BOT_CODEC.insert_sql, [BOT_CODEC.encode(values)], f"bot instance {bot.id!r}"
        )
        await self._store.submit(op)
        return BotInstanceRecord.model_validate(values)

    async def get_bot_instance(self, bot_id: str) -> BotInstanceRecord | None:
        rows = await self._fetch(
            BOT_BY_ID, {"id": validate_bot_id(bot_id)}, BOT_CODEC, BotInstanceRecord
        )
        return rows[0] if rows else None

    async def get_bot_instances(self, *, status: str | None = None) -> list[BotInstanceRecord]:
        """Every bot instance (or those with `status`), by id."""
        if status is None:
            return await self._fetch(ALL_BOTS, {}, BOT_CODEC, BotInstanceRecord)
        values = {"status": validate_bot_status(status)}
        return await self._fetch(BOTS_WITH_STATUS, values, BOT_CODEC, BotInstanceRecord)

    async def update_bot_instance(
        self, bot_id: str, data: Mapping[str, Any] | BaseModel
    ) -> BotInstanceRecord:
        """Change the given fields; NotFoundError for an unknown bot."""
        changes = self._changes(BotInstanceUpdate, data, f"update of bot instance {bot_id!r}")
        row = await self._update(BOT_CODEC, bot_id, changes, f"bot instance {bot_id!r}")
        return BotInstanceRecord.model_validate(BOT_CODEC.decode(row))

    async def heartbeat(self, bot_id: str) -> datetime:
        """Stamp the bot's last_heartbeat with now and return that time.

        Heartbeats of one bot that meet in one group commit cost one UPDATE.
        NotFoundError for an unknown bot.
        """
        bot_id = validate_bot_id(bot_id)
        at = _now()
        op = Heartbeat(bot_id, UTCDateTime.to_db(at) or "", f"heartbeat of bot {bot_id!r}")
        if not await self._store.submit(op):
            raise NotFoundError(f"no bot instance {bot_id!r} exists")
        return at

    # --- trades ---------------------------------------------------------------------------

    async def create_trade(self, data: Mapping[str, Any] | BaseModel) -> TradeRecord:
        """Insert a trade and return it with its id (a new time-ordered UUID unless given).

        ForeignKeyError when `bot_id` names no bot instance; DuplicateError for a taken id.
        """
        trade = validate(TradeCreate, data, "trade", round_decimals=self._rounding)
        now = _now()
        values = {
            **trade.__dict__,
            "id": trade.id or new_id(),
            "created_at": now,
            "updated_at": now,
        }
        subject = f"trade {values['id']} (bot_id {trade.bot_id!r})"
        await self._store.submit(
            InsertRows(TRADE_CODEC.insert_sql, [TRADE_CODEC.encode(values)], subject)
        )
        return TradeRecord.model_validate(values)

    async def update_trade(self, trade_id: str, data: Mapping[str, Any] | BaseModel) -> TradeRecord:
        """Change the given fields; returns the trade as stored. NotFoundError for an unknown id."""
        return await self._update_trade(trade_id, data, owner=None)

    def for_bot(self, bot_id: str) -> BotRepository:
        """A repository bound to one bot: it reads and writes that bot's rows only."""
        return BotRepository(self, validate_bot_id(bot_id))

    async def _update_trade(
        self, trade_id: str, data: Mapping[str, Any] | BaseModel, *, owner: str | None
    ) -> TradeRecord:
        changes = self._changes(TradeUpdate, data, f"update of trade {trade_id}")
        row_id = _id_text(trade_id)
        if row_id is None:
            raise NotFoundError(f"no trade with id {trade_id!r} (trade ids are UUIDs)")
        subject = f"trade {row_id}" if owner is None else f"trade {row_id} of bot {owner!r}"
        row = await self._update(TRADE_CODEC, row_id, changes, subject, owner=owner)
        return TradeRecord.model_validate(TRADE_CODEC.decode(row))

    async def get_trade_by_id(self, trade_id: str) -> TradeRecord | None:
        row_id = _id_text(trade_id)
        if row_id is None:
            return None
        rows = await self._fetch(TRADE_BY_ID, {"id": row_id}, TRADE_CODEC, TradeRecord)
        return rows[0] if rows else None

    async def get_open_trades(
        self, *, bot_id: str | None = None, symbol: str | None = None
    ) -> list[TradeRecord]:
        """Open trades, oldest first; what a restarting bot reloads."""
        return await self._trades_with_status("open", bot_id, symbol, limit=None)

    async def get_closed_trades(
        self, *, bot_id: str | None = None, symbol: str | None = None, limit: int | None = None
    ) -> list[TradeRecord]:
        """Closed trades (not cancelled ones), oldest first; `limit` keeps the newest N."""
        return await self._trades_with_status("closed", bot_id, symbol, limit=limit)

    async def bulk_create_trades(
        self,
        rows: Iterable[Mapping[str, Any] | BaseModel]
        | AsyncIterable[Mapping[str, Any] | BaseModel],
        *,
        on_conflict: Literal["error", "ignore"] = "error",
    ) -> int:
        """Insert many trades; returns how many rows were inserted.

        A list is validated whole before anything is written (an error names the row index and
        field). An iterator or async iterator is validated chunk by chunk; if it fails, the error's
        `rows_committed` says how many of its rows were already committed. Each chunk is atomic
        and interleaves with other callers' small writes. An id given twice in one list (or one
        chunk) is a DuplicateError, like an id already in the table. `on_conflict="ignore"`
        skips rows whose id already exists (or came earlier in the batch), so re-running an
        optimizer batch with the same ids is idempotent.
        """
        writer = BulkTradeWriter(
            self._store, TRADE_CODEC, on_conflict, round_decimals=self._rounding
        )
        return await writer.write(rows)

    # --- metrics, summary, retention ------------------------------------------------------

    async def create_performance_metrics(
        self, data: Mapping[str, Any] | BaseModel
    ) -> PerformanceMetricsRecord:
        """Store a metrics row; `calculated_at` defaults to now."""
        metrics = validate(
            PerformanceMetricsCreate, data, "performance metrics", round_decimals=self._rounding
        )
        return await self._insert_metrics(metrics)

    async def calculate_performance_metrics(
        self, bot_id: str, starting_balance: Decimal | float | str | None = None
    ) -> PerformanceMetricsRecord:
        """Compute the bot's metrics from its closed trades, store them as a new row, return it.

        Definitions: see `asyncstore.metrics` (and the README). `starting_balance` defaults to
        the bot's current_balance minus the net PnL of its closed trades. Figures are rounded
        half-even to their columns; one too large for its column is stored as None and named in
        extra_metadata["overflow"]. NotFoundError for an unknown bot.
        """
        bot = await self.get_bot_instance(bot_id)
        if bot is None:
            raise NotFoundError(f"no bot instance {bot_id!r} exists")
        closed = await self.get_closed_trades(bot_id=bot_id)  # creation order
        trades = sorted(
            (ClosedTrade(t.exit_time or t.created_at, t.net_pnl or Decimal(0)) for t in closed),
            key=lambda trade: trade.exited_at,  # stable: ties keep creation order
        )
        if starting_balance is not None:
            start: Decimal | None = validate_money("starting_balance", starting_balance)
        elif bot.current_balance is not None:
            with localcontext(DECIMAL_CONTEXT):  # exact whatever the caller's context
                start = bot.current_balance - sum((t.net_pnl for t in trades), Decimal(0))
        else:
            start = None
        figures = compute_metrics(trades, start)
        overflow = [name for name, value in figures.items() if not _fits(METRICS, name, value)]
        values = {name: value for name, value in figures.items() if name not in overflow}
        values.update(bot_id=bot_id, extra_metadata={"overflow": overflow} if overflow else None)
        metrics = validate(
            PerformanceMetricsCreate, values, "performance metrics", round_decimals=True
        )
        return await self._insert_metrics(metrics)

    async def _insert_metrics(self, metrics: PerformanceMetricsCreate) -> PerformanceMetricsRecord:
        now = _now()
        values = {
            **metrics.__dict__,
            "id": metrics.id or new_id(),
            "calculated_at": metrics.calculated_at or now,
            "created_at": now,
        }
        subject = f"performance metrics {values['id']} (bot_id {metrics.bot_id!r})"
        await self._store.submit(
            InsertRows(METRICS_CODEC.insert_sql, [METRICS_CODEC.encode(values)], subject)
        )
        return PerformanceMetricsRecord.model_validate(values)

    async def get_trade_summary(self, bot_id: str | None = None) -> dict[str, Any]:
        """Counts by status, winners and losers among closed trades, and their exact net PnL.

        Keys: total_trades, open_trades, closed_trades, cancelled_trades, winning_trades,
        losing_trades, total_net_pnl (Decimal, closed trades; a closed trade without net_pnl
        counts as 0).
        """
        if bot_id is not None:
            bot_id = validate_bot_id(bot_id)
        query = trade_summary_query(
            by_bot=bot_id is not None, postgresql=self._store.backend == "postgresql"
        )
        (row,) = await self._store.fetch_all(query.sql, query.params({"bot_id": bot_id}))
        return trade_summary(row)

    async def cleanup_old_data(
        self,
        days_to_keep: int = 90,
        *,
        metrics_days_to_keep: int = 365,
        archive: str | Path | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> int:
        """Delete closed and cancelled trades older than `days_to_keep` days (by exit_time, else
        created_at) and metrics older than `metrics_days_to_keep` days (by calculated_at, else
        created_at). Open trades and bot instances are never deleted. Returns the number of rows
        deleted.

        It deletes in chunks of `bulk_chunk_rows` rows, each its own short transaction in the
        writer's bulk lane, so bots keep writing while a million old rows go; a cleanup stopped
        half-way has deleted only old rows and can simply be run again.

        `archive` (a .csv or .parquet path) first writes every row it deletes there: trades to
        that file, metrics beside it (`old.csv` → `old.metrics.csv`). See asyncstore.retention."""
        report = await self.cleanup(
            days_to_keep,
            metrics_days_to_keep=metrics_days_to_keep,
            archive=archive,
            on_progress=on_progress,
        )
        return report.total

    async def cleanup(
        self,
        days_to_keep: int = 90,
        *,
        metrics_days_to_keep: int = 365,
        archive: str | Path | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> CleanupReport:
        """`cleanup_old_data`, returning what was deleted per table and the archives written."""
        now = _now()
        trade_cutoff = now - timedelta(days=require_days("days_to_keep", days_to_keep))
        metrics_cutoff = now - timedelta(
            days=require_days("metrics_days_to_keep", metrics_days_to_keep)
        )
        return await run_cleanup(
            self._store,
            trade_cutoff=trade_cutoff,
            metrics_cutoff=metrics_cutoff,
            archive=None if archive is None else Path(archive),
            on_progress=on_progress,
        )

    # --- shared plumbing ------------------------------------------------------------------

    @property
    def _rounding(self) -> bool:
        return self._store.settings.round_decimals

    def _changes(self, model: type[BaseModel], data: Any, subject: str) -> dict[str, Any]:
        changes = validate(model, data, subject, round_decimals=self._rounding).model_dump(
            exclude_unset=True
        )
        if not changes:
            raise InvalidDataError(subject, [FieldError("data", "no fields to update")])
        return changes

    async def _update(
        self,
        codec: TableCodec,
        row_id: str,
        changes: dict[str, Any],
        subject: str,
        *,
        owner: str | None = None,
    ) -> tuple[Any, ...]:
        sql, params = codec.update_returning(row_id, {**changes, "updated_at": _now()}, owner=owner)
        row: tuple[Any, ...] | None = await self._store.submit(
            UpdateReturning(sql, params, subject)
        )
        if row is None:
            raise NotFoundError(f"no {subject} exists")
        return row

    async def _trades_with_status(
        self, status: str, bot_id: str | None, symbol: str | None, *, limit: int | None
    ) -> list[TradeRecord]:
        # Filters are checked like the columns they match, so a bad one is a clear error on
        # both backends rather than an empty list on one and a driver error on the other.
        if bot_id is not None:
            bot_id = validate_bot_id(bot_id)
        if symbol is not None:
            symbol = validate_symbol(symbol)
        if limit is not None:
            limit = validate_limit(limit)
        query = trades_with_status(
            by_bot=bot_id is not None, by_symbol=symbol is not None, newest_first=limit is not None
        )
        values = {"status": status, "bot_id": bot_id, "symbol": symbol, "limit": limit}
        trades = await self._fetch(query, values, TRADE_CODEC, TradeRecord)
        return trades if limit is None else trades[::-1]  # the newest N, oldest first

    async def _fetch(
        self,
        query: CompiledSQL,
        values: dict[str, Any],
        codec: TableCodec,
        record: type[RecordT],
    ) -> list[RecordT]:
        rows = await self._store.fetch_all(query.sql, query.params(values))
        return [record.model_validate(codec.decode(row)) for row in rows]
