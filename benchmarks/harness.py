"""Measuring tools shared by the scenarios: rows, latency percentiles, loop lag, RSS, tables."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from asyncstore import Store, TradeRepository
from asyncstore.ids import new_ids
from asyncstore.repository.trades import TRADE_CODEC
from asyncstore.schema.codec import InputRules
from asyncstore.schema.tables import TRADES
from asyncstore.types import UTCDateTime

BOT = "bench_bot"
ROW_KINDS = ("light", "full")  # the "row" column: a trade's required columns only, or every one
LAG = "loop lag p99 ms"
BLOCKS = "(blocks)"  # a raw driver runs on the loop itself: nothing else runs meanwhile


def bot_names(count: int) -> list[str]:
    return [f"bot_{n:04d}" for n in range(count)]


def trade_row(n: int, bot_id: str = BOT, status: str = "open") -> dict[str, Any]:
    return {
        "bot_id": bot_id,
        "trade_type": "paper",
        "entry_logic_name": "RSIBBVolumeEntryMixin",
        "exit_logic_name": "ATRExitMixin",
        "symbol": "BTCUSDT",
        "interval": "1h",
        "entry_time": datetime.now(UTC),
        "entry_price": Decimal("50000.1") + n % 1000,
        "size": Decimal("0.1"),
        "direction": "long",
        "status": status,
        # A closed trade has its exit price (asyncstore's lifecycle rules refuse one without).
        **({"exit_price": Decimal("50100.1") + n % 1000} if status == "closed" else {}),
    }


def full_trade_row(n: int, bot_id: str = BOT) -> dict[str, Any]:
    """A closed trade with every column set, as a live bot or an optimizer writes it: nine
    money fields, six times, JSON metadata."""
    entry = datetime.now(UTC)
    price = Decimal("50000.12345678") + n % 1000
    exit_price = price + Decimal("12.5")
    size = Decimal("0.01234567")
    return {
        **trade_row(n, bot_id, status="closed"),
        "strategy_name": "rsi_bb_volume",
        "entry_time": entry,
        "exit_time": entry,
        "buy_order_created": entry,
        "buy_order_closed": entry,
        "sell_order_created": entry,
        "sell_order_closed": entry,
        "entry_price": price,
        "exit_price": exit_price,
        "entry_value": (price * size).quantize(Decimal("1E-8")),
        "exit_value": (exit_price * size).quantize(Decimal("1E-8")),
        "size": size,
        "commission": Decimal("0.61728395"),
        "gross_pnl": Decimal("0.15432087"),
        "net_pnl": Decimal("-0.46296308"),
        "pnl_percentage": Decimal("-0.0750"),
        "exit_reason": "take_profit",
        "extra_metadata": {"rsi": 28.5, "bb": [49800.5, 50200.25], "signal": n, "tags": ["a"]},
    }


def bench_row(full: bool, n: int, bot_id: str = BOT, status: str | None = None) -> dict[str, Any]:
    """A light row (open unless `status` says otherwise) or a full one (closed unless so)."""
    if not full:
        return trade_row(n, bot_id, status or "open")
    row = full_trade_row(n, bot_id)
    return row if status is None else {**row, "status": status}


# What a bot sets when it closes a trade: the exit half of a full row.
CLOSING_COLUMNS = (
    "status",
    "exit_time",
    "sell_order_created",
    "sell_order_closed",
    "exit_price",
    "exit_value",
    "commission",
    "gross_pnl",
    "net_pnl",
    "pnl_percentage",
    "exit_reason",
)


def full_close(n: int) -> dict[str, Any]:
    """The closing columns of `full_trade_row(n)`: a full row's close (status 'closed')."""
    row = full_trade_row(n)
    return {name: row[name] for name in CLOSING_COLUMNS}


def encoded_rows(
    count: int, bots: Sequence[str] = (BOT,), status: str | None = None, *, full: bool = False
) -> list[tuple[Any, ...]]:
    """Rows in storage form, as raw contenders get them (no validation, no encoding): the rows
    `bench_row(full, n, bots[n % len(bots)], status)` gives asyncstore."""
    now = time_text(datetime.now(UTC))
    stamps = {"created_at": now, "updated_at": now}
    return [
        stored_row(bench_row(full, n, bots[n % len(bots)], status), {**stamps, "id": row_id})
        for n, row_id in enumerate(new_ids(count))
    ]


