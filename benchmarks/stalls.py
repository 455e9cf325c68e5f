"""11. Loop stalls: how long one call keeps the event loop from every other task.

One bot with N closed full trades (written by the database itself: benchmarks.fill) and a
current_balance, on SQLite and on PostgreSQL (skipped, with "-", if the server is unreachable).
Each call runs alone, after a garbage collection; its row gives the seconds it took, the
longest stall (the longest the lag ticker waited for a turn while it ran), the loop lag p99,
and the peak RSS growth. Then create_trade with a ~900 KB extra_metadata document and with a
22 MB one (above a 1 MiB limit: "refused" when asyncstore refuses it).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from asyncstore import AsyncStoreError, Store, TradeRepository, TradeSummary
from benchmarks.fill import fill_postgresql, fill_sqlite
from benchmarks.harness import (
    BOT,
    LAG,
    LoopLag,
    PeakRss,
    Table,
    db_path,
    fresh_store,
    full_trade_row,
)
from benchmarks.postgres import asyncpg_dsn, fresh_database, server_reachable
from benchmarks.sizes import Sizes

Call = Callable[[TradeRepository], Awaitable[Any]]

READS: list[tuple[str, Call]] = [
    ("calculate_performance_metrics(bot_id)", lambda r: r.calculate_performance_metrics(BOT)),
    ("get_trade_summary()", lambda r: r.get_trade_summary()),
    ("get_trade_summary(bot_id)", lambda r: r.get_trade_summary(BOT)),
    ("get_closed_trades(bot_id=bot_id)", lambda r: r.get_closed_trades(bot_id=BOT)),
]
DOCUMENT_BYTES = (900_000, 22_000_000)
BOT_DATA = {"id": BOT, "type": "paper", "current_balance": Decimal("10000.00000000")}


@dataclass
class Stall:
    outcome: str
    seconds: float
    longest_ms: str
    lag_p99_ms: str
    rss_growth_mb: float


async def measure(call: Callable[[], Awaitable[Any]]) -> Stall:
    """One call, alone, under the lag ticker and the RSS sampler."""
    gc.collect()  # earlier calls' garbage is not this call's
    result: Any = None
    with PeakRss() as rss:
        async with LoopLag() as lag:
            await asyncio.sleep(0)  # the ticker's first turn, or a call that never yields is missed
            started = time.perf_counter()
            try:
                result = await call()
            except AsyncStoreError as exc:
                result = exc
            seconds = time.perf_counter() - started
    return Stall(_outcome(result), seconds, lag.longest_ms(), lag.p99_ms(), rss.growth_mb)


def _outcome(result: Any) -> str:
    if isinstance(result, AsyncStoreError):
        return f"refused ({type(result).__name__})"
    if isinstance(result, list):
        return f"{len(result):,} trades"
    if isinstance(result, dict | TradeSummary):
        return f"{result['total_trades']:,} trades"
    total = getattr(result, "total_trades", None)  # a metrics record
    return "stored" if total is None else f"over {total:,} trades"


def metadata_document(size: int) -> dict[str, Any]:
    """About `size` bytes of JSON: one-minute OHLCV candles, as a bot might attach its context."""
    candle = [1_700_000_000, 50000.12, 50010.5, 49990.25, 50005.75, 12.345678]
    each = len(json.dumps(candle, separators=(",", ":"))) + 1
    start = candle[0]
    return {"candles": [[start + 60 * i, *candle[1:]] for i in range(size // each)]}


def create_label(size: int) -> str:
    shown = f"{size / 1e3:,.0f} KB" if size < 1e6 else f"{size / 1e6:,.0f} MB"
    return f"create_trade, {shown} extra_metadata"


class StallTable:
    def __init__(self, sizes: Sizes) -> None:
        counts = " and ".join(f"{n:,}" for n in sizes.stall_trades)
        self.table = Table(
            f"11. loop stalls: one bot with {counts} closed full trades; each call alone; "
            "longest stall: the longest the loop went without a turn during the call",
            [
                "backend",
                "closed trades",
                "call",
                "outcome",
                "seconds",
                "longest stall ms",
                LAG,
                "peak RSS growth MB",
            ],
        )

    def add(self, backend: str, trades: str, call: str, stall: Stall) -> None:
        self.table.add(
            backend,
            trades,
            call,
            stall.outcome,
            f"{stall.seconds:.3f}",
            stall.longest_ms,
            stall.lag_p99_ms,
            stall.rss_growth_mb,
        )

    def skip(self, backend: str, trades: str, call: str, why: str) -> None:
        self.table.add(backend, trades, call, why, "-", "-", "-", "-")


async def _reads(backend: str, repo: TradeRepository, trades: int, table: StallTable) -> None:
    for label, call in READS:
        table.add(backend, f"{trades:,}", label, await measure(functools.partial(call, repo)))


async def _big_documents(backend: str, repo: TradeRepository, table: StallTable) -> None:
    for size in DOCUMENT_BYTES:
        row = {**full_trade_row(0), "extra_metadata": metadata_document(size)}
        stall = await measure(functools.partial(repo.create_trade, row))
        table.add(backend, "-", create_label(size), stall)


async def _on_sqlite(folder: Path, sizes: Sizes, table: StallTable) -> None:
    store = await fresh_store(folder, "stalls", ())
    await TradeRepository(store).create_bot_instance(BOT_DATA)
    await store.close()
    path = db_path(store)
    filled = 0
    for trades in sizes.stall_trades:
        await asyncio.to_thread(fill_sqlite, path, BOT, filled, trades)
        filled = trades
        async with Store(store.url) as reopened:
            await _reads("SQLite", TradeRepository(reopened), trades, table)
    async with Store(store.url) as reopened:
        await _big_documents("SQLite", TradeRepository(reopened), table)
    path.unlink()


async def _on_postgresql(sizes: Sizes, table: StallTable) -> None:
    if not await server_reachable():
        for trades in sizes.stall_trades:
            for label, _ in READS:
                table.skip("PostgreSQL", f"{trades:,}", label, "server unreachable")
        for size in DOCUMENT_BYTES:
            table.skip("PostgreSQL", "-", create_label(size), "server unreachable")
        return
    async with fresh_database() as url, Store(url) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance(BOT_DATA)
        filled = 0
        for trades in sizes.stall_trades:
            await fill_postgresql(asyncpg_dsn(url), BOT, filled, trades)
            filled = trades
            await _reads("PostgreSQL", repo, trades, table)
        await _big_documents("PostgreSQL", repo, table)


async def stalls(folder: Path, sizes: Sizes) -> Table:
    table = StallTable(sizes)
    await _on_sqlite(folder, sizes, table)
    await _on_postgresql(sizes, table)
    return table.table
