"""Scenario 5: bots trading and heartbeating while an optimizer's rows stream in, light and full
rows; `run_mixed` is the same load under other work (reads, retention)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from asyncstore import TradeRepository
from benchmarks.contenders import NaiveSqlAlchemy
from benchmarks.harness import (
    BOT,
    LAG,
    ROW_KINDS,
    LoopLag,
    Table,
    bench_row,
    bot_names,
    db_path,
    fresh_store,
    full_close,
    ms,
    row_stream,
    timed,
)
from benchmarks.sizes import Sizes


@dataclass
class MixedResult:
    heartbeat: list[float]
    create: list[float]
    loop_lag_p99_ms: str
    seconds: float


async def _trading_bots(
    repo: Any, names: list[str], stop: asyncio.Event, full: bool
) -> list[float]:
    latencies: list[float] = []

    def closing() -> dict[str, Any]:  # made at the close: its exit_time is after the entry
        return full_close(0) if full else {"status": "closed", "exit_price": Decimal("50100")}

    async def one(bot_id: str) -> None:
        while not stop.is_set():
            row = bench_row(full, 0, bot_id, "open")
            trade = await timed(latencies, repo.create_trade(row))
            await asyncio.sleep(0.01)
            await repo.update_trade(trade if isinstance(trade, str) else trade.id, closing())
            await asyncio.sleep(0.05)

    await asyncio.gather(*(one(b) for b in names))
    return latencies


async def _beats_until(beat: Any, names: list[str], stop: asyncio.Event) -> list[float]:
    latencies: list[float] = []

    async def one(bot_id: str) -> None:
        await asyncio.sleep(random.random())
        while not stop.is_set():
            await timed(latencies, beat(bot_id))
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                continue

    await asyncio.gather(*(one(b) for b in names))
    return latencies


async def run_mixed(
    repo: Any,
    heartbeat: Any,
    names: list[str],
    bulk_call: Callable[[], Awaitable[Any]],
    full: bool = False,
) -> MixedResult:
    """`names` bots trade (create, then close; full or light rows) and heartbeat every second
    while `bulk_call` runs."""
    stop = asyncio.Event()
    async with LoopLag() as lag:
        started = time.perf_counter()
        trading = asyncio.create_task(_trading_bots(repo, names, stop, full))
        beating = asyncio.create_task(_beats_until(heartbeat, names, stop))
        await bulk_call()
        stop.set()
        create_lat, beat_lat = await trading, await beating
    return MixedResult(beat_lat, create_lat, lag.p99_ms(), time.perf_counter() - started)


async def mixed(folder: Path, sizes: Sizes) -> Table:
    rows = sizes.mixed_bulk_rows
    table = Table(
        f"5. mixed: 100 bots trading + heartbeats while {rows:,} optimizer rows stream in "
        "(the bots' trades and the optimizer's rows both light or both full)",
        ["contender", "row", "bulk seconds", "heartbeat p50 / p99 ms", "create p50 / p99 ms", LAG],
    )
    for kind in ROW_KINDS:
        await _mixed_with(folder, kind, rows, table)
    return table


async def _mixed_with(folder: Path, kind: str, rows: int, table: Table) -> None:
    names = bot_names(100)
    full = kind == "full"
    store = await fresh_store(folder, f"naive5_{kind}", [*names, BOT])
    await store.close()
    naive = NaiveSqlAlchemy(db_path(store))

    async def naive_bulk() -> None:
        await naive.bulk_insert([bench_row(full, n, status="closed") for n in range(rows)])

    result = await run_mixed(naive, naive.heartbeat, names, naive_bulk, full)
    await naive.close()
    table.add(
        "naive SQLAlchemy",
        kind,
        result.seconds,
        ms(result.heartbeat),
        ms(result.create),
        result.loop_lag_p99_ms,
    )

    store = await fresh_store(folder, f"store5_{kind}", [*names, BOT])
    repo = TradeRepository(store)
    result = await run_mixed(
        repo, repo.heartbeat, names, lambda: repo.bulk_create_trades(row_stream(rows, full)), full
    )
    await store.close()
    table.add(
        "asyncstore",
        kind,
        result.seconds,
        ms(result.heartbeat),
        ms(result.create),
        result.loop_lag_p99_ms,
    )
