"""Scenario 8: retention while bots trade. What a cleanup of old trades costs the bots.

100 bots trade and heartbeat while old closed trades are deleted, by:
- nothing (the baseline: the same bots, for as long as the chunked cleanup took);
- one DELETE statement on its own connection (what a hand-written cleanup does): it holds the
  write lock for the whole delete, and every bot write waits behind it;
- asyncstore's chunked `cleanup_old_data`, and the same with a CSV archive.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from pathlib import Path

from sqlalchemy import delete

from asyncstore import TradeRepository
from asyncstore.operations.retention import TRADES_RULE
from asyncstore.sqlite.statements import compiled
from benchmarks.harness import BOT, LAG, Table, bot_names, db_path, fresh_store, ms
from benchmarks.mixed import MixedResult, run_mixed
from benchmarks.reads import FILL_TRADES_SQL
from benchmarks.sizes import Sizes

OLD = "2020-01-01 00:00:00.000000"
CUTOFF = "2021-01-01 00:00:00.000000"


async def _filled_store(folder: Path, name: str, rows: int, names: list[str]) -> TradeRepository:
    store = await fresh_store(folder, name, [*names, BOT])
    await store.close()
    with sqlite3.connect(db_path(store), isolation_level=None) as conn:
        conn.execute("BEGIN")
        conn.execute(FILL_TRADES_SQL, (rows, OLD, OLD))
        conn.execute("COMMIT")
    conn.close()
    return TradeRepository(await fresh_store(folder, name, ()))


def _one_delete(path: Path) -> None:
    with sqlite3.connect(path, isolation_level=None, timeout=60) as conn:
        conn.execute("BEGIN IMMEDIATE")
        # The cleanup's own age test, as one DELETE of every old row at once.
        one_delete = delete(TRADES_RULE.table).where(TRADES_RULE.old)
        statement = compiled(one_delete)
        conn.execute(statement.sql, statement.params({"cutoff": CUTOFF}))
        conn.execute("COMMIT")
    conn.close()


async def _cleanup(label: str, repo: TradeRepository, seconds: float, archive: Path) -> None:
    if label == "none":
        await asyncio.sleep(seconds)
    elif label == "one DELETE":
        await asyncio.to_thread(_one_delete, db_path(repo.store))
    else:
        await repo.cleanup_old_data(30, archive=archive if "archive" in label else None)


async def cleanup_under_load(folder: Path, sizes: Sizes) -> Table:
    rows = sizes.bulk_rows[-1]
    names = bot_names(100)
    table = Table(
        f"8. retention: 100 bots trading + heartbeats while {rows:,} old trades are deleted",
        ["cleanup", "seconds", "heartbeat p50 / p99 ms", "create p50 / p99 ms", LAG],
    )
    results: list[MixedResult] = []
    chunked_seconds = 1.0
    for label in ["asyncstore chunked", "asyncstore chunked + CSV archive", "one DELETE", "none"]:
        repo = await _filled_store(folder, f"cleanup_{len(results)}", rows, names)

        work = functools.partial(_cleanup, label, repo, chunked_seconds, folder / "archive.csv")
        result = await run_mixed(repo, repo.heartbeat, names, work)
        if label == "asyncstore chunked":
            chunked_seconds = result.seconds
        await repo.store.close()
        results.append(result)
        table.add(
            label, result.seconds, ms(result.heartbeat), ms(result.create), result.loop_lag_p99_ms
        )
    return table
