"""BotRepository: one bot's view of the store, so a missed filter cannot mix bots' data.

Every read is filtered by the bot's id and every write is checked against it: a trade of another
bot is invisible (None / NotFoundError), and data naming another bot_id is refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from asyncstore.errors import FieldError, InvalidDataError
from asyncstore.schemas import BotInstanceRecord, PerformanceMetricsRecord, TradeRecord
from asyncstore.validation import as_input

if TYPE_CHECKING:
    from asyncstore.repository import TradeRepository

__all__ = ["BotRepository"]

Row = Mapping[str, Any] | BaseModel


class BotRepository:
    def __init__(self, repo: TradeRepository, bot_id: str) -> None:
        self._repo = repo
        self.bot_id = bot_id

    def _own(self, data: Row, subject: str) -> dict[str, Any]:
        values = as_input(data)
        if not isinstance(values, Mapping):
            return values  # type: ignore[no-any-return]  # validation names the problem
        claimed = values.get("bot_id", self.bot_id)
        if claimed != self.bot_id:
            raise InvalidDataError(
                subject,
                [FieldError("bot_id", f"{claimed!r} is not this repository's bot {self.bot_id!r}")],
            )
        return {**values, "bot_id": self.bot_id}

    async def get_bot_instance(self) -> BotInstanceRecord | None:
        return await self._repo.get_bot_instance(self.bot_id)

    async def update_bot_instance(self, data: Row) -> BotInstanceRecord:
        return await self._repo.update_bot_instance(self.bot_id, data)

    async def heartbeat(self) -> datetime:
        return await self._repo.heartbeat(self.bot_id)

    async def create_trade(self, data: Row) -> TradeRecord:
        return await self._repo.create_trade(self._own(data, "trade"))

    async def update_trade(self, trade_id: str, data: Row) -> TradeRecord:
        """NotFoundError for a trade of another bot, exactly as for an unknown id."""
        return await self._repo._update_trade(trade_id, data, owner=self.bot_id)

    async def get_trade_by_id(self, trade_id: str) -> TradeRecord | None:
        trade = await self._repo.get_trade_by_id(trade_id)
        return trade if trade is not None and trade.bot_id == self.bot_id else None

    async def get_open_trades(self, *, symbol: str | None = None) -> list[TradeRecord]:
        return await self._repo.get_open_trades(bot_id=self.bot_id, symbol=symbol)

    async def get_closed_trades(
        self, *, symbol: str | None = None, limit: int | None = None
    ) -> list[TradeRecord]:
        return await self._repo.get_closed_trades(bot_id=self.bot_id, symbol=symbol, limit=limit)

    async def bulk_create_trades(
        self,
        rows: Iterable[Row] | AsyncIterable[Row],
        *,
        on_conflict: Literal["error", "ignore"] = "error",
    ) -> int:
        if isinstance(rows, list | tuple):
            return await self._repo.bulk_create_trades(
                [self._own(row, f"trades row {n}") for n, row in enumerate(rows)],
                on_conflict=on_conflict,
            )
        return await self._repo.bulk_create_trades(self._owned(rows), on_conflict=on_conflict)

    async def _owned(self, rows: Iterable[Row] | AsyncIterable[Row]) -> AsyncIterator[Row]:
        if isinstance(rows, AsyncIterable):
            async for row in rows:
                yield self._own(row, "trades row")
        else:
            for row in rows:
                yield self._own(row, "trades row")

    async def create_performance_metrics(self, data: Row) -> PerformanceMetricsRecord:
        return await self._repo.create_performance_metrics(self._own(data, "performance metrics"))

    async def calculate_performance_metrics(
        self, starting_balance: Decimal | float | str | None = None
    ) -> PerformanceMetricsRecord:
        return await self._repo.calculate_performance_metrics(self.bot_id, starting_balance)

    async def get_trade_summary(self) -> dict[str, Any]:
        return await self._repo.get_trade_summary(bot_id=self.bot_id)
