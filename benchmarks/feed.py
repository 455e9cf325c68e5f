"""What the change feed costs the writers: the same bot workload, watched and not.

python -m benchmarks.feed [--bots 50] [--seconds 5] [--rounds 3] [--no-postgresql]

Per backend, one database. Each round runs `--bots` bot coroutines in this process, each opening
a trade and closing it (close_trade: the trade and its bot's books) with a heartbeat every ten
trades, flat out for `--seconds`, under three conditions in turn (the order rotates each round,
so drift of the machine weighs on all alike):
- nobody listens (the writer still logs each commit: that cost is in every row);
- another process watches: `Store.changes()` in a child process, reading every change
  (SQLite: data_version polling and the change log; PostgreSQL: LISTEN);
- a subscriber in the writing process itself (the writer hands it each commit's changes).
The table gives median writes per second and their ratio to "nobody listens", and the changes
the watcher received (counted by it) against the writes acknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time

from asyncstore import Store, TradeRepository
from benchmarks.harness import Table, bot_names, trade_row
from benchmarks.rounds import on_both_backends, rounds_parser

CONDITIONS = ("nobody listens", "another process watches", "in-process subscriber")


async def _bots(url: str, bots: list[str], seconds: float, listen: bool) -> tuple[int, float, int]:
    """(writes acknowledged, seconds, changes an in-process subscriber received)."""
    async with Store(url) as store:
        repo = TradeRepository(store)
        received = 0
        feed = store.changes() if listen else None
        reading: asyncio.Future[None] | None = None
        if feed is not None:
            await feed.ready()

            async def read() -> None:
                nonlocal received
                async for _ in feed:
                    received += 1

            reading = asyncio.ensure_future(read())
        until = time.monotonic() + seconds
        counts = [0] * len(bots)

        async def bot(n: int) -> None:
            trades = 0
            while time.monotonic() < until:
                trade = await repo.create_trade(trade_row(trades, bots[n]))
                await repo.close_trade(trade.id, {"exit_price": "50100"})
                trades += 1
                counts[n] += 2
                if trades % 10 == 0:
                    await repo.heartbeat(bots[n])
                    counts[n] += 1

        started = time.perf_counter()
        await asyncio.gather(*(bot(n) for n in range(len(bots))))
        elapsed = time.perf_counter() - started
        if feed is not None and reading is not None:
            await asyncio.sleep(0.2)  # the last commits' changes arrive
            await feed.aclose()
            await reading
    return sum(counts), elapsed, received


async def _watcher(url: str) -> asyncio.subprocess.Process:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.feed",
        "--watch",
        url,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    await child.stdout.readline()  # "ready": it is watching
    return child


async def _stop_watcher(child: asyncio.subprocess.Process) -> int:
    out, _ = await child.communicate(b"")  # closing stdin ends it
    return int(out.split()[-1])


async def watch(url: str) -> None:
    """The child: count every change until stdin closes, then print the count."""
    async with Store(url) as store, store.changes() as feed:
        print("ready", flush=True)
        received = 0

        async def read() -> None:
            nonlocal received
            async for _ in feed:
                received += 1

        reading = asyncio.ensure_future(read())
        await asyncio.to_thread(sys.stdin.read)
        await asyncio.sleep(0.5)  # the last commits' changes arrive
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
    print(received, flush=True)


async def _measure(url: str, bots: int, seconds: float, rounds: int, label: str) -> Table:
    names = bot_names(bots)
    async with Store(url) as store:
        repo = TradeRepository(store)
        for name in names:
            await repo.create_bot_instance(
                {"id": name, "type": "paper", "status": "running", "current_balance": "10000"}
            )
    rates: dict[str, list[float]] = {condition: [] for condition in CONDITIONS}
    delivered: dict[str, list[str]] = {condition: [] for condition in CONDITIONS}
    for round_number in range(rounds):
        shift = round_number % len(CONDITIONS)
        for condition in CONDITIONS[shift:] + CONDITIONS[:shift]:
            child = await _watcher(url) if condition == CONDITIONS[1] else None
            writes, elapsed, received = await _bots(
                url, names, seconds, listen=condition == CONDITIONS[2]
            )
            if child is not None:
                received = await _stop_watcher(child)
            rates[condition].append(writes / elapsed)
            if condition != CONDITIONS[0]:
                delivered[condition].append(f"{received:,}/{writes:,}")
    base = statistics.median(rates[CONDITIONS[0]])
    table = Table(
        f"Change feed cost, {label}: {bots} bots opening and closing trades, "
        f"{seconds:g} s x {rounds} rounds (median)",
        ["condition", "writes/s", "vs nobody", "changes received / writes (a close: 2)"],
    )
    for condition in CONDITIONS:
        rate = statistics.median(rates[condition])
        table.add(condition, rate, f"{rate / base:.3f}x", ", ".join(delivered[condition]) or "-")
    return table


def main() -> None:
    parser = rounds_parser("python -m benchmarks.feed", __doc__, bots=50, rounds=3)
    parser.add_argument("--watch", metavar="URL", help=argparse.SUPPRESS)  # the child's part
    args = parser.parse_args()
    if args.watch:
        asyncio.run(watch(args.watch))
    else:
        asyncio.run(on_both_backends(_measure, "feed", args))


if __name__ == "__main__":
    main()
