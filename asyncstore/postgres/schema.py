"""Schema revisions of a PostgreSQL database: read under an advisory lock, built by Alembic.

One process at a time checks (and builds or upgrades) the schema, so a fleet of bots starting
together builds it once. There is no automatic backup on a server: take a pg_dump before an
upgrade (a revision runs in one transaction, so a failing one leaves nothing of itself).
"""

from __future__ import annotations

from typing import Any

from alembic import command

from asyncstore.config import StoreSettings, redacted
from asyncstore.errors import ConfigurationError
from asyncstore.postgres.connection import connect_once
from asyncstore.postgres.feed import CHANNEL
from asyncstore.postgres.tenants import TenantSpace, feed_channel, grant_space, provide_space
from asyncstore.schema.revisions import (
    SchemaState,
    alembic_config,
    run_alembic,
    schema_refusal,
    schema_state_of,
)
from asyncstore.threads import in_thread_to_the_end

__all__ = [
    "SCHEMA_LOCK_KEY",
    "check_schema",
    "prepare_schema",
    "read_schema_state",
    "require_current_schema",
]

# Any constant: the advisory lock that makes one process at a time check or build the schema.
SCHEMA_LOCK_KEY = 0x61737973746F7265


async def read_schema_state(conn: Any) -> SchemaState:
    """Where the connected database's schema stands against this code's head."""
    exists = await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL")
    current = await conn.fetchval("SELECT version_num FROM alembic_version") if exists else None
    return schema_state_of(current)


async def require_current_schema(conn: Any, where: str) -> SchemaState:
    """A read-only Store's check: the schema must be at head already (nothing is created)."""
    state = await read_schema_state(conn)
    if state.status == "empty":
        raise ConfigurationError(
            f"{where} has no asyncstore tables: a read-only Store never creates them"
        )
    if state.status != "current":
        raise schema_refusal(state, where)
    return state


async def prepare_schema(
    conn: Any, settings: StoreSettings, space: TenantSpace | None = None
) -> SchemaState:
    """Empty → head (by the revisions); older only when asked; newer refused. A tenant's
    `space` (its schema on the connection's search_path) gets its role and schema first, and
    its role's grants after the revisions made their tables."""
    # A tenant's schema has a lock of its own: tenants never wait for each other's upgrades.
    lock_key = space.lock_key if space is not None else SCHEMA_LOCK_KEY
    await conn.execute("SELECT pg_advisory_lock($1)", lock_key)
    try:
        regrant = space is not None and await provide_space(conn, space)
        state = await read_schema_state(conn)
        if state.status == "empty" or (state.status == "behind" and settings.upgrade_schema):
            schema = space.schema if space is not None else None
            config = alembic_config(settings.database_url, schema=schema)
            # A cancelled start keeps the advisory lock until the migration has ended.
            await in_thread_to_the_end(run_alembic, command.upgrade, config, "head")
            state = await read_schema_state(conn)
            regrant = space is not None
        elif state.status != "current":
            where = redacted(settings.database_url)
            raise schema_refusal(state, f"{where} (tenant {space.tenant})" if space else where)
        if regrant and space is not None:
            await grant_space(conn, space)
        return state
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", lock_key)


async def check_schema(
    dsn: str, settings: StoreSettings, space: TenantSpace | None, where: str
) -> tuple[SchemaState, str]:
    """A Store's start, on a connection of the URL's own user: the schema checked (read-only
    Store) or prepared (a tenant's role and schema too: its sessions need them), and the change
    feed's channel (a tenant's own)."""
    conn = await connect_once(dsn)
    try:
        if settings.read_only:  # never creates or upgrades the schema
            state = await require_current_schema(conn, where)
        elif await conn.fetchval("SELECT pg_is_in_recovery()"):
            raise ConfigurationError(
                f"{where} is a read-only standby: give the primary's URL as "
                "the database URL, and standbys as read_replica_urls"
            )
        else:
            state = await prepare_schema(conn, settings, space)
        return state, CHANNEL if space is None else await feed_channel(conn, space)
    finally:
        await conn.close()
