"""Scenario 4: bulk_create_trades of closed trades (an optimizer's output), light and full rows,
against raw sqlite3 `executemany` of the same rows pre-encoded and naive SQLAlchemy."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from asyncstore import Store, TradeRepository
from benchmarks.contenders import NaiveSqlAlchemy, RawSqlite
from benchmarks.harness import (
    BLOCKS,
    LAG,
    ROW_KINDS,
    LoopLag,
    PeakRss,
    Table,
    bench_row,
    db_path,
    encoded_rows,
    fresh_store,
    ratio,
    row_stream,
)
from benchmarks.sizes import Sizes


async def bulk(folder: Path, sizes: Sizes, durability: str = "normal") -> Table:
    table = Table(
        f"4. bulk_create_trades (synchronous={durability.upper()})",
        ["contender", "row", "rows", "rows/s", "vs raw", "peak RSS growth MB", LAG],
    )
    for kind in ROW_KINDS:
        for count in sizes.bulk_rows:
            await _bulk_of(folder, kind, count, durability, table)
    return table


async def _bulk_of(folder: Path, kind: str, count: int, durability: str, table: Table) -> None:
    full = kind == "full"
    name = f"{kind}_{count}_{durability}"

    store = await fresh_store(folder, f"raw4_{name}")
    await store.close()
    raw = RawSqlite(db_path(store), durability)
    rows = encoded_rows(count, status="closed", full=full)
    with PeakRss() as rss:
        started = time.perf_counter()
        raw.insert_many(rows)
        raw_rate = count / (time.perf_counter() - started)
    raw.close()
    del rows
    table.add(
        "raw sqlite3 executemany, pre-encoded",
        kind,
        count,
        raw_rate,
        "1.00x",
        rss.growth_mb,
        BLOCKS,
    )

    data = [bench_row(full, n, status="closed") for n in range(count)]
    store = await fresh_store(folder, f"naive4_{name}")
    await store.close()
    naive = NaiveSqlAlchemy(db_path(store), durability)
    row = ("naive SQLAlchemy insert() per 1000", kind, count)
    await _measure(table, row, raw_rate, naive.bulk_insert(data))
    await naive.close()

    store = await fresh_store(folder, f"list4_{name}", durability=durability)
    await _measure(table, ("asyncstore, list", kind, count), raw_rate, _bulk(store, data))
    await store.close()
    del data

    store = await fresh_store(folder, f"gen4_{name}", durability=durability)
    load = _bulk(store, row_stream(count, full))
    await _measure(table, ("asyncstore, async generator", kind, count), raw_rate, load)
    await store.close()


async def _bulk(store: Store, rows: Any) -> None:
    await TradeRepository(store).bulk_create_trades(rows)


async def _measure(
    table: Table, row: tuple[str, str, int], raw_rate: float, load: Awaitable[None]
) -> None:
    """Time one contender's load of row[2] rows, with its memory and loop lag; add its row."""
    with PeakRss() as rss:
        async with LoopLag() as lag:
            started = time.perf_counter()
            await load
            rate = row[2] / (time.perf_counter() - started)
    table.add(*row, rate, ratio(rate, raw_rate), rss.growth_mb, lag.p99_ms())
