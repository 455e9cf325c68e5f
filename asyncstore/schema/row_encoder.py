"""A compiled encoder per table: validated input to a stored row in one straight-line function.

A generic loop over columns costs a dict lookup, a branch and a call per column whether the
column needs work or not; on a 31-column trade that overhead was larger than the work. So for
each table one function is generated (once, at import) with every column spelled out: plain
columns are copied, text is checked for NUL inline, and only decimals, times and JSON call their
converter (asyncstore.schema.input_columns). Its source can be read with `RowEncoder.source`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from asyncstore.errors import FieldError, InvalidDataError
from asyncstore.schema.input_columns import Converter, InputRules, Refused
from asyncstore.types import DECIMAL_CONTEXT, ORJSON_UTC_TIME_LENGTH

__all__ = ["DecimalFastPath", "FastPath", "RowEncoder", "TimeFastPath"]


@dataclass(frozen=True)
class DecimalFastPath:
    """A DECIMAL column's common case, written inline: a value already at most `step` fine,
    non-zero, that fits. Anything else goes to the column's converter, which says why not."""

    step: Decimal
    whole_digits: int
    non_negative: bool


@dataclass(frozen=True)
class TimeFastPath:
    """A time column's common case, written inline: a UTC datetime (not a subclass: orjson
    refuses those) whose orjson text holds microseconds (see UTCDateTime.to_db). Anything else
    goes to the column's converter."""


FastPath = DecimalFastPath | TimeFastPath

EncodeRow = Callable[
    [dict[str, Any], InputRules, str, "Mapping[str, Any] | None", "int | None"], tuple[Any, ...]
]
NUL_PROBLEM = "contains a NUL character (\\x00)"


def _problem(
    problems: list[FieldError] | None, name: str, message: str, path: str, row_index: int | None
) -> list[FieldError]:
    field = name + path if row_index is None else f"row {row_index}.{name}{path}"
    return [*(problems or []), FieldError(field, message)]


class RowEncoder:
    """encode(values, rules, subject, fixed, row_index) -> the stored row (see TableCodec)."""

    def __init__(
        self,
        columns: list[str],
        converters: Mapping[str, Converter],
        text_columns: set[str],
        fast_paths: Mapping[str, FastPath] | None = None,
    ) -> None:
        self.columns = columns
        fast_paths = fast_paths or {}
        self.source = _source(columns, converters, text_columns, fast_paths)
        namespace: dict[str, Any] = {
            "Refused": Refused,
            "InvalidDataError": InvalidDataError,
            "_problem": _problem,
            "NUL_PROBLEM": NUL_PROBLEM,
            "POSITION": {name: index for index, name in enumerate(columns)},
            "CONTEXT": DECIMAL_CONTEXT,
            "UTC": UTC,
            "datetime": datetime,
            "dumps": orjson.dumps,
            "TIME_LENGTH": ORJSON_UTC_TIME_LENGTH,
            **{
                f"convert_{index}": converters[name]
                for index, name in _indexed(columns, converters)
            },
            **{
                f"step_{index}": path.step
                for index, name in _indexed(columns, fast_paths)
                if isinstance(path := fast_paths[name], DecimalFastPath)
            },
        }
        exec(compile(self.source, f"<row encoder {columns[:2]}...>", "exec"), namespace)
        self.encode: EncodeRow = namespace["encode"]


def _indexed(columns: list[str], wanted: Mapping[str, Any] | set[str]) -> list[tuple[int, str]]:
    return [(index, name) for index, name in enumerate(columns) if name in wanted]


def _source(
    columns: list[str],
    converters: Mapping[str, Converter],
    text_columns: set[str],
    fast_paths: Mapping[str, FastPath],
) -> str:
    lines = [
        "def encode(values, rules, subject, fixed, row_index):",
        "    problems = None",
        "    get = values.get",
    ]
    for index, name in enumerate(columns):
        lines.append(f"    c{index} = get({name!r})")
        if name in converters:
            converted = [
                "try:",
                f"    values[{name!r}], c{index} = convert_{index}(c{index}, rules)",
                "except Refused as exc:",
                f"    problems = _problem(problems, {name!r}, str(exc), exc.path, row_index)",
            ]
            path = fast_paths.get(name)
            if path is not None:
                converted = _fast_path(index, name, path, converted)
            lines += [f"    if c{index} is not None:", *(f"        {line}" for line in converted)]
        elif name in text_columns:
            # PostgreSQL text cannot hold NUL: refused on both backends alike.
            lines += [
                f"    if c{index} is not None and '\\x00' in c{index}:",
                f"        problems = _problem(problems, {name!r}, NUL_PROBLEM, '', row_index)",
            ]
    lines += [
        "    if problems:",
        "        raise InvalidDataError(subject, problems)",
        f"    row = ({', '.join(f'c{index}' for index in range(len(columns)))},)",
        "    if fixed:",
        "        row = list(row)",
        "        for name, value in fixed.items():",
        "            row[POSITION[name]] = value",
        "        row = tuple(row)",
        "    return row",
    ]
    return "\n".join(lines) + "\n"


def _fast_path(index: int, name: str, path: FastPath, otherwise: list[str]) -> list[str]:
    """Lines that store column `index`'s common case inline (no call per value: ~0.5 us of a
    31-column row's each), falling back to the `otherwise` lines (the converter)."""
    value, fallback = f"c{index}", [f"    {line}" for line in otherwise]
    if isinstance(path, TimeFastPath):
        return [
            f"if type({value}) is datetime and {value}.tzinfo is UTC"
            f" and len(q := dumps({value})) == TIME_LENGTH:",
            f'    {value} = q[1:27].replace(b"T", b" ", 1).decode()',
            "else:",
            *fallback,
        ]
    # A value too big to quantize, or one that needs rounding, zero, out of the column: the
    # converter's rules (and messages) decide.
    in_range = (
        f"e > 0 and e == {value}" if path.non_negative else f"e == {value} and not e.is_zero()"
    )
    return [
        "try:",
        f"    e = {value}.quantize(step_{index}, context=CONTEXT)",
        "except ArithmeticError:",
        "    e = None",
        f"if e is not None and {in_range} and e.adjusted() < {path.whole_digits}:",
        f"    values[{name!r}] = e",
        f'    {value} = str(e) if e.adjusted() >= -6 else format(e, "f")  # see _fixed_point_text',
        "else:",
        *fallback,
    ]
