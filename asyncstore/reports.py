"""What asyncstore reports about itself: write counters, health, storage, checks, backups.

Plain data, shared by both backends and printed by the CLI (`--json` dumps these fields).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from asyncstore.schema.revisions import SchemaState

__all__ = [
    "BackupInfo",
    "CheckReport",
    "CompactReport",
    "HealthReport",
    "RestoreReport",
    "StorageReport",
    "UpgradeReport",
    "WriteStats",
]


@dataclass(slots=True)
class WriteStats:
    """Counters for tests and benchmarks, each counted where it happens (never derived)."""

    accepted: int = 0  # operations submitted
    # Transactions run: every batch the writer took (committed or failed), on both backends.
    batches: int = 0
    operations: int = 0  # operations that ran in those transactions
    heartbeats: int = 0  # heartbeat operations among them
    heartbeat_statements: int = 0  # UPDATE statements the database ran for those heartbeats
    retried_operations: int = 0  # operations run again on their own after a failure near them
    largest_batch: int = 0
    skipped_cancelled: int = 0  # cancelled before they were taken: never run


@dataclass(frozen=True, slots=True)
class HealthReport:
    """What `Store.health()` found: both paths answered, and how quickly."""

    ok: bool
    database: str
    journal_mode: str
    read_ms: float
    write_ms: float
    write_queue_depth: int


@dataclass(frozen=True, slots=True)
class StorageReport:
    """How much room the database takes: its file (or server database) and write-ahead log."""

    location: str
    database_bytes: int
    log_bytes: int | None  # the SQLite WAL file; None where the log is the server's business


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What `asyncstore check` found. `notes` are the lines about what was checked, in the
    database's own terms; `problems` lists what is wrong (empty: healthy)."""

    path: Path | str  # the file, or the server's URL (without password)
    integrity: list[str]  # empty: the integrity check said ok (or the server keeps it)
    foreign_key_violations: list[str]
    schema: SchemaState | None  # None: the database could not be read far enough to tell
    journal_mode: str
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def problems(self) -> list[str]:
        found = [f"integrity: {message}" for message in self.integrity]
        found += [f"foreign key: {message}" for message in self.foreign_key_violations]
        if self.schema is None:
            found.append("schema: the revision could not be read")
        elif self.schema.status != "current":
            found.append(f"schema: {self.schema.describe()} ({self.schema.status})")
        return found


@dataclass(frozen=True, slots=True)
class RestoreReport:
    restored_from: Path
    revision: SchemaState  # the restored database's schema revision
    previous_saved_to: Path | None  # the database as it was, in case the restore was a mistake
    damaged_moved_to: Path | None  # a database too damaged to back up, moved aside instead


@dataclass(frozen=True, slots=True)
class BackupInfo:
    """A verified backup: where it is, how big, how long it took."""

    path: Path
    size_bytes: int
    seconds: float


@dataclass(frozen=True, slots=True)
class UpgradeReport:
    before: SchemaState
    after: str
    backup: BackupInfo | None  # None when there was nothing to upgrade (or no file backup)


@dataclass(frozen=True, slots=True)
class CompactReport:
    """What a compaction did, measured before and after (never computed from a plan).

    `method`: "incremental" (SQLite, online: short steps through the writer), "vacuum" (SQLite,
    the one-time full VACUUM of a database created with auto_vacuum NONE, run with the database
    to itself), "postgresql vacuum" (plain VACUUM (ANALYZE) of the tables). `notes` say what
    the method locks and what it can and cannot give back."""

    location: str
    method: str
    bytes_before: int  # the database file (SQLite); the tables with indexes and TOAST (PostgreSQL)
    bytes_after: int
    log_bytes_before: int | None  # the SQLite WAL file; None where the log is the server's
    log_bytes_after: int | None
    free_pages_before: int | None  # pages inside the file that hold nothing (None: a server)
    free_pages_after: int | None
    page_size: int | None
    steps: int  # write transactions run (SQLite), or tables vacuumed (PostgreSQL)
    seconds: float
    longest_step_ms: float  # the longest step, from submitted to committed
    notes: list[str] = field(default_factory=list)

    @property
    def bytes_freed(self) -> int:
        """How much smaller the database is (negative if writes meanwhile grew it more)."""
        return self.bytes_before - self.bytes_after
