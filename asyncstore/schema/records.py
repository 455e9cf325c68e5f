"""Pydantic models: what callers may write (Create/Update) and what they get back (Record).

Validation is where bad input stops: every field is checked against its column (length, enum,
precision and scale, timezone) before anything reaches the write queue, so a refused call writes
nothing. Records are frozen copies, never live ORM objects.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "BotInstanceCreate",
    "BotInstanceRecord",
    "BotInstanceUpdate",
    "PerformanceMetricsCreate",
    "PerformanceMetricsRecord",
    "TradeClose",
    "TradeCreate",
    "TradeRecord",
    "TradeUpdate",
]

TradeType = Literal["paper", "live", "optimization"]
Direction = Literal["long", "short"]
TradeStatus = Literal["open", "closed", "cancelled"]
BotType = Literal["paper", "live", "optimization"]
BotStatus = Literal["running", "stopped", "error"]


def _utf8(value: str) -> str:
    # Python strings may hold lone surrogates ("\ud800"); SQLite stores UTF-8 and cannot.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("utf8", "is not valid Unicode text (lone surrogate)") from None
    if "\x00" in value:  # PostgreSQL text cannot hold NUL; refused on both backends alike
        raise PydanticCustomError("nul", "contains a NUL character (\\x00)")
    return value


def _canonical_uuid(value: Any) -> str:
    if isinstance(value, str):
        _utf8(value)
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise PydanticCustomError(
            "uuid",
            "{value} is not a UUID (ids of trades and metrics are UUIDs)",
            {"value": repr(value)},  # pydantic fills in {value} as text; it knows no !r
        ) from None


# Each type below is checked natively by pydantic-core (no Python validator per field on the hot
# path). What needs the value's stored form (a decimal's scale against its column, UTC, NUL in
# text, a JSON document's size) is checked while encoding it, once: asyncstore.schema.codec.
# A float given for a Decimal is read through its repr (50000.1, not 50000.1000000000058...).
Money = Annotated[Decimal, Field(allow_inf_nan=False)]
Ratio = Money
Percent = Money
UTCTime = AwareDatetime
RowId = Annotated[str, BeforeValidator(_canonical_uuid)]
BotId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
# INTEGER columns: PostgreSQL's integer is 32-bit (SQLite's 64), so a count must fit in that.
Count = Annotated[int, Field(ge=0, le=2**31 - 1, strict=True)]
# Any JSON document; checked (and encoded, once) by the codec.
Metadata = Any
# For arguments (filters), which never pass through the codec: the checks text columns get.
Utf8 = AfterValidator(_utf8)


Name100 = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Symbol = Annotated[str, StringConstraints(min_length=1, max_length=20)]
Interval = Annotated[str, StringConstraints(min_length=1, max_length=10)]
Path255 = Annotated[str, StringConstraints(min_length=1, max_length=255)]

# Columns whose input may not be negative (checked by the codec with the column's scale).
NON_NEGATIVE_TRADE_COLUMNS = frozenset(
    {"entry_price", "exit_price", "entry_value", "exit_value", "size"}
)


class _Input(BaseModel):
    # An unknown key is almost always a typo ("exit_prise"): refuse it rather than drop it.
    model_config = ConfigDict(extra="forbid")


class _Record(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


def _refuse_null(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError("not_null", "may not be null (the column is NOT NULL)")
    return value


# --- trades --------------------------------------------------------------------------------


class _TradeFields(BaseModel):
    bot_id: BotId
    trade_type: TradeType
    strategy_name: Name100 | None = None
    entry_logic_name: Name100
    exit_logic_name: Name100
    symbol: Symbol
    interval: Interval
    entry_time: UTCTime | None = None
    exit_time: UTCTime | None = None
    buy_order_created: UTCTime | None = None
    buy_order_closed: UTCTime | None = None
    sell_order_created: UTCTime | None = None
    sell_order_closed: UTCTime | None = None
    entry_price: Money | None = None
    exit_price: Money | None = None
    entry_value: Money | None = None
    exit_value: Money | None = None
    size: Money | None = None
    direction: Direction
    commission: Money | None = None
    gross_pnl: Money | None = None
    net_pnl: Money | None = None
    pnl_percentage: Ratio | None = None
    exit_reason: Name100 | None = None
    status: TradeStatus = "open"
    extra_metadata: Metadata | None = None


class TradeCreate(_TradeFields, _Input):
    """A new trade. `id` is optional: a time-ordered UUID is generated when it is missing."""

    id: RowId | None = None


class TradeUpdate(_Input):
    """Fields to change on a trade; fields left out keep their value. `id`/`bot_id` are fixed."""

    trade_type: TradeType | None = None
    strategy_name: Name100 | None = None
    entry_logic_name: Name100 | None = None
    exit_logic_name: Name100 | None = None
    symbol: Symbol | None = None
    interval: Interval | None = None
    entry_time: UTCTime | None = None
    exit_time: UTCTime | None = None
    buy_order_created: UTCTime | None = None
    buy_order_closed: UTCTime | None = None
    sell_order_created: UTCTime | None = None
    sell_order_closed: UTCTime | None = None
    entry_price: Money | None = None
    exit_price: Money | None = None
    entry_value: Money | None = None
    exit_value: Money | None = None
    size: Money | None = None
    direction: Direction | None = None
    commission: Money | None = None
    gross_pnl: Money | None = None
    net_pnl: Money | None = None
    pnl_percentage: Ratio | None = None
    exit_reason: Name100 | None = None
    status: TradeStatus | None = None
    extra_metadata: Metadata | None = None

    _not_null = field_validator(
        "trade_type",
        "entry_logic_name",
        "exit_logic_name",
        "symbol",
        "interval",
        "direction",
        "status",
        mode="before",
    )(_refuse_null)


class TradeClose(_Input):
    """What close_trade takes: the exit price, and optionally the exit time (default now), the
    trade's total commission (default the stored one, else 0), the reason, the order times.
    Everything else (exit_value, gross/net PnL, pnl_percentage) is computed."""

    exit_price: Money
    exit_time: UTCTime | None = None
    commission: Money | None = None
    exit_reason: Name100 | None = None
    buy_order_created: UTCTime | None = None
    buy_order_closed: UTCTime | None = None
    sell_order_created: UTCTime | None = None
    sell_order_closed: UTCTime | None = None


class TradeRecord(_TradeFields, _Record):
    """A trade as stored: every column, money as Decimal, times as aware UTC datetimes."""

    id: str
    created_at: datetime
    updated_at: datetime


# --- bot instances -------------------------------------------------------------------------


class _BotInstanceFields(BaseModel):
    type: BotType
    config_file: Path255 | None = None
    status: BotStatus = "running"
    current_balance: Money | None = None
    total_pnl: Money | None = None
    started_at: UTCTime | None = None
    last_heartbeat: UTCTime | None = None
    extra_metadata: Metadata | None = None


class BotInstanceCreate(_BotInstanceFields, _Input):
    """A new bot instance; its `id` is chosen by the caller (e.g. "my_bot_001")."""

    id: BotId


class BotInstanceUpdate(_Input):
    """Fields to change on a bot instance; fields left out keep their value."""

    type: BotType | None = None
    config_file: Path255 | None = None
    status: BotStatus | None = None
    current_balance: Money | None = None
    total_pnl: Money | None = None
    started_at: UTCTime | None = None
    last_heartbeat: UTCTime | None = None
    extra_metadata: Metadata | None = None

    _not_null = field_validator("type", "status", mode="before")(_refuse_null)


class BotInstanceRecord(_BotInstanceFields, _Record):
    id: str
    created_at: datetime
    updated_at: datetime


# --- performance metrics -------------------------------------------------------------------


class _PerformanceMetricsFields(BaseModel):
    bot_id: BotId | None = None
    sharpe_ratio: Ratio | None = None
    win_rate: Annotated[Percent, Field(ge=0, le=100)] | None = None
    profit_factor: Ratio | None = None
    max_drawdown: Ratio | None = None
    total_return: Ratio | None = None
    total_trades: Count | None = None
    winning_trades: Count | None = None
    losing_trades: Count | None = None
    avg_win: Money | None = None
    avg_loss: Money | None = None
    largest_win: Money | None = None
    largest_loss: Money | None = None
    calculated_at: UTCTime | None = None
    extra_metadata: Metadata | None = None


class PerformanceMetricsCreate(_PerformanceMetricsFields, _Input):
    """A metrics row; `calculated_at` defaults to now, `id` to a new time-ordered UUID."""

    id: RowId | None = None


class PerformanceMetricsRecord(_PerformanceMetricsFields, _Record):
    id: str
    created_at: datetime
