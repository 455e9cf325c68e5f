"""SQL expressions whose text differs by dialect, so the statements that use them do not.

Each one is a SQLAlchemy construct with a compiler per dialect (`@compiles`): a statement is
built once, and the SQLite and PostgreSQL backends each compile it into their own SQL.
- `RowAddress`: the physical address of a row (SQLite `rowid`, PostgreSQL `ctid`), the
  cheapest key for "delete these rows just found";
- `money_sign_value`: a money column as a number whose sign can be compared with 0 (SQLite
  stores money as exact text, where '0.00000000' > '0' in text order);
- `count_where`: how many rows meet a condition, inside a wider aggregate (0 for none);
- `money_sum_parts`: an exact SUM of a money column as two integers to add up in Python
  (SQLite's SUM of text would go through a float; PostgreSQL's NUMERIC sum is exact itself);
- `UtcDay`, `HourStart`, `EpochSeconds`: a stored time's UTC day, hour and epoch second
  (SQLite keeps times as UTC text, PostgreSQL as timestamptz), for grouping by time in SQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Float, Integer, String, case, cast, func, literal, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlalchemy.sql.schema import Table

from asyncstore.types import UTCDateTime

__all__ = [
    "MONEY_SCALE",
    "EpochSeconds",
    "HourStart",
    "RowAddress",
    "UtcDay",
    "count_where",
    "money_sign_value",
    "money_sum_parts",
]

# Every money column of the spec is DECIMAL(20, 8); the summary adds fractions in these units.
MONEY_SCALE = 8


class RowAddress(ColumnElement[Any]):
    """The physical address of a row of `table`: stable within one transaction."""

    inherit_cache = True

    def __init__(self, table: Table) -> None:
        self.table = table
        self.type = String()


@compiles(RowAddress, "sqlite")
def _sqlite_row_address(element: RowAddress, compiler: Any, **kw: Any) -> str:
    return f"{compiler.preparer.format_table(element.table)}.rowid"


@compiles(RowAddress, "postgresql")
def _postgres_row_address(element: RowAddress, compiler: Any, **kw: Any) -> str:
    return f"{compiler.preparer.format_table(element.table)}.ctid"


def _per_dialect(construct: type[FunctionElement[Any]], **templates: str) -> None:
    """Compile a one-argument `construct` from a SQL template per dialect (`{0}`: the argument
    as compiled), e.g. `_per_dialect(UtcDay, sqlite="substr({0}, 1, 10)", postgresql=...)`."""
    for dialect, template in templates.items():

        def compile_it(element: Any, compiler: Any, _template: str = template, **kw: Any) -> str:
            (argument,) = element.clauses
            return _template.format(compiler.process(argument, **kw))

        compiles(construct, dialect)(compile_it)


class _MoneySign(FunctionElement[Any]):
    inherit_cache = True
    type = Float()


# The sign of a decimal survives SQLite's cast to REAL (only its last digits may not).
_per_dialect(_MoneySign, sqlite="CAST({0} AS REAL)", postgresql="{0}")


def money_sign_value(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """`column` as a value whose comparison with 0 gives the money's sign on every backend."""
    return _MoneySign(column)


class _WholeSum(FunctionElement[Any]):
    inherit_cache = True
    type = Integer()


class _FractionSum(FunctionElement[Any]):
    inherit_cache = True
    type = Integer()


@compiles(_WholeSum, "postgresql")
def _postgres_whole_sum(element: _WholeSum, compiler: Any, **kw: Any) -> str:
    # NUMERIC sums exactly: the whole sum in the first part, nothing in the second.
    (value,) = element.clauses
    return f"sum({compiler.process(value, **kw)})"


@compiles(_FractionSum, "postgresql")
def _postgres_fraction_sum(element: _FractionSum, compiler: Any, **kw: Any) -> str:
    return "0"


def _text_parts(value: ColumnElement[Any]) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """The stored text '-12.34000000' split into its integer part and its signed fraction digits."""
    text = type_coerce(value, String())
    point = func.instr(text, ".")
    whole = cast(func.substr(text, 1, point - 1), Integer)
    digits = cast(func.substr(text, point + 1), Integer)
    return whole, case((text.like("-%"), -digits), else_=digits)


@compiles(_WholeSum, "sqlite")
def _sqlite_whole_sum(element: _WholeSum, compiler: Any, **kw: Any) -> str:
    (value,) = element.clauses
    whole, _ = _text_parts(value)
    return str(compiler.process(func.sum(whole), **kw))


@compiles(_FractionSum, "sqlite")
def _sqlite_fraction_sum(element: _FractionSum, compiler: Any, **kw: Any) -> str:
    (value,) = element.clauses
    _, fraction = _text_parts(value)
    return str(compiler.process(func.sum(fraction), **kw))


def money_sum_parts(
    column: ColumnElement[Any], where: ColumnElement[bool] | None = None
) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """An exact SUM of a money column (of the rows matching `where`) as (whole, fraction):
    the sum is `whole + fraction * 10**-MONEY_SCALE`. Each part is 0 when no row counts."""
    value: ColumnElement[Any] = column if where is None else case((where, column), else_=None)
    return (
        func.coalesce(_WholeSum(value), literal(0)),
        func.coalesce(_FractionSum(value), literal(0)),
    )


def count_where(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    """How many rows meet `condition` (0 when none), as one column of a wider aggregate."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


# --- times in SQL: the UTC day, hour and epoch second of a stored time, on each backend ------


class UtcDay(FunctionElement[Any]):
    """A stored time's UTC day as text, 'YYYY-MM-DD' (it sorts as the days do)."""

    inherit_cache = True
    type = String()


class HourStart(FunctionElement[Any]):
    """The start of the UTC hour of a stored time, in the column's own stored form."""

    inherit_cache = True
    type = UTCDateTime()


class EpochSeconds(FunctionElement[Any]):
    """A stored time as whole seconds since 1970 (an integer to divide into wider buckets)."""

    inherit_cache = True
    type = BigInteger()


# SQLite keeps times as UTC text 'YYYY-MM-DD HH:MM:SS.ffffff': the day is its first ten
# characters, the hour its first 13. strftime('%s') rather than unixepoch(), which needs 3.38.
_per_dialect(
    UtcDay,
    sqlite="substr({0}, 1, 10)",
    postgresql="to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
)
_per_dialect(
    HourStart,
    sqlite="(substr({0}, 1, 13) || ':00:00.000000')",
    postgresql="date_trunc('hour', {0}, 'UTC')",
)
_per_dialect(
    EpochSeconds,
    sqlite="CAST(strftime('%s', {0}) AS INTEGER)",
    postgresql="CAST(floor(extract(epoch FROM {0})) AS BIGINT)",
)
