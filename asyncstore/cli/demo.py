"""`asyncstore demo`: the showcase. Paper bots trade at once, each with a heartbeat; an optimizer
streams a large batch; one bot crashes and restarts, recovering its open positions; then each
bot's performance metrics. A live progress line while it runs, a table at the end.

Every bot walks its own seeded random price. Run it twice: bots reload what they left open.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from asyncstore.bots import BotHeartbeat, recover_bot
from asyncstore.errors import DuplicateError
from asyncstore.repository import BotRepository, TradeRepository
from asyncstore.store import Store

__all__ = ["DemoReport", "run_demo"]

COMMISSION = Decimal("0.02")  # per round trip, in the quote currency
STARTING_BALANCE = Decimal("1000")


@dataclass
class DemoReport:
    bots: int
    seconds: float
    optimizer_rows: int
    recovered_open_trades: int
    crash_recovered: int
    heartbeats: int
    write_latencies_ms: list[float] = field(default_factory=list)
    per_bot: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    batches: int = 0
    operations: int = 0

    def p99_ms(self) -> float:
        ordered = sorted(self.write_latencies_ms) or [0.0]
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]

    def lines(self) -> list[str]:
        writes = len(self.write_latencies_ms)
        s = self.summary
        return [
            f"bots: {self.bots}, wall time: {self.seconds:.1f} s",
            f"recovered open trades from an earlier run: {self.recovered_open_trades}",
            f"crashed and restarted one bot: it recovered {self.crash_recovered} open trade(s)",
            f"bot writes: {writes} ({writes / self.seconds:.0f}/s), p99 {self.p99_ms():.2f} ms",
            f"heartbeats: {self.heartbeats}",
            f"optimizer rows (bulk, streamed): {self.optimizer_rows}",
            f"group commit: {self.operations} writes in {self.batches} transactions "
            f"({self.operations / max(self.batches, 1):.1f} per commit)",
            f"trades in the database: {s['total_trades']} (open {s['open_trades']}, "
            f"closed {s['closed_trades']}, won {s['winning_trades']}, lost {s['losing_trades']})",
            f"net PnL of closed trades: {s['total_net_pnl']}",
        ]

    def table(self) -> Table:
        table = Table(title="asyncstore demo")
        for column in ["bot", "trades", "net PnL", "balance", "Sharpe", "max drawdown %"]:
            table.add_column(column, justify="left" if column == "bot" else "right")
        for row in self.per_bot:
            table.add_row(
                *(
                    str("-" if row[k] is None else row[k])
                    for k in ["bot", "trades", "pnl", "balance", "sharpe", "drawdown"]
                )
            )
        writes = len(self.write_latencies_ms)
        table.caption = (
            f"{writes / self.seconds:.0f} bot writes/s, p99 write latency "
            f"{self.p99_ms():.2f} ms, {self.optimizer_rows} optimizer rows"
        )
        return table


@dataclass
class _Progress:
    writes: int = 0
    optimizer_rows: int = 0
    latencies: list[float] = field(default_factory=list)


async def _ensure_bot(repo: TradeRepository, bot_id: str, bot_type: str) -> int:
    """Create the bot, or recover it; returns how many open trades it left last time."""
    with contextlib.suppress(DuplicateError):
        await repo.create_bot_instance(
            {"id": bot_id, "type": bot_type, "current_balance": STARTING_BALANCE}
        )
        return 0
    return len((await recover_bot(repo, bot_id)).open_trades)


async def _timed(progress: _Progress, call: Any) -> Any:
    started = time.perf_counter()
    result = await call
    progress.latencies.append((time.perf_counter() - started) * 1000)
    progress.writes += 1
    return result


async def _trade(
    bot: BotRepository,
    seed: int,
    until: float,
    progress: _Progress,
    holding: asyncio.Event | None = None,
) -> None:
    """A random-walk bot: opens a long, closes it later, books the PnL into its balance.
    `holding` is set while it holds an open position."""
    rng = random.Random(seed)
    price = Decimal(rng.randint(20_000, 60_000))
    opened = await bot.get_open_trades()  # whatever a previous life left open
    position = opened[0] if opened else None
    holding = holding or asyncio.Event()
    if position is not None:
        holding.set()
    while time.monotonic() < until:
        price = (price * Decimal(1 + rng.gauss(0, 0.002))).quantize(Decimal("0.01"))
        if position is None and rng.random() < 0.3:
            position = await _timed(
                progress,
                bot.create_trade(
                    {
                        "trade_type": "paper",
                        "strategy_name": "demo_walk",
                        "entry_logic_name": "RandomEntryMixin",
                        "exit_logic_name": "RandomExitMixin",
                        "symbol": "BTCUSDT",
                        "interval": "1m",
                        "entry_time": datetime.now(UTC),
                        "entry_price": price,
                        "size": Decimal("0.01"),
                        "direction": "long",
                    }
                ),
            )
            holding.set()  # only once the open trade is committed
        elif position is not None and rng.random() < 0.3:
            holding.clear()  # closing: a crash from here on may or may not find it open
            # The PnL and the bot's balance are booked in one transaction: no crash can leave
            # them apart.
            await _timed(
                progress,
                bot.close_trade(
                    position.id,
                    {"exit_price": price, "commission": COMMISSION, "exit_reason": "random_exit"},
                ),
            )
            position = None
        await asyncio.sleep(rng.uniform(0.005, 0.02))


async def _run_bot(
    repo: TradeRepository, bot_id: str, seed: int, until: float, progress: _Progress
) -> int:
    async with BotHeartbeat(repo, bot_id, every=0.5) as heartbeat:
        await _trade(repo.for_bot(bot_id), seed, until, progress)
    return heartbeat.beats


async def _optimizer_rows(
    bot_id: str, count: int, progress: _Progress
) -> AsyncIterator[dict[str, Any]]:
    rng = random.Random(7)
    for _ in range(count):
        progress.optimizer_rows += 1
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
            "net_pnl": Decimal(rng.randint(-5_000, 5_000)).scaleb(-2),
        }


async def _crash_and_restart(
    repo: TradeRepository, bot_id: str, seed: int, until: float, progress: _Progress
) -> tuple[int, int]:
    """Run a bot, kill its task abruptly half-way (no clean exit), then start it again."""
    bot = repo.for_bot(bot_id)
    holding = asyncio.Event()
    first_life = asyncio.create_task(_trade(bot, seed, until, progress, holding))
    await asyncio.sleep(max(0.0, (until - time.monotonic()) / 2))
    # Crash while it holds a committed position and is not closing it, if it ever does. The
    # check and the cancel have no await between them, so the bot cannot start closing between.
    while not holding.is_set() and time.monotonic() < until:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(holding.wait(), timeout=max(0.0, until - time.monotonic()))
    first_life.cancel()  # a crash: no "stopped", the open position stays open
    with contextlib.suppress(asyncio.CancelledError):
        await first_life
    recovered = len((await recover_bot(repo, bot_id)).open_trades)
    return recovered, await _run_bot(repo, bot_id, seed + 1000, until, progress)


def _status(progress: _Progress, started: float, seconds: float) -> str:
    elapsed = time.monotonic() - started
    return (
        f"[bold]asyncstore demo[/] {min(elapsed, seconds):4.1f}/{seconds:.0f} s  "
        f"bot writes {progress.writes}  optimizer rows {progress.optimizer_rows}"
    )


async def run_demo(
    url: str | None,
    *,
    bots: int = 20,
    seconds: float = 10.0,
    optimizer_rows: int = 50_000,
    console: Console | None = None,
) -> DemoReport:
    console = console or Console()
    started = time.perf_counter()
    progress = _Progress()
    async with Store(url) as store:
        await store.create_tables()
        repo = TradeRepository(store)
        bot_ids = [f"demo_paper_bot_{n:02d}" for n in range(1, bots + 1)]
        recovered = sum(await asyncio.gather(*(_ensure_bot(repo, b, "paper") for b in bot_ids)))
        await _ensure_bot(repo, "demo_optimizer", "optimization")
        until = time.monotonic() + seconds
        optimizer = asyncio.create_task(
            repo.bulk_create_trades(_optimizer_rows("demo_optimizer", optimizer_rows, progress))
        )
        crash = asyncio.create_task(_crash_and_restart(repo, bot_ids[0], 0, until, progress))
        runs = asyncio.gather(
            *(_run_bot(repo, b, n, until, progress) for n, b in enumerate(bot_ids[1:], start=1))
        )
        clock = time.monotonic()
        with Live(_status(progress, clock, seconds), console=console, transient=True) as live:
            while not (runs.done() and crash.done() and optimizer.done()):
                live.update(_status(progress, clock, seconds))
                await asyncio.sleep(0.1)
        beats = sum(await runs)
        crash_recovered, crash_beats = await crash
        inserted = await optimizer
        per_bot = []
        for bot_id in bot_ids:
            metrics = await repo.calculate_performance_metrics(bot_id, STARTING_BALANCE)
            summary = await repo.get_trade_summary(bot_id=bot_id)
            record = await repo.get_bot_instance(bot_id)
            per_bot.append(
                {
                    "bot": bot_id,
                    "trades": metrics.total_trades,
                    "pnl": summary["total_net_pnl"],
                    "balance": None if record is None else record.current_balance,
                    "sharpe": metrics.sharpe_ratio,
                    "drawdown": metrics.max_drawdown,
                }
            )
        await repo.update_bot_instance("demo_optimizer", {"status": "stopped"})
        stats = store.write_stats
        return DemoReport(
            bots=bots,
            seconds=time.perf_counter() - started,
            optimizer_rows=inserted,
            recovered_open_trades=recovered,
            crash_recovered=crash_recovered,
            heartbeats=beats + crash_beats,
            write_latencies_ms=progress.latencies,
            per_bot=per_bot,
            summary=(await repo.get_trade_summary()).model_dump(),
            batches=stats.batches,
            operations=stats.operations,
        )
