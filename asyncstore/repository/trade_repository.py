"""TradeRepository: the spec's repository API, async, over a Store.

Each method is a few lines that hand over to the module doing the work (bots, trades, metrics,
bulk, summary, retention), so there is one code path per operation, shared with BotRepository.
Writes are validated and encoded before they go to the Store's backend; reads come back as
records. The repository never owns a transaction: each write call is one operation that commits
(or fails) on its own, possibly in a group commit with other callers.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

from asyncstore.operations.retention import CleanupReport, ProgressCallback
from asyncstore.repository import activity, bots, metrics, trade_pages, trades
from asyncstore.repository.activity import ActivityBucket, EquityPoint
from asyncstore.repository.atomic import AtomicUnit
from asyncstore.repository.bot_repository import BotRepository
from asyncstore.repository.bulk import BulkTradeWriter
from asyncstore.repository.bulk_update import bulk_update_trades
from asyncstore.repository.changes import Data
from asyncstore.repository.cleanup import cleanup
from asyncstore.repository.summary import (
    StrategySummary,
    TradeSummary,
    strategy_summary,
    trade_summary,
)
from asyncstore.repository.trades import TRADE_CODEC
from asyncstore.schema.records import BotInstanceRecord, PerformanceMetricsRecord, TradeRecord
from asyncstore.schema.validation import require_type, validate_bot_id, validate_time
from asyncstore.store import Store

__all__ = ["TradeRepository"]


class TradeRepository:
    """Trades, bot instances and performance metrics of one Store."""

    def __init__(self, store: Store) -> None:
        require_type("store", store, Store, "a Store")
        self.store = store

    # --- bot instances --------------------------------------------------------------------

    async def create_bot_instance(self, data: Data) -> BotInstanceRecord:
        """Insert a bot instance. An existing id raises DuplicateError.

        `status` defaults to "running"; a running bot's `started_at` defaults to now.
        """
        return await bots.create_bot_instance(self.store, data)

    async def get_bot_instance(self, bot_id: str) -> BotInstanceRecord | None:
        return await bots.get_bot_instance(self.store, bot_id)

    async def get_bot_instances(self, *, status: str | None = None) -> list[BotInstanceRecord]:
        """Every bot instance (or those with `status`), by id."""
        return await bots.get_bot_instances(self.store, status)

    async def update_bot_instance(self, bot_id: str, data: Data) -> BotInstanceRecord:
        """Change the given fields; NotFoundError for an unknown bot."""
        return await bots.update_bot_instance(self.store, bot_id, data)

    async def heartbeat(self, bot_id: str) -> datetime:
        """Stamp the bot's last_heartbeat with now and return that time.

        Heartbeats that meet in one group commit cost one UPDATE. NotFoundError for an unknown
        bot.
        """
        return await bots.heartbeat(self.store, bot_id)

    async def equity_history(
        self, bot_id: str, *, since: datetime | None = None, max_points: int = 1000
    ) -> list[EquityPoint]:
        """The bot's balance and total PnL over time (one point per heartbeat bucket, recorded
        by the database), oldest first, downsampled by the database to at most `max_points`
        (1 to 10,000); the last point is the latest heartbeat's. `since`: points from then
        on. See asyncstore.repository.activity."""
        return await activity.equity_history(self.store, bot_id, since=since, max_points=max_points)

    async def heartbeat_timeline(
        self, bot_id: str, *, since: datetime | None = None
    ) -> list[ActivityBucket]:
        """The bot's heartbeats per minute (per hour once rolled up by cleanup), oldest first:
        a gap between buckets is downtime."""
        return await activity.heartbeat_timeline(self.store, bot_id, since=since)

    # --- trades ---------------------------------------------------------------------------

    async def create_trade(self, data: Data) -> TradeRecord:
        """Insert a trade and return it with its id (a new time-ordered UUID unless given).

        ForeignKeyError when `bot_id` names no bot instance; DuplicateError for a taken id.
        """
        return await trades.create_trade(self.store, data)

    async def update_trade(self, trade_id: str, data: Data) -> TradeRecord:
        """Change the given fields; returns the trade as stored. NotFoundError for an unknown id."""
        return await trades.update_trade(self.store, trade_id, data)

    async def get_trade_by_id(self, trade_id: str) -> TradeRecord | None:
        return await trades.get_trade_by_id(self.store, trade_id)

    async def close_trade(self, trade_id: str, data: Data) -> TradeRecord:
        """Close an open trade and book its PnL; returns the closed trade.

        `data`: exit_price (required), exit_time (default now), commission (the trade's total;
        default the stored one, else 0), exit_reason, the buy/sell order times. Computes
        exit_value, entry_value (when not stored), gross_pnl, net_pnl and pnl_percentage, each
        rounded half-even to its column (formulas: asyncstore.repository.lifecycle), and in
        the same transaction moves the bot's total_pnl (NULL counts as 0) and current_balance
        (when set) by net_pnl. LifecycleError naming the status when the trade is not open;
        NotFoundError for an unknown id. Nothing is written unless all of it is.
        """
        return await trades.close_trade(self.store, trade_id, data)

    def atomic(self) -> AtomicUnit:
        """`async with repo.atomic() as unit:` several writes, all committed or none (see
        asyncstore.repository.atomic). `unit` has create_trade, update_trade, close_trade,
        create_bot_instance, update_bot_instance, heartbeat and create_performance_metrics;
        each validates at once and returns what will be written."""
        return AtomicUnit(self.store)

    async def bulk_update_trades(
        self,
        updates: Iterable[tuple[str, Data]] | AsyncIterable[tuple[str, Data]],
        *,
        missing: Literal["error", "ignore"] = "error",
    ) -> int:
        """Apply many `(trade_id, changes)` pairs, in order; returns how many were applied (a
        trade given twice counts twice; skipped missing ids do not count).

        Chunked through the bulk lane like bulk inserts (each chunk atomic, interleaving with
        other writes); each change validated as update_trade validates it, lifecycle rules
        included. `missing="error"`: NotFoundError naming the unknown ids (that chunk writes
        nothing); `"ignore"`: skip them. On an error, `rows_committed` says how many trades
        earlier chunks already updated.
        """
        return await bulk_update_trades(self.store, TRADE_CODEC, updates, missing=missing)

    async def get_open_trades(
        self, *, bot_id: str | None = None, symbol: str | None = None
    ) -> list[TradeRecord]:
        """Open trades, oldest first; what a restarting bot reloads."""
        return await trades.get_trades_with_status(self.store, "open", bot_id, symbol, limit=None)

    async def get_closed_trades(
        self, *, bot_id: str | None = None, symbol: str | None = None, limit: int | None = None
    ) -> list[TradeRecord]:
        """Closed trades (not cancelled ones), oldest first; `limit` keeps the newest N."""
        return await trades.get_trades_with_status(
            self.store, "closed", bot_id, symbol, limit=limit
        )

    async def bulk_create_trades(
        self,
        rows: Iterable[Data] | AsyncIterable[Data],
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
        writer = BulkTradeWriter(self.store, TRADE_CODEC, on_conflict)
        return await writer.write(rows)

    # --- queries: pages, time ranges, per-strategy figures ---------------------------------

    async def get_trades(
        self,
        *,
        bot_id: str | None = None,
        symbol: str | None = None,
        status: str | None = None,
        trade_type: str | None = None,
        entry_logic_name: str | None = None,
        exit_logic_name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        after: TradeRecord | str | None = None,
    ) -> list[TradeRecord]:
        """One page of trades matching every filter given, in (entry_time, id) order.

        `since` <= entry_time < `until` (aware datetimes, any zone). Trades without an
        entry_time come after every other trade, by id, and only when no range is given.
        `limit`: 1 to 10,000 trades. `after`: the last trade of the previous page (its record,
        or its id: an unknown id is a NotFoundError); pages are keyset pages, so page 1,000
        costs what page 1 does and no trade is repeated or skipped while others are inserted.
        See asyncstore.repository.trade_pages.
        """
        filters = trade_pages.TradeFilter.of(
            bot_id=bot_id,
            symbol=symbol,
            status=status,
            trade_type=trade_type,
            entry_logic_name=entry_logic_name,
            exit_logic_name=exit_logic_name,
            since=since,
            until=until,
        )
        return await trade_pages.get_trades(self.store, filters, limit, after)

    def iter_trades(
        self,
        *,
        bot_id: str | None = None,
        symbol: str | None = None,
        status: str | None = None,
        trade_type: str | None = None,
        entry_logic_name: str | None = None,
        exit_logic_name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = 1000,
    ) -> AsyncIterator[TradeRecord]:
        """`async for trade in repo.iter_trades(...)`: every trade get_trades' filters match,
        in its order, read `page_size` (1 to 10,000) at a time, each page its own short read:
        a million trades stream in the memory of one page. Arguments are checked at the call."""
        filters = trade_pages.TradeFilter.of(
            bot_id=bot_id,
            symbol=symbol,
            status=status,
            trade_type=trade_type,
            entry_logic_name=entry_logic_name,
            exit_logic_name=exit_logic_name,
            since=since,
            until=until,
        )
        return trade_pages.iter_trades(self.store, filters, page_size)

    async def get_strategy_summary(
        self,
        bot_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[StrategySummary]:
        """Per (entry_logic_name, exit_logic_name), in that order: trades, closed, winning and
        losing trades, exact net PnL of the closed ones and win rate, computed by the database.
        `since` <= entry_time < `until`, as in get_trades."""
        return await strategy_summary(
            self.store,
            None if bot_id is None else validate_bot_id(bot_id),
            None if since is None else validate_time("since", since),
            None if until is None else validate_time("until", until),
        )

    def for_bot(self, bot_id: str) -> BotRepository:
        """A repository bound to one bot: it reads and writes that bot's rows only."""
        return BotRepository(self.store, bot_id)

    # --- metrics, summary, retention ------------------------------------------------------

    async def create_performance_metrics(self, data: Data) -> PerformanceMetricsRecord:
        """Store a metrics row; `calculated_at` defaults to now."""
        return await metrics.create_performance_metrics(self.store, data)

    async def calculate_performance_metrics(
        self, bot_id: str, starting_balance: Decimal | float | str | None = None
    ) -> PerformanceMetricsRecord:
        """Compute the bot's metrics from its closed trades, store them as a new row, return it.

        Definitions: see `asyncstore.repository.performance` (and the README). Trades go in
        exit_time order, ties in creation order. `starting_balance` defaults to the bot's
        current_balance minus the net PnL of its closed trades. Figures are rounded half-even to
        their columns; one too large for its column is stored as None and named in
        extra_metadata["overflow"]. NotFoundError for an unknown bot.
        """
        return await metrics.calculate_performance_metrics(self.store, bot_id, starting_balance)

    async def get_trade_summary(self, bot_id: str | None = None) -> TradeSummary:
        """Counts by status, winners and losers among closed trades, and their exact net PnL.

        A TradeSummary with total_trades, open_trades, closed_trades, cancelled_trades,
        winning_trades, losing_trades, total_net_pnl (Decimal, closed trades; a closed trade
        without net_pnl counts as 0); `summary["total_trades"]` reads it as a dict too.
        """
        return await trade_summary(self.store, None if bot_id is None else validate_bot_id(bot_id))

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
        that file, metrics beside it (`old.csv` → `old.metrics.csv`). See
        asyncstore.operations.retention."""
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
        return await cleanup(
            self.store, days_to_keep, metrics_days_to_keep, archive, on_progress=on_progress
        )
