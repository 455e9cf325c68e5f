"""The generated encoder's inline fast paths give exactly what the column converters give.

Decimals and times in their common case (already at the column's scale; UTC with microseconds)
are written inline in the generated function rather than through a call per value; anything
else falls back to the converter. Either way the stored text, the record's value and every
error must be the converter's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, localcontext
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncstore.errors import InvalidDataError
from asyncstore.repository.trades import TRADE_CODEC
from asyncstore.schema.codec import _input_converter
from asyncstore.schema.input_columns import InputRules
from asyncstore.schema.records import NON_NEGATIVE_TRADE_COLUMNS
from asyncstore.schema.row_encoder import RowEncoder
from asyncstore.schema.tables import TRADES

# The same table's encoder without fast paths: every value goes through its converter.
_CONVERTERS = {
    column.name: converter
    for column in TRADES.columns
    if (converter := _input_converter(column.type, column.name in NON_NEGATIVE_TRADE_COLUMNS))
}
_PLAIN = RowEncoder(TRADE_CODEC.columns, _CONVERTERS, set())

decimals = st.one_of(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=8, min_value=-(10**12), max_value=10**12
    ),
    st.decimals(allow_nan=False, allow_infinity=False),  # any exponent: too big, too fine
    st.sampled_from(
        [
            Decimal("-0"),
            Decimal("0E-30"),
            Decimal("0E+30"),
            Decimal("1E-7"),
            Decimal("-1.2E-7"),
            Decimal("999999999999.999999999"),
            Decimal("1E+55"),
        ]
    ),
)
times = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)),
                               timezone(timedelta(hours=9, minutes=30))]),
)  # fmt: skip


def _both(values: dict[str, Any], rules: InputRules) -> list[Any]:
    """(row, record values) or (error fields and messages) of each encoder."""
    outcomes = []
    for encode in (TRADE_CODEC._row_encoder.encode, _PLAIN.encode):
        given_values = dict(values)
        try:
            row = encode(given_values, rules, "trade", None, None)
        except InvalidDataError as exc:
            outcomes.append([(e.field, e.message) for e in exc.errors])
        else:
            outcomes.append((row, [(k, repr(v)) for k, v in given_values.items()]))
    return outcomes


@settings(max_examples=400, deadline=None)
@given(
    price=decimals,
    pnl=decimals,
    moment=times,
    zero_microseconds=st.booleans(),
    round_decimals=st.booleans(),
)
def test_fast_paths_store_what_the_converters_store(
    price: Decimal, pnl: Decimal, moment: datetime, zero_microseconds: bool, round_decimals: bool
) -> None:
    if zero_microseconds:
        moment = moment.replace(microsecond=0)
    values = {"entry_price": price, "net_pnl": pnl, "entry_time": moment, "exit_time": moment}
    fast, plain = _both(values, InputRules(round_decimals=round_decimals))
    assert fast == plain


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("entry_price", Decimal("-1.5")),  # non-negative column
        ("entry_price", Decimal("0.000000001")),  # too fine
        ("net_pnl", Decimal("1E+12")),  # too many whole digits
        ("net_pnl", Decimal("1E+60")),  # too big to quantize at all
    ],
)
def test_refused_values_name_the_column_as_before(column: str, value: Decimal) -> None:
    fast, plain = _both({column: value}, InputRules())
    assert fast == plain and [field for field, _ in fast] == [column]


class _BotFrameworkTime(datetime):
    """Like pandas' Timestamp or pendulum's DateTime: a datetime subclass (orjson refuses them)."""


@pytest.mark.parametrize("zone", [UTC, timezone(timedelta(hours=2))])
def test_datetime_subclasses_are_stored_as_datetimes(zone: timezone) -> None:
    moment = _BotFrameworkTime(2026, 3, 1, 12, 30, 15, 250, tzinfo=zone)
    fast, plain = _both({"entry_time": moment}, InputRules())
    assert fast == plain
    row, _ = fast
    expected = moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    assert row[TRADE_CODEC.columns.index("entry_time")] == expected


def test_stored_decimal_text_ignores_the_callers_decimal_context() -> None:
    # Trading code often tunes decimal.getcontext(); a tiny amount must still be stored as
    # fixed-point text, never '1.2e-7'.
    with localcontext() as context:
        context.capitals = 0
        context.prec = 5
        row, _ = _both({"net_pnl": Decimal("0.00000012"), "size": Decimal("123456.12345678")},
                       InputRules())[0]  # fmt: skip
    columns = TRADE_CODEC.columns
    assert row[columns.index("net_pnl")] == "0.00000012"
    assert row[columns.index("size")] == "123456.12345678"
