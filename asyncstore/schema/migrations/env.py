"""Alembic environment: async engines (aiosqlite, asyncpg), batch mode for SQLite.

asyncstore runs migrations itself (`asyncstore.sqlite.schema`, `asyncstore.postgres.schema`): it
hands the database URL in `config.attributes["url"]` and calls Alembic on a worker thread, never
on a bot's event loop.
The `alembic` command works too (`[tool.alembic]` in pyproject.toml; URL from
ASYNCSTORE_DATABASE_URL).

Each revision runs in its own transaction. On SQLite the driver's implicit transactions are
turned off and every transaction is an explicit BEGIN IMMEDIATE, so a revision's DDL is atomic:
a failing revision leaves nothing of itself behind.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from alembic import context
from sqlalchemy import event, pool
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import create_async_engine

from asyncstore.config import DEFAULT_DATABASE_URL
from asyncstore.postgres.tenants import quote_identifier
from asyncstore.schema.tables import Base

config = context.config


def _database_url() -> str:
    url = config.attributes.get("url") or os.environ.get("ASYNCSTORE_DATABASE_URL")
    return str(url) if url else DEFAULT_DATABASE_URL


def _transactional_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        # A new file gets the mode asyncstore creates databases with (compactable while bots
        # write: asyncstore.sqlite.compaction); a file with tables keeps its own.
        dbapi_connection.execute("PRAGMA auto_vacuum = INCREMENTAL")

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _tenant_schema() -> str | None:
    """A PostgreSQL tenant's schema (asyncstore.postgres.tenants): None for the default one."""
    schema = config.attributes.get("schema")
    return str(schema) if schema else None


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        version_table_schema=_tenant_schema(),
        target_metadata=Base.metadata,
        render_as_batch=True,
        # SQLite reports DECIMAL_TEXT(20,8) back as TEXT(20, 8), which autogenerate cannot
        # compare with ExactDecimal: type changes are written by hand in a revision.
        compare_type=False,
        transaction_per_migration=True,
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    schema = _tenant_schema()
    connect_args: dict[str, Any] = {}
    if schema is not None:
        # Unqualified names (every revision's) resolve in the tenant's schema, and only there.
        connect_args["server_settings"] = {"search_path": quote_identifier(schema)}
    engine = create_async_engine(url, poolclass=pool.NullPool, connect_args=connect_args)
    if engine.dialect.name == "sqlite":
        _transactional_sqlite(engine.sync_engine)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=_database_url(),
        target_metadata=Base.metadata,
        render_as_batch=True,
        literal_binds=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async(_database_url()))
