"""Store settings: keyword arguments, else `ASYNCSTORE_*` environment variables, else defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from asyncstore.errors import ConfigurationError
from asyncstore.tenants import tenant_file, validate_tenant

__all__ = [
    "DEFAULT_DATABASE_URL",
    "StoreSettings",
    "backup_folder",
    "is_postgresql",
    "load_settings",
    "redacted",
    "sqlite_file",
    "sqlite_path",
    "sqlite_url",
]

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///db/trading.db"
_SQLITE_DRIVERS = {"sqlite", "sqlite+aiosqlite"}


class StoreSettings(BaseSettings):
    """Every knob of a Store. Environment variables use the prefix ASYNCSTORE_ (upper case)."""

    model_config = SettingsConfigDict(env_prefix="ASYNCSTORE_", extra="forbid", frozen=True)

    database_url: str = DEFAULT_DATABASE_URL
    # Whose data this Store holds (asyncstore.tenants): SQLite, a file of the tenant's own
    # beside the configured one; PostgreSQL, a schema and a role of its own. None: the
    # database itself, as without tenants.
    tenant: str | None = None
    # "normal": a crash of the process loses nothing acknowledged; "full": nor does power loss.
    durability: Literal["normal", "full"] = "normal"
    # How long a write waits for another *process* holding the SQLite file's write lock.
    busy_timeout_ms: int = Field(default=10_000, ge=0)
    journal_size_limit_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    read_pool_size: int = Field(default=4, ge=1, le=64)
    # Producers wait (backpressure) once this many writes are queued.
    write_queue_size: int = Field(default=10_000, ge=1)
    # Most separate calls committed in one transaction (group commit).
    max_batch_ops: int = Field(default=1_000, ge=1)
    # Bulk inserts are cut into chunks of this many rows, so small writes slip in between.
    bulk_chunk_rows: int = Field(default=200, ge=1)
    # Bot activity (heartbeats and balance per minute, table bot_activity) keeps its minute
    # buckets this many days; a cleanup rolls older ones up into hourly buckets, which go with
    # the trades' retention (asyncstore.operations.activity_retention). 0: roll up every
    # complete hour.
    activity_minutes_days: int = Field(default=2, ge=0)
    # PostgreSQL: a cleanup that deleted rows ends with a VACUUM (ANALYZE) of those
    # tables (Store.reclaim_deleted), so their room is reused at once even where autovacuum
    # is off or behind. Off: leave it to autovacuum or an operator's schedule.
    vacuum_after_cleanup: bool = True
    # Round over-precise decimals half-even to the column's scale instead of refusing them.
    round_decimals: bool = False
    # The largest extra_metadata document accepted, in bytes of its JSON text: a bigger one is
    # an InvalidDataError naming the field (encoding it would hold the event loop, and every
    # read of the row would pay for it).
    max_metadata_bytes: int = Field(default=1024 * 1024, ge=1)
    # A Store that only reads (a dashboard, a report): no writer, no write lock, and it never
    # creates, upgrades or checkpoints the database; a write is a StoreClosedError. The
    # database must exist at the current schema. Reads and the change feed work as usual.
    read_only: bool = False
    # Upgrade an older database's schema at start (after a verified backup). Off by default:
    # a bot should not migrate a shared database by surprise; `asyncstore upgrade` does it.
    upgrade_schema: bool = False
    # Where automatic backups go (default: a `backups` folder beside the database file), and
    # how many of them are kept (the oldest beyond that are deleted).
    backup_dir: Path | None = None
    backup_keep: int = Field(default=10, ge=1)
    # Log every SQL statement (with its values) to the `asyncstore.sql` logger at INFO.
    echo: bool = False
    # PostgreSQL: most connections this Store opens at once (writes run concurrently there).
    pg_pool_size: int = Field(default=10, ge=1, le=1000)
    # PostgreSQL read replicas (postgresql+asyncpg URLs): reads go there, writes to the primary.
    read_replica_urls: list[str] = Field(default_factory=list)
    # After a caller's write, its reads use the primary this long (read-your-writes).
    replica_read_after_write_s: float = Field(default=5.0, ge=0)

    @field_validator("tenant")
    @classmethod
    def _tenant_name(cls, tenant: str | None) -> str | None:
        return None if tenant is None else validate_tenant(tenant)


def load_settings(url: str | None, overrides: dict[str, Any]) -> StoreSettings:
    """Settings for a Store; any invalid option becomes a ConfigurationError naming it."""
    values = dict(overrides)
    if url is not None:
        values["database_url"] = url
    try:
        settings = StoreSettings(**values)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"invalid Store option: {reasons}") from exc
    if is_postgresql(settings.database_url):
        driver = make_url(settings.database_url).drivername
        if driver != "postgresql+asyncpg":
            raise ConfigurationError(
                f"{driver}: use postgresql+asyncpg://user@host/database for PostgreSQL"
            )
    else:
        sqlite_file(settings)  # fail now, not at start()
    for replica in settings.read_replica_urls:
        if not is_postgresql(settings.database_url) or not replica.startswith("postgresql+asyncpg"):
            raise ConfigurationError(
                f"read_replica_urls: {replica!r}: replicas are postgresql+asyncpg:// URLs of a "
                "PostgreSQL primary's standbys"
            )
    return settings


def is_postgresql(database_url: str) -> bool:
    return database_url.startswith("postgresql")


def sqlite_url(path: Path) -> str:
    """The URL of the SQLite database file at `path`."""
    return f"sqlite+aiosqlite:///{path}"


def redacted(database_url: str) -> str:
    """The URL for messages and reports: never print a password."""
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return database_url  # not a URL at all: it holds no password we could parse out


def backup_folder(settings: StoreSettings) -> Path:
    """The folder automatic backups of this database go to."""
    if settings.backup_dir is not None:
        folder = settings.backup_dir.expanduser().absolute()
        # Each tenant's backups apart: `backup_keep` prunes one database's backups only.
        return folder / settings.tenant if settings.tenant else folder
    return sqlite_file(settings).parent / "backups"


def sqlite_file(settings: StoreSettings) -> Path:
    """The SQLite file of a Store with these settings: the tenant's own when it has one."""
    path = sqlite_path(settings.database_url)
    return tenant_file(path, settings.tenant) if settings.tenant else path


