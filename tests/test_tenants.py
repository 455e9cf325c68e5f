"""Tenants: each one's data kept apart by the database, on both backends.

SQLite keeps a tenant in a file of its own; PostgreSQL in a schema its own role alone may use
(asyncstore.postgres.tenants). Every test here tries to reach one tenant's rows from another's
Store — through the repositories, the change feed and raw SQL — and checks that nothing of the
other tenant is seen or changed.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from asyncstore import AsyncStoreError, NotFoundError, Store, TradeRepository
from asyncstore.config import backup_folder, load_settings
from asyncstore.writes import AtomicStatements
from tests.conftest import rows_in, trade_data
from tests.dashboard_support import dashboard_client

SHARED_BOT = "grid-bot-1"  # the same bot id in every tenant


async def _tenant_with_trades(
    url: str, tenant: str, *, balance: str, trades: int, **options: Any
) -> list[str]:
    """A tenant with SHARED_BOT and `trades` open trades; their ids."""
    async with Store(url, tenant=tenant, **options) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance(
            {"id": SHARED_BOT, "type": "paper", "current_balance": balance}
        )
        made = [
            await repo.create_trade(trade_data(bot_id=SHARED_BOT, symbol=f"{tenant.upper()}USDT"))
            for _ in range(trades)
        ]
        return [trade.id for trade in made]


async def _snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, as stored: what must not change under another tenant's calls."""
    tables = ("bot_instances", "trades", "performance_metrics", "bot_activity")
    return {
        table: sorted(await store.fetch_all(f"SELECT * FROM {table}"), key=repr) for table in tables
    }


async def test_the_same_bot_id_in_two_tenants_is_two_separate_bots(db_url: str) -> None:
    await _tenant_with_trades(db_url, "alice", balance="1000", trades=2)
    await _tenant_with_trades(db_url, "bob", balance="25", trades=3)
    for tenant, balance, trades in (("alice", "1000", 2), ("bob", "25", 3)):
        async with Store(db_url, tenant=tenant) as store:
            repo = TradeRepository(store)
            bot = await repo.get_bot_instance(SHARED_BOT)
            assert bot is not None and bot.current_balance == Decimal(balance)
            open_trades = await repo.get_open_trades(bot_id=SHARED_BOT)
            assert len(open_trades) == trades
            assert {t.symbol for t in open_trades} == {f"{tenant.upper()}USDT"}
    # The database's own data (no tenant) is a third, empty, world.
    async with Store(db_url) as own:
        assert await TradeRepository(own).get_bot_instance(SHARED_BOT) is None


async def test_a_tenant_reaches_no_other_tenant_s_rows_through_any_repository_method(
    db_url: str,
) -> None:
    alice_trades = await _tenant_with_trades(db_url, "alice", balance="1000", trades=3)
    await _tenant_with_trades(db_url, "bob", balance="50", trades=1)
    async with Store(db_url, tenant="alice") as alice_store:
        before = await _snapshot(alice_store)
    assert len(before["trades"]) == 3
    target = alice_trades[0]
    closing = {"exit_price": 51000, "exit_time": datetime.now(UTC), "commission": 1}
    async with Store(db_url, tenant="bob") as bob_store:
        bob = TradeRepository(bob_store)
        assert await bob.get_trade_by_id(target) is None
        assert target not in {t.id for t in await bob.get_trades(limit=1000)}
        assert target not in {t.id async for t in bob.iter_trades()}
        assert len(await bob.get_open_trades()) == 1
        assert (await bob.get_trade_summary()).total_trades == 1
        with pytest.raises(NotFoundError):
            await bob.update_trade(target, {"symbol": "STOLEN"})
        with pytest.raises(NotFoundError):
            await bob.close_trade(target, closing)
        with pytest.raises(NotFoundError):
            await bob.bulk_update_trades([(target, {"symbol": "STOLEN"})])
        with pytest.raises(NotFoundError):
            async with bob.atomic() as unit:
                unit.update_trade(target, {"symbol": "STOLEN"})
        # Bob's own bot of the same id moves; Alice's does not.
        await bob.update_bot_instance(SHARED_BOT, {"current_balance": "1"})
        # Retention in Bob's data deletes nothing of Alice's, however old hers would be.
        await bob.cleanup(0, metrics_days_to_keep=0)
        await bob.create_performance_metrics(
            {"bot_id": SHARED_BOT, "calculated_at": datetime.now(UTC), "total_trades": 7}
        )
    async with Store(db_url, tenant="alice") as alice_store:
        assert await _snapshot(alice_store) == before


