"""Scenario 3: 1,000 bots heartbeating once a second each; asyncstore coalesces them."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

from asyncstore import TradeRepository
from benchmarks.contenders import NaiveSqlAlchemy
from benchmarks.harness import (
    BLOCKS,
    LAG,
    LoopLag,
    Table,
    bot_names,
    db_path,
    fresh_store,
    ms,
    timed,
)
from benchmarks.sizes import Sizes


async def _beat_every_second(bots: list[str], seconds: float, beat: Any) -> list[float]:
    latencies: list[float] = []
    until = time.monotonic() + seconds

    async def one(bot_id: str) -> None:
        await asyncio.sleep(random.random())  # bots start at different moments of the second
        while time.monotonic() < until:
            started = time.monotonic()
            await timed(latencies, beat(bot_id))
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))

    await asyncio.gather(*(one(b) for b in bots))
    return latencies


async def heartbeats(folder: Path, sizes: Sizes) -> Table:
    names = bot_names(1000)
    table = Table(
        f"3. heartbeats: {len(names)} bots, one per second each, {sizes.heartbeat_seconds:.0f} s",
        ["contender", "heartbeats", "UPDATEs run", "UPDATEs/heartbeat", "p50 / p99 ms", LAG],
    )
    store = await fresh_store(folder, "naive3", names)
    await store.close()
    naive = NaiveSqlAlchemy(db_path(store))
    async with LoopLag() as naive_lag:
        lat = await _beat_every_second(names, sizes.heartbeat_seconds, naive.heartbeat)
    await naive.close()
    table.add("naive SQLAlchemy", len(lat), len(lat), "1.00", ms(lat), naive_lag.p99_ms())

    store = await fresh_store(folder, "store3", names)
    repo = TradeRepository(store)
    async with LoopLag() as lag:
        lat = await _beat_every_second(names, sizes.heartbeat_seconds, repo.heartbeat)
    stats = store.write_stats
    await store.close()
    per_beat = stats.heartbeat_statements / max(stats.heartbeats, 1)
    table.add(
        "asyncstore",
        stats.heartbeats,
        stats.heartbeat_statements,
        f"{per_beat:.2f}",
        ms(lat),
        lag.p99_ms(),
    )
    table.add("raw sqlite3", "-", "-", "1.00", "(one commit each)", BLOCKS)
    return table