def sqlite_path(database_url: str) -> Path:
    """The database file a SQLite URL names (relative paths are relative to the current folder)."""
    try:
        url: URL = make_url(database_url)
    except ArgumentError as exc:
        hint = (
            ""
            if "://" in database_url
            else f"; for a SQLite file: sqlite+aiosqlite:///{database_url}"
        )
        raise ConfigurationError(f"not a database URL: {database_url!r}{hint}") from exc
    if url.drivername.startswith("postgresql"):
        if url.drivername != "postgresql+asyncpg":
            raise ConfigurationError(
                f"{url.drivername}: use postgresql+asyncpg://user@host/database for PostgreSQL"
            )
        raise ConfigurationError(f"{database_url!r} is a PostgreSQL URL; this needs a SQLite file")
    if url.drivername not in _SQLITE_DRIVERS:
        raise ConfigurationError(
            f"unsupported database URL scheme {url.drivername!r}; use sqlite+aiosqlite:///path.db"
        )
    if "?" in database_url:
        # make_url would read "a?b.db" as the file "a" with an option: refuse, don't guess.
        raise ConfigurationError(
            f"{database_url!r}: asyncstore takes no URL options (pass them as Store arguments); "
            "a '?' in a file name must be written %3F"
        )
    database = url.database or ""
    if database in {"", ":memory:"} or database.startswith("file::memory:"):
        raise ConfigurationError(
            "asyncstore needs a database file (readers and the writer use separate "
            "connections, which an in-memory database cannot share)"
        )
    return Path(database).expanduser().absolute()
