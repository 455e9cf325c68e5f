"""Writer faults on a real, tiny filesystem: a full disk gives a clear error, keeps every
acknowledged write, never acknowledges an uncommitted one, and the Store recovers."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncstore import AsyncStoreError, Store, TradeRepository
from tests.conftest import (
    BOT_ID,
    queue_depth,
    rows_in,
    trade_data,
    wait_until,
    write_lock_held,
    writer_took_everything,
)

# The SQLite file itself, its single writer, or SQLite processes: not (yet) on PostgreSQL.
pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs: a disk that really fills up. Needs root (CI and dev machines run as root)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


async def test_disk_full_is_clear_keeps_acknowledged_and_recovers(tiny_fs: Path) -> None:
    db = tiny_fs / "trading.db"
    filler = tiny_fs / "filler"
    acknowledged: list[str] = []
    async with Store(f"sqlite+aiosqlite:///{db}") as store:
        await store.create_tables()
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        free = os.statvfs(tiny_fs).f_bavail * os.statvfs(tiny_fs).f_frsize
        filler.write_bytes(b"\0" * max(0, free - 400_000))  # leave ~400 kB
        failure: AsyncStoreError | None = None
        for _ in range(200):
            results = await asyncio.gather(
                *(
                    repo.create_trade(trade_data(extra_metadata={"pad": "x" * 500}))
                    for _ in range(50)
                ),
                return_exceptions=True,
            )
            acknowledged += [r.id for r in results if not isinstance(r, BaseException)]
            errors = [r for r in results if isinstance(r, BaseException)]
            assert all(isinstance(e, AsyncStoreError) for e in errors), errors
            if errors:
                failure = errors[0]  # type: ignore[assignment]
                break
        assert failure is not None, "the disk never filled up"
        assert "disk is full" in str(failure)
        # Reads still work, and every acknowledged write is there.
        assert len(await repo.get_open_trades(bot_id=BOT_ID)) == len(acknowledged)
        filler.unlink()  # space again: the same Store writes again
        assert (await repo.create_trade(trade_data())).bot_id == BOT_ID
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    stored = {row[0] for row in conn.execute("SELECT id FROM trades")}
    conn.close()
    assert set(acknowledged) <= stored and len(stored) == len(acknowledged) + 1


async def test_a_transaction_sqlite_abandons_mid_batch_commits_nothing_of_it(tiny_fs: Path) -> None:
    """A row too big for the disk fails mid-statement, and SQLite then rolls the whole
    transaction back by itself. The other writes of that batch must not go on in autocommit
    (committed, while their callers hear they failed): every call of the batch fails, and the
    file holds exactly what was acknowledged."""
    db = tiny_fs / "trading.db"
    filler = tiny_fs / "filler"
    # The 20 MB document is far over the default limit on metadata: lift it for this test.
    async with Store(f"sqlite+aiosqlite:///{db}", max_metadata_bytes=30_000_000) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        acknowledged = [(await repo.create_trade(trade_data())).id]
        free = os.statvfs(tiny_fs).f_bavail * os.statvfs(tiny_fs).f_frsize
        filler.write_bytes(b"\0" * max(0, free - 300_000))  # room for small rows, not 20 MB
        with write_lock_held(db) as blocker:
            first = asyncio.create_task(repo.create_trade(trade_data()))
            await writer_took_everything(store, accepted=1)
            small = [asyncio.create_task(repo.create_trade(trade_data())) for _ in range(5)]
            # Larger than the page cache, so SQLite writes it out mid-statement and hits ENOSPC.
            huge = asyncio.create_task(
                repo.create_trade(trade_data(extra_metadata={"pad": "x" * 20_000_000}))
            )
            later = [asyncio.create_task(repo.create_trade(trade_data())) for _ in range(5)]
            await wait_until(lambda: queue_depth(store) == 11)
            blocker.rollback()
            acknowledged.append((await first).id)
            results = await asyncio.gather(*small, huge, *later, return_exceptions=True)
        assert all(isinstance(r, AsyncStoreError) for r in results), results
        # Nothing of the failed batch was committed behind its callers' backs.
        assert await rows_in(store) == len(acknowledged)
        assert "disk is full" in str(results[5])
        filler.unlink()  # space again: the same Store writes again
        acknowledged.append((await repo.create_trade(trade_data())).id)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    stored = {row[0] for row in conn.execute("SELECT id FROM trades")}
    conn.close()
    assert stored == set(acknowledged)
