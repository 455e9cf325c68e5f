"""Operations while bots keep trading: an online backup is a consistent snapshot, and a
million-row cleanup goes in chunks that bots' writes slip between (on PostgreSQL too)."""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from asyncstore import CleanupProgress, Store, TradeRepository
from asyncstore.postgres.connection import asyncpg_dsn
from tests.conftest import trade_data

BOTS = 50


async def _trading_bot(repo: TradeRepository, bot_id: str, stop: asyncio.Event) -> int:
    """Writes trades one after another, numbered, until told to stop; returns how many."""
    sequence = 0
    while not stop.is_set():
        await repo.create_trade(trade_data(bot_id=bot_id, extra_metadata={"seq": sequence}))
        sequence += 1
    return sequence


def _sequences(path: Path) -> dict[str, list[int]]:
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(
            "SELECT bot_id, json_extract(extra_metadata, '$.seq') FROM trades ORDER BY 1, 2"
        ).fetchall()
    found: dict[str, list[int]] = {}
    for bot_id, sequence in rows:
        found.setdefault(bot_id, []).append(sequence)
    return found


@pytest.mark.sqlite_only  # an online copy of the SQLite file (PostgreSQL: pg_dump)
async def test_backup_taken_while_50_bots_write_is_consistent(
    db_url: str, db_path: Path, tmp_path: Path
) -> None:
    async with Store(db_url) as store:
        repo = TradeRepository(store)
        bot_ids = [f"bot_{i:02d}" for i in range(BOTS)]
        for bot_id in bot_ids:
            await repo.create_bot_instance({"id": bot_id, "type": "paper"})
        stop = asyncio.Event()
        bots = [asyncio.create_task(_trading_bot(repo, b, stop)) for b in bot_ids]
        backups = []
        for n in range(3):
            # A real `asyncstore backup` process, while the bots keep committing.
            backups.append(tmp_path / f"backup-{n}.db")
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "asyncstore.cli", "backup", str(backups[-1]), "--url", db_url
            )
            assert await process.wait() == 0
        stop.set()
        written = await asyncio.gather(*bots)

    final = _sequences(db_path)
    assert sum(written) == sum(len(s) for s in final.values())
    for backup in backups:
        with closing(sqlite3.connect(backup)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        snapshot = _sequences(backup)
        assert 0 < sum(len(s) for s in snapshot.values()) < sum(written)
        # A consistent snapshot holds, for every bot, a gap-free prefix of what it committed
        # (each bot awaits each write, so its commits are in order).
        for bot_id, sequence in snapshot.items():
            assert sequence == list(range(len(sequence))), bot_id


# A million on SQLite, as the spec's retention target. On PostgreSQL each 200-row chunk is a
# round trip to the server, so a fifth of that keeps the suite's time reasonable.
OLD_TRADES = {"sqlite": 1_000_000, "postgresql": 200_000}


def _old_closed_trades_sqlite(path: Path, count: int) -> None:
    """Old closed trades of an optimizer bot, written fast straight into the file."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(
            """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO trades (id, bot_id, trade_type, entry_logic_name, exit_logic_name, symbol,
                interval, direction, status, entry_price, exit_time, created_at, updated_at)
            SELECT printf('00000000-0000-7000-8000-%012d', i), 'optimizer', 'optimization',
                'E', 'X', 'BTCUSDT', '1h', 'long', 'closed', '100.00000000',
                '2020-01-01 00:00:00.000000', '2020-01-01 00:00:00.000000',
                '2020-01-01 00:00:00.000000'
            FROM n""",
            (count,),
        )
        conn.commit()


async def _old_closed_trades_postgresql(url: str, count: int) -> None:
    """The same rows, straight into the server with generate_series."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(
            """INSERT INTO trades (id, bot_id, trade_type, entry_logic_name, exit_logic_name,
                symbol, interval, direction, status, entry_price, exit_time, created_at,
                updated_at)
            SELECT '00000000-0000-7000-8000-' || lpad(i::text, 12, '0'), 'optimizer',
                'optimization', 'E', 'X', 'BTCUSDT', '1h', 'long', 'closed', 100,
                '2020-01-01 00:00:00+00', '2020-01-01 00:00:00+00', '2020-01-01 00:00:00+00'
            FROM generate_series(1, $1) AS i""",
            count,
        )
        await conn.execute("ANALYZE trades")  # as autovacuum would soon after such a load
    finally:
        await conn.close()


async def test_million_row_cleanup_interleaves_with_bot_writes(
    db_url: str, backend: str, db_path: Path
) -> None:
    old_trades = OLD_TRADES[backend]
    async with Store(db_url) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": "optimizer", "type": "optimization"})
        for i in range(20):
            await repo.create_bot_instance({"id": f"bot_{i:02d}", "type": "paper"})
        old_open = [await repo.create_trade(trade_data(bot_id="optimizer")) for _ in range(3)]
    if backend == "sqlite":
        _old_closed_trades_sqlite(db_path, old_trades)
    else:
        await _old_closed_trades_postgresql(db_url, old_trades)

    chunks_done = 0
    waits: list[int] = []  # cleanup chunks committed while each bot write waited
    latencies: list[float] = []
    bands: set[int] = set()  # which tenths of the cleanup saw a bot write complete

    def on_progress(step: CleanupProgress) -> None:
        nonlocal chunks_done
        if step.table == "trades" and step.deleted:
            chunks_done += 1

    async def bot(repo: TradeRepository, bot_id: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            chunks_before, started = chunks_done, time.perf_counter()
            await repo.create_trade(trade_data(bot_id=bot_id))
            await repo.heartbeat(bot_id)
            latencies.append(time.perf_counter() - started)
            waits.append(chunks_done - chunks_before)
            bands.add(min(9, chunks_done * 10 // expected_chunks))

    async with Store(db_url) as store:
        repo = TradeRepository(store)
        expected_chunks = old_trades // store.settings.bulk_chunk_rows
        stop = asyncio.Event()
        bots = [asyncio.create_task(bot(repo, f"bot_{i:02d}", stop)) for i in range(20)]
        deleted = await repo.cleanup_old_data(30, on_progress=on_progress)
        stop.set()
        await asyncio.gather(*bots)
        remaining = await repo.get_open_trades(bot_id="optimizer")

    assert deleted == old_trades
    assert sorted(t.id for t in remaining) == sorted(t.id for t in old_open)
    assert chunks_done >= expected_chunks  # many short transactions, not one long one
    assert bands == set(range(10))  # bots wrote all through the cleanup
    if backend == "sqlite":
        # A bot's write never waits behind more than the chunk in progress and the next one
        # (the single writer's bulk lane; on PostgreSQL writes do not queue behind chunks).
        assert max(waits) <= 2, max(waits)
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000
    print(f"\n{backend}: {len(latencies)} bot writes during the cleanup; p99 {p99:.1f} ms")
