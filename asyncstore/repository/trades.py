"""Trades: create, update, read by id and by status (for TradeRepository and BotRepository)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asyncstore.clock import utc_now
from asyncstore.errors import LifecycleError, NotFoundError
from asyncstore.ids import new_id
from asyncstore.repository.bots import BOT_CODEC
from asyncstore.repository.changes import Data, changes_of
from asyncstore.repository.guarded_update import guard_binds, guarded_update, guards_for, refusal
from asyncstore.repository.lifecycle import complete_new_trade, lifecycle_problems
from asyncstore.repository.queries import TRADE_BY_ID, TRADES, trades_with_status
from asyncstore.repository.records import from_row, from_rows, from_updated_row, from_values
from asyncstore.repository.scripts import close_trade_script, trade_update_script
from asyncstore.schema.codec import TableCodec
from asyncstore.schema.records import (
    NON_NEGATIVE_TRADE_COLUMNS,
    TradeClose,
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
from asyncstore.writes import InsertRows, Params, Script, TransactionScript, UpdateRow

__all__ = [
    "TRADE_CODEC",
    "PreparedClose",
    "PreparedTradeUpdate",
    "close_trade",
    "create_trade",
    "get_trade_by_id",
    "get_trades_with_status",
    "prepare_close_trade",
    "prepare_create_trade",
    "prepare_update_trade",
    "update_trade",
]

TRADE_CODEC = TableCodec(TRADES, non_negative=NON_NEGATIVE_TRADE_COLUMNS)


@dataclass(frozen=True, slots=True)
class PreparedTradeUpdate:
    """An update_trade call validated and encoded: ready to run (now, or in an atomic unit)."""

    row_id: str
    changes: dict[str, Any]  # validated values, as the row will hold them
    values: dict[str, Any]  # the same encoded, with updated_at
    subject: str
    owner: str | None

    def operation(self) -> UpdateRow:
        """The UPDATE; the lifecycle rules the stored trade decides travel in its WHERE clause
        (one statement, checked against the trade as it is when the UPDATE runs)."""
        guards = guards_for(self.changes)
        if not guards:
            return UpdateRow(TRADES, self.row_id, self.values, self.subject, owner=self.owner)
        statement = guarded_update(tuple(sorted(self.values)), self.owner is not None, guards)
        return UpdateRow(
            TRADES,
            self.row_id,
            self.values,
            self.subject,
            owner=self.owner,
            guarded=statement,
            guard_values=guard_binds(self.values),
        )

    def script(self) -> Script[tuple[Any, ...]]:
        return trade_update_script(TRADE_CODEC, self.operation(), self.changes)


@dataclass(frozen=True, slots=True)
class PreparedClose:
    """A close_trade call validated and encoded."""

    row_id: str
    close: dict[str, Any]
    encoded: dict[str, Any]
    subject: str
    owner: str | None

    def script(self) -> Script[tuple[tuple[Any, ...], tuple[Any, ...]]]:
        return close_trade_script(
            TRADE_CODEC, BOT_CODEC, self.row_id, self.close, self.encoded, self.subject, self.owner
        )


def prepare_create_trade(store: Store, data: Data) -> tuple[TradeRecord, Params, str]:
    """Validate and encode a new trade: (the record it will be, its row, its subject)."""
    trade = validate(TradeCreate, data, "trade")
    now = utc_now()
    values = {**trade.__dict__, "id": trade.id or new_id()}
    complete_new_trade(values, trade.model_fields_set, "trade")
    stamp = UTCDateTime.to_db(now)  # once for both stamps
    row = TRADE_CODEC.encode_input(
        values, store.input_rules, "trade", fixed={"created_at": stamp, "updated_at": stamp}
    )
    values["created_at"] = values["updated_at"] = now
    subject = f"trade {values['id']} (bot_id {trade.bot_id!r})"
    return from_values(TradeRecord, values), row, subject


async def create_trade(store: Store, data: Data) -> TradeRecord:
    record, row, subject = prepare_create_trade(store, data)
    await store.submit(InsertRows(TRADES, [row], subject))
    return record


def prepare_update_trade(
    store: Store, trade_id: Any, data: Data, owner: str | None = None
) -> PreparedTradeUpdate:
    row_id = validate_row_id(trade_id)
    changes = changes_of(store, TradeUpdate, data, f"update of trade {trade_id}")
    if row_id is None:
        raise NotFoundError(f"no trade with id {trade_id!r} (trade ids are UUIDs)")
    subject = f"trade {row_id}" if owner is None else f"trade {row_id} of bot {owner!r}"
    # Both the rules (on the values as the row will hold them) and the UPDATE need them.
    decoded = {**changes, "updated_at": utc_now()}
    values = TRADE_CODEC.encode_input_values(decoded, store.input_rules, subject)
    problems = lifecycle_problems(None, decoded)  # what the change alone already breaks
    if problems:
        raise LifecycleError(f"update of {subject}", problems)
    return PreparedTradeUpdate(row_id, decoded, values, subject, owner)


async def update_trade(
    store: Store, trade_id: Any, data: Data, *, owner: str | None = None
) -> TradeRecord:
    prepared = prepare_update_trade(store, trade_id, data, owner)
    row = await store.submit(prepared.operation())
    if row is None:  # unknown, or held back by a rule: read the trade to say which
        rows = await store.fetch_all(TRADE_BY_ID, {"id": prepared.row_id}, primary=True)
        stored = TRADE_CODEC.decode(rows[0]) if rows else None
        if stored is not None and owner is not None and stored["bot_id"] != owner:
            stored = None
        raise refusal(stored, prepared.changes, prepared.subject)
    return from_updated_row(TradeRecord, TRADE_CODEC, row)


def prepare_close_trade(
    store: Store, trade_id: Any, data: Data, owner: str | None = None
) -> PreparedClose:
    row_id = validate_row_id(trade_id)
    close = validate(TradeClose, data, f"close of trade {trade_id}")
    if row_id is None:
        raise NotFoundError(f"no trade with id {trade_id!r} (trade ids are UUIDs)")
    subject = f"trade {row_id}" if owner is None else f"trade {row_id} of bot {owner!r}"
    now = utc_now()
    values = close.model_dump(exclude_unset=True)
    values["exit_time"] = close.exit_time or now
    values["updated_at"] = now
    # Encoding checks each given value against its column and leaves `values` as the row
    # will hold them (UTC times, decimals at their scale), which the PnL is computed from.
    encoded = TRADE_CODEC.encode_input_values(values, store.input_rules, f"close of {subject}")
    return PreparedClose(row_id, values, encoded, subject, owner)


async def close_trade(
    store: Store, trade_id: Any, data: Data, *, owner: str | None = None
) -> TradeRecord:
    prepared = prepare_close_trade(store, trade_id, data, owner)
    trade_row, _ = await store.submit(TransactionScript(prepared.script, prepared.subject))
    return from_updated_row(TradeRecord, TRADE_CODEC, trade_row)


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
