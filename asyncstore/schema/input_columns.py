"""The last checks of caller input, made while converting it to its stored form, once per value.

pydantic-core has already parsed every field natively (types, enums, lengths, aware datetimes).
What is left needs the value's stored form anyway, so it is checked in the same step that makes
it: a decimal is quantized to its column's scale once, and that one result says whether the input
had too many places, fits the column, and is what both the record and the row hold; a time is
moved to UTC once; a JSON document is encoded once (by orjson, ~10x the standard library), and
its size, NaNs and NULs are checked on that text.

Each converter returns (the record's value, the stored value) or raises Refused with the reason.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from asyncstore.types import DECIMAL_CONTEXT, UTCDateTime, quantum

__all__ = [
    "InputRules",
    "Refused",
    "decimal_converter",
    "json_converter",
    "time_converter",
]

Converter = Callable[[Any, "InputRules"], tuple[Any, Any]]


@dataclass(frozen=True, slots=True)
class InputRules:
    """What a Store allows beyond the column types (from its settings)."""

    round_decimals: bool = False
    max_metadata_bytes: int = 1024 * 1024
    # Whether the caller builds records from the converted values (bulk inserts return only a
    # count: their JSON documents are not decoded back into copies).
    record_values: bool = True


class Refused(ValueError):
    """A value its column cannot take; the message says why (the caller names the field).
    `path` locates the culprit inside a JSON document (".when", ".bb.1")."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


def decimal_converter(precision: int, scale: int, *, non_negative: bool) -> Converter:
    step = quantum(scale)
    zero = Decimal(0).quantize(step, context=DECIMAL_CONTEXT)
    zero_text = format(zero, "f")
    whole_digits = precision - scale
    column = f"DECIMAL({precision},{scale})"

    def convert(value: Decimal, rules: InputRules) -> tuple[Decimal, str]:
        if value.is_zero():  # -0 and 0E-20 alike: stored as the one canonical zero
            return zero, zero_text
        if value.adjusted() >= whole_digits:
            raise Refused(
                f"{value} has more than {whole_digits} digits before the decimal point "
                f"(column is {column})"
            )
        exact = value.quantize(step, context=DECIMAL_CONTEXT)  # half-even
        if exact != value and not rules.round_decimals:
            raise Refused(
                f"{value} has more than {scale} decimal places (column is {column}); round it "
                "first, or open the Store with round_decimals=True"
            )
        if exact.adjusted() >= whole_digits:  # 999.999 rounded up past the column
            raise Refused(f"{value} rounds to more digits than {column} holds")
        if non_negative and exact < 0:
            raise Refused("Input should be greater than or equal to 0")
        if exact.is_zero():  # a tiny value rounded to (possibly negative) zero
            return zero, zero_text
        return exact, _fixed_point_text(exact)

    return convert


def _fixed_point_text(exact: Decimal) -> str:
    """format(exact, "f"), 3x faster: str() writes a quantized decimal the same way unless it
    is below 1E-6 in size, where it switches to an exponent ('1.2E-7', or '1.2e-7' with the
    caller's context.capitals = 0)."""
    return str(exact) if exact.adjusted() >= -6 else format(exact, "f")


def time_converter() -> Converter:
    def convert(value: datetime, rules: InputRules) -> tuple[datetime, str]:
        if value.tzinfo is not UTC:
            try:
                value = value.astimezone(UTC)
            except OverflowError:  # e.g. datetime.max at -01:00 is past year 9999 in UTC
                raise Refused("is outside the years 1-9999 in UTC") from None
        return value, _time_text(value)

    return convert


def _time_text(value: datetime) -> str:
    return UTCDateTime.to_db(value) or ""


# Documents up to this size reach the record as a copy decoded from their stored text (under
# ~5 ms); bigger ones as the caller's own object.
_COPIED_DOCUMENT_BYTES = 64 * 1024

# datetime and dataclass objects are not JSON: orjson would write them as text, which would read
# back as a different type. With these options they reach `default` (None): a TypeError.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_STDLIB_JSON = json.JSONEncoder(allow_nan=False, separators=(",", ":"), ensure_ascii=False)


