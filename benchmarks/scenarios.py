"""The seven scenarios of the benchmark suite; each returns a Table of side-by-side figures."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncstore import Store, TradeRepository
from asyncstore.types import UTCDateTime
from benchmarks.contenders import NaiveSqlAlchemy, RawSqlite
from benchmarks.harness import (
    BOT,
    LoopLag,
    PeakRss,
    Table,
    encoded_rows,
    fresh_store,
    ms,
    per_bot,
    ratio,
    row_stream,
    timed,
    trade_row,
)


@dataclass(frozen=True)
class Sizes:
    writes_per_level: int
    lifecycle_cycles: int
    heartbeat_seconds: float
    bulk_rows: tuple[int, ...]
    mixed_bulk_rows: int
    read_table_rows: tuple[int, ...]
    read_calls: int

    @classmethod
    def for_mode(cls, quick: bool) -> Sizes:
        if quick:
            return cls(1_000, 5, 2.0, (20_000, 100_000), 40_000, (10_000, 200_000), 300)
        return cls(5_000, 20, 10.0, (100_000, 1_000_000), 1_000_000, (10_000, 10_000_000), 2_000)


LAG = "loop lag p99 ms"
BLOCKS = "(blocks)"  # raw sqlite3 runs on the loop itself: nothing else runs meanwhile


def _bots(count: int) -> list[str]:
    return [f"bot_{n:04d}" for n in range(count)]


# --- 1. concurrent create_trade -----------------------------------------------------------------


async def concurrent_creates(folder: Path, sizes: Sizes) -> Table:
    table = Table(
        "1. concurrent create_trade (each bot awaits its own calls)",
        ["contender", "bots", "writes/s", "vs naive", "p50 / p99 ms", LAG],
    )
    for bots in (10, 100, 1000):
        await _creates_with(folder, bots, max(1, sizes.writes_per_level // bots), table)
    return table


async def _creates_with(folder: Path, bots: int, calls: int, table: Table) -> None:
    total = bots * calls
    names = _bots(bots)

    store = await fresh_store(folder, f"raw1_{bots}", names)
    await store.close()
    raw = RawSqlite(store.path)
    rows = encoded_rows(total, names)
    started = time.perf_counter()
    raw.insert_each(rows)
    raw_rate = total / (time.perf_counter() - started)
    raw.close()

    store = await fresh_store(folder, f"naive1_{bots}", names)
    await store.close()
    naive = NaiveSqlAlchemy(store.path)
    async with LoopLag() as naive_lag:
        elapsed, naive_lat = await per_bot(
            bots, calls, lambda b, i: naive.create_trade(trade_row(i, names[b]))
        )
    await naive.close()
    naive_rate = total / elapsed

    store = await fresh_store(folder, f"store1_{bots}", names)
    repo = TradeRepository(store)
    async with LoopLag() as lag:
        elapsed, lat = await per_bot(
            bots, calls, lambda b, i: repo.create_trade(trade_row(i, names[b]))
        )
    await store.close()
    rate = total / elapsed

    table.add(
        "raw sqlite3, commit per row", bots, raw_rate, ratio(raw_rate, naive_rate), "-", BLOCKS
    )
    table.add("naive SQLAlchemy", bots, naive_rate, "1.00x", ms(naive_lat), naive_lag.p99_ms())
    table.add("asyncstore", bots, rate, ratio(rate, naive_rate), ms(lat), lag.p99_ms())


# --- 2. trade lifecycle ---------------------------------------------------------------------


async def lifecycle(folder: Path, sizes: Sizes) -> Table:
    bots, cycles = 100, sizes.lifecycle_cycles
    names = _bots(bots)
    table = Table(
        f"2. trade lifecycle: {bots} bots x {cycles} (create, then close)",
        ["contender", "writes/s", "vs naive", "p50 / p99 ms", LAG],
    )
    total = bots * cycles * 2

    store = await fresh_store(folder, "raw2", names)
    await store.close()
    raw = RawSqlite(store.path)
    rows = encoded_rows(total // 2, names)
    started = time.perf_counter()
    raw.insert_each(rows)
    raw.close_each([row[0] for row in rows])
    raw_rate = total / (time.perf_counter() - started)
    raw.close()

    store = await fresh_store(folder, "naive2", names)
    await store.close()
    naive = NaiveSqlAlchemy(store.path)

    async def naive_cycle(b: int, i: int) -> None:
        trade_id = await naive.create_trade(trade_row(i, names[b]))
        await naive.update_trade(trade_id, {"status": "closed"})

    async with LoopLag() as naive_lag:
        elapsed, naive_lat = await per_bot(bots, cycles, naive_cycle)
    await naive.close()
    naive_rate = total / elapsed

    store = await fresh_store(folder, "store2", names)
    repo = TradeRepository(store)

    async def store_cycle(b: int, i: int) -> None:
        trade = await repo.create_trade(trade_row(i, names[b]))
        await repo.update_trade(trade.id, {"status": "closed"})

    async with LoopLag() as lag:
        elapsed, lat = await per_bot(bots, cycles, store_cycle)
    await store.close()
    rate = total / elapsed
    table.add(
        "raw sqlite3, commit per statement", raw_rate, ratio(raw_rate, naive_rate), "-", BLOCKS
    )
    table.add(
        "naive SQLAlchemy", naive_rate, "1.00x", ms([x / 2 for x in naive_lat]), naive_lag.p99_ms()
    )
    table.add("asyncstore", rate, ratio(rate, naive_rate), ms([x / 2 for x in lat]), lag.p99_ms())
    return table


# --- 3. heartbeats --------------------------------------------------------------------------


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
    names = _bots(1000)
    table = Table(
        f"3. heartbeats: {len(names)} bots, one per second each, {sizes.heartbeat_seconds:.0f} s",
        ["contender", "heartbeats", "UPDATEs run", "UPDATEs/heartbeat", "p50 / p99 ms", LAG],
    )
    store = await fresh_store(folder, "naive3", names)
    await store.close()
    naive = NaiveSqlAlchemy(store.path)
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


# --- 4. bulk inserts ------------------------------------------------------------------------


async def bulk(folder: Path, sizes: Sizes, durability: str = "normal") -> Table:
    table = Table(
        f"4. bulk_create_trades (synchronous={durability.upper()})",
        ["contender", "rows", "rows/s", "vs raw", "peak RSS growth MB", LAG],
    )
    for count in sizes.bulk_rows:
        store = await fresh_store(folder, f"raw4_{count}_{durability}")
        await store.close()
        raw = RawSqlite(store.path, durability)
        rows = encoded_rows(count)
        with PeakRss() as rss:
            started = time.perf_counter()
            raw.insert_many(rows)
            raw_rate = count / (time.perf_counter() - started)
        raw.close()
        del rows
        table.add(
            "raw sqlite3 executemany, pre-encoded", count, raw_rate, "1.00x", rss.growth_mb, BLOCKS
        )

        data = [trade_row(n, status="closed") for n in range(count)]
        store = await fresh_store(folder, f"naive4_{count}_{durability}")
        await store.close()
        naive = NaiveSqlAlchemy(store.path, durability)
        with PeakRss() as rss:
            async with LoopLag() as lag:
                started = time.perf_counter()
                await naive.bulk_insert(data)
                rate = count / (time.perf_counter() - started)
        await naive.close()
        table.add(
            "naive SQLAlchemy insert() per 1000",
            count,
            rate,
            ratio(rate, raw_rate),
            rss.growth_mb,
            lag.p99_ms(),
        )

        store = await fresh_store(folder, f"list4_{count}_{durability}", durability=durability)
        with PeakRss() as rss:
            async with LoopLag() as lag:
                started = time.perf_counter()
                await TradeRepository(store).bulk_create_trades(data)
                rate = count / (time.perf_counter() - started)
        await store.close()
        table.add(
            "asyncstore, list", count, rate, ratio(rate, raw_rate), rss.growth_mb, lag.p99_ms()
        )
        del data

        store = await fresh_store(folder, f"gen4_{count}_{durability}", durability=durability)
        with PeakRss() as rss:
            async with LoopLag() as lag:
                started = time.perf_counter()
                await TradeRepository(store).bulk_create_trades(row_stream(count))
                rate = count / (time.perf_counter() - started)
        await store.close()
        table.add(
            "asyncstore, async generator",
            count,
            rate,
            ratio(rate, raw_rate),
            rss.growth_mb,
            lag.p99_ms(),
        )
    return table


# --- 5. mixed load --------------------------------------------------------------------------


@dataclass
class MixedResult:
    heartbeat: list[float]
    create: list[float]
    loop_lag_p99_ms: str
    seconds: float


async def _trading_bots(repo: Any, names: list[str], stop: asyncio.Event) -> list[float]:
    latencies: list[float] = []

    async def one(bot_id: str) -> None:
        while not stop.is_set():
            trade = await timed(latencies, repo.create_trade(trade_row(0, bot_id)))
            await asyncio.sleep(0.01)
            await repo.update_trade(
                trade if isinstance(trade, str) else trade.id, {"status": "closed"}
            )
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


async def run_mixed(repo: Any, heartbeat: Any, names: list[str], bulk_call: Any) -> MixedResult:
    stop = asyncio.Event()
    async with LoopLag() as lag:
        started = time.perf_counter()
        trading = asyncio.create_task(_trading_bots(repo, names, stop))
        beating = asyncio.create_task(_beats_until(heartbeat, names, stop))
        await bulk_call()
        stop.set()
        create_lat, beat_lat = await trading, await beating
    return MixedResult(beat_lat, create_lat, lag.p99_ms(), time.perf_counter() - started)


async def mixed(folder: Path, sizes: Sizes) -> Table:
    names = _bots(100)
    rows = sizes.mixed_bulk_rows
    table = Table(
        f"5. mixed: 100 bots trading + heartbeats while {rows:,} optimizer rows stream in",
        [
            "contender",
            "bulk seconds",
            "heartbeat p50 / p99 ms",
            "create p50 / p99 ms",
            "loop lag p99 ms",
        ],
    )
    store = await fresh_store(folder, "naive5", [*names, BOT])
    await store.close()
    naive = NaiveSqlAlchemy(store.path)

    async def naive_bulk() -> None:
        data = [trade_row(n, status="closed") for n in range(rows)]
        await naive.bulk_insert(data)

    result = await run_mixed(naive, naive.heartbeat, names, naive_bulk)
    await naive.close()
    table.add(
        "naive SQLAlchemy",
        result.seconds,
        ms(result.heartbeat),
        ms(result.create),
        result.loop_lag_p99_ms,
    )

    store = await fresh_store(folder, "store5", [*names, BOT])
    repo = TradeRepository(store)
    result = await run_mixed(
        repo, repo.heartbeat, names, lambda: repo.bulk_create_trades(row_stream(rows))
    )
    await store.close()
    table.add(
        "asyncstore",
        result.seconds,
        ms(result.heartbeat),
        ms(result.create),
        result.loop_lag_p99_ms,
    )
    return table


# --- 6. reads -------------------------------------------------------------------------------

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
    names = _bots(100)
    store = await fresh_store(folder, f"reads_{rows}", names)
    repo = TradeRepository(store)
    await store.close()
    conn = sqlite3.connect(store.path, isolation_level=None)
    now = UTCDateTime.to_db(datetime_now())
    conn.execute("BEGIN")
    conn.execute(FILL_TRADES_SQL, (rows, now, now))
    conn.execute("COMMIT")
    conn.close()
    async with Store(f"sqlite+aiosqlite:///{store.path}") as store:
        repo = TradeRepository(store)
        await repo.bulk_create_trades([trade_row(n, names[n % 100]) for n in range(500)])
    return store.path


def datetime_now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


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
    names = _bots(100)
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


# --- 7. durability --------------------------------------------------------------------------


async def durability(folder: Path, sizes: Sizes) -> Table:
    table = Table(
        "7. durability: synchronous=NORMAL (default) vs FULL",
        ["contender", "NORMAL writes/s", "FULL writes/s", "FULL / NORMAL"],
    )
    rates = {mode: await _rates_with(folder, sizes, mode) for mode in ("normal", "full")}
    labels = [
        "raw sqlite3, commit per row",
        "asyncstore create_trade, 100 bots",
        f"asyncstore bulk, {sizes.bulk_rows[0]:,} rows",
    ]
    for label, normal, full in zip(labels, rates["normal"], rates["full"], strict=True):
        table.add(label, normal, full, ratio(full, normal))
    return table


async def _rates_with(folder: Path, sizes: Sizes, mode: str) -> list[float]:
    """Writes/s of raw commit-per-row, asyncstore create_trade and bulk, under one durability."""
    names = _bots(100)
    calls = max(1, sizes.writes_per_level // 100)
    store = await fresh_store(folder, f"raw7_{mode}", names)
    await store.close()
    raw = RawSqlite(store.path, mode)
    rows = encoded_rows(100 * calls, names)
    started = time.perf_counter()
    raw.insert_each(rows)
    raw_rate = len(rows) / (time.perf_counter() - started)
    raw.close()

    store = await fresh_store(folder, f"store7_{mode}", [*names, BOT], durability=mode)
    repo = TradeRepository(store)
    elapsed, _ = await per_bot(100, calls, lambda b, i: repo.create_trade(trade_row(i, names[b])))
    count = sizes.bulk_rows[0]
    started = time.perf_counter()
    await repo.bulk_create_trades(row_stream(count))
    bulk_rate = count / (time.perf_counter() - started)
    await store.close()
    return [raw_rate, 100 * calls / elapsed, bulk_rate]


SCENARIOS = {
    "creates": concurrent_creates,
    "lifecycle": lifecycle,
    "heartbeats": heartbeats,
    "bulk": bulk,
    "mixed": mixed,
    "reads": reads,
    "durability": durability,
}