async def test_raw_sql_through_a_tenant_counts_only_its_own_rows(db_url: str) -> None:
    await _tenant_with_trades(db_url, "alice", balance="1", trades=4)
    await _tenant_with_trades(db_url, "bob", balance="1", trades=2)
    async with Store(db_url, tenant="alice") as alice, Store(db_url, tenant="bob") as bob:
        assert await rows_in(alice) == 4 and await rows_in(bob) == 2
        # A write through raw SQL (Store.submit) stays in the writer's tenant too.
        await bob.submit(
            AtomicStatements([(text("DELETE FROM trades"), {})], subject="delete everything")
        )
        assert await rows_in(bob) == 0
        assert await rows_in(alice) == 4


async def test_a_tenant_s_change_feed_hears_only_its_own_commits(db_url: str) -> None:
    await _tenant_with_trades(db_url, "alice", balance="1", trades=0)
    await _tenant_with_trades(db_url, "bob", balance="1", trades=0)
    async with (
        Store(db_url, tenant="alice") as alice,
        Store(db_url, tenant="bob") as bob,
        Store(db_url, tenant="alice") as alice_elsewhere,  # another writer of Alice's
    ):
        seen: list[str | None] = []
        async with alice.changes() as feed:
            reading = asyncio.ensure_future(_symbols_of_trades(feed, seen, wanted=1))
            await TradeRepository(bob).create_trade(trade_data(bot_id=SHARED_BOT, symbol="BOBUSDT"))
            await TradeRepository(alice_elsewhere).create_trade(
                trade_data(bot_id=SHARED_BOT, symbol="ALICEUSDT")
            )
            await asyncio.wait_for(reading, timeout=30)
        (row_id,) = seen
        # The one trade change Alice's feed delivered is her own trade, never Bob's (which
        # committed first).
        assert await TradeRepository(alice).get_trade_by_id(str(row_id)) is not None
        assert await TradeRepository(bob).get_trade_by_id(str(row_id)) is None


async def _symbols_of_trades(feed: Any, seen: list[str | None], *, wanted: int) -> None:
    async for change in feed:
        if change.table == "trades":
            seen.append(change.row_id)
            if len(seen) == wanted:
                return


async def test_ten_tenants_of_twenty_bots_writing_at_once_keep_exact_counts(
    db_url: str, backend: str
) -> None:
    tenants = [f"tenant-{n}" for n in range(10)]
    bots, trades_per_bot = 20, 5
    # Each tenant's Store has pools of its own: small ones keep 10 Stores within the
    # server's connection limit.
    options = {"pg_pool_size": 2} if backend == "postgresql" else {}
    async with contextlib.AsyncExitStack() as stack:
        stores = [
            await stack.enter_async_context(Store(db_url, tenant=name, **options))
            for name in tenants
        ]

        async def bot(store: Store, number: int) -> None:
            repo = TradeRepository(store)
            bot_id = f"bot-{number}"  # the same bot ids in every tenant
            await repo.create_bot_instance({"id": bot_id, "type": "paper"})
            for _ in range(trades_per_bot + stores.index(store)):  # each tenant its own count
                await repo.create_trade(trade_data(bot_id=bot_id))
                await repo.heartbeat(bot_id)

        await asyncio.gather(*(bot(store, n) for store in stores for n in range(bots)))
        for index, store in enumerate(stores):
            per_bot = await store.fetch_all(
                "SELECT bot_id, count(*) FROM trades GROUP BY bot_id ORDER BY bot_id"
            )
            expected = trades_per_bot + index
            assert sorted(per_bot) == sorted((f"bot-{n}", expected) for n in range(bots))
            assert await rows_in(store, "bot_instances") == bots


async def test_a_tenant_store_needs_no_tenant_of_its_own_to_exist_first(
    db_url: str, backend: str
) -> None:
    """First use creates the tenant (SQLite: its folder and file; PostgreSQL: its schema and
    role); the second Store of the same tenant finds it as left."""
    async with Store(db_url, tenant="newcomer") as store:
        assert store.tenant == "newcomer"
        assert store.schema is not None and store.schema.status == "current"
        await TradeRepository(store).create_bot_instance({"id": "b", "type": "paper"})
        if backend == "sqlite":
            assert store.path is not None
            assert store.path.parts[-3:] == ("tenants", "newcomer", "trading.db")
    async with Store(db_url, tenant="newcomer") as again:
        assert await rows_in(again, "bot_instances") == 1