def json_converter() -> Converter:
    def convert(value: Any, rules: InputRules) -> tuple[Any, str]:
        exact_loads: Callable[[bytes], Any] = orjson.loads
        if _big_parts_over(value, rules.max_metadata_bytes):
            raise Refused(_over_the_limit("more than", rules.max_metadata_bytes))
        try:
            data = orjson.dumps(value, option=_ORJSON_OPTIONS)
        except orjson.JSONEncodeError as exc:
            if "64-bit" not in str(exc):
                raise Refused(_json_problem(str(exc)), _culprit_path(value)) from None
            # Integers past 64 bits: the standard library writes them exactly, and reads them
            # back exactly (orjson would read them as floats).
            data, exact_loads = _stdlib_json(value), json.loads
        if len(data) > rules.max_metadata_bytes:
            raise Refused(_over_the_limit(f"{len(data):,}", rules.max_metadata_bytes))
        if b"null" in data:
            _refuse_non_finite(value)  # orjson writes NaN and Infinity as null
        if b"\\u0000" in data:
            raise Refused("holds a NUL character (\\x00)")
        if not rules.record_values or len(data) > _COPIED_DOCUMENT_BYTES:
            # Decoding the copy back is one long C call that no thread would spare the loop
            # (5-10 ms for 900 KB, and 150,000 new objects for the garbage collector to walk):
            # the record keeps the caller's own document, which equals what was stored.
            return value, data.decode()
        # The record holds the document as stored (a copy: the caller may change theirs).
        return exact_loads(data), data.decode()

    return convert


def _over_the_limit(size: str, limit: int) -> str:
    return f"is {size} bytes as JSON, over the limit of {limit:,} (the Store's max_metadata_bytes)"


# A list or object with more items than this, at the top of a document or one level down, is
# measured a slice at a time before the document is encoded whole.
_SLICE_ITEMS = 4096
_CONTAINERS = (list, tuple, dict)


def _big_parts_over(value: Any, limit: int) -> bool:
    """Whether the document's big parts alone surely encode to more than `limit` bytes.

    Encoding a 22 MB document only to measure it held the loop ~100 ms (one C call). Its big
    lists and objects (the document itself, or its items one level down: `{"candles": [...]}`)
    are encoded a slice at a time instead, stopping as soon as they pass the limit, so refusing
    costs about what encoding `limit` bytes does, whatever the document's size. Deeper parts
    are left to the whole encoding. A part that is not JSON counts 0: the whole encoding then
    names the culprit."""
    if _is_big(value):
        return _size_at_least(value, limit) > limit
    if isinstance(value, dict):
        parts: Any = value.values()
    elif isinstance(value, list | tuple):
        parts = value
    else:
        parts = (value,)
    size = 0
    for part in parts:  # disjoint parts: their sizes add up to less than the document's
        if isinstance(part, str):
            size += len(part) + 2  # quoted; at least a byte a character
        elif _is_big(part):
            size += _size_at_least(part, limit - size)
        if size > limit:
            return True
    return False


def _is_big(part: Any) -> bool:
    return isinstance(part, _CONTAINERS) and len(part) > _SLICE_ITEMS


def _size_at_least(part: list[Any] | tuple[Any, ...] | dict[Any, Any], limit: int) -> int:
    """A lower bound of `part`'s encoded size, encoded a slice at a time until it passes
    `limit` (each slice's own brackets stand for the comma that joins it to the next)."""
    items = iter(part.items()) if isinstance(part, dict) else iter(part)
    size = 0
    while size <= limit and (chunk := list(itertools.islice(items, _SLICE_ITEMS))):
        sliced = dict(chunk) if isinstance(part, dict) else chunk
        try:
            size += len(orjson.dumps(sliced, option=_ORJSON_OPTIONS)) - 1
        except orjson.JSONEncodeError:
            return 0
    return size


def _json_problem(message: str) -> str:
    if "surrogates" in message:
        return "holds text that is not valid Unicode"
    if "Recursion" in message:
        return "is nested too deeply"
    if "key must be str" in message:
        return "JSON object keys must be text"
    return f"is not JSON: {message}"


_JSON_SCALARS = (str, int, float, bool, type(None))


def _culprit_path(value: Any, path: str = "", depth: int = 0) -> str:
    """Where in a refused document the first value that is not JSON sits (only run once a
    document was refused, to name it as pydantic would: "extra_metadata.when")."""
    if depth > 100:
        return path
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return path
            found = _culprit_path(item, f"{path}.{key}", depth + 1)
            if found:
                return found
        return ""
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _culprit_path(item, f"{path}.{index}", depth + 1)
            if found:
                return found
        return ""
    if isinstance(value, str) and not _is_storable_text(value):
        return path
    return "" if isinstance(value, _JSON_SCALARS) else path


def _is_storable_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refuse_non_finite(value: Any) -> None:
    try:
        _STDLIB_JSON.encode(value)
    except ValueError:
        raise Refused("NaN and Infinity are not valid JSON") from None


def _stdlib_json(value: Any) -> bytes:
    try:
        return _STDLIB_JSON.encode(value).encode("utf-8")
    except UnicodeEncodeError:
        raise Refused("holds text that is not valid Unicode") from None
    except ValueError:
        raise Refused("NaN and Infinity are not valid JSON") from None
    except RecursionError:
        raise Refused("is nested too deeply") from None
