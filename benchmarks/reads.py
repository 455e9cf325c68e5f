"""Scenario 6: get_open_trades(bot_id) among many closed trades, idle and under mixed writes."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

from asyncstore import Store, TradeRepository
from benchmarks.contenders import NaiveSqlAlchemy, RawSqlite
from benchmarks.harness import (
    BOT,
    Table,
    bot_names,
    db_path,
    fresh_store,
    ms,
    row_stream,
    time_text,
    timed,
    trade_row,
)
from benchmarks.mixed import run_mixed
from benchmarks.sizes import Sizes

# 100 bots' closed trades (light rows), written by SQLite itself: fast at 10 million rows.
FILL_TRADES_SQL = """
WITH RECURSIVE counter(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM counter WHERE n < ?)
INSERT INTO trades (id, bot_id, trade_type, entry_logic_name, exit_logic_name, symbol, interval,
                    entry_price, size, direction, status, net_pnl, created_at, updated_at)
SELECT printf('00000000-0000-7000-8000-%012x', n), printf('bot_%04d', n % 100), 'paper',
       'RSIBBVolumeEntryMixin', 'ATRExitMixin', 'BTCUSDT', '1h', '50000.10000000', '0.10000000',
       'long', 'closed', '1.00000000', ?, ?
FROM counter
"""


async def _read_table(folder: Path, rows: int) -> Path:
    """A database with `rows` closed trades over 100 bots, and 5 open trades per bot."""
    names = bot_names(100)
    store = await fresh_store(folder, f"reads_{rows}", names)
    await store.close()
    conn = sqlite3.connect(db_path(store), isolation_level=None)
    now = time_text(datetime.now(UTC))
    conn.execute("BEGIN")
    conn.execute(FILL_TRADES_SQL, (rows, now, now))
    conn.execute("COMMIT")
    conn.close()
    async with Store(f"sqlite+aiosqlite:///{db_path(store)}") as store:
        repo = TradeRepository(store)
        await repo.bulk_create_trades([trade_row(n, names[n % 100]) for n in range(500)])
    return db_path(store)


async def reads(folder: Path, sizes: Sizes) -> Table:
    table = Table(
        "6. get_open_trades(bot_id): 5 open trades per bot among many closed",
        ["contender", "trades in table", "load", "p50 / p99 ms"],
    )
    for rows in sizes.read_table_rows:
        path = await _read_table(folder, rows)
        await _reads_on(path, rows, sizes, table)
        path.unlink()
    return table


async def _reads_on(path: Path, rows: int, sizes: Sizes, table: Table) -> None:
    names = bot_names(100)
    raw = RawSqlite(path)
    lat: list[float] = []
    for n in range(sizes.read_calls):
        started = time.perf_counter()
        assert len(raw.open_trades(names[n % 100])) == 5
        lat.append(time.perf_counter() - started)
    raw.close()
    table.add("raw sqlite3", rows, "idle", ms(lat))

    naive = NaiveSqlAlchemy(path)
    lat = []
    for n in range(sizes.read_calls):
        await timed(lat, naive.open_trades(names[n % 100]))
    await naive.close()
    table.add("naive SQLAlchemy", rows, "idle", ms(lat))

    async with Store(f"sqlite+aiosqlite:///{path}") as store:
        repo = TradeRepository(store)
        lat = []
        for n in range(sizes.read_calls):
            await timed(lat, repo.get_open_trades(bot_id=names[n % 100]))
        table.add("asyncstore", rows, "idle", ms(lat))

        loaded: list[float] = []
        stop = asyncio.Event()

        async def reader() -> None:
            n = 0
            while not stop.is_set():
                await timed(loaded, repo.get_open_trades(bot_id=names[n % 100]))
                n += 1
                await asyncio.sleep(0.002)

        await repo.create_bot_instance({"id": BOT, "type": "optimization"})
        readers = [asyncio.create_task(reader()) for _ in range(4)]
        await run_mixed(
            repo,
            repo.heartbeat,
            names[:50],
            lambda: repo.bulk_create_trades(row_stream(sizes.mixed_bulk_rows // 5)),
        )
        stop.set()
        await asyncio.gather(*readers)
        table.add("asyncstore", rows, "mixed writes", ms(loaded))
