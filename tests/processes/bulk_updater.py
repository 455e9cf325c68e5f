"""Child processes of the bulk update memory test.

    python -m tests.processes.bulk_updater setup <url> <rows>    N open trades, inserted fast
    python -m tests.processes.bulk_updater update <url> <rows>   stream an update of all of them

`setup` inserts with plain SQL (sqlite3, or one INSERT … SELECT generate_series on PostgreSQL),
in its own process so its memory does not hide the update's. `update` prints
`UPDATED <n> GROWTH_KIB <peak RSS growth during the update>`.
"""

from __future__ import annotations

import asyncio
import resource
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from asyncstore import Store, TradeRepository

STAMP = "2026-03-01 12:00:00.000000"


def trade_id(n: int) -> str:
    return f"0190d3a0-0000-7000-8000-{n:012d}"


_PG_INSERT = (
    "INSERT INTO trades (id, bot_id, trade_type, entry_logic_name, exit_logic_name, symbol, "
    "interval, direction, status, entry_price, size, entry_time, created_at, updated_at) "
    "SELECT ('0190d3a0-0000-7000-8000-' || lpad(n::text, 12, '0'))::text, 'bulk_bot', "
    "'optimization', 'E', 'X', 'BTCUSDT', '1h', 'long', 'open', 50000, 0.01, at, at, at "
    "FROM generate_series(0, $1 - 1) AS n, CAST($2::text AS timestamptz) AS at"
)


async def setup(url: str, rows: int) -> None:
    async with Store(url) as store:
        await store.create_tables()
        await TradeRepository(store).create_bot_instance({"id": "bulk_bot", "type": "paper"})
        path = store.path
    if path is not None:
        insert_sqlite_trades(path, rows)
        return
    import asyncpg
    from sqlalchemy.engine import make_url

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(_PG_INSERT, rows, STAMP + "+00")
    finally:
        await conn.close()


def insert_sqlite_trades(path: Path, rows: int) -> None:
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO trades (id, bot_id, trade_type, entry_logic_name, exit_logic_name, "
            "symbol, interval, direction, status, entry_price, size, entry_time, created_at, "
            "updated_at) VALUES (?, 'bulk_bot', 'optimization', 'E', 'X', 'BTCUSDT', '1h', "
            "'long', 'open', '50000.00000000', '0.01000000', ?, ?, ?)",
            ((trade_id(n), STAMP, STAMP, STAMP) for n in range(rows)),
        )
    conn.close()


def changes(rows: int) -> Iterator[tuple[str, dict[str, Any]]]:
    for n in range(rows):
        yield trade_id(n), {"exit_reason": "rebalanced", "commission": f"0.{n % 1000:03d}"}


def peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


async def update(url: str, rows: int) -> None:
    async with Store(url) as store:
        repo = TradeRepository(store)
        await repo.get_trade_by_id(trade_id(0))  # warm: connections and statements are open
        before = peak_rss_kib()
        updated = await repo.bulk_update_trades(changes(rows))
        growth = peak_rss_kib() - before
    print(f"UPDATED {updated} GROWTH_KIB {growth}", flush=True)


if __name__ == "__main__":
    action = {"setup": setup, "update": update}[sys.argv[1]]
    asyncio.run(action(sys.argv[2], int(sys.argv[3])))
