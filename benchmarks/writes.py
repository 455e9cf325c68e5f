"""Scenarios 1 and 2: bots' own writes, one call at a time per bot: concurrent create_trade,
and the trade lifecycle (create, then close). Each runs with light rows (a trade's required
columns) and full rows (every column: nine money fields, six times, JSON metadata).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from asyncstore import TradeRepository
from benchmarks.contenders import NaiveSqlAlchemy, RawSqlite
from benchmarks.harness import (
    BLOCKS,
    CLOSING_COLUMNS,
    LAG,
    ROW_KINDS,
    LoopLag,
    Table,
    bench_row,
    bot_names,
    db_path,
    encoded_rows,
    encoded_values,
    fresh_store,
    full_close,
    ms,
    per_bot,
    ratio,
)
from benchmarks.sizes import Sizes

CPU = "loop CPU per create_trade (µs)"
CPU_ROUNDS = 3
PerBotCall = Callable[[int, int], Awaitable[Any]]

# --- 1. concurrent create_trade -----------------------------------------------------------------


async def concurrent_creates(folder: Path, sizes: Sizes) -> Table:
    table = Table(
        "1. concurrent create_trade (each bot awaits its own calls); loop CPU: the loop "
        "thread's CPU time per call (thread_time; median of 3 runs of the same calls without the "
        "lag ticker), less building the same rows",
        ["contender", "row", "bots", "writes/s", "vs naive", "p50 / p99 ms", LAG, CPU],
    )
    for kind in ROW_KINDS:
        for bots in (10, 100, 1000):
            calls = max(1, sizes.writes_per_level // bots)
            await _creates_with(folder, kind, bots, calls, table)
    return table


async def _creates_with(folder: Path, kind: str, bots: int, calls: int, table: Table) -> None:
    total = bots * calls
    names = bot_names(bots)
    full = kind == "full"
    name = f"{kind}_{bots}"

    store = await fresh_store(folder, f"raw1_{name}", names)
    await store.close()
    raw = RawSqlite(db_path(store))
    rows = encoded_rows(total, names, full=full)
    cpu, started = time.thread_time(), time.perf_counter()
    raw.insert_each(rows)
    raw_rate = total / (time.perf_counter() - started)
    raw_cpu = (time.thread_time() - cpu) / total
    raw.close()

    store = await fresh_store(folder, f"naive1_{name}", names)
    await store.close()
    naive = NaiveSqlAlchemy(db_path(store))
    async with LoopLag() as naive_lag:
        elapsed, naive_lat = await per_bot(
            bots, calls, lambda b, i: naive.create_trade(bench_row(full, i, names[b]))
        )
    await naive.close()
    naive_rate = total / elapsed

    store = await fresh_store(folder, f"store1_{name}", names)
    repo = TradeRepository(store)

    def create(b: int, i: int) -> Awaitable[Any]:  # the row is built in the call, as bots do
        return repo.create_trade(bench_row(full, i, names[b]))

    async with LoopLag() as lag:
        elapsed, lat = await per_bot(bots, calls, create)
    cpu_each = await _create_cpu(
        bots, calls, create, lambda b, i: _built(bench_row(full, i, names[b]))
    )
    await store.close()
    rate = total / elapsed

    raw_label = "raw sqlite3, commit per row"
    table.add(
        raw_label, kind, bots, raw_rate, ratio(raw_rate, naive_rate), "-", BLOCKS, _us(raw_cpu)
    )
    table.add(
        "naive SQLAlchemy", kind, bots, naive_rate, "1.00x", ms(naive_lat), naive_lag.p99_ms(), "-"
    )
    table.add(
        "asyncstore",
        kind,
        bots,
        rate,
        ratio(rate, naive_rate),
        ms(lat),
        lag.p99_ms(),
        _us(cpu_each),
    )


async def _create_cpu(bots: int, calls: int, create: PerBotCall, build: PerBotCall) -> float:
    """The loop thread's CPU seconds per create_trade: the calls' CPU less the CPU of the same
    rows built and awaited by a no-op (the benchmark's side), median of CPU_ROUNDS. Measured
    after the timed run, without the lag ticker (whose wake-ups would count), calls run as
    the timed run runs them."""
    rounds = [
        await _loop_cpu(bots, calls, create) - await _loop_cpu(bots, calls, build)
        for _ in range(CPU_ROUNDS)
    ]
    return statistics.median(rounds)


async def _loop_cpu(bots: int, calls: int, call: PerBotCall) -> float:
    """The loop thread's CPU seconds per call."""
    started = time.thread_time()
    await per_bot(bots, calls, call)
    return (time.thread_time() - started) / (bots * calls)


async def _built(row: dict[str, Any]) -> dict[str, Any]:
    """The cost of the benchmark's side of a call: the row built, the call awaited."""
    return row


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f}"


