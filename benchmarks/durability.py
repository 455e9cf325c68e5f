"""Scenario 7: synchronous=NORMAL (the default) against FULL, for raw commits, create_trade
and bulk_create_trades."""

from __future__ import annotations

import time
from pathlib import Path

from asyncstore import TradeRepository
from benchmarks.contenders import RawSqlite
from benchmarks.harness import (
    BOT,
    Table,
    bot_names,
    db_path,
    encoded_rows,
    fresh_store,
    per_bot,
    ratio,
    row_stream,
    trade_row,
)
from benchmarks.sizes import Sizes


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
    names = bot_names(100)
    calls = max(1, sizes.writes_per_level // 100)
    store = await fresh_store(folder, f"raw7_{mode}", names)
    await store.close()
    raw = RawSqlite(db_path(store), mode)
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
