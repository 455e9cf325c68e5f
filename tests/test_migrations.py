"""Schema revisions: empty → head, older only when asked, newer refused, failed upgrade restored."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from alembic import command

from asyncstore import (
    DatabaseInUseError,
    MigrationError,
    SchemaVersionError,
    Store,
    TradeRepository,
)
from asyncstore.config import load_settings, sqlite_url
from asyncstore.schema.numeric_views import NUMERIC_VIEWS
from asyncstore.schema.revisions import alembic_config, head_revision
from asyncstore.sqlite.schema import upgrade_database
from tests.conftest import open_store_with_bot, trade_data

HEAD = head_revision()
# SQLite files, backups and locks; the PostgreSQL revisions have their own test at the end.
pytestmark = pytest.mark.sqlite_only

MIGRATIONS = Path(__file__).parent.parent / "asyncstore" / "schema" / "migrations"


def _query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


async def _alembic(action: Callable[..., None], path: Path, revision: str) -> None:
    # Alembic's env.py runs its own event loop: on a worker thread, as asyncstore runs it.
    await asyncio.to_thread(action, alembic_config(sqlite_url(path)), revision)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _revision(path: Path) -> str:
    ((revision,),) = _query(path, "SELECT version_num FROM alembic_version")
    return str(revision)


def _indexes(path: Path) -> set[str]:
    return {row[0] for row in _query(path, "SELECT name FROM sqlite_master WHERE type='index'")}


def _views(path: Path) -> set[str]:
    return {row[0] for row in _query(path, "SELECT name FROM sqlite_master WHERE type='view'")}


def _schema(path: Path) -> dict[str, Any]:
    """Everything SQLite knows of the tables and views: columns, indexes, foreign keys, CREATE
    texts."""
    described: dict[str, Any] = {}
    with closing(sqlite3.connect(path)) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name != 'alembic_version'"
            )
        ]
        for table in sorted(tables):
            indexes = {}
            for _, name, unique, origin, partial in conn.execute(f"PRAGMA index_list({table})"):
                columns = [row[2] for row in conn.execute(f"PRAGMA index_xinfo({name})")]
                indexes[name] = (unique, origin, partial, columns)
            described[table] = {
                "columns": conn.execute(f"PRAGMA table_info({table})").fetchall(),
                "indexes": indexes,
                "foreign_keys": conn.execute(f"PRAGMA foreign_key_list({table})").fetchall(),
            }
        # New files are compactable online (auto_vacuum INCREMENTAL), however they were built.
        described["auto_vacuum"] = conn.execute("PRAGMA auto_vacuum").fetchone()
        described["sql"] = sorted(
            " ".join(str(sql).split())
            for (sql,) in conn.execute(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name != 'alembic_version'"
            )
        )
    return described


async def _database_with_trades(db_url: str, count: int = 5) -> list[Any]:
    store, repo = await open_store_with_bot(db_url)
    try:
        trades = [await repo.create_trade(trade_data(entry_price=f"100.{i}")) for i in range(count)]
    finally:
        await store.close()
    return trades


async def _all_trades(db_url: str, **options: Any) -> list[Any]:
    async with Store(db_url, **options) as store:
        return await TradeRepository(store).get_open_trades()


def test_head_is_the_newest_packaged_revision() -> None:
    assert head_revision() == "0005"


async def test_an_empty_database_is_created_at_head(db_url: str, db_path: Path) -> None:
    async with Store(db_url) as store:
        assert store.schema is not None and store.schema.status == "current"
    assert _revision(db_path) == HEAD
    assert {"ix_trades_retention", "ix_performance_metrics_retention"} <= _indexes(db_path)


async def test_migrations_build_exactly_the_models_schema(
    db_url: str, db_path: Path, tmp_path: Path
) -> None:
    # One path runs every revision from nothing; the other creates the models' tables and stamps
    # head (what Store does for an empty file). Both must give the same database.
    migrated = tmp_path / "migrated.db"
    await _alembic(command.upgrade, migrated, "head")
    async with Store(db_url):
        pass
    assert _schema(migrated) == _schema(db_path)
    assert _revision(migrated) == _revision(db_path) == HEAD


async def test_an_older_database_is_refused_unless_asked_then_upgraded_with_data(
    db_url: str, db_path: Path
) -> None:
    trades = await _database_with_trades(db_url)
    await _alembic(command.downgrade, db_path, "0001")
    assert _revision(db_path) == "0001"
    assert "ix_trades_retention" not in _indexes(db_path)

    with pytest.raises(SchemaVersionError, match=f"0001.*{HEAD}.*asyncstore upgrade"):
        await Store(db_url).start()
    assert _revision(db_path) == "0001"  # refused means untouched

    assert await _all_trades(db_url, upgrade_schema=True) == trades
    assert _revision(db_path) == HEAD
    assert "ix_trades_retention" in _indexes(db_path)
    (backup,) = (db_path.parent / "backups").glob(f"trading.db-*-before-upgrade-0001-to-{HEAD}.db")
    assert _revision(backup) == "0001"
    assert _query(backup, "SELECT count(*) FROM trades") == [(len(trades),)]
    assert _query(backup, "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.parametrize("start", ["0001", "0002"])
async def test_a_database_upgraded_from_an_older_revision_equals_a_new_one_views_included(
    db_url: str, db_path: Path, tmp_path: Path, start: str
) -> None:
    trades = await _database_with_trades(db_url)
    await _alembic(command.downgrade, db_path, start)
    assert not _views(db_path)
    await asyncio.to_thread(upgrade_database, db_path, load_settings(db_url, {}))
    fresh = tmp_path / "fresh.db"
    async with Store(sqlite_url(fresh)):
        pass
    assert _views(db_path) == _views(fresh) == set(NUMERIC_VIEWS)
    assert _schema(db_path) == _schema(fresh)
    assert _query(db_path, "SELECT count(*) FROM trades_numeric") == [(len(trades),)]


async def test_unversioned_tables_of_asyncstore_0_1_are_adopted_as_0001(
    db_url: str, db_path: Path
) -> None:
    trades = await _database_with_trades(db_url)
    await _alembic(command.downgrade, db_path, "0001")
    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute("DROP TABLE alembic_version")  # what 0.1's create_tables() left
    with pytest.raises(SchemaVersionError, match="unversioned"):
        await Store(db_url).start()
    report = await asyncio.to_thread(upgrade_database, db_path, load_settings(db_url, {}))
    assert report.before.unversioned and report.after == HEAD
    assert await _all_trades(db_url) == trades


async def test_a_newer_database_is_refused_naming_both_revisions(
    db_url: str, db_path: Path
) -> None:
    await _database_with_trades(db_url)
    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'f00d9999'")
        conn.commit()
    before = _digest(db_path)
    for options in ({}, {"upgrade_schema": True}):
        with pytest.raises(SchemaVersionError, match=f"f00d9999.*{HEAD}.*newer asyncstore"):
            await Store(db_url, **options).start()
    with pytest.raises(SchemaVersionError, match="f00d9999"):
        await asyncio.to_thread(upgrade_database, db_path, load_settings(db_url, {}))
    assert _digest(db_path) == before


FAILING_REVISION = '''
"""A revision that does part of its work and then fails."""
import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("half_done", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("DELETE FROM trades")
    op.execute("SELECT no_such_function()")


def downgrade() -> None:
    pass
'''


async def test_a_failing_upgrade_restores_the_backup(
    db_url: str, db_path: Path, tmp_path: Path
) -> None:
    trades = await _database_with_trades(db_url)
    await _alembic(command.downgrade, db_path, "0001")
    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "9999_fails.py").write_text(FAILING_REVISION.format(head=HEAD))

    with pytest.raises(MigrationError, match="(?s)0001 to 9999 failed.*restored from the backup"):
        await asyncio.to_thread(
            upgrade_database, db_path, load_settings(db_url, {}), script_location=str(scripts)
        )

    # The packaged revisions had committed before 9999 failed: only the restore brings the file
    # back to 0001.
    assert _revision(db_path) == "0001"
    assert "ix_trades_retention" not in _indexes(db_path)
    assert "half_done" not in {row[0] for row in _query(db_path, "SELECT name FROM sqlite_master")}
    assert _query(db_path, "PRAGMA integrity_check") == [("ok",)]
    assert await _all_trades(db_url, upgrade_schema=True) == trades


async def test_upgrade_is_refused_while_another_store_has_the_database_open(
    db_url: str, db_path: Path
) -> None:
    await _database_with_trades(db_url)
    async with Store(db_url):
        await _alembic(command.downgrade, db_path, "0001")
        with pytest.raises(DatabaseInUseError, match="upgrade"):
            await asyncio.to_thread(upgrade_database, db_path, load_settings(db_url, {}))
        with pytest.raises(DatabaseInUseError):
            await Store(db_url, upgrade_schema=True).start()
    assert _revision(db_path) == "0001"
    assert not (db_path.parent / "backups").exists()  # refused before anything was done


async def test_backups_are_pruned_to_the_retention_count(db_url: str, db_path: Path) -> None:
    await _database_with_trades(db_url, count=1)
    folder = db_path.parent / "backups"
    folder.mkdir()
    # Files that are not this database's automatic backups are never pruned, however old.
    strangers = [
        folder / "trading.db-20000101T000000000000Z-manual.db.keep",
        folder / "trading-eu.db-20000101T000000000000Z-manual.db",
        folder / "my-own-copy.db",
    ]
    for stranger in strangers:
        stranger.write_bytes(b"x")
    settings = load_settings(db_url, {"backup_keep": 2})
    taken = []
    for _ in range(3):
        await _alembic(command.downgrade, db_path, "0001")
        report = await asyncio.to_thread(upgrade_database, db_path, settings)
        assert report.backup is not None and report.backup.path.exists()
        taken.append(report.backup.path)
    assert sorted(folder.glob("trading.db-*.db")) == taken[-2:]
    assert all(stranger.exists() for stranger in strangers)


async def test_upgrade_with_nothing_to_do_runs_beside_open_stores(
    db_url: str, db_path: Path
) -> None:
    await _database_with_trades(db_url, count=1)
    async with Store(db_url):
        report = await asyncio.to_thread(upgrade_database, db_path, load_settings(db_url, {}))
    assert report.backup is None and report.after == HEAD


async def test_a_symlink_to_an_open_database_shares_its_lock(
    db_url: str, db_path: Path, tmp_path: Path
) -> None:
    await _database_with_trades(db_url, count=1)
    link = tmp_path / "link.db"
    link.symlink_to(db_path)
    async with Store(db_url):
        await _alembic(command.downgrade, db_path, "0001")
        with pytest.raises(DatabaseInUseError):
            await asyncio.to_thread(
                upgrade_database, link, load_settings(f"sqlite+aiosqlite:///{link}", {})
            )


async def test_the_revisions_run_up_and_down_on_postgresql(pg_url: str) -> None:
    import asyncpg

    plain_url = pg_url.replace("+asyncpg", "")
    await asyncio.to_thread(command.upgrade, alembic_config(pg_url), "head")
    conn = await asyncpg.connect(plain_url)
    try:
        assert await conn.fetchval("SELECT version_num FROM alembic_version") == HEAD
        types = dict(
            await conn.fetch(
                "SELECT column_name, format_type(atttypid, atttypmod) FROM "
                "information_schema.columns JOIN pg_attribute ON attname = column_name "
                "AND attrelid = 'trades'::regclass WHERE table_name = 'trades'"
            )
        )
        assert types["entry_price"] == "numeric(20,8)"
        assert types["pnl_percentage"] == "numeric(10,4)"
        assert types["exit_time"] == "timestamp with time zone"
        assert types["extra_metadata"] == "json"
        indexes = {r[0] for r in await conn.fetch("SELECT indexname FROM pg_indexes")}
        assert {"idx_symbol_status", "ix_trades_open_by_bot", "ix_trades_retention"} <= indexes
        views = "SELECT table_name FROM information_schema.views WHERE table_schema = 'public'"
        assert {r[0] for r in await conn.fetch(views)} == set(NUMERIC_VIEWS)
        await asyncio.to_thread(command.downgrade, alembic_config(pg_url), "base")
        tables = {r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables")}
        assert not tables & {"trades", "bot_instances", "performance_metrics"}
        assert not await conn.fetch(views)
        await asyncio.to_thread(command.upgrade, alembic_config(pg_url), "head")
        assert await conn.fetchval("SELECT version_num FROM alembic_version") == HEAD
    finally:
        await conn.close()
