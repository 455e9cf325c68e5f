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
from asyncstore.schema.revisions import (
    SchemaState,
    alembic_config,
    run_alembic,
    schema_refusal,
    schema_state_of,
)
from asyncstore.threads import in_thread_to_the_end

__all__ = ["SCHEMA_LOCK_KEY", "prepare_schema", "read_schema_state"]

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


async def prepare_schema(conn: Any, settings: StoreSettings) -> SchemaState:
    """Empty → head (by the revisions); older only when asked; newer refused."""
    await conn.execute("SELECT pg_advisory_lock($1)", SCHEMA_LOCK_KEY)
    try:
        state = await read_schema_state(conn)
        if state.status == "empty" or (state.status == "behind" and settings.upgrade_schema):
            config = alembic_config(settings.database_url)
            # A cancelled start keeps the advisory lock until the migration has ended.
            await in_thread_to_the_end(run_alembic, command.upgrade, config, "head")
            state = await read_schema_state(conn)
        elif state.status != "current":
            raise schema_refusal(state, redacted(settings.database_url))
        return state
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", SCHEMA_LOCK_KEY)
