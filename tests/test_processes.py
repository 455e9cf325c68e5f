"""Several processes on one SQLite file: contention is waited out, or reported clearly."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from asyncstore import AsyncStoreError, Store, TradeRecord, TradeRepository
from tests.conftest import BOT_ID, count_rows, open_store_with_bot, trade_data, write_lock_held

# The SQLite file itself, its single writer, or SQLite processes: not (yet) on PostgreSQL.
pytestmark = pytest.mark.sqlite_only

ROOT = Path(__file__).resolve().parent.parent


async def test_two_processes_share_one_file(db_url: str, db_path: Path) -> None:
    """A bot process writes while this process (think: a CLI cleanup) writes and cleans up."""
    store, repo = await open_store_with_bot(db_url)
    try:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.processes.steady_writer",
            db_url,
            "other_process_bot",
            "2",
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        mine = 0
        while child.returncode is None:
            await asyncio.gather(*(repo.create_trade(trade_data()) for _ in range(20)))
            await repo.cleanup_old_data(days_to_keep=0)  # deletes the child's closed trades too
            mine += 20
            with contextlib.suppress(TimeoutError):  # still running: write some more
                await asyncio.wait_for(child.wait(), 0.01)
        out, err = await child.communicate()
        assert child.returncode == 0, err.decode()
        assert out.decode().startswith("WROTE ")
    finally:
        await store.close()
    assert count_rows(db_path) >= mine  # ours are open: cleanup never deletes open trades


async def test_a_bot_that_never_closes_its_store_still_exits(db_url: str, db_path: Path) -> None:
    """A crash that skips close() must not leave the process hanging on a database thread
    (aiosqlite's threads would keep it alive forever), and the acknowledged write is kept."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.processes.unclosed_bot",
        db_url,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        # A generous bound that only a hang reaches; the bot itself needs about a second.
        out, err = await asyncio.wait_for(child.communicate(), timeout=120)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.returncode == 1, err.decode()
    assert "RuntimeError: strategy crashed" in err.decode()
    trade_id = out.decode().removeprefix("WROTE ").strip()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT id FROM trades").fetchall() == [(trade_id,)]
    conn.close()


async def test_lock_held_past_busy_timeout_is_a_clear_error(db_url: str, db_path: Path) -> None:
    store, repo = await open_store_with_bot(db_url, busy_timeout_ms=200)
    try:
        # Another process holds the write lock for longer than 200 ms.
        with write_lock_held(db_path), pytest.raises(AsyncStoreError, match="busy_timeout_ms=200"):
            await repo.create_trade(trade_data())
        assert (await repo.create_trade(trade_data())).bot_id == BOT_ID  # and it recovers
    finally:
        await store.close()
    assert count_rows(db_path) == 1


async def test_cancellation_storm_leaves_every_write_whole(db_url: str, db_path: Path) -> None:
    store, repo = await open_store_with_bot(db_url)
    try:
        data = [trade_data(net_pnl=f"{n}.00000001") for n in range(600)]
        tasks = [asyncio.create_task(repo.create_trade(d)) for d in data]
        # Each call is cancelled once a random number of the others have returned. The storm
        # follows the writer's progress rather than the clock, so however fast or starved this
        # machine is, it hits calls still queued, in a batch being committed, and being resolved.
        rng = random.Random(7)
        cancel_after = [rng.randrange(len(data)) for _ in data]
        cancel_after[0] = 0  # and at least one before its write was even queued
        returned = 0

        def storm(finished: asyncio.Task[TradeRecord] | None = None) -> None:
            nonlocal returned
            if finished is not None and not finished.cancelled():
                returned += 1
            for task, threshold in zip(tasks, cancel_after, strict=True):
                if threshold <= returned:
                    task.cancel()  # a no-op for calls that already returned

        storm()
        for task in tasks:
            task.add_done_callback(storm)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        done = [r for r in results if not isinstance(r, BaseException)]
        assert all(
            isinstance(r, asyncio.CancelledError) for r in results if isinstance(r, BaseException)
        )
        assert done and len(done) < len(data)  # the storm really hit some calls, not all
        # The writer keeps serving, and close() still drains.
        assert (await repo.create_trade(trade_data())).bot_id == BOT_ID
    finally:
        await store.close()
    async with Store(db_url) as reopened:
        stored = await TradeRepository(reopened).get_open_trades()
    by_id = {t.id: t for t in stored}
    assert all(by_id[r.id] == r for r in done)  # every acknowledged write is there, whole
    assert {t.net_pnl for t in stored} <= {Decimal(d["net_pnl"]) for d in data} | {None}
