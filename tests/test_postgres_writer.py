"""PostgreSQL group commit and COPY, checked on the server itself.

Transactions are counted by the server (the transaction ids it handed out), heartbeat UPDATEs by a
statement-level trigger, so a test fails if group commit or coalescing stops happening, whatever
the client's own counters say. Bulk chunks travel by COPY in text format: every value must come
back exactly as an INSERT of the same row stores it (money at the column's extremes, negative
zero, times at the ends of the calendar, text with tabs, newlines and backslashes).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from asyncstore import DuplicateError, NotFoundError, Store, TradeRepository
from asyncstore.ids import new_id
from asyncstore.postgres.writes import copy_text
from tests.conftest import BOT_ID, trade_data
from tests.test_postgres_unavailable import admin_connection, stored_trade_ids

NEXT_XID = "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"


async def xids_used(url: str, before: int) -> int:
    """Transaction ids the server handed out since `before` (one per writing transaction)."""
    async with admin_connection(url) as admin:
        return int(await admin.fetchval(NEXT_XID)) - before


async def next_xid(url: str) -> int:
    async with admin_connection(url) as admin:
        return int(await admin.fetchval(NEXT_XID))


async def test_concurrent_creates_commit_in_few_transactions(pg_url: str) -> None:
    async with Store(pg_url) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        before = await next_xid(pg_url)
        trades = await asyncio.gather(*(repo.create_trade(trade_data()) for _ in range(300)))
        used = await xids_used(pg_url, before)
        assert store.write_stats.largest_batch > 1
    assert await stored_trade_ids(pg_url) == {trade.id for trade in trades}
    # One transaction per call would take 300 ids; group commit takes one per batch.
    assert used < 100, f"{used} transactions for 300 concurrent creates"


COUNT_HEARTBEAT_STATEMENTS = """
CREATE TABLE heartbeat_statements (n integer NOT NULL);
INSERT INTO heartbeat_statements VALUES (0);
CREATE FUNCTION count_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE heartbeat_statements SET n = n + 1; RETURN NULL; END $$;
CREATE TRIGGER count_updates AFTER UPDATE ON bot_instances
FOR EACH STATEMENT EXECUTE FUNCTION count_statement();
"""


async def test_heartbeats_of_a_batch_are_one_update_on_the_server(pg_url: str) -> None:
    bots = [f"beat_{n}" for n in range(20)]
    async with Store(pg_url) as store:
        repo = TradeRepository(store)
        for bot_id in bots:
            await repo.create_bot_instance({"id": bot_id, "type": "paper"})
        async with admin_connection(pg_url) as admin:
            await admin.execute(COUNT_HEARTBEAT_STATEMENTS)
            beats = await asyncio.gather(
                *(repo.heartbeat(bot_id) for bot_id in bots for _ in range(5)),
                repo.heartbeat("no_such_bot"),
                return_exceptions=True,
            )
            statements = await admin.fetchval("SELECT n FROM heartbeat_statements")
            stamped = await admin.fetchval(
                "SELECT count(*) FROM bot_instances WHERE last_heartbeat IS NOT NULL"
            )
        stats = store.write_stats
    assert all(isinstance(beat, datetime) for beat in beats[:100])
    assert isinstance(beats[100], NotFoundError)
    assert stamped == len(bots)
    # 101 heartbeats: one UPDATE per batch, never one per call.
    assert statements == stats.heartbeat_statements
    assert statements < 20, f"{statements} UPDATE statements for 101 heartbeats"


async def test_one_bad_write_in_a_batch_fails_alone(pg_url: str) -> None:
    async with Store(pg_url) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        taken = await repo.create_trade(trade_data())
        calls = [repo.create_trade(trade_data()) for _ in range(40)]
        calls.insert(20, repo.create_trade(trade_data(id=taken.id)))  # a duplicate id
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        stats = store.write_stats
    failed = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert len(failed) == 1 and isinstance(failed[0], DuplicateError)
    written = {outcome.id for outcome in outcomes if not isinstance(outcome, BaseException)}
    assert await stored_trade_ids(pg_url) == written | {taken.id}
    assert stats.retried_operations > 0  # the batch ran again, one operation at a time


# Values at the edges of what the columns hold, and text COPY must escape.
EDGE_ROWS: list[dict[str, Any]] = [
    {
        "entry_price": Decimal("999999999999.99999999"),
        "size": Decimal("0.00000001"),
        "net_pnl": Decimal("-999999999999.99999999"),
        "gross_pnl": Decimal("-0.00000000"),  # negative zero
        "commission": Decimal("0"),
        "pnl_percentage": Decimal("-999999.9999"),
        "entry_time": datetime(1, 1, 1, tzinfo=UTC),
        "exit_time": datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        "strategy_name": "tab\there, new\nline, back\\slash, \\N, \r",
        "exit_reason": "ünïcödé ✓ 🚀",
        "extra_metadata": {"quote": 'a"b', "slash": "c\\d", "lines": "e\nf\tg", "n": None},
        "status": "closed",
        "exit_price": Decimal("0.00000001"),
    },
    {"strategy_name": None, "extra_metadata": None, "entry_price": Decimal("1E-8")},
    {"strategy_name": "x", "extra_metadata": {}, "exit_reason": "\\"},
]


async def test_bulk_by_copy_stores_exactly_what_an_insert_stores(pg_url: str) -> None:
    async with Store(pg_url) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        copied_ids = [new_id() for _ in EDGE_ROWS]
        inserted_ids = [new_id() for _ in EDGE_ROWS]
        # Two rows at least, so the chunk goes by COPY; the same values by single INSERTs.
        assert await repo.bulk_create_trades(
            [trade_data(id=i, **row) for i, row in zip(copied_ids, EDGE_ROWS, strict=True)]
        ) == len(EDGE_ROWS)
        for i, row in zip(inserted_ids, EDGE_ROWS, strict=True):
            await repo.create_trade(trade_data(id=i, **row))
        for copied, inserted in zip(copied_ids, inserted_ids, strict=True):
            by_copy = await repo.get_trade_by_id(copied)
            by_insert = await repo.get_trade_by_id(inserted)
            assert by_copy is not None and by_insert is not None
            skip = {"id", "created_at", "updated_at", "entry_time"}
            assert by_copy.model_dump(exclude=skip) == by_insert.model_dump(exclude=skip)
        edge = await repo.get_trade_by_id(copied_ids[0])
    assert edge is not None
    assert edge.entry_price == Decimal("999999999999.99999999")
    assert edge.net_pnl == Decimal("-999999999999.99999999")
    assert edge.gross_pnl == 0
    assert edge.exit_time == datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert edge.strategy_name == EDGE_ROWS[0]["strategy_name"]
    assert edge.extra_metadata == EDGE_ROWS[0]["extra_metadata"]


async def test_bulk_ignore_skips_taken_ids_through_the_staging_table(pg_url: str) -> None:
    async with Store(pg_url) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        ids = [new_id() for _ in range(500)]
        assert await repo.bulk_create_trades([trade_data(id=i) for i in ids[::2]]) == 250
        rows = [trade_data(id=i, symbol="ETHUSDT") for i in ids]
        assert await repo.bulk_create_trades(rows, on_conflict="ignore") == 250
        assert await repo.bulk_create_trades(rows, on_conflict="ignore") == 0  # staging reused
        with pytest.raises(DuplicateError):
            await repo.bulk_create_trades(rows[:10])
        taken = {t.id for t in await repo.get_open_trades(symbol="BTCUSDT")}
    assert taken == set(ids[::2])  # the first rows kept theirs: ignored, not overwritten
    assert await stored_trade_ids(pg_url) == set(ids)


@pytest.mark.parametrize(
    ("row", "line"),
    [
        (("a", None, "b"), "a\t\\N\tb\n"),
        (("a\tb", "c\nd", "e\\f"), "a\\tb\tc\\nd\te\\\\f\n"),
        (("\\N", None, "\r"), "\\\\N\t\\N\t\\r\n"),
        ((1, None, "x"), "1\t\\N\tx\n"),
    ],
)
def test_copy_text_escapes_what_copy_would_misread(row: tuple[Any, ...], line: str) -> None:
    assert copy_text([row]) == line.encode()
