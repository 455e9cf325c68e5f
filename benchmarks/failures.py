"""10. A failing write in a group commit: what it costs the rest of the batch.

One batch of 1,000 create_trade operations (full rows) runs on the writer's connection as the
writer thread runs it (`run_batch`), with no failure, then with failing operations at various
places. Only the multi-row INSERT that holds a failing row runs again, a row at a time; the
rest of the batch is not replayed. For comparison, the last row runs every operation alone in
one transaction: what the earlier writer ran, on top of its rolled-back first attempt, whenever
any operation of the batch failed.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any

from asyncstore import TradeRepository
from asyncstore.clock import utc_now
from asyncstore.ids import new_ids
from asyncstore.schema.tables import TRADES
from asyncstore.sqlite.batch import _Batch, run_batch
from asyncstore.sqlite.connections import StatementTrace, open_writer_connection
from asyncstore.writes import InsertRows
from benchmarks.harness import BOT, Table, fresh_store, full_trade_row, stored_row
from benchmarks.sizes import Sizes

OPS = 1_000
ROUNDS = 7

Ops = list[InsertRows]


def _ops(bad: dict[int, str], existing_id: str) -> Ops:
    """OPS single-row inserts; at each index in `bad`, a row that fails ('duplicate' id or
    'unknown bot')."""
    now = utc_now()
    ops = []
    for n, row_id in enumerate(new_ids(OPS)):
        row = full_trade_row(n)
        kind = bad.get(n)
        if kind == "duplicate":
            row_id = existing_id
        elif kind == "unknown bot":
            row["bot_id"] = "no_such_bot"
        values = {**row, "id": row_id, "created_at": now, "updated_at": now}
        ops.append(InsertRows(TRADES, [stored_row(values, {})], f"trade {n}"))
    return ops


def _every_op_alone(conn: sqlite3.Connection, trace: StatementTrace, ops: Ops) -> None:
    batch = _Batch(conn, ops, trace)
    conn.execute("BEGIN IMMEDIATE")
    for member in range(len(ops)):
        batch.run_alone(member)
    conn.execute("COMMIT")


def _measure(path: Path, existing_id: str) -> list[tuple[str, int, int, float]]:
    conn = open_writer_connection(
        path, busy_timeout_ms=10_000, durability="normal", journal_size_limit=64 << 20
    )
    trace = StatementTrace(conn, echo=False)
    variants: list[tuple[str, dict[int, str]]] = [
        ("no failure", {}),
        ("1 duplicate id, first op", {0: "duplicate"}),
        ("1 duplicate id, middle op", {500: "duplicate"}),
        ("1 duplicate id, last op", {OPS - 1: "duplicate"}),
        ("1 unknown bot, middle op", {500: "unknown bot"}),
        ("5 failing, spread", {n: "duplicate" for n in (10, 250, 500, 750, 990)}),
    ]
    results = []
    for label, bad in variants:
        times, retried, failed = [], 0, 0
        for _ in range(ROUNDS):
            ops = _ops(bad, existing_id)
            started = time.perf_counter()
            result = run_batch(conn, ops, trace, "benchmark")
            times.append(time.perf_counter() - started)
            retried = result.retried_operations
            failed = sum(not ok for ok, _ in result.outcomes)
        results.append((label, failed, retried, statistics.median(times)))
    times = []
    for _ in range(ROUNDS):
        ops = _ops({}, existing_id)
        started = time.perf_counter()
        _every_op_alone(conn, trace, ops)
        times.append(time.perf_counter() - started)
    results.append(("every op alone (the old replay)", 0, OPS, statistics.median(times)))
    conn.close()
    return results


async def failing_write(folder: Path, sizes: Sizes) -> Table:
    store = await fresh_store(folder, "failures", [BOT])
    existing: Any = await TradeRepository(store).create_trade(full_trade_row(0))
    path = store.path
    await store.close()
    assert path is not None
    rows = await asyncio.to_thread(_measure, path, existing.id)
    table = Table(
        f"10. one failing write in a batch of {OPS:,} create_trade (full rows; median of "
        f"{ROUNDS}; the writer thread's time)",
        ["batch", "failed ops", "ops run again", "batch ms", "vs no failure"],
    )
    clean = rows[0][3]
    for label, failed, retried, seconds in rows:
        table.add(label, failed, retried, seconds * 1000, f"{seconds / clean:.2f}x")
    return table