def encoded_values(values: Mapping[str, Any]) -> tuple[Any, ...]:
    """The given trade columns' values in storage form, in the order of `values`."""
    stored = TRADE_CODEC.encode_input_values(dict(values), _TRUSTED, "benchmark values")
    return tuple(stored.values())


# --- storage form: made by asyncstore's own encoder, before any timing starts ----------------

TRADE_COLUMNS = [column.name for column in TRADES.columns]
_TRUSTED = InputRules(max_metadata_bytes=2**62)


def time_text(value: datetime) -> str:
    """asyncstore's stored time: UTC, 'YYYY-MM-DD HH:MM:SS.ffffff'."""
    return UTCDateTime.to_db(value) or ""


def stored_row(values: Mapping[str, Any], fixed: Mapping[str, Any]) -> tuple[Any, ...]:
    """A trade in storage form, in the columns' order; `fixed` holds values already in it."""
    return TRADE_CODEC.encode_input(dict(values), _TRUSTED, "benchmark row", fixed=fixed)


async def row_stream(count: int, full: bool = False) -> AsyncIterator[dict[str, Any]]:
    for n in range(count):
        yield bench_row(full, n, status="closed")


async def fresh_store(
    folder: Path, name: str, bots: Sequence[str] = (BOT,), **options: Any
) -> Store:
    """A started Store on a new file with the schema and the given bots."""
    store = Store(f"sqlite+aiosqlite:///{folder / name}.db", **options)
    await store.start()
    await store.create_tables()
    repo = TradeRepository(store)
    await asyncio.gather(*(repo.create_bot_instance({"id": b, "type": "paper"}) for b in bots))
    return store


def db_path(store: Store) -> Path:
    """A SQLite Store's database file."""
    assert store.path is not None, "not a SQLite store"
    return store.path


def percentile(samples: Sequence[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def ms(samples: Sequence[float]) -> str:
    """'p50 / p99' in milliseconds."""
    if not samples:
        return "-"
    return f"{statistics.median(samples) * 1000:.2f} / {percentile(samples, 0.99) * 1000:.2f}"


async def timed(latencies: list[float], call: Awaitable[Any]) -> Any:
    started = time.perf_counter()
    result = await call
    latencies.append(time.perf_counter() - started)
    return result


async def per_bot(
    bots: int, calls_per_bot: int, call: Callable[[int, int], Awaitable[Any]]
) -> tuple[float, list[float]]:
    """Every bot awaits its own calls one after another; all bots run at once."""
    latencies: list[float] = []

    async def one_bot(b: int) -> None:
        for i in range(calls_per_bot):
            await timed(latencies, call(b, i))

    started = time.perf_counter()
    await asyncio.gather(*(one_bot(b) for b in range(bots)))
    return time.perf_counter() - started, latencies


class LoopLag:
    """A task that sleeps 1 ms over and over and records how late it wakes: the loop's lag."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self._asleep_since = 0.0

    async def _run(self) -> None:
        while True:
            self._asleep_since = time.perf_counter()
            await asyncio.sleep(0.001)
            self.samples.append(self._late_by())

    def _late_by(self) -> float:
        return max(0.0, time.perf_counter() - self._asleep_since - 0.001)

    async def __aenter__(self) -> LoopLag:
        self._asleep_since = time.perf_counter()  # a call that never yields still measures
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        # A stall that ends just as the measured call returns still counts: the ticker has not
        # had its turn to record it yet.
        self.samples.append(self._late_by())
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def p99_ms(self) -> str:
        return f"{percentile(self.samples, 0.99) * 1000:.2f}"

    def longest_ms(self) -> str:
        return f"{max(self.samples, default=0.0) * 1000:.1f}"


class PeakRss:
    """Samples this process's resident memory from a thread; reports the growth over the start."""

    def __init__(self) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE")
        self.baseline = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _rss(self) -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * self._page

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / 1e6


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([c if isinstance(c, str) else _fmt(c) for c in cells])

    def render(self) -> str:
        widths = [
            max(len(r[i]) for r in [self.columns, *self.rows]) for i in range(len(self.columns))
        ]
        lines = [f"\n{self.title}"]
        for row in [self.columns, *self.rows]:
            rest = zip(row[1:], widths[1:], strict=True)
            cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in rest]
            lines.append("  ".join(cells))
        return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"
    return str(value)


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on (for a child server)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "-"