@pytest.mark.sqlite_only
async def test_a_sqlite_tenant_is_a_file_of_its_own_with_its_own_backups(
    db_url: str, db_path: Path
) -> None:
    await _tenant_with_trades(db_url, "alice", balance="1", trades=1)
    alice_file = db_path.parent / "tenants" / "alice" / "trading.db"
    # The database's own file is never created by a tenant.
    assert _existing(alice_file, db_path) == [alice_file]
    settings = load_settings(db_url, {"tenant": "alice"})
    assert backup_folder(settings) == alice_file.parent / "backups"
    with_folder = load_settings(db_url, {"tenant": "alice", "backup_dir": db_path.parent / "bk"})
    assert backup_folder(with_folder) == db_path.parent / "bk" / "alice"


def _existing(*paths: Path) -> list[Path]:
    return [path for path in paths if path.is_file()]


async def test_storage_reports_the_tenant_s_own_room(db_url: str) -> None:
    await _tenant_with_trades(db_url, "small", balance="1", trades=1)
    await _tenant_with_trades(db_url, "big", balance="1", trades=0)
    async with Store(db_url, tenant="big") as big:
        repo = TradeRepository(big)
        rows = [trade_data(bot_id=SHARED_BOT, entry_time=datetime.now(UTC)) for _ in range(3000)]
        await repo.bulk_create_trades(rows)
        big_bytes = await _room(big)
    async with Store(db_url, tenant="small") as small:
        small_bytes = await _room(small)
    assert big_bytes > small_bytes  # each measures its own data, not the whole database


async def _room(store: Store) -> int:
    report = await store.storage()
    return report.database_bytes + (report.log_bytes or 0)  # SQLite: new pages sit in the WAL


async def test_a_tenant_s_cleanup_reads_only_its_own_old_trades(db_url: str) -> None:
    old = datetime.now(UTC) - timedelta(days=90)
    for tenant in ("alice", "bob"):
        async with Store(db_url, tenant=tenant) as store:
            repo = TradeRepository(store)
            await repo.create_bot_instance({"id": SHARED_BOT, "type": "paper"})
            await repo.create_trade(trade_data(bot_id=SHARED_BOT, status="closed", exit_time=old))
    async with Store(db_url, tenant="alice") as alice:
        report = await TradeRepository(alice).cleanup(30)
        assert report.deleted["trades"] == 1
    async with Store(db_url, tenant="bob") as bob:
        assert await rows_in(bob) == 1


async def test_the_dashboard_of_a_tenant_shows_only_that_tenant(db_url: str) -> None:
    await _tenant_with_trades(db_url, "alice", balance="1000", trades=2)
    await _tenant_with_trades(db_url, "bob", balance="25", trades=7)
    async with Store(db_url, tenant="bob") as bob:
        await TradeRepository(bob).create_bot_instance({"id": "bob-only", "type": "paper"})
    async with dashboard_client(db_url, tenant="alice") as client:
        fleet = (await client.get("/api/fleet")).json()
        assert [bot["id"] for bot in fleet["bots"]] == [SHARED_BOT]
        assert fleet["totals"]["open_positions"] == 2
        page = (await client.get(f"/api/bots/{SHARED_BOT}/trades?status=open")).json()
        assert {t["symbol"] for t in page["trades"]} == {"ALICEUSDT"}
        assert (await client.get("/api/bots/bob-only")).status_code == 404


@pytest.mark.sqlite_only
async def test_a_sqlite_tenant_cannot_attach_another_tenant_s_file(
    db_url: str, db_path: Path
) -> None:
    await _tenant_with_trades(db_url, "alice", balance="1", trades=1)
    await _tenant_with_trades(db_url, "bob", balance="1", trades=2)
    bob_file = str(db_path.parent / "tenants" / "bob" / "trading.db")
    async with Store(db_url, tenant="alice") as alice:
        with pytest.raises(AsyncStoreError, match="attached"):  # "too many attached databases"
            await alice.fetch_all("ATTACH DATABASE ? AS other", [bob_file])
        attach = text("ATTACH DATABASE :path AS other")
        with pytest.raises(AsyncStoreError, match="attached"):
            await alice.submit(AtomicStatements([(attach, {"path": bob_file})], subject="attach"))
    async with Store(db_url, tenant="bob") as bob:
        assert await rows_in(bob) == 2
