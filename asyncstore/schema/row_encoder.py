"""A compiled encoder per table: validated input to a stored row in one straight-line function.

A generic loop over columns costs a dict lookup, a branch and a call per column whether the
column needs work or not; on a 31-column trade that overhead was larger than the work. So for
each table one function is generated (once, at import) with every column spelled out: plain
columns are copied, text is checked for NUL inline, and only decimals, times and JSON call their
converter (asyncstore.schema.input_columns). Its source can be read with `RowEncoder.source`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from asyncstore.errors import FieldError, InvalidDataError
from asyncstore.schema.input_columns import Converter, InputRules, Refused

__all__ = ["RowEncoder"]

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
        self, columns: list[str], converters: Mapping[str, Converter], text_columns: set[str]
    ) -> None:
        self.columns = columns
        self.source = _source(columns, converters, text_columns)
        namespace: dict[str, Any] = {
            "Refused": Refused,
            "InvalidDataError": InvalidDataError,
            "_problem": _problem,
            "NUL_PROBLEM": NUL_PROBLEM,
            "POSITION": {name: index for index, name in enumerate(columns)},
            **{
                f"convert_{index}": converters[name]
                for index, name in _indexed(columns, converters)
            },
        }
        exec(compile(self.source, f"<row encoder {columns[:2]}...>", "exec"), namespace)
        self.encode: EncodeRow = namespace["encode"]


def _indexed(columns: list[str], wanted: Mapping[str, Any] | set[str]) -> list[tuple[int, str]]:
    return [(index, name) for index, name in enumerate(columns) if name in wanted]


def _source(columns: list[str], converters: Mapping[str, Converter], text_columns: set[str]) -> str:
    lines = [
        "def encode(values, rules, subject, fixed, row_index):",
        "    problems = None",
        "    get = values.get",
    ]
    for index, name in enumerate(columns):
        lines.append(f"    c{index} = get({name!r})")
        if name in converters:
            lines += [
                f"    if c{index} is not None:",
                "        try:",
                f"            values[{name!r}], c{index} = convert_{index}(c{index}, rules)",
                "        except Refused as exc:",
                f"            problems = _problem(problems, {name!r}, str(exc), exc.path,"
                " row_index)",
            ]
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
