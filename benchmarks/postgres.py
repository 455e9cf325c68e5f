"""Scenario 9: the same workloads on PostgreSQL (server from ASYNCSTORE_BENCH_PG, default the
local one), with full rows (every trade column set). Contenders: raw asyncpg (creates: one
INSERT per call on a pool of 20, pre-encoded rows; bulk: binary `copy_records_to_table` of
pre-built tuples, and `executemany` in one transaction), naive SQLAlchemy (AsyncSession per
call), asyncstore. Bulk input is given: a list built before the clock starts, or (asyncstore)
an async generator that builds each row when asked. Each contender gets its own fresh database
on the same server. Heartbeat UPDATE statements are counted by the server: a statement-level
trigger on bot_instances.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from asyncstore import Store, TradeRepository
from asyncstore.ids import new_ids
from asyncstore.postgres.connection import register_text_codecs
from asyncstore.postgres.statements import insert_sql
from asyncstore.schema.tables import TRADES
from benchmarks.contenders import NaiveSqlAlchemy
from benchmarks.harness import (
    TRADE_COLUMNS,
    LoopLag,
    Table,
    bench_row,
    bot_names,
    encoded_rows,
    full_trade_row,
    ms,
    per_bot,
    ratio,
    row_stream,
    timed,
)
from benchmarks.sizes import Sizes

SERVER = os.environ.get("ASYNCSTORE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BOTS = 100


@asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """A new database at head (built by asyncstore), dropped afterwards; yields its URL."""
    import asyncpg

    admin = await asyncpg.connect(SERVER)
    name = f"asyncstore_bench_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(SERVER).set(drivername="postgresql+asyncpg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def server_reachable() -> bool:
    """Whether the benchmark's PostgreSQL server takes a connection (asyncpg installed)."""
    try:
        import asyncpg

        conn = await asyncpg.connect(SERVER, timeout=5)
    except (ImportError, OSError, TimeoutError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy 'postgresql+asyncpg://' URL as asyncpg's own DSN."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _with_bots(url: str, names: list[str]) -> None:
    async with Store(url) as store:
        repo = TradeRepository(store)
        await asyncio.gather(*(repo.create_bot_instance({"id": b, "type": "paper"}) for b in names))


class RawAsyncpg:
    """asyncpg with rows already encoded: no validation, no ORM; the physical limit."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.sql = insert_sql(TRADES, False, 1)

    @classmethod
    async def open(cls, url: str) -> RawAsyncpg:
        import asyncpg

        pool = await asyncpg.create_pool(
            asyncpg_dsn(url),
            max_size=20,
            init=register_text_codecs,
            server_settings={"TimeZone": "UTC"},
        )
        return cls(pool)

    async def insert_one(self, row: Any) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(self.sql, *row)

    async def insert_many(self, rows: list[Any]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.executemany(self.sql, rows)

    async def close(self) -> None:
        await self.pool.close()


def typed_rows(count: int) -> list[tuple[Any, ...]]:
    """Full rows as Python values in column order (Decimal, datetime, JSON text): what binary
    COPY takes, built before any timing starts."""
    now = datetime.now(UTC)
    rows = []
    for n, row_id in enumerate(new_ids(count)):
        row = {**full_trade_row(n), "id": row_id, "created_at": now, "updated_at": now}
        row["extra_metadata"] = json.dumps(row["extra_metadata"])
        rows.append(tuple(row.get(name) for name in TRADE_COLUMNS))
    return rows


async def raw_copy(url: str, rows: list[tuple[Any, ...]]) -> float:
    """Rows per second of asyncpg's binary `copy_records_to_table`, 1,000 rows per COPY."""
    async with connected(url) as conn:
        started = time.perf_counter()
        for start in range(0, len(rows), 1_000):
            await conn.copy_records_to_table(
                TRADES.name, records=rows[start : start + 1_000], columns=TRADE_COLUMNS
            )
        return len(rows) / (time.perf_counter() - started)


COUNT_UPDATE_STATEMENTS = """
CREATE TABLE bench_update_statements (n bigint NOT NULL);
INSERT INTO bench_update_statements VALUES (0);
CREATE FUNCTION bench_count_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE bench_update_statements SET n = n + 1; RETURN NULL; END $$;
CREATE TRIGGER bench_count_updates AFTER UPDATE ON bot_instances
FOR EACH STATEMENT EXECUTE FUNCTION bench_count_statement();
"""


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[Any]:
    """A plain asyncpg connection of its own (set-up, the server's own counts, raw COPY)."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        yield conn
    finally:
        await conn.close()


async def count_update_statements(url: str) -> None:
    async with connected(url) as conn:
        await conn.execute(COUNT_UPDATE_STATEMENTS)


async def update_statements(url: str) -> int:
    async with connected(url) as conn:
        return int(await conn.fetchval("SELECT n FROM bench_update_statements"))


class NaiveSqlAlchemyPostgres(NaiveSqlAlchemy):
    """The same session-per-call code as on SQLite, on an asyncpg engine."""

    def __init__(self, url: str) -> None:
        self.engine = create_async_engine(url, pool_size=20, max_overflow=0, pool_timeout=300)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)


async def postgresql(folder: Path, sizes: Sizes) -> Table:
    names = bot_names(BOTS)
    calls = max(1, sizes.writes_per_level // BOTS)
    bulk_rows = sizes.bulk_rows[0]
    table = Table(
        f"9. PostgreSQL, full rows: {BOTS} bots x {calls} create_trade; bulk {bulk_rows:,} rows; "
        f"{BOTS} bots x {calls} heartbeats (UPDATE statements counted by the server); "
        "get_open_trades",
        [
            "contender",
            "creates/s",
            "create p50 / p99 ms",
            "bulk rows/s",
            "heartbeats/s",
            "heartbeat UPDATEs",
            "read p50 / p99 ms",
            "loop lag p99 ms",
        ],
    )
    total = BOTS * calls

    async with fresh_database() as url:
        await _with_bots(url, [*names, "bench_bot"])
        raw = await RawAsyncpg.open(url)
        rows = encoded_rows(total, names, full=True)
        elapsed, raw_lat = await per_bot(
            BOTS, calls, lambda b, i: raw.insert_one(rows[b * calls + i])
        )
        raw_creates = total / elapsed
        bulk = encoded_rows(bulk_rows, status="closed", full=True)
        started = time.perf_counter()
        for start in range(0, bulk_rows, 1_000):
            await raw.insert_many(bulk[start : start + 1_000])
        raw_many = bulk_rows / (time.perf_counter() - started)
        await raw.close()
    table.add(
        "raw asyncpg, INSERT per call / executemany",
        raw_creates,
        ms(raw_lat),
        raw_many,
        *["-"] * 4,
    )
    async with fresh_database() as url:
        await _with_bots(url, ["bench_bot"])
        raw_bulk = await raw_copy(url, typed_rows(bulk_rows))
    table.add("raw asyncpg, copy_records_to_table", "-", "-", raw_bulk, *["-"] * 4)

    async with fresh_database() as url:
        await _with_bots(url, [*names, "bench_bot"])
        await count_update_statements(url)
        naive = NaiveSqlAlchemyPostgres(url)
        async with LoopLag() as lag:
            elapsed, lat = await per_bot(
                BOTS, calls, lambda b, i: naive.create_trade(bench_row(True, i, names[b]))
            )
            naive_creates = total / elapsed
            data = [bench_row(True, n, status="closed") for n in range(bulk_rows)]
            started = time.perf_counter()
            await naive.bulk_insert(data)
            naive_bulk = bulk_rows / (time.perf_counter() - started)
            elapsed, _ = await per_bot(BOTS, calls, lambda b, i: naive.heartbeat(names[b]))
            naive_beats = total / elapsed
            read_lat: list[float] = []
            for n in range(sizes.read_calls):
                await timed(read_lat, naive.open_trades(names[n % BOTS]))
        await naive.close()
        naive_updates = await update_statements(url)
    table.add(
        "naive SQLAlchemy",
        naive_creates,
        ms(lat),
        naive_bulk,
        naive_beats,
        naive_updates,
        ms(read_lat),
        lag.p99_ms(),
    )

    async with fresh_database() as url:
        await _with_bots(url, [*names, "bench_bot"])
        await count_update_statements(url)
        async with Store(url) as store:
            repo = TradeRepository(store)
            async with LoopLag() as lag:
                elapsed, lat = await per_bot(
                    BOTS, calls, lambda b, i: repo.create_trade(bench_row(True, i, names[b]))
                )
                creates = total / elapsed
                data = [bench_row(True, n, status="closed") for n in range(bulk_rows)]
                started = time.perf_counter()
                await repo.bulk_create_trades(data)
                bulk_rate = bulk_rows / (time.perf_counter() - started)
                del data
                started = time.perf_counter()
                await repo.bulk_create_trades(row_stream(bulk_rows, full=True))
                stream_rate = bulk_rows / (time.perf_counter() - started)
                elapsed, _ = await per_bot(BOTS, calls, lambda b, i: repo.heartbeat(names[b]))
                beats = total / elapsed
                read_lat = []
                for n in range(sizes.read_calls):
                    await timed(read_lat, repo.get_open_trades(bot_id=names[n % BOTS]))
        updates = await update_statements(url)
    table.add("asyncstore", creates, ms(lat), bulk_rate, beats, updates, ms(read_lat), lag.p99_ms())
    table.add("asyncstore, bulk from an async generator", "-", "-", stream_rate, *["-"] * 4)
    table.add(
        "asyncstore / raw (INSERT per call; COPY)",
        ratio(creates, raw_creates),
        "",
        f"{ratio(bulk_rate, raw_bulk)} / {ratio(stream_rate, raw_bulk)}",
        *[""] * 4,
    )
    table.add(
        "asyncstore / naive",
        ratio(creates, naive_creates),
        "",
        ratio(bulk_rate, naive_bulk),
        ratio(beats, naive_beats),
        *[""] * 3,
    )
    return table
