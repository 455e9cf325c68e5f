"""cleanup_old_data: what is old, and what is never deleted."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from asyncstore import InvalidDataError, Store, TradeRepository
from tests.conftest import BOT_ID, rows_in, trade_data


def _days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def _backdate_created_at(db_path: Path, table: str, row_id: str, days: float) -> None:
    # created_at is set by asyncstore itself; age it the way time would.
    text = _days_ago(days).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"UPDATE {table} SET created_at = ? WHERE id = ?", (text, row_id))
    conn.close()


@pytest.mark.sqlite_only  # reads the SQLite file itself
async def test_retention_edges(repo: TradeRepository, bot: str, db_path: Path) -> None:
    async def closed(days: float, status: str = "closed") -> str:
        trade = await repo.create_trade(trade_data(entry_time=_days_ago(days + 1)))
        closing = {"exit_price": "50500"} if status == "closed" else {}
        await repo.update_trade(
            trade.id, {"status": status, "exit_time": _days_ago(days), **closing}
        )
        return trade.id

    old_closed = await closed(91)
    old_cancelled = await closed(120, "cancelled")
    recent_closed = await closed(89)
    ancient_open = (await repo.create_trade(trade_data(entry_time=_days_ago(1000)))).id
    _backdate_created_at(db_path, "trades", ancient_open, 1000)
    no_exit_time = (await repo.create_trade(trade_data(status="cancelled"))).id
    _backdate_created_at(db_path, "trades", no_exit_time, 100)
    no_exit_recent = (await repo.create_trade(trade_data(status="cancelled"))).id

    old_metrics = (
        await repo.create_performance_metrics({"bot_id": BOT_ID, "calculated_at": _days_ago(366)})
    ).id
    kept_metrics = (
        await repo.create_performance_metrics({"bot_id": BOT_ID, "calculated_at": _days_ago(364)})
    ).id

    assert await repo.cleanup_old_data(days_to_keep=90) == 4  # 3 trades + 1 metrics row
    remaining = {
        t
        for t in [
            old_closed,
            old_cancelled,
            recent_closed,
            ancient_open,
            no_exit_time,
            no_exit_recent,
        ]
        if await repo.get_trade_by_id(t) is not None
    }
    assert remaining == {recent_closed, ancient_open, no_exit_recent}
    with sqlite3.connect(db_path) as conn:
        ids = {r[0] for r in conn.execute("SELECT id FROM performance_metrics")}
    conn.close()
    assert ids == {kept_metrics} and old_metrics not in ids
    assert await rows_in(repo.store, "bot_instances") == 1  # bot instances are kept

    assert await repo.cleanup_old_data(days_to_keep=0, metrics_days_to_keep=0) == 3
    assert [t.id for t in await repo.get_open_trades()] == [ancient_open]  # open: never deleted


@pytest.mark.parametrize("days", [-1, 1.5, "90", True])
async def test_bad_retention_days(repo: TradeRepository, days: object) -> None:
    with pytest.raises(InvalidDataError, match="days_to_keep"):
        await repo.cleanup_old_data(days_to_keep=days)  # type: ignore[arg-type]


async def test_cleanup_goes_in_chunks(
    repo: TradeRepository, store: Store, bot: str, db_path: Path
) -> None:
    chunk = store.settings.bulk_chunk_rows
    old = [trade_data(status="closed") for _ in range(chunk * 3 + 7)]
    await repo.bulk_create_trades(old)
    keep = await repo.create_trade(trade_data())  # open
    batches_before = store.write_stats.batches
    assert await repo.cleanup_old_data(days_to_keep=0) == chunk * 3 + 7
    assert store.write_stats.batches - batches_before >= 4  # not one long transaction
    assert [t.id for t in await repo.get_open_trades()] == [keep.id]
    assert await rows_in(repo.store) == 1
