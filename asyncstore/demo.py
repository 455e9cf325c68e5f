"""`asyncstore demo`: several paper bots trading at once, each with a heartbeat, plus an optimizer.

Every bot walks its own seeded random price, opens and closes trades, and records them; a
background task per bot beats its heartbeat; one optimizer streams a large batch of
optimization trades at the same time. Run it twice: bots reload the positions they left open.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from asyncstore.errors import DuplicateError
from asyncstore.repository import TradeRepository
from asyncstore.store import Store

__all__ = ["DemoReport", "run_demo"]

CENT = Decimal("0.00000001")
STARTING_BALANCE = Decimal("1000")


@dataclass
class DemoReport:
    bots: int
    seconds: float
    trades_written: int
    optimizer_rows: int
    recovered_open_trades: int
    heartbeats: int
    write_latencies_ms: list[float] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    batches: int = 0
    operations: int = 0

    def lines(self) -> list[str]:
        latencies = sorted(self.write_latencies_ms) or [0.0]
        p50 = latencies[len(latencies) // 2]
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        writes = len(self.write_latencies_ms)
        s = self.summary
        return [
            f"bots: {self.bots}, wall time: {self.seconds:.1f} s",
            f"recovered open trades from an earlier run: {self.recovered_open_trades}",
            f"bot writes: {writes} ({writes / self.seconds:.0f}/s), "
            f"latency p50 {p50:.2f} ms, p99 {p99:.2f} ms",
            f"heartbeats: {self.heartbeats}",
            f"optimizer rows (bulk, streamed): {self.optimizer_rows}",
            f"group commit: {self.operations} writes in {self.batches} transactions "
            f"({self.operations / max(self.batches, 1):.1f} per commit)",
            f"trades in the database: {s['total_trades']} (open {s['open_trades']}, "
            f"closed {s['closed_trades']}, won {s['winning_trades']}, lost {s['losing_trades']})",
            f"net PnL of closed trades: {s['total_net_pnl']}",
        ]


async def _ensure_bot(repo: TradeRepository, bot_id: str, bot_type: str) -> int:
    """Create the bot, or set it running again and return how many open trades it left."""
    try:
        await repo.create_bot_instance(
            {
                "id": bot_id,
                "type": bot_type,
                "status": "running",
                "current_balance": STARTING_BALANCE,
            }
        )
        return 0
    except DuplicateError:
        await repo.update_bot_instance(bot_id, {"status": "running"})
        return len(await repo.get_open_trades(bot_id=bot_id))


async def _timed(latencies: list[float], call: Any) -> Any:
    started = time.perf_counter()
    result = await call
    latencies.append((time.perf_counter() - started) * 1000)
    return result


async def _heartbeat(repo: TradeRepository, bot_id: str, every: float, stop: asyncio.Event) -> int:
    beats = 0
    while not stop.is_set():
        await repo.heartbeat(bot_id)
        beats += 1
        with contextlib.suppress(TimeoutError):  # the usual case: time for the next beat
            await asyncio.wait_for(stop.wait(), timeout=every)
    return beats


async def _trade(
    repo: TradeRepository, bot_id: str, seed: int, until: float, latencies: list[float]
) -> int:
    rng = random.Random(seed)
    price = Decimal(rng.randint(20_000, 60_000))
    balance = STARTING_BALANCE
    open_trades = await repo.get_open_trades(bot_id=bot_id)  # restart recovery
    position = open_trades[0] if open_trades else None
    written = 0
    while time.monotonic() < until:
        price = (price * Decimal(1 + rng.gauss(0, 0.002))).quantize(Decimal("0.01"))
        if position is None and rng.random() < 0.3:
            position = await _timed(
                latencies,
                repo.create_trade(
                    {
                        "bot_id": bot_id,
                        "trade_type": "paper",
                        "strategy_name": "demo_walk",
                        "entry_logic_name": "RandomEntryMixin",
                        "exit_logic_name": "RandomExitMixin",
                        "symbol": "BTCUSDT",
                        "interval": "1m",
                        "entry_time": _utcnow(),
                        "entry_price": price,
                        "size": Decimal("0.01"),
                        "direction": "long",
                    }
                ),
            )
            written += 1
        elif position is not None and rng.random() < 0.3:
            entry = position.entry_price or price
            size = position.size or Decimal("0.01")
            pnl = ((price - entry) * size).quantize(CENT)
            await _timed(
                latencies,
                repo.update_trade(
                    position.id,
                    {
                        "exit_time": _utcnow(),
                        "exit_price": price,
                        "status": "closed",
                        "gross_pnl": pnl,
                        "net_pnl": pnl,
                        "exit_reason": "random_exit",
                    },
                ),
            )
            balance += pnl
            await _timed(latencies, repo.update_bot_instance(bot_id, {"current_balance": balance}))
            position = None
            written += 2
        await asyncio.sleep(rng.uniform(0.005, 0.02))
    return written


async def _optimizer_rows(bot_id: str, count: int, seed: int) -> AsyncIterator[dict[str, Any]]:
    rng = random.Random(seed)
    for _ in range(count):
        pnl = Decimal(rng.randint(-5_000, 5_000)).scaleb(-2)
        yield {
            "bot_id": bot_id,
            "trade_type": "optimization",
            "strategy_name": "grid_search",
            "entry_logic_name": "RSIBBVolumeEntryMixin",
            "exit_logic_name": "ATRExitMixin",
            "symbol": "ETHUSDT",
            "interval": "1h",
            "direction": "long",
            "status": "closed",
            "entry_price": "2500",
            "exit_price": "2510",
            "size": "1",
            "net_pnl": pnl,
        }


def _utcnow() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def run_demo(
    url: str | None, *, bots: int = 8, seconds: float = 5.0, optimizer_rows: int = 50_000
) -> DemoReport:
    started = time.perf_counter()
    async with Store(url) as store:
        await store.create_tables()
        repo = TradeRepository(store)
        bot_ids = [f"demo_paper_bot_{n:02d}" for n in range(1, bots + 1)]
        recovered = sum(await asyncio.gather(*(_ensure_bot(repo, b, "paper") for b in bot_ids)))
        await _ensure_bot(repo, "demo_optimizer", "optimization")

        stop = asyncio.Event()
        latencies: list[float] = []
        until = time.monotonic() + seconds
        beats = [asyncio.create_task(_heartbeat(repo, b, 0.5, stop)) for b in bot_ids]
        optimizer = asyncio.create_task(
            repo.bulk_create_trades(_optimizer_rows("demo_optimizer", optimizer_rows, seed=7))
        )
        written = await asyncio.gather(
            *(_trade(repo, b, seed, until, latencies) for seed, b in enumerate(bot_ids))
        )
        stop.set()
        heartbeats = sum(await asyncio.gather(*beats))
        inserted = await optimizer
        await asyncio.gather(*(repo.update_bot_instance(b, {"status": "stopped"}) for b in bot_ids))
        await repo.update_bot_instance("demo_optimizer", {"status": "stopped"})
        stats = store.writer_stats
        return DemoReport(
            bots=bots,
            seconds=time.perf_counter() - started,
            trades_written=sum(written),
            optimizer_rows=inserted,
            recovered_open_trades=recovered,
            heartbeats=heartbeats,
            write_latencies_ms=latencies,
            summary=await repo.get_trade_summary(),
            batches=stats.batches,
            operations=stats.operations,
        )