# --- 2. trade lifecycle ---------------------------------------------------------------------


async def lifecycle(folder: Path, sizes: Sizes) -> Table:
    bots, cycles = 100, sizes.lifecycle_cycles
    table = Table(
        f"2. trade lifecycle: {bots} bots x {cycles} (create, then close; light: the close "
        f"sets status and exit price; full: the close sets the {len(CLOSING_COLUMNS)} exit "
        "columns)",
        ["contender", "row", "writes/s", "vs naive", "p50 / p99 ms", LAG],
    )
    for kind in ROW_KINDS:
        await _lifecycle_with(folder, kind, bots, cycles, table)
    return table


def _closing(full: bool, n: int) -> dict[str, Any]:
    return full_close(n) if full else {"status": "closed", "exit_price": Decimal("50100")}


async def _lifecycle_with(folder: Path, kind: str, bots: int, cycles: int, table: Table) -> None:
    names = bot_names(bots)
    full = kind == "full"
    total = bots * cycles * 2

    store = await fresh_store(folder, f"raw2_{kind}", names)
    await store.close()
    raw = RawSqlite(db_path(store))
    rows = encoded_rows(total // 2, names, "open", full=full)
    changes = [{**_closing(full, n), "updated_at": datetime.now(UTC)} for n in range(total // 2)]
    columns = list(changes[0])
    stored = [encoded_values(change) for change in changes]
    started = time.perf_counter()
    raw.insert_each(rows)
    raw.update_each([row[0] for row in rows], columns, stored)
    raw_rate = total / (time.perf_counter() - started)
    raw.close()

    store = await fresh_store(folder, f"naive2_{kind}", names)
    await store.close()
    naive = NaiveSqlAlchemy(db_path(store))

    async def naive_cycle(b: int, i: int) -> None:
        trade_id = await naive.create_trade(bench_row(full, i, names[b], "open"))
        await naive.update_trade(trade_id, _closing(full, i))

    async with LoopLag() as naive_lag:
        elapsed, naive_lat = await per_bot(bots, cycles, naive_cycle)
    await naive.close()
    naive_rate = total / elapsed

    store = await fresh_store(folder, f"store2_{kind}", names)
    repo = TradeRepository(store)

    async def store_cycle(b: int, i: int) -> None:
        trade = await repo.create_trade(bench_row(full, i, names[b], "open"))
        await repo.update_trade(trade.id, _closing(full, i))

    async with LoopLag() as lag:
        elapsed, lat = await per_bot(bots, cycles, store_cycle)
    await store.close()
    rate = total / elapsed
    table.add(
        "raw sqlite3, commit per statement",
        kind,
        raw_rate,
        ratio(raw_rate, naive_rate),
        "-",
        BLOCKS,
    )
    table.add(
        "naive SQLAlchemy",
        kind,
        naive_rate,
        "1.00x",
        ms([x / 2 for x in naive_lat]),
        naive_lag.p99_ms(),
    )
    table.add(
        "asyncstore", kind, rate, ratio(rate, naive_rate), ms([x / 2 for x in lat]), lag.p99_ms()
    )
    if full:
        return
    # close_trade does more than the update above: it reads the trade, computes its PnL and
    # books it into the bot's total_pnl and balance, all in the close's transaction.
    store = await fresh_store(folder, "store2_close_trade", names)
    repo = TradeRepository(store)

    async def close_cycle(b: int, i: int) -> None:
        trade = await repo.create_trade(bench_row(full, i, names[b], "open"))
        await repo.close_trade(trade.id, {"exit_price": Decimal("50100.5"), "commission": "0.1"})

    async with LoopLag() as close_lag:
        elapsed, close_lat = await per_bot(bots, cycles, close_cycle)
    await store.close()
    close_rate = total / elapsed
    table.add(
        "asyncstore close_trade (books the bot)",
        kind,
        close_rate,
        ratio(close_rate, naive_rate),
        ms([x / 2 for x in close_lat]),
        close_lag.p99_ms(),
    )
