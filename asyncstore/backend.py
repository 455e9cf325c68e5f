"""The Backend protocol: what a Store needs from a database, whichever it is.

A backend is chosen once, from the URL (`backend_for`), and answers everything that differs
between databases through this protocol, so nothing above it asks which one it runs on:
- `asyncstore.sqlite`: one writer with group commit (WriteQueue), read-only connection pool,
  a file lock, file backups;
- `asyncstore.postgres`: the same WriteQueue on a writer connection of its own, read-only
  asyncpg pools, read replicas, an advisory lock for schema changes.

Each backend executes write operations (`asyncstore.writes`) in one place, compiles the shared
SQLAlchemy statements for its own dialect, and translates its driver's errors into the
`asyncstore.errors` tree. `BackendAdmin` is the same split for operator commands that run
without an open Store (check, backup, restore, upgrade).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy.sql.expression import Executable

from asyncstore.config import StoreSettings, is_postgresql
from asyncstore.feed.hub import ChangeStream
from asyncstore.reports import (
    BackupInfo,
    CheckReport,
    CompactReport,
    HealthReport,
    RestoreReport,
    StorageReport,
    UpgradeReport,
    WriteStats,
)
from asyncstore.schema.revisions import SchemaState
from asyncstore.writes import WriteOp

__all__ = ["COMPACT_STEP_PAGES", "Backend", "BackendAdmin", "admin_for", "backend_for"]

ResultT = TypeVar("ResultT")
Row = tuple[Any, ...]

# Pages a SQLite compaction step frees in one write transaction (1 MiB of 4 KiB pages): small
# enough that a bot waiting behind a step waits a few ms.
COMPACT_STEP_PAGES = 256


class Backend(Protocol):
    """One database under one Store. Methods are called only between start() and close()."""

    name: str  # "sqlite" or "postgresql"
    shown_url: str  # the URL for messages: never the password

    @property
    def path(self) -> Path | None:
        """The database file; None for a server."""
        ...

    @property
    def stats(self) -> WriteStats:
        """Write counters, counted where they happen."""
        ...

    async def start(self) -> SchemaState:
        """Connect, check (or build) the schema, and start serving; clean up if it fails."""
        ...

    async def close(self) -> None:
        """Commit every accepted write, then release every connection. Idempotent."""
        ...

    async def submit(self, op: WriteOp[ResultT]) -> ResultT:
        """Run one write operation; return its result once it is committed."""
        ...

    async def fetch(
        self,
        statement: Executable | str,
        params: Mapping[str, Any] | Sequence[Any] = (),
        *,
        primary: bool = False,
    ) -> list[Row]:
        """Every row of one read-only query. A SQLAlchemy statement binds `params` by name; a
        SQL string binds them by position (`?`). `primary`: never a replica."""
        ...

    def fetch_chunks(
        self,
        statement: Executable | str,
        params: Mapping[str, Any] | Sequence[Any] = (),
        *,
        rows_per_chunk: int,
        primary: bool = False,
    ) -> AsyncGenerator[list[Row], None]:
        """The rows of one read-only query, `rows_per_chunk` at a time, from one snapshot (one
        connection is held until the iterator ends or is closed). Binds as `fetch`."""
        ...

    def changes(self) -> ChangeStream:
        """A new subscription to the change feed: this Store's commits, and (once ready) other
        processes' (SQLite: data_version and the change log; PostgreSQL: LISTEN)."""
        ...

    async def create_tables(self) -> None:
        """Make sure the head schema exists (start() already did for an empty database)."""
        ...

    async def health(self) -> HealthReport: ...

    async def storage(self) -> StorageReport: ...

    async def compact(self, *, step_pages: int) -> CompactReport:
        """Give free space back while bots keep writing, and report it measured (SQLite: short
        steps through the writer, then a checkpoint; PostgreSQL: plain VACUUM). What would need
        the database to itself is refused with DatabaseInUseError."""
        ...

    async def reclaim_deleted(self, tables: Sequence[str]) -> list[str]:
        """Right after rows were deleted from `tables` (asyncstore's own), make their room
        reusable now rather than whenever the server gets to it; the tables it worked on.
        PostgreSQL: VACUUM (ANALYZE, SKIP_LOCKED, TRUNCATE false) of each, which never blocks
        or waits (a table another VACUUM holds is skipped and left out of the result; with
        autovacuum off or behind, dead rows would pile up and every write and read slow down).
        SQLite: nothing to do; the next writes reuse freed pages by themselves."""
        ...

    @property
    def queue_depth(self) -> int:
        """Writes accepted and not yet taken (0 where writes do not queue)."""
        ...

    def translate_error(self, exc: BaseException, subject: str) -> BaseException:
        """The driver's exception as an asyncstore error (unknown ones unchanged)."""
        ...


class BackendAdmin(Protocol):
    """Operator commands on a database, run without a Store (the CLI's admin verbs)."""

    location: str  # the file, or the URL without password

    def require_database(self) -> None:
        """Refuse (ConfigurationError) when there is no database yet: admin commands other
        than init never create one by accident."""
        ...

    async def schema_state(self) -> SchemaState: ...

    async def upgrade(self) -> UpgradeReport: ...

    async def check(self) -> CheckReport: ...

    async def backup(self, destination: Path | None = None) -> BackupInfo: ...

    async def restore(self, backup: Path) -> RestoreReport: ...

    async def tenants(self) -> dict[str, int]:
        """Every tenant of this database (`asyncstore.tenants`) with the bytes it takes (SQLite:
        its file and WAL; PostgreSQL: its schema's tables), by name."""
        ...

    async def compact_offline_if_needed(self) -> CompactReport | None:
        """The compaction that needs the database to itself, if this database needs one (SQLite
        created with auto_vacuum NONE: a one-time full VACUUM; DatabaseInUseError while any
        Store has it open), reported; None when `Backend.compact` can do it online."""
        ...


def backend_for(settings: StoreSettings) -> Backend:
    """The backend the URL names (nothing is opened yet)."""
    if is_postgresql(settings.database_url):
        from asyncstore.postgres import PostgresBackend

        return PostgresBackend(settings)
    from asyncstore.sqlite import SQLiteBackend

    return SQLiteBackend(settings)


def admin_for(settings: StoreSettings) -> BackendAdmin:
    """The admin commands of the database the URL names."""
    if is_postgresql(settings.database_url):
        from asyncstore.postgres import PostgresAdmin

        return PostgresAdmin(settings)
    from asyncstore.sqlite import SQLiteAdmin

    return SQLiteAdmin(settings)
