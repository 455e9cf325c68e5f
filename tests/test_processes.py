"""Several processes on one SQLite file: contention is waited out, or reported clearly."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from asyncstore import AsyncStoreError, Store, TradeRepository
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
    rng = random.Random(7)
    loop = asyncio.get_running_loop()
    data = [trade_data(net_pnl=f"{n}.00000001") for n in range(600)]
    tasks = [asyncio.create_task(repo.create_trade(d)) for d in data]
    for task in tasks:
        loop.call_later(rng.random() * 0.1, task.cancel)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    done = [r for r in results if not isinstance(r, BaseException)]
    assert all(
        isinstance(r, asyncio.CancelledError) for r in results if isinstance(r, BaseException)
    )
    assert done and len(done) < len(data)  # the storm really hit some calls, not all
    # The writer keeps serving, and close() still drains.
    assert (await repo.create_trade(trade_data())).bot_id == BOT_ID
    await store.close()
    async with Store(db_url) as reopened:
        stored = await TradeRepository(reopened).get_open_trades()
    by_id = {t.id: t for t in stored}
    assert all(by_id[r.id] == r for r in done)  # every acknowledged write is there, whole
    assert {t.net_pnl for t in stored} <= {Decimal(d["net_pnl"]) for d in data} | {None}
