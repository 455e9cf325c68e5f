"""Online, verified backups of a SQLite database, and restoring one.

A backup is SQLite's backup API run in ONE step on a read-only connection: the copy is the
snapshot of one read transaction, so it is consistent while bots keep writing (WAL readers do not
block the writer). A file copy of a WAL database is never used: it can miss committed pages that
still live in the -wal file, or catch them half-written.

Every backup is written to `<name>.partial`, checked with `PRAGMA integrity_check`, made durable
(fsync) and only then renamed to its final name, so a file under a final name is always a good one.
Restoring goes through the backup API too (into the live file, under SQLite's own locks).
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from asyncstore.durable_files import fsync_path
from asyncstore.errors import BackupError
from asyncstore.reports import BackupInfo
from asyncstore.sqlite.connections import read_only_connection

__all__ = [
    "backup_database",
    "integrity_problems",
    "prune_backups",
    "restore_database",
    "timestamped_backup_path",
]


def _read_only(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    if not path.is_file():
        raise BackupError(f"no database file at {path}")
    return read_only_connection(path, busy_timeout_ms)


def integrity_problems(path: Path, *, busy_timeout_ms: int = 10_000) -> list[str]:
    """What `PRAGMA integrity_check` reports for the file; empty when it is sound."""
    try:
        conn = _read_only(path, busy_timeout_ms)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:  # "file is not a database", truncated file, ...
        return [str(exc)]
    messages = [str(row[0]) for row in rows]
    return [] if messages == ["ok"] else messages


def backup_database(
    source: Path, destination: Path, *, busy_timeout_ms: int = 10_000
) -> BackupInfo:
    """Copy `source` to `destination` online, verify the copy, and only then give it its name.

    Refuses to overwrite an existing file. Runs on the calling thread (call it off the loop).
    """
    started = time.perf_counter()
    if destination.exists():
        raise BackupError(f"{destination} already exists; a backup never overwrites a file")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        src = _read_only(source, busy_timeout_ms)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)  # pages=-1: the whole database in one step, one snapshot
                # A backup is one self-contained file: no -wal beside it to forget when copying.
                dst.execute("PRAGMA journal_mode = DELETE")
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"could not back up {source} to {destination}: {exc}") from exc
    problems = integrity_problems(partial, busy_timeout_ms=busy_timeout_ms)
    if problems:
        partial.unlink(missing_ok=True)
        raise BackupError(
            f"the backup of {source} failed its integrity check ({'; '.join(problems[:3])}); "
            "nothing was kept"
        )
    fsync_path(partial)
    os.replace(partial, destination)
    fsync_path(destination.parent)  # the rename itself survives a power cut
    return BackupInfo(destination, destination.stat().st_size, time.perf_counter() - started)


def restore_database(backup: Path, target: Path, *, busy_timeout_ms: int = 10_000) -> None:
    """Replace the contents of `target` with `backup`, through SQLite (never a file copy).

    The caller must hold the database's exclusive lock (no Store open on it). The backup is
    verified first; a damaged one is refused and `target` is left as it was.
    """
    problems = integrity_problems(backup, busy_timeout_ms=busy_timeout_ms)
    if problems:
        raise BackupError(
            f"{backup} is not a sound database ({'; '.join(problems[:3])}); nothing was restored"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        src = _read_only(backup, busy_timeout_ms)
        try:
            dst = sqlite3.connect(target, timeout=busy_timeout_ms / 1000)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode = WAL")
                dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise BackupError(f"could not restore {target} from {backup}: {exc}") from exc


def timestamped_backup_path(folder: Path, database: Path, reason: str) -> Path:
    """`<folder>/<db file name>-<UTC time>-<reason>.db`: names of one database sort by age."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return folder / f"{database.name}-{stamp}-{reason}.db"


def _backup_name_pattern(database: Path) -> re.Pattern[str]:
    # Exactly what timestamped_backup_path writes for this database file, nothing else: a
    # hand-named file, or another database's backups in the same folder, are never pruned.
    return re.compile(rf"{re.escape(database.name)}-\d{{8}}T\d{{12}}Z-[a-z0-9.-]+\.db")


def prune_backups(
    folder: Path, database: Path, keep: int, *, protect: Iterable[Path] = ()
) -> list[Path]:
    """Delete all but the newest `keep` automatic backups of `database` in `folder`.

    Files in `protect` (the backup just taken, the one being restored) are never deleted.
    Returns the deleted files."""
    pattern = _backup_name_pattern(database)
    backups = sorted(p for p in folder.glob("*.db") if pattern.fullmatch(p.name))
    kept = {p.resolve() for p in protect}
    doomed = [p for p in backups[: max(0, len(backups) - keep)] if p.resolve() not in kept]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed
