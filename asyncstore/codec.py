"""Rows to and from SQLite for the writer: SQL compiled once from the models, values encoded once.

The writer thread executes plain `sqlite3` statements, so the SQL text is compiled here from the
SQLAlchemy tables (one source of truth for the schema) and every value is encoded on the loop by
the same `to_db`/`from_db` functions the column types use for reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql.expression import ClauseElement

from asyncstore.types import ExactDecimal, JSONDocument, UTCDateTime

__all__ = ["CompiledSQL", "TableCodec", "compile_for_sqlite"]

_DIALECT = sqlite.dialect()


@dataclass(frozen=True, slots=True)
class CompiledSQL:
    """A statement compiled once: `?` placeholders, bind names in order, literal values."""

    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]

    def params(self, values: Mapping[str, Any] | None = None) -> tuple[Any, ...]:
        """Positional parameters: `values` by bind name, else the literal compiled in."""
        given = values or {}
        return tuple(given[name] if name in given else self.defaults[name] for name in self.names)


def compile_for_sqlite(statement: ClauseElement) -> CompiledSQL:
    """Compile once (SQLAlchemy's compiler costs ~100 µs a call; our statements are fixed)."""
    compiled = statement.compile(dialect=_DIALECT)
    # The sqlite dialect is positional ("?"), so its compiler records the bind order.
    order: list[str] | None = getattr(compiled, "positiontup", None)
    return CompiledSQL(str(compiled), tuple(order or ()), dict(compiled.params))


def _identity(value: Any) -> Any:
    return value


def _converters(type_: Any) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    if isinstance(type_, ExactDecimal | UTCDateTime | JSONDocument):
        return type_.to_db, type_.from_db
    return _identity, _identity


class TableCodec:
    """Encodes values for one table's columns, decodes its rows, and holds its write SQL."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.columns = [column.name for column in table.columns]
        self._position = {name: index for index, name in enumerate(self.columns)}
        pairs = [_converters(column.type) for column in table.columns]
        # Only the columns whose values need converting are visited per row (bulk hot path).
        self._encoders = [
            (index, encode) for index, (encode, _) in enumerate(pairs) if encode is not _identity
        ]
        self._decoders = [decode for _, decode in pairs]
        self.insert_sql = compile_for_sqlite(insert(table)).sql
        self.insert_ignore_sql = compile_for_sqlite(
            sqlite.insert(table).on_conflict_do_nothing(index_elements=["id"])
        ).sql
        self._update_sql = lru_cache(maxsize=256)(self._compile_update)

    def encode(
        self, values: Mapping[str, Any], encoded: Mapping[str, Any] | None = None
    ) -> tuple[Any, ...]:
        """A full row in column order; a missing column is NULL.

        `encoded` holds values already in storage form (e.g. one `created_at` text shared by a
        whole bulk chunk); they override `values` and are not converted again.
        """
        get = values.get
        row = [get(name) for name in self.columns]
        for index, encode in self._encoders:
            value = row[index]
            if value is not None:
                row[index] = encode(value)
        if encoded:
            for name, value in encoded.items():
                row[self._position[name]] = value
        return tuple(row)

    def decode(self, row: Sequence[Any]) -> dict[str, Any]:
        return {
            name: decode(value)
            for name, decode, value in zip(self.columns, self._decoders, row, strict=True)
        }

    def update_returning(
        self, row_id: str, changes: Mapping[str, Any], *, owner: str | None = None
    ) -> tuple[str, tuple[Any, ...]]:
        """UPDATE … SET <changes> WHERE id = ? [AND bot_id = owner] RETURNING every column."""
        compiled = self._update_sql(tuple(sorted(changes)), owner is not None)
        encoded = dict(zip(self.columns, self.encode(changes), strict=True))
        values = {f"set_{name}": encoded[name] for name in changes}
        return compiled.sql, compiled.params({**values, "row_id": row_id, "owner": owner})

    def _compile_update(self, columns: tuple[str, ...], owned: bool) -> CompiledSQL:
        table = self.table
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values({name: bindparam(f"set_{name}") for name in columns})
            .returning(*table.c)
        )
        if owned:  # a bot-scoped repository may touch its own rows only
            statement = statement.where(table.c.bot_id == bindparam("owner"))
        return compile_for_sqlite(statement)
