"""What the bot_activity trigger costs heartbeats: the same heartbeat load with and without it.

python -m benchmarks.activity [--bots 500] [--seconds 5] [--rounds 4] [--no-postgresql]

Per backend, three databases at head: without the trigger; with asyncstore's trigger (records a
bot's first heartbeat of each minute); with a trigger that records every heartbeat (exact
counts: the design asyncstore did not take). Each round runs `--bots` bots, each heartbeating
through `TradeRepository.heartbeat` as fast as it can (the coalesced path: one UPDATE per group
commit) for `--seconds`, on each database in turn, the order rotated every round so drift of
the machine weighs on all alike. The table gives the median heartbeats per second of each and
its ratio to no trigger. The heartbeats each trigger recorded are counted (the sum of
bot_activity.heartbeats) against the heartbeats acknowledged: all of them for every-beat, one
per bot and minute for asyncstore's.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path

from sqlalchemy.engine import make_url

from asyncstore import Store, TradeRepository
from asyncstore.schema.activity import (
    activity_trigger_statements,
    drop_activity_trigger_statements,
)
from benchmarks.harness import Table, bot_names
from benchmarks.rounds import rounds_parser

SERVER = os.environ.get("ASYNCSTORE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _beat(url: str, bots: list[str], seconds: float) -> tuple[int, float]:
    """(heartbeats acknowledged, seconds taken) of every bot beating flat out."""
    async with Store(url) as store:
        repo = TradeRepository(store)
        await repo.heartbeat(bots[0])  # connections warm before the clock starts
        until = time.monotonic() + seconds
        counts = [0] * len(bots)

        async def bot(n: int) -> None:
            while time.monotonic() < until:
                await repo.heartbeat(bots[n])
                counts[n] += 1

        started = time.perf_counter()
        await asyncio.gather(*(bot(n) for n in range(len(bots))))
        return sum(counts), time.perf_counter() - started


VARIANTS = ("no trigger", "first beat of each minute (asyncstore)", "every beat")


async def _prepare(url: str, bots: list[str], variant: str) -> None:
    async with Store(url) as store:
        repo = TradeRepository(store)
        for bot in bots:
            await repo.create_bot_instance(
                {"id": bot, "type": "paper", "current_balance": "1000.12345678"}
            )
        if variant == VARIANTS[1]:
            return  # as asyncstore built it
        ddl = drop_activity_trigger_statements(store.backend)
        if variant == VARIANTS[2]:
            ddl += activity_trigger_statements(store.backend, every_beat=True)
        for sql in ddl:
            await _execute(url, store.path, sql)


async def _execute(url: str, path: Path | None, sql: str) -> None:
    """DDL beside the Store (its reads are read-only): sqlite3, or a plain asyncpg connection."""
    if path is not None:
        with closing(sqlite3.connect(path)) as conn:
            conn.execute(sql)
            conn.commit()
        return
    import asyncpg

    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _recorded(url: str) -> tuple[int, int]:
    """(heartbeats recorded, buckets) in bot_activity."""
    async with Store(url) as store:
        ((beats, buckets),) = await store.fetch_all(
            "SELECT coalesce(sum(heartbeats), 0), count(*) FROM bot_activity"
        )
        return int(beats), int(buckets)


@asynccontextmanager
async def _databases(backend: str, folder: Path) -> AsyncIterator[list[str]]:
    if backend == "sqlite":
        yield [f"sqlite+aiosqlite:///{folder / f'{n}.db'}" for n in range(len(VARIANTS))]
        return
    import asyncpg

    admin = await asyncpg.connect(SERVER)
    names = [f"asyncstore_bench_{uuid.uuid4().hex[:10]}" for _ in VARIANTS]
    try:
        for name in names:
            await admin.execute(f'CREATE DATABASE "{name}"')
        base = make_url(SERVER).set(drivername="postgresql+asyncpg")
        yield [base.set(database=name).render_as_string(hide_password=False) for name in names]
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def measure(backend: str, bots: int, seconds: float, rounds: int, table: Table) -> None:
    names = bot_names(bots)
    with tempfile.TemporaryDirectory(prefix="asyncstore-activity-") as tmp:
        async with _databases(backend, Path(tmp)) as urls:
            for url, variant in zip(urls, VARIANTS, strict=True):
                await _prepare(url, names, variant)
            rates: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
            acknowledged = dict.fromkeys(VARIANTS, 0)
            databases = list(zip(urls, VARIANTS, strict=True))
            for n in range(rounds):
                turn = n % len(databases)
                for url, variant in databases[turn:] + databases[:turn]:
                    beats, took = await _beat(url, names, seconds)
                    rates[variant].append(beats / took)
                    acknowledged[variant] += beats + 1  # and the warm-up beat
            base = statistics.median(rates[VARIANTS[0]])
            for url, variant in databases:
                rate = statistics.median(rates[variant])
                recorded, buckets = await _recorded(url)
                table.add(
                    backend,
                    variant,
                    f"{rate:,.0f}",
                    f"{rate / base:.3f}",
                    f"{rate / base - 1:+.1%}",
                    f"{recorded:,} / {acknowledged[variant]:,} in {buckets:,} buckets",
                )
            print(f"{backend}: {rates}", file=sys.stderr, flush=True)


async def main() -> None:
    parser = rounds_parser("python -m benchmarks.activity", __doc__, bots=500, rounds=4)
    args = parser.parse_args()
    table = Table(
        f"{args.bots} bots heartbeating through TradeRepository.heartbeat: heartbeats/s, median "
        f"of {args.rounds} rounds of {args.seconds:.0f} s",
        ["backend", "bot_activity trigger", "beats/s", "ratio", "change", "recorded / acked"],
    )
    backends = ["sqlite"] if args.no_postgresql else ["sqlite", "postgresql"]
    for backend in backends:
        await measure(backend, args.bots, args.seconds, args.rounds, table)
    print(table.render())


if __name__ == "__main__":
    asyncio.run(main())
