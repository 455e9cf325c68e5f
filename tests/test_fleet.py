"""A bot fleet on many hosts: several OS processes, each its own Store, writing one PostgreSQL
database at once. Nothing is lost, nothing deadlocks, the summary is exact."""

from __future__ import annotations

import asyncio
import sys
from decimal import Decimal
from pathlib import Path

from asyncstore import Store, TradeRepository
from tests.conftest import fresh_postgres_database
from tests.processes.fleet_bot import PNL

ROOT = Path(__file__).parent.parent
HOSTS, BOTS, TRADES = 4, 50, 20


async def test_four_processes_of_fifty_bots_share_one_postgresql_database(pg_url: str) -> None:
    hosts = [
        await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "tests.processes.fleet_bot", pg_url, f"host{h}"],
            *[str(BOTS), str(TRADES)],
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for h in range(HOSTS)
    ]
    # Bounded: a deadlock would hang here, and fail the test instead of the suite.
    outputs = await asyncio.wait_for(asyncio.gather(*(h.communicate() for h in hosts)), 300)
    for host, (out, err) in zip(hosts, outputs, strict=True):
        assert host.returncode == 0, err.decode()
        assert out.decode().strip().endswith(f"WROTE {BOTS * TRADES}")

    async with Store(pg_url) as store:
        repo = TradeRepository(store)
        summary = await repo.get_trade_summary()
        bots = await repo.get_bot_instances()
        per_bot = [await repo.get_trade_summary(bot_id=b.id) for b in bots[:5]]
    total = HOSTS * BOTS * TRADES
    closed = total // 2
    assert summary["total_trades"] == total
    assert summary["open_trades"] == total - closed and summary["closed_trades"] == closed
    assert summary["winning_trades"] == closed
    assert summary["total_net_pnl"] == PNL * closed == Decimal("246.91356000")
    assert len(bots) == HOSTS * BOTS
    assert all(b.last_heartbeat is not None for b in bots)
    assert all(s["total_trades"] == TRADES and s["closed_trades"] == TRADES // 2 for s in per_bot)


async def test_two_stores_in_one_process_build_two_empty_databases_at_once(pg_url: str) -> None:
    # Alembic's migration state is per process: the revisions of both must not mix.
    async with fresh_postgres_database() as other_url:
        first, second = Store(pg_url), Store(other_url)
        await asyncio.gather(first.start(), second.start())
        try:
            for store in (first, second):
                assert store.schema is not None and store.schema.status == "current"
                await TradeRepository(store).create_bot_instance({"id": "b", "type": "paper"})
        finally:
            await first.close()
            await second.close()
