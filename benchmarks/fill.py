"""One bot's closed full trades, written by the database itself (INSERT … SELECT over a counter):
a million rows in seconds on SQLite and on PostgreSQL, where bulk_create_trades takes minutes.

Every column is set. The constant ones come from `full_trade_row` in storage form (the raw
contenders' encoder); these vary with the row number n: the id, the six times and the creation
stamps (one second apart, in the past), the prices, net_pnl (a third of the trades lose) and
pnl_percentage, and the metadata's "signal".
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy.dialects import postgresql

from asyncstore.schema.tables import TRADES
from asyncstore.types import UTCDateTime
from benchmarks.harness import TRADE_COLUMNS, encoded_rows

# Every time column (the six of a trade's life and the two creation stamps).
TIMES = tuple(column.name for column in TRADES.columns if isinstance(column.type, UTCDateTime))
_META = '{"rsi":28.5,"bb":[49800.5,50200.25],"signal":'

# SQLite: n is an INTEGER; money and times are asyncstore's text forms.
_SQLITE = {
    "id": "printf('00000000-0000-7000-8000-%012x', n)",
    **dict.fromkeys(
        TIMES, "datetime(:base + n, 'unixepoch') || printf('.%06d', n * 7919 % 1000000)"
    ),
    "entry_price": "printf('%d.12345678', 50000 + n % 1000)",
    "exit_price": "printf('%d.62345678', 50012 + n % 1000)",
    "net_pnl": "iif(n % 3 = 0, '-', '') || printf('%d.%08d', n % 5, n * 7919 % 99999999 + 1)",
    "pnl_percentage": "iif(n % 3 = 0, '-', '') || printf('0.%04d', n % 9999 + 1)",
    "extra_metadata": f"'{_META}' || n || ',\"tags\":[\"a\"]}}'",
}
SQLITE_FILL = """
WITH RECURSIVE counter(n) AS (SELECT :start UNION ALL SELECT n + 1 FROM counter WHERE n < :last)
INSERT INTO trades ({columns}) SELECT {values} FROM counter
"""

# PostgreSQL: n is a bigint; the values are the columns' own types.
_POSTGRES = {
    "id": "'00000000-0000-7000-8000-' || lpad(to_hex(n), 12, '0')",
    **dict.fromkeys(
        TIMES, "to_timestamp($1 + n) + (n * 7919 % 1000000) * interval '1 microsecond'"
    ),
    "entry_price": "50000.12345678 + n % 1000",
    "exit_price": "50012.62345678 + n % 1000",
    "net_pnl": "(1 - 2 * (n % 3 = 0)::int) * (n % 5 + (n * 7919 % 99999999 + 1) / 1e8)",
    "pnl_percentage": "(1 - 2 * (n % 3 = 0)::int) * (n % 9999 + 1) / 1e4",
    "extra_metadata": f"('{_META}' || n || ',\"tags\":[\"a\"]}}')::json",
}
POSTGRES_FILL = """
INSERT INTO trades ({columns}) SELECT {values} FROM generate_series($2::bigint, $3::bigint) AS n
"""


def _template(bot_id: str) -> dict[str, Any]:
    """One full closed trade of `bot_id` in storage form, by column."""
    (row,) = encoded_rows(1, (bot_id,), full=True)
    return dict(zip(TRADE_COLUMNS, row, strict=True))


# Row n's times are EPOCH + n seconds (Unix time): in the past for the first 10 million rows.
EPOCH = int(time.time()) - 10_000_000


def fill_sqlite(path: Path, bot_id: str, start: int, stop: int) -> None:
    """Rows start..stop-1 of `bot_id`'s closed full trades (the Store must be closed)."""
    template = _template(bot_id)
    constants = {name: value for name, value in template.items() if name not in _SQLITE}
    values = [_SQLITE.get(name, f":{name}") for name in TRADE_COLUMNS]
    sql = SQLITE_FILL.format(columns=", ".join(TRADE_COLUMNS), values=", ".join(values))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(sql, {**constants, "base": EPOCH, "start": start, "last": stop - 1})
        conn.execute("COMMIT")
    finally:
        conn.close()


async def fill_postgresql(dsn: str, bot_id: str, start: int, stop: int) -> None:
    """Rows start..stop-1 of `bot_id`'s closed full trades, on the database at `dsn`."""
    import asyncpg

    template = _template(bot_id)
    params: list[Any] = [EPOCH, start, stop - 1]
    values = []
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    for name in TRADE_COLUMNS:
        if name in _POSTGRES:
            values.append(_POSTGRES[name])
            continue
        params.append(template[name])
        column_type = TRADES.c[name].type.compile(dialect=dialect)
        values.append(f"${len(params)}::text::{column_type}")
    sql = POSTGRES_FILL.format(columns=", ".join(TRADE_COLUMNS), values=", ".join(values))
    conn = await asyncpg.connect(dsn, server_settings={"TimeZone": "UTC"})
    try:
        await conn.execute(sql, *params)
        await conn.execute("ANALYZE trades")  # as autovacuum would soon: settled query plans
    finally:
        await conn.close()
