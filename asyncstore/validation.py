"""Turning caller input (dicts or pydantic models) into validated models, or a clear error."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from asyncstore.errors import FieldError, InvalidDataError
from asyncstore.schemas import ROUND_DECIMALS, BotId, Money

__all__ = ["as_input", "require_days", "validate", "validate_bot_id", "validate_money"]

ModelT = TypeVar("ModelT", bound=BaseModel)


def as_input(data: Any) -> Any:
    """Callers may pass any pydantic model: only the fields they set count, like a dict's keys."""
    return data.model_dump(exclude_unset=True) if isinstance(data, BaseModel) else data


def validate(model: type[ModelT], data: Any, subject: str, *, round_decimals: bool) -> ModelT:
    try:
        return model.model_validate(as_input(data), context={ROUND_DECIMALS: round_decimals})
    except ValidationError as exc:
        raise InvalidDataError.from_validation_error(subject, exc) from exc


_MONEY = TypeAdapter(Money)
_BOT_ID = TypeAdapter(BotId)


def validate_bot_id(value: Any) -> str:
    """A bot id argument, checked like the bot_instances.id column."""
    try:
        return _BOT_ID.validate_python(value)
    except ValidationError as exc:
        raise InvalidDataError.from_validation_error("bot_id", exc) from exc


def validate_money(name: str, value: Any) -> Decimal:
    """One money argument (e.g. starting_balance), checked like a DECIMAL(20,8) column."""
    try:
        return _MONEY.validate_python(value)
    except ValidationError as exc:
        raise InvalidDataError.from_validation_error(name, exc) from exc


def require_days(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidDataError(
            "retention", [FieldError(name, f"must be a whole number of days >= 0, got {value!r}")]
        )
    return value
