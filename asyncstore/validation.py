"""Turning caller input (dicts or pydantic models) into validated models, or a clear error."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from asyncstore.errors import FieldError, InvalidDataError
from asyncstore.schemas import ROUND_DECIMALS, Money

__all__ = ["as_input", "require_days", "validate", "validate_money"]

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
