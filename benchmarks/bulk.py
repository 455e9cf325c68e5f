"""Scenario 4: bulk_create_trades of closed trades (an optimizer's output), light and full rows,
against raw sqlite3 `executemany` of the same rows pre-encoded and naive SQLAlchemy."""

from __future__ import annotations

import time
from pathlib import Path

from asyncstore import TradeRepository
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
    with PeakRss() as rss:
        async with LoopLag() as lag:
            started = time.perf_counter()
            await naive.bulk_insert(data)
            rate = count / (time.perf_counter() - started)
    await naive.close()
    table.add(
        "naive SQLAlchemy insert() per 1000",
        kind,
        count,
        rate,
        ratio(rate, raw_rate),
        rss.growth_mb,
        lag.p99_ms(),
    )

    store = await fresh_store(folder, f"list4_{name}", durability=durability)
    with PeakRss() as rss:
        async with LoopLag() as lag:
            started = time.perf_counter()
            await TradeRepository(store).bulk_create_trades(data)
            rate = count / (time.perf_counter() - started)
    await store.close()
    del data
    table.add(
        "asyncstore, list", kind, count, rate, ratio(rate, raw_rate), rss.growth_mb, lag.p99_ms()
    )

    store = await fresh_store(folder, f"gen4_{name}", durability=durability)
    with PeakRss() as rss:
        async with LoopLag() as lag:
            started = time.perf_counter()
            await TradeRepository(store).bulk_create_trades(row_stream(count, full))
            rate = count / (time.perf_counter() - started)
    await store.close()
    table.add(
        "asyncstore, async generator",
        kind,
        count,
        rate,
        ratio(rate, raw_rate),
        rss.growth_mb,
        lag.p99_ms(),
    )
