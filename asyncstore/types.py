"""Column types that keep money exact and time in UTC on every backend.

SQLite has no decimal type: a column declared DECIMAL gets NUMERIC affinity, which silently turns
the text '0.1' into the float 0.1. So on SQLite money is stored as canonical fixed-scale text
('50000.10000000') in a column whose declared type contains TEXT (TEXT affinity: stored as given).
Datetimes are stored as naive UTC text in one fixed-width format, so text order is time order and
the `entry_time` index and retention cut-offs work on it. Elsewhere the native types are used.

Each type exposes `to_db`/`from_db`: the canonical text asyncstore writes and reads on EVERY
backend (PostgreSQL's connections parse and print that same text, see
asyncstore.postgres.connection), used by the codec (asyncstore.schema.codec). The SQLAlchemy
bind/result hooks below serve SQLAlchemy itself (Alembic, a caller's own engine).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation, Overflow
from typing import Any

import orjson
from sqlalchemy import JSON, DateTime, Dialect, Numeric, String
from sqlalchemy.dialects.postgresql import JSON as PG_JSON
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "DATETIME_FORMAT",
    "DECIMAL_CONTEXT",
    "ORJSON_UTC_TIME_LENGTH",
    "ExactDecimal",
    "JSONDocument",
    "UTCDateTime",
    "quantum",
]

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
_STORED_TIME_LENGTH = len("2026-01-01 00:00:00.000000")
ORJSON_UTC_TIME_LENGTH = len('"2026-01-01T00:00:00.000001+00:00"')

# asyncstore's own decimal arithmetic context: a bot that lowers decimal.getcontext().prec
# (common in trading code) must not make storing or summing money fail or round.
DECIMAL_CONTEXT = Context(prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, Overflow])


def quantum(scale: int) -> Decimal:
    """The smallest step of a column with `scale` decimal places: Decimal('1E-8') for 8."""
    return Decimal(1).scaleb(-scale, context=DECIMAL_CONTEXT)


class _DecimalText(String):
    """SQLite storage of ExactDecimal: TEXT affinity, precision and scale kept in the DDL."""

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__()
        self.precision = precision
        self.scale = scale


@compiles(_DecimalText, "sqlite")
def _compile_decimal_text(type_: _DecimalText, compiler: Any, **kw: Any) -> str:
    # "DECIMAL_TEXT" contains TEXT, so SQLite gives the column TEXT affinity (never REAL).
    return f"DECIMAL_TEXT({type_.precision},{type_.scale})"


class ExactDecimal(TypeDecorator[Decimal]):
    """DECIMAL(precision, scale) that round-trips `Decimal` exactly, SQLite included."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision = precision
        self.scale = scale
        self._quantum = quantum(scale)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_DecimalText(self.precision, self.scale))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def to_db(self, value: Decimal | None) -> str | None:
        """Canonical text: exactly `scale` places, no exponent, no negative zero."""
        if value is None:
            return None
        value = value.quantize(self._quantum, context=DECIMAL_CONTEXT)
        return format(value.copy_abs() if value.is_zero() else value, "f")

    def from_db(self, value: str | None) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value).quantize(self._quantum, context=DECIMAL_CONTEXT)

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        return self.to_db(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return self.from_db(str(value))
        return Decimal(value).quantize(self._quantum, context=DECIMAL_CONTEXT)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on the way out; TIMESTAMPTZ where the backend has one."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @staticmethod
    def to_db(value: datetime | None) -> str | None:
        if value is None:
            return None
        if value.tzinfo is not UTC:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
            value = value.astimezone(UTC)
        # Same text as strftime(DATETIME_FORMAT). orjson's C formatter writes it 3x faster than
        # isoformat ('"2026-01-01T00:00:00.000000+00:00"': the quotes, T and offset go), which
        # counts six times a trade row; it leaves out a zero microsecond, so that is isoformat's.
        try:
            quoted = orjson.dumps(value)
        except TypeError:  # a datetime subclass (pandas, pendulum, freezegun): orjson refuses
            quoted = b""
        if len(quoted) == ORJSON_UTC_TIME_LENGTH:
            return quoted[1:27].replace(b"T", b" ", 1).decode()
        return value.isoformat(" ", "microseconds")[:-6]

    @staticmethod
    def from_db(value: str | None) -> datetime | None:
        if value is None:
            return None
        if len(value) == _STORED_TIME_LENGTH and value[-3:].isdigit():  # not '….123+00'
            # asyncstore's own text: naming the offset in the text makes fromisoformat return
            # an aware datetime directly (5x faster than parsing naive, then .replace(tzinfo)).
            return datetime.fromisoformat(value + "+00:00")
        # fromisoformat also reads rows written by other tools ('YYYY-MM-DD HH:MM:SS').
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is UTC:  # PostgreSQL's '…+00' (its sessions run in UTC)
            return parsed
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        return self.to_db(value) if dialect.name == "sqlite" else value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return None if value is None else value.astimezone(UTC)
        return self.from_db(str(value))


class JSONDocument(TypeDecorator[Any]):
    """JSON text on SQLite, JSON on PostgreSQL. NaN and Infinity are not JSON: refused.

    PostgreSQL's `json` (not `jsonb`) keeps the document as written, so it reads back exactly:
    jsonb would reorder keys and turn floats like 1e16 into integers."""

    impl = JSON
    cache_ok = True

    @staticmethod
    def to_db(value: Any) -> str | None:
        if value is None:
            return None
        return json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False)

    @staticmethod
    def from_db(value: str | None) -> Any:
        return None if value is None else json.loads(value)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(PG_JSON())
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return self.to_db(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if dialect.name == "sqlite" and value is not None:
            return self.from_db(value)
        return value
