"""The admin operations on a PostgreSQL database (the SQLite ones are in admin.py).

Backups of a server are pg_dump's job: it takes a consistent online snapshot, and pg_restore
puts it back. asyncstore does not copy a server's files or pretend to; `asyncstore backup` and
`restore` say so, with the commands to use.
"""

from __future__ import annotations

from asyncstore.admin import CheckReport
from asyncstore.config import StoreSettings
from asyncstore.errors import ConfigurationError
from asyncstore.postgres import PostgresBackend, asyncpg_dsn, connect_once, redacted
from asyncstore.schema_migrations import SchemaState, UpgradeReport
from asyncstore.store import Store

__all__ = ["backup_advice", "check_postgres", "postgres_schema_state", "upgrade_postgres"]


def backup_advice(settings: StoreSettings) -> ConfigurationError:
    dsn = redacted(asyncpg_dsn(settings.database_url))
    return ConfigurationError(
        "on PostgreSQL, back up with pg_dump (online and consistent): "
        f"`pg_dump --format=custom --file=trading.dump '{dsn}'`, and restore with "
        f"`pg_restore --clean --if-exists --dbname='{dsn}' trading.dump`; asyncstore does not "
        "copy a server's files"
    )


async def postgres_schema_state(settings: StoreSettings) -> SchemaState:
    """The database's schema revision against this version's head, without changing it."""
    conn = await connect_once(asyncpg_dsn(settings.database_url))
    try:
        return await PostgresBackend.schema_state(conn)
    finally:
        await conn.close()


async def upgrade_postgres(settings: StoreSettings) -> UpgradeReport:
    """Bring the schema to head (under the Store's advisory lock). Take a pg_dump first: a
    revision runs in one transaction, so a failing one leaves nothing of itself, but there is
    no automatic backup on a server."""
    before = await postgres_schema_state(settings)
    options = {**settings.model_dump(), "upgrade_schema": True}
    async with Store(**options) as store:
        after = store.schema
    return UpgradeReport(before, after.current if after and after.current else before.head, None)


async def check_postgres(settings: StoreSettings) -> CheckReport:
    """The schema revision. The server enforces foreign keys at every write and checksums its
    own pages (`pg_amcheck` checks them in depth), so there is no file to scan here."""
    state = await postgres_schema_state(settings)
    return CheckReport(settings.database_url, [], [], state, "postgresql")
