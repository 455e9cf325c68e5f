"""What tenants cost the writers: the same bots creating trades, with and without tenants.

python -m benchmarks.tenants [--bots 100] [--seconds 5] [--rounds 3] [--no-postgresql]
(also `python -m benchmarks --only tenants`, smaller)

Per backend, each round runs `--bots` bot coroutines in this process, each creating full trades
(every column set) one by one, flat out for `--seconds`, under three conditions in turn (the
order rotates each round, so drift of the machine weighs on all alike):
- no tenant: one Store, the database's own tables;
- one tenant: one Store of one tenant (PostgreSQL: every session as the tenant's role, in its
  schema; SQLite: the tenant's own file);
- 10 Stores, no tenant: the same bots spread over 10 Stores of the database's own tables, each
  with its own writer (what splitting the bots over 10 writers costs by itself: group commit
  batches fewer calls per transaction);
- 10 tenants: the same bots spread over 10 tenants' Stores in this one process, each with its
  own writer (PostgreSQL: its own sessions; SQLite: its own file), writing at once.
The table gives the median trades created per second, the ratio to "no tenant", and the ratio
to as many Stores without tenants (the cost of the tenants themselves). The issue's goal
(PostgreSQL): tenants cost at most 10% of create throughput (ratio >= 0.90).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from pathlib import Path

from asyncstore import Store, TradeRepository
from benchmarks.harness import Table, bot_names, full_trade_row
from benchmarks.postgres import fresh_database, server_reachable
from benchmarks.rounds import on_both_backends, rounds_parser
from benchmarks.sizes import Sizes

CONDITIONS = ("no tenant", "one tenant", "10 Stores, no tenant", "10 tenants")
# What each condition is compared with: the same number of Stores (writers), without tenants.
BASELINE = {
    "no tenant": "no tenant",
    "one tenant": "no tenant",
    "10 Stores, no tenant": "no tenant",
    "10 tenants": "10 Stores, no tenant",
}
TENANTS = 10


def _tenants_of(condition: str) -> list[str | None]:
    if condition == "no tenant":
        return [None]
    if condition == "one tenant":
        return ["alice"]
    if condition == "10 Stores, no tenant":
        return [None] * TENANTS
    return [f"tenant-{n}" for n in range(TENANTS)]


async def _prepare(url: str, names: list[str]) -> None:
    """Every tenant (and the database's own tables) with every bot, before any clock runs."""
    every_tenant = {tenant for condition in CONDITIONS for tenant in _tenants_of(condition)}
    for tenant in every_tenant:
        async with Store(url, tenant=tenant) as store:
            repo = TradeRepository(store)
            for name in names:
                await repo.create_bot_instance({"id": name, "type": "paper"})


async def _created_per_second(url: str, names: list[str], seconds: float, condition: str) -> float:
    tenants = _tenants_of(condition)
    # Ten Stores in one process: small pools keep them within the server's connection limit
    # (only the writers work here).
    options = {"pg_pool_size": 2} if len(tenants) > 1 and url.startswith("postgresql") else {}
    async with contextlib.AsyncExitStack() as stack:
        stores = [
            await stack.enter_async_context(Store(url, tenant=tenant, **options))
            for tenant in tenants
        ]
        repos = [TradeRepository(store) for store in stores]
        counts = [0] * len(names)
        until = time.monotonic() + seconds

        async def bot(n: int) -> None:
            repo = repos[n % len(repos)]
            while time.monotonic() < until:
                await repo.create_trade(full_trade_row(counts[n], names[n]))
                counts[n] += 1

        started = time.perf_counter()
        await asyncio.gather(*(bot(n) for n in range(len(names))))
        elapsed = time.perf_counter() - started
    return sum(counts) / elapsed


async def measure(url: str, bots: int, seconds: float, rounds: int, label: str) -> Table:
    names = bot_names(bots)
    await _prepare(url, names)
    rates: dict[str, list[float]] = {condition: [] for condition in CONDITIONS}
    for round_number in range(rounds):
        shift = round_number % len(CONDITIONS)
        for condition in CONDITIONS[shift:] + CONDITIONS[:shift]:
            rates[condition].append(await _created_per_second(url, names, seconds, condition))
    medians = {condition: statistics.median(rates[condition]) for condition in CONDITIONS}
    table = Table(
        f"Tenants, {label}: {bots} bots creating full trades, {seconds:g} s x {rounds} rounds "
        "(median)",
        ["condition", "trades/s", "vs no tenant", "vs as many Stores", "every round"],
    )
    for condition in CONDITIONS:
        rate = medians[condition]
        every = ", ".join(f"{r:,.0f}" for r in rates[condition])
        versus = rate / medians["no tenant"], rate / medians[BASELINE[condition]]
        table.add(condition, rate, f"{versus[0]:.3f}x", f"{versus[1]:.3f}x", every)
    return table


async def scenario(tmp: Path, sizes: Sizes) -> Table:
    """`python -m benchmarks --only tenants`: PostgreSQL when the server answers, else SQLite."""
    quick = sizes.writes_per_level < 5_000
    bots, seconds, rounds = (20, 1.0, 1) if quick else (100, 5.0, 3)
    if await server_reachable():
        async with fresh_database() as url:
            return await measure(url, bots, seconds, rounds, "PostgreSQL")
    url = f"sqlite+aiosqlite:///{tmp / 'tenants' / 'trading.db'}"
    return await measure(url, bots, seconds, rounds, "SQLite")


def main() -> None:
    parser = rounds_parser("python -m benchmarks.tenants", __doc__, bots=100, rounds=3)
    asyncio.run(on_both_backends(measure, "tenants", parser.parse_args()))


if __name__ == "__main__":
    main()
