"""BotRepository: one bot's view of the store, so a missed filter cannot mix bots' data.

Every read is filtered by the bot's id and every write is checked against it: a trade of another
bot is invisible (None / NotFoundError), and data naming another bot_id is refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from asyncstore.repository import activity, bots, metrics, trade_pages, trades
from asyncstore.repository.activity import ActivityBucket, EquityPoint
from asyncstore.repository.atomic import AtomicUnit
from asyncstore.repository.bulk import BulkTradeWriter, require_rows
from asyncstore.repository.bulk_update import bulk_update_trades
from asyncstore.repository.changes import Data, claim_for_bot
from asyncstore.repository.summary import TradeSummary, trade_summary
from asyncstore.repository.trades import TRADE_CODEC
from asyncstore.schema.records import BotInstanceRecord, PerformanceMetricsRecord, TradeRecord
from asyncstore.schema.validation import require_type, validate_bot_id
from asyncstore.store import Store

__all__ = ["BotRepository"]


class BotRepository:
    def __init__(self, store: Store, bot_id: str) -> None:
        require_type("store", store, Store, "a Store")
        self.store = store
        self.bot_id = validate_bot_id(bot_id)

    def _own(self, data: Data, subject: str) -> Any:
        return claim_for_bot(data, self.bot_id, subject)

    async def get_bot_instance(self) -> BotInstanceRecord | None:
        return await bots.get_bot_instance(self.store, self.bot_id)

    async def update_bot_instance(self, data: Data) -> BotInstanceRecord:
        return await bots.update_bot_instance(self.store, self.bot_id, data)

    async def heartbeat(self) -> datetime:
        return await bots.heartbeat(self.store, self.bot_id)

    async def equity_history(
        self, *, since: datetime | None = None, max_points: int = 1000
    ) -> list[EquityPoint]:
        """TradeRepository.equity_history for this bot."""
        return await activity.equity_history(
            self.store, self.bot_id, since=since, max_points=max_points
        )

    async def heartbeat_timeline(self, *, since: datetime | None = None) -> list[ActivityBucket]:
        """TradeRepository.heartbeat_timeline for this bot."""
        return await activity.heartbeat_timeline(self.store, self.bot_id, since=since)

    async def create_trade(self, data: Data) -> TradeRecord:
        return await trades.create_trade(self.store, self._own(data, "trade"))

    async def update_trade(self, trade_id: str, data: Data) -> TradeRecord:
        """NotFoundError for a trade of another bot, exactly as for an unknown id."""
        return await trades.update_trade(self.store, trade_id, data, owner=self.bot_id)

    async def close_trade(self, trade_id: str, data: Data) -> TradeRecord:
        """TradeRepository.close_trade, for this bot's trades only."""
        return await trades.close_trade(self.store, trade_id, data, owner=self.bot_id)

    def atomic(self) -> AtomicUnit:
        """TradeRepository.atomic, whose writes may touch this bot's rows only."""
        return AtomicUnit(self.store, owner=self.bot_id)

    async def bulk_update_trades(
        self,
        updates: Iterable[tuple[str, Data]] | AsyncIterable[tuple[str, Data]],
        *,
        missing: Literal["error", "ignore"] = "error",
    ) -> int:
        """TradeRepository.bulk_update_trades; a trade of another bot counts as missing."""
        return await bulk_update_trades(
            self.store, TRADE_CODEC, updates, missing=missing, owner=self.bot_id
        )

    async def get_trade_by_id(self, trade_id: str) -> TradeRecord | None:
        trade = await trades.get_trade_by_id(self.store, trade_id)
        return trade if trade is not None and trade.bot_id == self.bot_id else None

    async def get_open_trades(self, *, symbol: str | None = None) -> list[TradeRecord]:
        return await trades.get_trades_with_status(
            self.store, "open", self.bot_id, symbol, limit=None
        )

    async def get_closed_trades(
        self, *, symbol: str | None = None, limit: int | None = None
    ) -> list[TradeRecord]:
        return await trades.get_trades_with_status(
            self.store, "closed", self.bot_id, symbol, limit=limit
        )

    async def bulk_create_trades(
        self,
        rows: Iterable[Data] | AsyncIterable[Data],
        *,
        on_conflict: Literal["error", "ignore"] = "error",
    ) -> int:
        require_rows(rows)
        owned: list[Any] | AsyncIterator[Any] = (
            [self._own(row, f"trades row {n}") for n, row in enumerate(rows)]
            if isinstance(rows, list | tuple)
            else self._owned(rows)
        )
        writer = BulkTradeWriter(self.store, TRADE_CODEC, on_conflict)
        return await writer.write(owned)

    async def _owned(self, rows: Iterable[Data] | AsyncIterable[Data]) -> AsyncIterator[Any]:
        if isinstance(rows, AsyncIterable):
            async for row in rows:
                yield self._own(row, "trades row")
        else:
            for row in rows:
                yield self._own(row, "trades row")

    async def create_performance_metrics(self, data: Data) -> PerformanceMetricsRecord:
        return await metrics.create_performance_metrics(
            self.store, self._own(data, "performance metrics")
        )

    async def calculate_performance_metrics(
        self, starting_balance: Decimal | float | str | None = None
    ) -> PerformanceMetricsRecord:
        return await metrics.calculate_performance_metrics(
            self.store, self.bot_id, starting_balance
        )

    async def get_trade_summary(self) -> TradeSummary:
        return await trade_summary(self.store, self.bot_id)

    async def get_trades(
        self,
        *,
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
        """TradeRepository.get_trades for this bot; `after` given as the id of another bot's
        trade is a NotFoundError, as for an unknown id."""
        filters = trade_pages.TradeFilter.of(
            bot_id=self.bot_id,
            symbol=symbol,
            status=status,
            trade_type=trade_type,
            entry_logic_name=entry_logic_name,
            exit_logic_name=exit_logic_name,
            since=since,
            until=until,
        )
        return await trade_pages.get_trades(self.store, filters, limit, after, owner=self.bot_id)

    def iter_trades(
        self,
        *,
        symbol: str | None = None,
        status: str | None = None,
        trade_type: str | None = None,
        entry_logic_name: str | None = None,
        exit_logic_name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = 1000,
    ) -> AsyncIterator[TradeRecord]:
        """TradeRepository.iter_trades for this bot."""
        filters = trade_pages.TradeFilter.of(
            bot_id=self.bot_id,
            symbol=symbol,
            status=status,
            trade_type=trade_type,
            entry_logic_name=entry_logic_name,
            exit_logic_name=exit_logic_name,
            since=since,
            until=until,
        )
        return trade_pages.iter_trades(self.store, filters, page_size)
