"""Bot instances: create, read, update, heartbeat (shared by TradeRepository and BotRepository)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from asyncstore.clock import utc_now
from asyncstore.errors import NotFoundError
from asyncstore.repository.changes import Data, changes_of, update_row
from asyncstore.repository.queries import ALL_BOTS, BOT_BY_ID, BOTS, BOTS_WITH_STATUS
from asyncstore.repository.records import from_row, from_rows, from_updated_row, from_values
from asyncstore.schema.codec import TableCodec
from asyncstore.schema.records import BotInstanceCreate, BotInstanceRecord, BotInstanceUpdate
from asyncstore.schema.validation import validate, validate_bot_id, validate_bot_status
from asyncstore.store import Store
from asyncstore.types import UTCDateTime
from asyncstore.writes import InsertRows, Params, StampHeartbeat

__all__ = [
    "BOT_CODEC",
    "create_bot_instance",
    "get_bot_instance",
    "get_bot_instances",
    "heartbeat",
    "heartbeat_stamp",
    "prepare_create_bot_instance",
    "update_bot_instance",
]

BOT_CODEC = TableCodec(BOTS)


async def create_bot_instance(store: Store, data: Data) -> BotInstanceRecord:
    record, row, subject = prepare_create_bot_instance(store, data)
    await store.submit(InsertRows(BOTS, [row], subject))
    return record


def prepare_create_bot_instance(store: Store, data: Data) -> tuple[BotInstanceRecord, Params, str]:
    """Validate and encode a new bot instance: (the record it will be, its row, its subject)."""
    bot = validate(BotInstanceCreate, data, "bot instance")
    now = utc_now()
    values: dict[str, Any] = {**bot.__dict__, "created_at": now, "updated_at": now}
    if bot.status == "running" and bot.started_at is None:
        values["started_at"] = now
    row = BOT_CODEC.encode_input(values, store.input_rules, "bot instance")
    return from_values(BotInstanceRecord, values), row, f"bot instance {bot.id!r}"


async def get_bot_instance(store: Store, bot_id: Any) -> BotInstanceRecord | None:
    rows = await store.fetch_all(BOT_BY_ID, {"id": validate_bot_id(bot_id)})
    return from_row(BotInstanceRecord, BOT_CODEC, rows[0]) if rows else None


async def get_bot_instances(store: Store, status: Any = None) -> list[BotInstanceRecord]:
    if status is None:
        rows = await store.fetch_all(ALL_BOTS, {})
    else:
        rows = await store.fetch_all(BOTS_WITH_STATUS, {"status": validate_bot_status(status)})
    return await from_rows(BotInstanceRecord, BOT_CODEC, rows)


async def update_bot_instance(store: Store, bot_id: Any, data: Data) -> BotInstanceRecord:
    bot_id = validate_bot_id(bot_id)
    subject = f"bot instance {bot_id!r}"
    changes = changes_of(store, BotInstanceUpdate, data, f"update of {subject}")
    row = await update_row(store, BOT_CODEC, bot_id, changes, subject)
    return from_updated_row(BotInstanceRecord, BOT_CODEC, row)


def heartbeat_stamp(bot_id: str) -> tuple[datetime, str, str]:
    """A heartbeat of `bot_id` now: (the time, its stored form, the subject of its errors)."""
    at = utc_now()
    return at, UTCDateTime.to_db(at) or "", f"heartbeat of bot {bot_id!r}"


async def heartbeat(store: Store, bot_id: Any) -> datetime:
    bot_id = validate_bot_id(bot_id)
    at, stamp, subject = heartbeat_stamp(bot_id)
    if not await store.submit(StampHeartbeat(bot_id, stamp, subject)):
        raise NotFoundError(f"no bot instance {bot_id!r} exists")
    return at
