"""Trades: create, update, read by id and by status (for TradeRepository and BotRepository)."""

from __future__ import annotations

from typing import Any

from asyncstore.clock import utc_now
from asyncstore.errors import NotFoundError
from asyncstore.ids import new_id
from asyncstore.repository.changes import Data, changes_of, update_row
from asyncstore.repository.queries import TRADE_BY_ID, TRADES, trades_with_status
from asyncstore.repository.records import from_row, from_rows, from_updated_row, from_values
from asyncstore.schema.codec import TableCodec
from asyncstore.schema.records import (
    NON_NEGATIVE_TRADE_COLUMNS,
    TradeCreate,
    TradeRecord,
    TradeUpdate,
)
from asyncstore.schema.validation import (
    validate,
    validate_bot_id,
    validate_limit,
    validate_row_id,
    validate_symbol,
)
from asyncstore.store import Store
from asyncstore.types import UTCDateTime
from asyncstore.writes import InsertRows

__all__ = [
    "TRADE_CODEC",
    "create_trade",
    "get_trade_by_id",
    "get_trades_with_status",
    "update_trade",
]

TRADE_CODEC = TableCodec(TRADES, non_negative=NON_NEGATIVE_TRADE_COLUMNS)


async def create_trade(store: Store, data: Data) -> TradeRecord:
    trade = validate(TradeCreate, data, "trade")
    now = utc_now()
    values = {**trade.__dict__, "id": trade.id or new_id()}
    stamp = UTCDateTime.to_db(now)  # once for both stamps
    row = TRADE_CODEC.encode_input(
        values, store.input_rules, "trade", fixed={"created_at": stamp, "updated_at": stamp}
    )
    values["created_at"] = values["updated_at"] = now
    subject = f"trade {values['id']} (bot_id {trade.bot_id!r})"
    await store.submit(InsertRows(TRADES, [row], subject))
    return from_values(TradeRecord, values)


async def update_trade(
    store: Store, trade_id: Any, data: Data, *, owner: str | None = None
) -> TradeRecord:
    row_id = validate_row_id(trade_id)
    changes = changes_of(store, TradeUpdate, data, f"update of trade {trade_id}")
    if row_id is None:
        raise NotFoundError(f"no trade with id {trade_id!r} (trade ids are UUIDs)")
    subject = f"trade {row_id}" if owner is None else f"trade {row_id} of bot {owner!r}"
    row = await update_row(store, TRADE_CODEC, row_id, changes, subject, owner=owner)
    return from_updated_row(TradeRecord, TRADE_CODEC, row)


async def get_trade_by_id(store: Store, trade_id: Any) -> TradeRecord | None:
    row_id = validate_row_id(trade_id)
    if row_id is None:
        return None
    rows = await store.fetch_all(TRADE_BY_ID, {"id": row_id})
    return from_row(TradeRecord, TRADE_CODEC, rows[0]) if rows else None


async def get_trades_with_status(
    store: Store, status: str, bot_id: Any, symbol: Any, *, limit: Any
) -> list[TradeRecord]:
    """Trades of one status, oldest first; with `limit`, the newest N (still oldest first)."""
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
    trades = await from_rows(TradeRecord, TRADE_CODEC, await store.fetch_all(query, values))
    return trades if limit is None else trades[::-1]
