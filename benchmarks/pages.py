"""Pages: get_trades' keyset pages deep into a big table, on SQLite and PostgreSQL.

    python -m benchmarks.pages [--trades 200000]

Full trades (every column set) over 10 bots, 20 symbols and 20 strategies, entry times in ties
of 5 (five trades a minute), 2% without an entry_time. For each query shape it walks every page
(limit=100, after= the last trade of the previous page) and reports the first page, the median
page, and the median of the last tenth of the pages: keyset pages cost the same at any depth.
Beside the unfiltered walk, the last page read by OFFSET, what a naive pager does. Then
iter_trades over the whole table, and one 10,000-trade page: seconds, the longest loop stall,
peak RSS growth. The PostgreSQL rows are skipped ("-") when the server is unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from asyncstore import Store, TradeRecord, TradeRepository
from asyncstore.schema.tables import TRADES
from benchmarks.harness import LoopLag, PeakRss, Table, full_trade_row
from benchmarks.postgres import fresh_database, server_reachable

BOTS = [f"bot_{n:02d}" for n in range(10)]
SYMBOLS = [f"SYM{n}USDT" for n in range(20)]
START = datetime(2024, 1, 1, tzinfo=UTC)
SHAPES: dict[str, dict[str, Any]] = {
    "no filter": {},
    "bot_id": {"bot_id": "bot_03"},
    "symbol + status": {"symbol": "SYM3USDT", "status": "closed"},
    "since/until (a third)": {
        "since": START + timedelta(days=3),
        "until": START + timedelta(days=6),
    },
    "strategy": {"entry_logic_name": "Entry2", "exit_logic_name": "Exit1"},
}


def trade(n: int) -> dict[str, Any]:
    row = full_trade_row(n, BOTS[n % len(BOTS)])
    entry = None if n % 50 == 7 else START + timedelta(minutes=n // 5)
    status = ("closed", "closed", "closed", "closed", "closed", "closed", "open", "cancelled")[
        n % 8
    ]
    row.update(
        symbol=SYMBOLS[(n * 7) % len(SYMBOLS)],
        entry_logic_name=f"Entry{(n * 3) % 5}",
        exit_logic_name=f"Exit{(n * 11) % 4}",
        entry_time=entry,
        exit_time=entry,
        status=status,
        net_pnl=Decimal(n % 2001 - 1000) / 100,
    )
    return row


async def fill(url: str, trades: int) -> None:
    async with Store(url) as store:
        await store.create_tables()
        repo = TradeRepository(store)
        for bot in BOTS:
            await repo.create_bot_instance({"id": bot, "type": "paper"})
        await repo.bulk_create_trades([trade(n) for n in range(trades)])


async def walk(repo: TradeRepository, filters: dict[str, Any]) -> tuple[list[float], int]:
    """Every page of `filters`, 100 trades each: each page's seconds, and the trades seen."""
    seconds: list[float] = []
    seen = 0
    after: TradeRecord | None = None
    while True:
        started = time.perf_counter()
        page = await repo.get_trades(**filters, limit=100, after=after)
        seconds.append(time.perf_counter() - started)
        seen += len(page)
        if len(page) < 100:
            return seconds, seen
        after = page[-1]


def _ms(value: float) -> str:
    return f"{value * 1000:.2f}"


async def by_offset(store: Store, offset: int) -> float:
    """The same page by OFFSET: every trade before it is read and dropped."""
    entry_time = TRADES.c.entry_time
    query = (
        select(TRADES)
        .where(entry_time.is_not(None))
        .order_by(entry_time, TRADES.c.id)
        .limit(100)
        .offset(offset)
    )
    started = time.perf_counter()
    await store.fetch_all(query, {})
    return time.perf_counter() - started


async def stall(call: Callable[[], Awaitable[int]]) -> tuple[int, float, str, float]:
    gc.collect()
    with PeakRss() as rss:
        async with LoopLag() as lag:
            await asyncio.sleep(0)
            started = time.perf_counter()
            count = await call()
            seconds = time.perf_counter() - started
    return count, seconds, lag.longest_ms(), rss.growth_mb


async def measure(backend: str, url: str, trades: int, table: Table, streams: Table) -> None:
    await fill(url, trades)
    async with Store(url) as store:
        repo = TradeRepository(store)
        for name, filters in SHAPES.items():
            seconds, seen = await walk(repo, filters)
            last_tenth = seconds[-max(1, len(seconds) // 10) :]
            table.add(
                backend,
                f"{trades:,}",
                name,
                f"{seen:,}",
                f"{len(seconds):,}",
                _ms(seconds[0]),
                _ms(statistics.median(seconds)),
                _ms(statistics.median(last_tenth)),
            )
        # The unfiltered walk's last full page, by OFFSET.
        ((count,),) = await store.fetch_all(
            "SELECT count(*) FROM trades WHERE entry_time IS NOT NULL"
        )
        offset = max(0, (int(count) // 100 - 1) * 100)
        deep = _ms(await by_offset(store, offset))
        table.add(backend, f"{trades:,}", "no filter, by OFFSET", "-", "1", "-", "-", deep)

        async def stream() -> int:
            return sum([1 async for _ in repo.iter_trades(page_size=1000)])

        async def big_page() -> int:
            return len(await repo.get_trades(limit=10_000))

        calls = {"iter_trades(page_size=1000)": stream, "get_trades(limit=10000)": big_page}
        for label, call in calls.items():
            read, took, longest, growth = await stall(call)
            row = [f"{read:,}", f"{took:.2f}", longest, f"{growth:.0f}"]
            streams.add(backend, f"{trades:,}", label, *row)


async def run(trades: int) -> None:
    table = Table(
        "get_trades pages of 100 (keyset), walked from the first to the last; ms a page",
        ["backend", "trades", "filters", "matching", "pages", "first", "median", "last tenth"],
    )
    streams = Table(
        "whole-table reads: seconds, longest loop stall ms, peak RSS growth MB",
        ["backend", "trades", "call", "trades read", "seconds", "longest stall", "RSS MB"],
    )
    with tempfile.TemporaryDirectory(prefix="asyncstore-pages-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'pages.db'}"
        await measure("SQLite", url, trades, table, streams)
    if await server_reachable():
        async with fresh_database() as url:
            await measure("PostgreSQL", url, trades, table, streams)
    else:
        table.add("PostgreSQL", "-", "server unreachable", "-", "-", "-", "-", "-")
    print(table.render())
    print(streams.render())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pages", description=__doc__)
    parser.add_argument("--trades", type=int, default=200_000)
    args = parser.parse_args()
    started = time.perf_counter()
    asyncio.run(run(args.trades))
    print(f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
