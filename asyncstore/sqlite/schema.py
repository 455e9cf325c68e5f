"""Schema revisions of a SQLite file: reading its revision, creating it, upgrading it safely.

The rules are those of `asyncstore.schema.revisions`. An upgrade holds the database's exclusive
lock (no Store open anywhere), takes a verified backup, runs the Alembic revisions (each in its
own transaction), checks the result, and restores the backup if anything failed, so a failed
upgrade never leaves a database half-way.

Everything here is blocking and runs on a worker thread (Store.start uses asyncio.to_thread).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from alembic import command

from asyncstore.config import StoreSettings, backup_folder, sqlite_url
from asyncstore.errors import ConfigurationError, MigrationError, SchemaVersionError
from asyncstore.reports import BackupInfo, UpgradeReport
from asyncstore.schema.activity import activity_trigger_statements
from asyncstore.schema.numeric_views import create_view_statements
from asyncstore.schema.revisions import (
    BASELINE_REVISION,
    PACKAGED_MIGRATIONS,
    SPEC_TABLES,
    SchemaState,
    alembic_config,
    head_revision,
    head_schema_ddl,
    revision_status,
    run_alembic,
    schema_refusal,
)
from asyncstore.sqlite.backup import (
    backup_database,
    integrity_problems,
    prune_backups,
    restore_database,
    timestamped_backup_path,
)
from asyncstore.sqlite.connections import read_only_connection
from asyncstore.sqlite.file_lock import DatabaseLock
from asyncstore.sqlite.statements import SQLITE, compiled

__all__ = ["prepare_schema", "read_schema_state", "upgrade_database"]

# The version table Alembic keeps, as it creates it (an empty database is built at head here).
VERSION_TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL, "
    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
)


def _connect(path: Path, settings: StoreSettings) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None, timeout=settings.busy_timeout_ms / 1000)


def read_schema_state(
    conn: sqlite3.Connection, script_location: str = PACKAGED_MIGRATIONS
) -> SchemaState:
    head = head_revision(script_location)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    versions = []
    if "alembic_version" in tables:
        versions = [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]
    if len(versions) > 1:
        raise SchemaVersionError(f"the database has several schema revisions {versions}")
    present = SPEC_TABLES & tables
    if not versions:
        if not present:
            return SchemaState(None, head, "empty")
        if present != SPEC_TABLES:
            raise SchemaVersionError(
                f"the database has some of asyncstore's tables ({', '.join(sorted(present))}) but "
                f"not {', '.join(sorted(SPEC_TABLES - present))}, and no schema revision: it is "
                "not a database asyncstore can open or upgrade"
            )
        return SchemaState(BASELINE_REVISION, head, revision_status(BASELINE_REVISION, head), True)
    return SchemaState(versions[0], head, revision_status(versions[0], head, script_location))


def _create_at_head(conn: sqlite3.Connection) -> SchemaState:
    """Build the head schema in one transaction (Alembic's "create_all, then stamp head").

    The file gets auto_vacuum INCREMENTAL, so `asyncstore compact` can free pages while bots
    write (asyncstore.sqlite.compaction). SQLite takes that mode only before the file's first
    page is written: before BEGIN IMMEDIATE (measured: set inside it, it stays NONE). A file
    given a header already (a journal mode set by another tool) gets it by a VACUUM, instant
    while the database is still empty."""
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        state = read_schema_state(conn)  # another process may have created it meanwhile
        if state.status == "empty":
            for ddl in head_schema_ddl():
                conn.execute(compiled(ddl).sql)
            for sql in create_view_statements(SQLITE):  # what revision 0003 creates
                conn.execute(sql)
            for sql in activity_trigger_statements(SQLITE.name):  # what revision 0005 creates
                conn.execute(sql)
            conn.execute(VERSION_TABLE_DDL)
            conn.execute("DELETE FROM alembic_version")
            conn.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (state.head,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if state.status == "empty" and conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
        conn.execute("VACUUM")  # the mode asked for above, applied
    return read_schema_state(conn)


def check_schema_read_only(path: Path, settings: StoreSettings) -> SchemaState:
    """What a read-only Store's start runs: the database must exist at the current schema
    (read through a read-only connection: nothing is created, upgraded or written)."""
    if not path.is_file():
        raise ConfigurationError(
            f"{path} does not exist: a read-only Store (read_only=True) never creates a "
            "database; start the bots (or `asyncstore init`) first"
        )
    with closing(read_only_connection(path, settings.busy_timeout_ms)) as conn:
        state = read_schema_state(conn)
    if state.status == "empty":
        raise ConfigurationError(
            f"{path} has no asyncstore tables: a read-only Store never creates them"
        )
    if state.status != "current" or state.unversioned:
        raise schema_refusal(state, path)
    return state


def prepare_schema(path: Path, settings: StoreSettings, lock: DatabaseLock) -> SchemaState:
    """What Store.start runs: create an empty database at head, refuse or upgrade an older one.

    `lock` is the Store's shared hold; an upgrade turns it exclusive for its duration.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(_connect(path, settings)) as conn:
        state = read_schema_state(conn)
        if state.status == "empty":
            return _create_at_head(conn)
    if state.status == "current":
        return state
    if state.status == "ahead" or not settings.upgrade_schema:
        raise schema_refusal(state, path)
    upgrade_database(path, settings, lock=lock)
    with closing(_connect(path, settings)) as conn:
        return read_schema_state(conn)


@contextmanager
def _exclusive(path: Path, lock: DatabaseLock | None) -> Iterator[None]:
    own_lock = lock is None
    held = lock if lock is not None else DatabaseLock(path)
    held.acquire_exclusive("upgrade its schema")
    try:
        yield
    finally:
        held.release() if own_lock else held.downgrade()


def _foreign_key_violations(path: Path, settings: StoreSettings) -> int:
    with closing(_connect(path, settings)) as conn:
        return len(conn.execute("PRAGMA foreign_key_check").fetchall())


def upgrade_database(
    path: Path,
    settings: StoreSettings,
    *,
    lock: DatabaseLock | None = None,
    script_location: str = PACKAGED_MIGRATIONS,
) -> UpgradeReport:
    """Back up, upgrade to head, verify; on any failure restore the backup and say so."""
    if not path.is_file():
        raise MigrationError(f"no database at {path} (`asyncstore init` creates one)")
    with closing(_connect(path, settings)) as conn:
        before = read_schema_state(conn, script_location)
    if before.status == "current":  # nothing to do: no lock needed, bots may be running
        return UpgradeReport(before, before.head, None)
    if before.status == "ahead":
        raise schema_refusal(before, path)
    with _exclusive(path, lock):
        with closing(_connect(path, settings)) as conn:
            before = read_schema_state(conn, script_location)  # again, now that it is ours
            if before.status in ("empty", "current"):
                _create_at_head(conn)
                return UpgradeReport(before, before.head, None)
        folder = backup_folder(settings)
        reason = f"before-upgrade-{before.current}-to-{before.head}"
        backup = backup_database(
            path,
            timestamped_backup_path(folder, path, reason),
            busy_timeout_ms=settings.busy_timeout_ms,
        )
        violations_before = _foreign_key_violations(path, settings)
        try:
            _run_revisions(path, before, script_location, settings, violations_before)
        except Exception as exc:
            raise _restored(path, before, backup, settings, exc) from exc
        # Only now, with the upgrade done, do older backups go (never the one just taken).
        prune_backups(folder, path, settings.backup_keep, protect=[backup.path])
        return UpgradeReport(before, before.head, backup)


def _run_revisions(
    path: Path,
    before: SchemaState,
    script_location: str,
    settings: StoreSettings,
    violations_before: int,
) -> None:
    config = alembic_config(sqlite_url(path), script_location)
    if before.unversioned:
        run_alembic(command.stamp, config, BASELINE_REVISION)
    run_alembic(command.upgrade, config, before.head)
    with closing(_connect(path, settings)) as conn:
        after = read_schema_state(conn, script_location)
    if after.current != before.head:
        raise MigrationError(f"the upgrade ended at revision {after.current}, not {before.head}")
    problems = integrity_problems(path, busy_timeout_ms=settings.busy_timeout_ms)
    if problems:
        raise MigrationError(f"integrity check failed after the upgrade: {problems[:3]}")
    violations = _foreign_key_violations(path, settings)
    if violations > violations_before:
        raise MigrationError(
            f"the upgrade left {violations - violations_before} rows whose "
            "foreign keys point nowhere"
        )


def _restored(
    path: Path, before: SchemaState, backup: BackupInfo, settings: StoreSettings, exc: Exception
) -> MigrationError:
    what = f"upgrading {path} from revision {before.current} to {before.head} failed: {exc}"
    try:
        restore_database(backup.path, path, busy_timeout_ms=settings.busy_timeout_ms)
    except Exception as restore_exc:
        return MigrationError(
            f"{what}. Restoring the backup ALSO failed ({restore_exc}); the verified backup "
            f"{backup.path} is intact: `asyncstore restore {backup.path}`"
        )
    return MigrationError(
        f"{what}. The database was restored from the backup {backup.path} and is back at "
        f"revision {before.current}, as it was"
    )
