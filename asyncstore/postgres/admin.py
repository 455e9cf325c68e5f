"""Operator commands on a PostgreSQL database (the SQLite ones are in asyncstore.sqlite.admin).

Backups of a server are pg_dump's job: it takes a consistent online snapshot, and pg_restore
puts it back. asyncstore does not copy a server's files or pretend to; `asyncstore backup` and
`restore` say so, with the commands to use.
"""

from __future__ import annotations

from pathlib import Path

from asyncstore.config import StoreSettings, redacted
from asyncstore.errors import ConfigurationError
from asyncstore.postgres.backend import PostgresBackend
from asyncstore.postgres.connection import asyncpg_dsn, connect_once
from asyncstore.postgres.schema import read_schema_state
from asyncstore.postgres.tenants import TenantSpace, list_tenants, quote_identifier
from asyncstore.reports import BackupInfo, CheckReport, CompactReport, RestoreReport, UpgradeReport
from asyncstore.schema.revisions import SchemaState

__all__ = ["PostgresAdmin"]


class PostgresAdmin:
    """The admin commands on the PostgreSQL database of `settings`."""

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self.location = redacted(settings.database_url)
        self._space = TenantSpace.of(settings.tenant) if settings.tenant else None
        base = asyncpg_dsn(settings.database_url)
        self._dsn = self._space.schema_dsn(base) if self._space else base

    def require_database(self) -> None:
        """A server database is created by its administrator; the Store builds the schema."""

    async def schema_state(self) -> SchemaState:
        """The database's schema revision against this version's head, without changing it."""
        conn = await connect_once(self._dsn)
        try:
            return await read_schema_state(conn)
        finally:
            await conn.close()

    async def upgrade(self) -> UpgradeReport:
        """Bring the schema to head (under the Store's advisory lock). Take a pg_dump first: a
        revision runs in one transaction, so a failing one leaves nothing of itself, but there
        is no automatic backup on a server."""
        before = await self.schema_state()
        backend = PostgresBackend(self.settings.model_copy(update={"upgrade_schema": True}))
        try:
            after = await backend.start()
        finally:
            await backend.close()
        return UpgradeReport(before, after.current or before.head, None)

    async def check(self) -> CheckReport:
        """The schema revision. The server enforces foreign keys at every write and checksums
        its own pages (`pg_amcheck` checks them in depth), so there is no file to scan here."""
        state = await self.schema_state()
        notes = [
            "integrity: kept by the server (for a deep page check: pg_amcheck)",
            "foreign keys: enforced by the server at every write",
        ]
        return CheckReport(self.location, [], [], state, "postgresql", notes)

    async def backup(self, destination: Path | None = None) -> BackupInfo:
        raise self._backup_advice()

    async def restore(self, backup: Path) -> RestoreReport:
        raise self._backup_advice()

    async def tenants(self) -> dict[str, int]:
        conn = await connect_once(asyncpg_dsn(self.settings.database_url))
        try:
            return await list_tenants(conn)
        finally:
            await conn.close()

    async def compact_offline_if_needed(self) -> CompactReport | None:
        """Never: a plain VACUUM runs beside the bots (Store.compact)."""
        return None

    def _backup_advice(self) -> ConfigurationError:
        # A tenant's backup is its schema (its role belongs to the server: pg_dumpall --roles-only).
        only = f"--schema='{quote_identifier(self._space.schema)}' " if self._space else ""
        libpq_url = redacted(asyncpg_dsn(self.settings.database_url))  # pg_dump's URL form
        return ConfigurationError(
            "on PostgreSQL, back up with pg_dump (online and consistent): "
            f"`pg_dump --format=custom {only}--file=trading.dump '{libpq_url}'`, and restore "
            f"with `pg_restore --clean --if-exists --dbname='{libpq_url}' trading.dump`; "
            "asyncstore does not copy a server's files"
        )
