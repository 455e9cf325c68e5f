"""Values to and from their stored form: encoded once on the loop, decoded without re-validation.

Both backends store the same text for exact types: money as fixed-scale decimal text
('50000.10000000'), time as naive UTC text in one fixed-width format, JSON as text (PostgreSQL's
connections parse that text exactly, see `asyncstore.postgres.connection`). So one codec per
table serves both: input is checked and encoded by one generated function per table
(asyncstore.schema.row_encoder), rows are decoded with the `from_db` functions of the column types.

Rows read back are trusted: they were validated on the way in (or written by another tool that
the caller chose to trust), so they are decoded, not checked against the input rules again. A
value that cannot be decoded at all raises UnreadableRowError naming the table, row and column.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import String, Table

from asyncstore.errors import UnreadableRowError
from asyncstore.schema.input_columns import (
    Converter,
    InputRules,
    decimal_converter,
    json_converter,
    time_converter,
)
from asyncstore.schema.row_encoder import DecimalFastPath, FastPath, RowEncoder, TimeFastPath
from asyncstore.types import ExactDecimal, JSONDocument, UTCDateTime, quantum

__all__ = ["InputRules", "TableCodec"]


def _identity(value: Any) -> Any:
    return value


def _decoder(type_: Any) -> Callable[[Any], Any]:
    if isinstance(type_, ExactDecimal | UTCDateTime | JSONDocument):
        return type_.from_db
    return _identity


def _input_converter(type_: Any, non_negative: bool) -> Converter | None:
    if isinstance(type_, ExactDecimal):
        return decimal_converter(type_.precision, type_.scale, non_negative=non_negative)
    if isinstance(type_, UTCDateTime):
        return time_converter()
    if isinstance(type_, JSONDocument):
        return json_converter()
    return None


def _fast_path(type_: Any, non_negative: bool) -> FastPath | None:
    if isinstance(type_, ExactDecimal):
        return DecimalFastPath(quantum(type_.scale), type_.precision - type_.scale, non_negative)
    if isinstance(type_, UTCDateTime):
        return TimeFastPath()
    return None


class TableCodec:
    """Encodes values for one table's columns and decodes its rows."""

    def __init__(self, table: Table, *, non_negative: Collection[str] = ()) -> None:
        """`non_negative`: columns whose input may not be below zero (prices, sizes)."""
        self.table = table
        self.columns = [column.name for column in table.columns]
        self._position = {name: index for index, name in enumerate(self.columns)}
        self._decoders = [_decoder(column.type) for column in table.columns]
        # Only the columns whose values need converting are visited per row.
        self._value_decoders = [
            (name, decode)
            for name, decode in zip(self.columns, self._decoders, strict=True)
            if decode is not _identity
        ]
        converters = {
            column.name: converter
            for column in table.columns
            if (converter := _input_converter(column.type, column.name in non_negative))
        }
        fast_paths = {
            column.name: path
            for column in table.columns
            if (path := _fast_path(column.type, column.name in non_negative))
        }
        text = {column.name for column in table.columns if isinstance(column.type, String)}
        self._row_encoder = RowEncoder(self.columns, converters, text - set(converters), fast_paths)

    def encode_input(
        self,
        values: dict[str, Any],
        rules: InputRules,
        subject: str,
        *,
        fixed: Mapping[str, Any] | None = None,
        row_index: int | None = None,
    ) -> tuple[Any, ...]:
        """Validated input (pydantic already parsed it) as a full stored row, checked against
        its columns on the way: InvalidDataError names every field at fault (as `row N.field`
        with `row_index`). `values` is updated in place to what the row holds (decimals at
        their column's scale, UTC times, the JSON document as stored), i.e. the record's
        values. `fixed` holds values in storage form already (ids, one stamp per chunk)."""
        return self._row_encoder.encode(values, rules, subject, fixed, row_index)

    def encode_input_values(
        self, values: dict[str, Any], rules: InputRules, subject: str
    ) -> dict[str, Any]:
        """Only the given columns, checked and stored as `encode_input` does (an UPDATE's SET)."""
        row = self.encode_input(values, rules, subject)
        return {name: row[self._position[name]] for name in values}

    def decode(self, row: Sequence[Any]) -> dict[str, Any]:
        """A stored row (all columns, in order) as Python values; UnreadableRowError if a value
        does not decode as its column's type."""
        values = dict(zip(self.columns, row, strict=True))
        try:
            for name, decode in self._value_decoders:
                value = values[name]
                if value is not None:
                    values[name] = decode(value)
        except Exception as exc:  # find the culprit only on this rare path
            raise self._unreadable(row, exc) from exc
        return values

    def decode_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Some columns of a stored row, by name, as Python values."""
        decoded = dict(values)
        for name, value in values.items():
            if value is not None:
                decoded[name] = self._decoders[self._position[name]](value)
        return decoded

    def decode_all(self, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        decode = self.decode
        return [decode(row) for row in rows]

    def _unreadable(self, row: Sequence[Any], cause: Exception) -> UnreadableRowError:
        row_id = row[self._position["id"]] if "id" in self._position else "?"
        for name, decode, value in zip(self.columns, self._decoders, row, strict=False):
            try:
                decode(value)
            except Exception as exc:
                return UnreadableRowError(
                    f"{self.table.name} row {row_id!r}, column {name}: the stored value "
                    f"{value!r:.80} cannot be read as {self.table.c[name].type} ({exc})"
                )
        return UnreadableRowError(f"{self.table.name} row {row_id!r}: {cause}")
