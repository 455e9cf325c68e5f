"""Turning caller input (dicts or pydantic models) into validated models, or a clear error.

Every argument of the public API is checked here before it is used: a wrong type is an
InvalidDataError naming the argument and what it must be, never the TypeError or AttributeError
its first use would raise somewhere deeper (or, worse, a value quietly coerced: bytes as a bot id).
"""

from __future__ import annotations

import contextlib
import math
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import AwareDatetime, BaseModel, Field, TypeAdapter, ValidationError

from asyncstore.errors import FieldError, InvalidDataError
from asyncstore.schema.input_columns import InputRules, Refused, decimal_converter
from asyncstore.schema.records import (
    BotId,
    BotStatus,
    Money,
    Name100,
    Symbol,
    TradeStatus,
    TradeType,
    Utf8,
)

__all__ = [
    "as_input",
    "require_callable",
    "require_days",
    "require_number",
    "require_type",
    "validate",
    "validate_bot_id",
    "validate_bot_status",
    "validate_chunk_size",
    "validate_limit",
    "validate_money",
    "validate_name",
    "validate_page_rows",
    "validate_row_id",
    "validate_symbol",
    "validate_time",
    "validate_trade_status",
    "validate_trade_type",
]

ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")


def as_input(data: Any) -> Any:
    """Callers may pass any pydantic model: only the fields they set count, like a dict's keys."""
    return data.model_dump(exclude_unset=True) if isinstance(data, BaseModel) else data


def validate(model: type[ModelT], data: Any, subject: str) -> ModelT:
    """`data` (a mapping, or a model whose set fields count) as `model`; InvalidDataError
    naming every field at fault, or the argument `data` when it is not a mapping at all.
    (The checks that need a value's stored form follow when the codec encodes it.)"""
    values = as_input(data)
    if not isinstance(values, Mapping):
        got = type(values).__name__
        problem = f"must be a valid dictionary of column values or a pydantic model, got {got}"
        raise InvalidDataError(subject, [FieldError("data", problem)])
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        # A key that is not text is never a column (so validation failed); pydantic would
        # name a key 1 as the location "1", which reads as "row 1": name the key instead.
        # Checked only here, off the path of every valid call.
        for key in values:
            if not isinstance(key, str):
                problem = f"keys must be column names (text), got the key {key!r:.60}"
                raise InvalidDataError(subject, [FieldError("data", problem)]) from exc
        raise InvalidDataError.from_validation_error(subject, exc) from exc


# Text arguments are strict: in lax mode pydantic reads b"my_bot" as "my_bot".
_MONEY: TypeAdapter[Decimal] = TypeAdapter(Money)
_MONEY_COLUMN = decimal_converter(20, 8, non_negative=False)
_BOT_ID: TypeAdapter[str] = TypeAdapter(Annotated[BotId, Field(strict=True), Utf8])
_SYMBOL: TypeAdapter[str] = TypeAdapter(Annotated[Symbol, Field(strict=True), Utf8])
_BOT_STATUS: TypeAdapter[str] = TypeAdapter(BotStatus)
_LIMIT: TypeAdapter[int] = TypeAdapter(Annotated[int, Field(ge=0, le=2**63 - 1, strict=True)])
_CHUNK_ROWS: TypeAdapter[int] = TypeAdapter(Annotated[int, Field(ge=1, le=2**31 - 1, strict=True)])


def _argument(adapter: TypeAdapter[T], name: str, value: Any) -> T:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        raise InvalidDataError.from_validation_error(name, exc) from exc


def validate_bot_id(value: Any) -> str:
    """A bot id argument, checked like the bot_instances.id column."""
    return _argument(_BOT_ID, "bot_id", value)


def validate_money(name: str, value: Any) -> Decimal:
    """One money argument (e.g. starting_balance), checked like a DECIMAL(20,8) column."""
    try:
        exact: Decimal = _MONEY_COLUMN(_argument(_MONEY, name, value), InputRules())[0]
    except Refused as exc:
        raise InvalidDataError(name, [FieldError(name, str(exc))]) from exc
    return exact


def validate_symbol(value: Any) -> str:
    """A symbol filter, checked like the trades.symbol column."""
    return _argument(_SYMBOL, "symbol", value)


def validate_bot_status(value: Any) -> str:
    """A status filter of bot instances: one of the column's values."""
    return _argument(_BOT_STATUS, "status", value)


def validate_limit(value: Any) -> int:
    """A row limit: a whole number from 0 to 2**63-1 (not a bool, not a numeric string)."""
    return _argument(_LIMIT, "limit", value)


def validate_chunk_size(value: Any) -> int:
    """Rows per chunk of a chunked read: a whole number of at least 1."""
    return _argument(_CHUNK_ROWS, "rows_per_chunk", value)


def require_type(name: str, value: Any, expected: type | tuple[type, ...], what: str) -> None:
    """InvalidDataError naming argument `name` unless `value` is an instance of `expected`
    (`what` says that in words, e.g. "a Store")."""
    if not isinstance(value, expected):
        got = type(value).__name__
        raise InvalidDataError(name, [FieldError(name, f"must be {what}, got {got}")])


def require_callable(name: str, value: Any) -> None:
    """A callback argument: None, or something to call (checked before any work starts)."""
    if value is not None and not callable(value):
        raise InvalidDataError(
            name, [FieldError(name, f"must be a function or None, got {type(value).__name__}")]
        )


def require_days(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problem = f"must be a whole number of days >= 0, got {value!r:.60}"
        raise InvalidDataError("retention", [FieldError(name, problem)])
    return value


def validate_row_id(value: Any, name: str = "trade_id") -> str | None:
    """A trade or metrics id argument in canonical form; None when the text cannot be a UUID
    (so no row has it). Anything but text or a UUID is an InvalidDataError."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise InvalidDataError(
            name, [FieldError(name, f"must be an id (a UUID string), got {type(value).__name__}")]
        )
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def require_number(name: str, value: Any) -> float:
    """A count of seconds or the like: a finite int or float (not a bool), > 0.
    (An infinite interval would sleep forever, or overflow the timedelta it becomes.)"""
    number = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):  # an int past float's range: not finite either
            number = float(value)
    if not math.isfinite(number):
        raise InvalidDataError(
            name, [FieldError(name, f"must be a finite number, got {value!r:.60}")]
        )
    if number <= 0:
        raise InvalidDataError(name, [FieldError(name, f"must be > 0, got {value!r}")])
    return number


# --- filters of trade queries (get_trades, iter_trades, get_strategy_summary) -----------------

# A page is read and decoded whole: this bounds what one call holds (and asks of the server).
MAX_PAGE_ROWS = 10_000
_PAGE_ROWS: TypeAdapter[int] = TypeAdapter(
    Annotated[int, Field(ge=1, le=MAX_PAGE_ROWS, strict=True)]
)
_TRADE_STATUS: TypeAdapter[str] = TypeAdapter(TradeStatus)
_TRADE_TYPE: TypeAdapter[str] = TypeAdapter(TradeType)
_NAME: TypeAdapter[str] = TypeAdapter(Annotated[Name100, Field(strict=True), Utf8])
# Strict: a datetime object, never a string parsed by pydantic's rules (or a date).
_TIME: TypeAdapter[datetime] = TypeAdapter(Annotated[AwareDatetime, Field(strict=True)])


def validate_trade_status(value: Any) -> str:
    """A status filter of trades: "open", "closed" or "cancelled"."""
    return _argument(_TRADE_STATUS, "status", value)


def validate_trade_type(value: Any) -> str:
    """A trade_type filter: "paper", "live" or "optimization"."""
    return _argument(_TRADE_TYPE, "trade_type", value)


def validate_name(name: str, value: Any) -> str:
    """A filter on a VARCHAR(100) name column (entry_logic_name, exit_logic_name)."""
    return _argument(_NAME, name, value)


def validate_time(name: str, value: Any) -> datetime:
    """A time argument: a timezone-aware datetime (naive is refused), converted to UTC."""
    aware = _argument(_TIME, name, value)
    try:
        return aware.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01 00:00+05:00, which is before year 1 in UTC
        problem = f"{aware} is out of range in UTC"
        raise InvalidDataError(name, [FieldError(name, problem)]) from None


def validate_page_rows(name: str, value: Any) -> int:
    """Rows of one page: a whole number from 1 to MAX_PAGE_ROWS."""
    return _argument(_PAGE_ROWS, name, value)
