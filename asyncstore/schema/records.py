"""Pydantic models: what callers may write (Create/Update) and what they get back (Record).

Validation is where bad input stops: every field is checked against its column (length, enum,
precision and scale, timezone) before anything reaches the write queue, so a refused call writes
nothing. Records are frozen copies, never live ORM objects.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from asyncstore.types import DECIMAL_CONTEXT, quantum

__all__ = [
    "BotInstanceCreate",
    "BotInstanceRecord",
    "BotInstanceUpdate",
    "PerformanceMetricsCreate",
    "PerformanceMetricsRecord",
    "TradeCreate",
    "TradeRecord",
    "TradeUpdate",
]

# Validation context key: round over-precise decimals half-even instead of refusing them.
ROUND_DECIMALS = "round_decimals"

TradeType = Literal["paper", "live", "optimization"]
Direction = Literal["long", "short"]
TradeStatus = Literal["open", "closed", "cancelled"]
BotType = Literal["paper", "live", "optimization"]
BotStatus = Literal["running", "stopped", "error"]


def _float_via_str(value: Any) -> Any:
    # 50000.1 must become Decimal("50000.1"), not the float's 50000.1000000000058...
    return str(value) if isinstance(value, float) else value


def _fits_column(precision: int, scale: int) -> AfterValidator:
    step = quantum(scale)
    max_integer_digits = precision - scale
    column = f"DECIMAL({precision},{scale})"

    def check(value: Decimal, info: ValidationInfo) -> Decimal:
        if value.is_zero():
            return Decimal(0).quantize(step, context=DECIMAL_CONTEXT)
        if value.adjusted() >= max_integer_digits:
            raise PydanticCustomError(
                "decimal_too_large",
                "{value} has more than {digits} digits before the decimal point "
                "(column is {column})",
                {"value": str(value), "digits": max_integer_digits, "column": column},
            )
        exact = value.quantize(step, context=DECIMAL_CONTEXT)  # half-even
        if exact != value and not (info.context or {}).get(ROUND_DECIMALS):
            raise PydanticCustomError(
                "decimal_scale",
                "{value} has more than {scale} decimal places (column is {column}); round it "
                "first, or open the Store with round_decimals=True",
                {"value": str(value), "scale": scale, "column": column},
            )
        if exact.adjusted() >= max_integer_digits:  # 999.999 rounded up past the column
            raise PydanticCustomError(
                "decimal_too_large",
                "{value} rounds to more digits than {column} holds",
                {"value": str(value), "column": column},
            )
        return exact

    return AfterValidator(check)


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. datetime.max at -01:00 is past year 9999 in UTC
        raise PydanticCustomError("datetime_range", "is outside the years 1-9999 in UTC") from None


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


def _json_document(value: Any) -> Any:
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("utf8", "holds text that is not valid Unicode") from None
    except ValueError:
        raise PydanticCustomError("json_nan", "NaN and Infinity are not valid JSON") from None
    except RecursionError:
        raise PydanticCustomError("json_depth", "is nested too deeply") from None
    if "\x00" in text or "\\u0000" in text:  # PostgreSQL JSON cannot hold NUL
        raise PydanticCustomError("nul", "holds a NUL character (\\x00)")
    return value


Money = Annotated[Decimal, BeforeValidator(_float_via_str), _fits_column(20, 8)]
NonNegativeMoney = Annotated[Money, Field(ge=0)]
Ratio = Annotated[Decimal, BeforeValidator(_float_via_str), _fits_column(10, 4)]
Percent = Annotated[Decimal, BeforeValidator(_float_via_str), _fits_column(5, 2)]
UTCTime = Annotated[AwareDatetime, AfterValidator(_utc)]
RowId = Annotated[str, BeforeValidator(_canonical_uuid)]
Utf8 = AfterValidator(_utf8)
BotId = Annotated[str, StringConstraints(min_length=1, max_length=255), Utf8]
# INTEGER columns: PostgreSQL's integer is 32-bit (SQLite's 64), so a count must fit in that.
Count = Annotated[int, Field(ge=0, le=2**31 - 1, strict=True)]
Metadata = Annotated[JsonValue, AfterValidator(_json_document)]


Name100 = Annotated[str, StringConstraints(min_length=1, max_length=100), Utf8]
Symbol = Annotated[str, StringConstraints(min_length=1, max_length=20), Utf8]
Interval = Annotated[str, StringConstraints(min_length=1, max_length=10), Utf8]
Path255 = Annotated[str, StringConstraints(min_length=1, max_length=255), Utf8]


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
    entry_price: NonNegativeMoney | None = None
    exit_price: NonNegativeMoney | None = None
    entry_value: NonNegativeMoney | None = None
    exit_value: NonNegativeMoney | None = None
    size: NonNegativeMoney | None = None
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
    entry_price: NonNegativeMoney | None = None
    exit_price: NonNegativeMoney | None = None
    entry_value: NonNegativeMoney | None = None
    exit_value: NonNegativeMoney | None = None
    size: NonNegativeMoney | None = None
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
