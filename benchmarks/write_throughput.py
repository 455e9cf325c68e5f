"""Concurrent create_trade and bulk insert: asyncstore beside raw sqlite3 and naive SQLAlchemy.

All contenders write the same rows to the same schema on a fresh file each, in one process, with
the same durability (WAL, synchronous=NORMAL):
- raw sqlite3: pre-encoded tuples; one commit per row (single writes) or one executemany (bulk);
- naive SQLAlchemy: `async with sessionmaker.begin()` per call over aiosqlite, as users write it;
- asyncstore: its public API, validation, ids and encoding included.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from asyncstore import Store, TradeRepository, new_id
from asyncstore.models import Trade
from asyncstore.repository import TRADE_CODEC

BOT = "bench_bot"


def trade_row(n: int) -> dict[str, Any]:
    return {
        "bot_id": BOT,
        "trade_type": "paper",
        "entry_logic_name": "RSIBBVolumeEntryMixin",
        "exit_logic_name": "ATRExitMixin",
        "symbol": "BTCUSDT",
        "interval": "1h",
        "entry_time": datetime.now(UTC),
        "entry_price": Decimal("50000.1") + n,
        "size": Decimal("0.1"),
        "direction": "long",
        "status": "open",
    }


async def fresh_store(folder: Path, name: str) -> Store:
    store = Store(f"sqlite+aiosqlite:///{folder / name}.db")
    await store.start()
    await store.create_tables()
    await TradeRepository(store).create_bot_instance({"id": BOT, "type": "paper"})
    return store


def encoded_rows(count: int) -> list[tuple[Any, ...]]:
    now = datetime.now(UTC)
    return [
        TRADE_CODEC.encode({**trade_row(n), "id": new_id(), "created_at": now, "updated_at": now})
        for n in range(count)
    ]


async def concurrent_calls(
    bots: int, calls_per_bot: int, call: Callable[[int], Awaitable[Any]]
) -> tuple[float, list[float]]:
    latencies: list[float] = []

    async def bot(b: int) -> None:
        for i in range(calls_per_bot):
            started = time.perf_counter()
            await call(b * calls_per_bot + i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(bot(b) for b in range(bots)))
    return time.perf_counter() - started, latencies


def raw_connection(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


async def bench_single_writes(
    folder: Path, bots: int, per_bot: int
) -> list[tuple[str, float, str]]:
    total = bots * per_bot
    results = []

    # raw sqlite3, one commit per row, in the caller's thread: the physical limit per commit.
    store = await fresh_store(folder, "raw_single")
    await store.close()
    conn = raw_connection(store.path)
    rows = encoded_rows(total)
    started = time.perf_counter()
    for row in rows:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(TRADE_CODEC.insert_sql, row)
        conn.execute("COMMIT")
    raw_rate = total / (time.perf_counter() - started)
    conn.close()
    results.append(("raw sqlite3, commit per row (blocks the loop)", raw_rate, "-"))

    # naive SQLAlchemy: a session per call over aiosqlite.
    store = await fresh_store(folder, "naive")
    await store.close()
    engine = create_async_engine(f"sqlite+aiosqlite:///{store.path}", connect_args={"timeout": 60})

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def naive_create(n: int) -> None:
        async with sessions.begin() as session:
            session.add(
                Trade(
                    id=new_id(),
                    **trade_row(n),
                    created_at=datetime.now(UTC),
                    updated_at=datetime.now(UTC),
                )
            )

    elapsed, lat = await concurrent_calls(bots, per_bot, naive_create)
    await engine.dispose()
    results.append(("naive SQLAlchemy session per call", total / elapsed, _p(lat)))

    store = await fresh_store(folder, "asyncstore")
    repo = TradeRepository(store)
    elapsed, lat = await concurrent_calls(bots, per_bot, lambda n: repo.create_trade(trade_row(n)))
    await store.close()
    results.append(("asyncstore create_trade", total / elapsed, _p(lat)))
    return results


async def bench_bulk(folder: Path, count: int) -> list[tuple[str, float, str]]:
    results = []
    store = await fresh_store(folder, "raw_bulk")
    await store.close()
    conn = raw_connection(store.path)
    rows = encoded_rows(count)
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(TRADE_CODEC.insert_sql, rows)
    conn.execute("COMMIT")
    results.append(
        ("raw sqlite3 executemany, pre-encoded", count / (time.perf_counter() - started), "-")
    )
    conn.close()

    store = await fresh_store(folder, "asyncstore_bulk")
    repo = TradeRepository(store)
    data = [trade_row(n) for n in range(count)]
    started = time.perf_counter()
    await repo.bulk_create_trades(data)
    results.append(
        ("asyncstore bulk_create_trades (list)", count / (time.perf_counter() - started), "-")
    )
    await store.close()
    return results


def _p(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return f"{p50:.2f} / {p99:.2f}"


def print_table(title: str, rows: list[tuple[str, float, str]], baseline: str) -> None:
    base = next(rate for name, rate, _ in rows if name.startswith(baseline))
    print(f"\n{title}")
    print(f"{'contender':<48} {'rows/s':>10} {'vs ' + baseline:>16} {'p50 / p99 ms':>16}")
    for name, rate, latency in rows:
        print(f"{name:<48} {rate:>10,.0f} {rate / base:>15.2f}x {latency:>16}")


async def run(*, quick: bool) -> None:
    bots, per_bot, bulk_rows = (100, 10, 20_000) if quick else (100, 50, 100_000)
    with tempfile.TemporaryDirectory(prefix="asyncstore-bench-") as tmp:
        folder = Path(tmp)
        single = await bench_single_writes(folder, bots, per_bot)
        print_table(f"concurrent create_trade: {bots} bots x {per_bot} calls", single, "naive")
        bulk = await bench_bulk(folder, bulk_rows)
        print_table(f"bulk insert of {bulk_rows:,} trades", bulk, "raw")
