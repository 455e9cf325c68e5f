"""Compaction of a SQLite file: free pages given back to the file system, safely while bots run.

Deleting rows (a cleanup) leaves their pages free inside the file: the file keeps its size, and
every backup copies those pages. The lock story:

- A database asyncstore creates has `auto_vacuum=INCREMENTAL` (set before its first table, in
  asyncstore.sqlite.schema). Compaction then frees pages a step at a time: each step is one
  short write transaction submitted to the Store's own writer, in its bulk lane, so the write
  queue interleaves the steps with the bots' writes. A bot in this process waits at most one
  step; a bot in another process waits on SQLite's write lock (busy_timeout) for at most one
  step too. Readers never wait (WAL).
- Then a checkpoint copies the WAL into the database, which is when the file really shrinks.
  It runs on the writer's connection between two batches: the file is truncated only by a
  checkpoint that reaches the WAL's end, and a checkpoint from another connection seldom does
  while bots commit (a test run under load once ended with the file at its old size). PASSIVE
  first (it waits for no reader), retried briefly while a reader holds older frames, then
  TRUNCATE to empty the WAL file, waiting at most TRUNCATE_WAIT_MS since PASSIVE left it
  nothing to copy. Bots in this process wait for the checkpoint like for one batch.
  If a reader still holds older frames, the rest waits for a later checkpoint, and the report
  says so.
- A database created before has `auto_vacuum=NONE`: SQLite frees nothing without one full
  VACUUM, which rewrites the file and holds the write lock for its whole run. That conversion
  runs only with the database to itself (the exclusive file lock: no Store open anywhere), and
  is refused with DatabaseInUseError otherwise. Afterwards the database is INCREMENTAL.

Everything blocking here runs on a worker thread; the steps run on the writer's own thread.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from collections.abc import Awaitable, Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from asyncstore.config import StoreSettings
from asyncstore.errors import DatabaseInUseError
from asyncstore.reports import CompactReport
from asyncstore.sqlite.connections import read_only_connection
from asyncstore.sqlite.file_lock import DatabaseLock
from asyncstore.writes import Script, ScriptStatement, TransactionScript

__all__ = ["compact_offline_if_needed", "compact_online", "read_file_state"]

AUTO_VACUUM_MODES = {0: "none", 1: "full", 2: "incremental"}
# TRUNCATE blocks new writers while it waits for readers; after a complete PASSIVE it has
# nothing left to copy, so it gets this long (ms) at most, and otherwise the WAL waits.
TRUNCATE_WAIT_MS = 50
# A PASSIVE checkpoint stops at frames a reader still uses: a few tries, a moment apart (reads
# are short), before the report says the file shrinks the rest of the way later.
PASSIVE_TRIES = 5
PASSIVE_RETRY_S = 0.01
_SUBJECT = "compaction step"

_FREE_PAGES = text("PRAGMA freelist_count")
# One page per statement: incremental_vacuum(N) frees one page per step of its statement, and
# Python's sqlite3 steps a statement without result columns once (measured: execute() of
# `PRAGMA incremental_vacuum(100)` freed 1 page). Asking for 1 page frees exactly 1 on any
# driver, and a statement costs ~6 µs.
_FREE_ONE_PAGE = text("PRAGMA incremental_vacuum(1)")

StepResult = tuple[int, int]  # pages freed by the step, free pages left
# (mode, longest wait in ms) -> (busy, frames in the WAL, frames copied): PRAGMA wal_checkpoint
Checkpoint = Callable[[str, int], Awaitable[tuple[int, int, int]]]


@dataclass(frozen=True, slots=True)
class FileState:
    file_bytes: int
    wal_bytes: int
    page_size: int
    free_pages: int
    auto_vacuum: str  # none, full, incremental


def _wal(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def read_file_state(path: Path, busy_timeout_ms: int) -> FileState:
    """Sizes and free pages of the file, from a read-only connection. Blocking."""
    with closing(read_only_connection(path, busy_timeout_ms)) as conn:
        ((page_size,),) = conn.execute("PRAGMA page_size").fetchall()
        ((free_pages,),) = conn.execute("PRAGMA freelist_count").fetchall()
        ((mode,),) = conn.execute("PRAGMA auto_vacuum").fetchall()
    wal = _wal(path)
    wal_bytes = wal.stat().st_size if wal.exists() else 0
    return FileState(
        path.stat().st_size, wal_bytes, int(page_size), int(free_pages), AUTO_VACUUM_MODES[mode]
    )


def _free_pages(pages: int) -> Script[StepResult]:
    """One step, run by the writer inside its transaction: free up to `pages` pages."""
    ((free,),) = yield ScriptStatement(_FREE_PAGES, {}, _SUBJECT)
    for _ in range(min(pages, int(free))):
        yield ScriptStatement(_FREE_ONE_PAGE, {}, _SUBJECT)
    ((left,),) = yield ScriptStatement(_FREE_PAGES, {}, _SUBJECT)
    return int(free) - int(left), int(left)


async def checkpoint_wal(checkpoint: Checkpoint) -> str:
    """Copy the WAL into the database (which truncates the file), then empty the WAL."""
    for attempt in range(PASSIVE_TRIES):
        busy, frames, copied = await checkpoint("PASSIVE", 0)
        if not busy and frames == copied:
            break
        if attempt + 1 == PASSIVE_TRIES:
            return (
                "checkpoint: PASSIVE, partial (a reader still used older WAL frames): the file "
                "shrinks the rest of the way at a later checkpoint"
            )
        await asyncio.sleep(PASSIVE_RETRY_S)
    (busy, _, _) = await checkpoint("TRUNCATE", TRUNCATE_WAIT_MS)
    if busy:
        return "checkpoint: PASSIVE (complete); the WAL file is emptied at a later checkpoint"
    return "checkpoint: TRUNCATE (the WAL was copied into the database and emptied)"


def _needs_conversion(path: Path) -> str:
    return (
        f"{path} was created with auto_vacuum NONE (before asyncstore made new databases "
        "compactable while in use): it needs a one-time full VACUUM, which holds the write lock "
        "for its whole run, so that runs only while no Store has the database open"
    )


async def compact_online(
    path: Path,
    settings: StoreSettings,
    submit: Callable[[TransactionScript[StepResult]], Awaitable[StepResult]],
    checkpoint: Checkpoint,
    step_pages: int,
) -> CompactReport:
    """Free every free page in steps through the Store's writer (`submit`), then checkpoint
    on the writer's connection (`checkpoint`)."""
    started = time.perf_counter()
    before = await asyncio.to_thread(read_file_state, path, settings.busy_timeout_ms)
    if before.auto_vacuum == "none":
        raise DatabaseInUseError(
            f"{_needs_conversion(path)}, and this Store has it open. Stop the bots and run "
            "`asyncstore compact` (it converts the database, then later runs happen online)"
        )
    step = functools.partial(_free_pages, step_pages)
    steps, longest, left = 0, 0.0, before.free_pages
    while left > 0:
        step_started = time.perf_counter()
        freed, left = await submit(TransactionScript(step, _SUBJECT, bulk=True))
        longest = max(longest, time.perf_counter() - step_started)
        steps += 1
        if freed == 0:  # auto_vacuum FULL, or pages SQLite cannot move: nothing more to gain
            break
    checkpointed = await checkpoint_wal(checkpoint)
    after = await asyncio.to_thread(read_file_state, path, settings.busy_timeout_ms)
    notes = [
        f"online: {steps} steps of at most {step_pages} pages, each its own short write "
        "transaction through the Store's writer; bots' writes went in between, and other "
        "processes waited on the write lock for at most one step",
        checkpointed,
    ]
    return _report(str(path), "incremental", before, after, steps, started, longest, notes)


def compact_offline_if_needed(path: Path, settings: StoreSettings) -> CompactReport | None:
    """Convert a database created with auto_vacuum NONE by one full VACUUM, holding the
    exclusive file lock (DatabaseInUseError while any Store has it open); None when the
    database is compactable online already. Blocking."""
    if read_file_state(path, settings.busy_timeout_ms).auto_vacuum != "none":
        return None
    lock = DatabaseLock(path)
    try:
        lock.acquire_exclusive(
            "convert it for compaction (created with auto_vacuum NONE, it needs one full "
            "VACUUM, which holds the write lock for its whole run)"
        )
    except DatabaseInUseError as exc:
        once = "once converted, compaction runs while bots write"
        raise DatabaseInUseError(f"{exc}; {once}") from None
    try:
        started = time.perf_counter()
        before = read_file_state(path, settings.busy_timeout_ms)  # again, now that it is ours
        if before.auto_vacuum != "none":
            return None
        with closing(_connect(path, settings)) as conn:
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # VACUUM applies it
            conn.execute("VACUUM")
            vacuumed = time.perf_counter() - started
            # No Store has the file open: nothing but another tool's reader can hold it up.
            (busy, _, _) = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        checkpointed = (
            "checkpoint: TRUNCATE (the WAL was copied into the database and emptied)"
            if not busy
            else "checkpoint: a reader of another tool held the WAL; it empties later"
        )
        after = read_file_state(path, settings.busy_timeout_ms)
    finally:
        lock.release()
    notes = [
        "converted: one full VACUUM rewrote the file with auto_vacuum INCREMENTAL, with the "
        "database to itself (no Store was open); from now on compaction runs while bots write",
        checkpointed,
    ]
    return _report(str(path), "vacuum", before, after, 1, started, vacuumed, notes)


def _connect(path: Path, settings: StoreSettings) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None, timeout=settings.busy_timeout_ms / 1000)


def _report(
    location: str,
    method: str,
    before: FileState,
    after: FileState,
    steps: int,
    started: float,
    longest_s: float,
    notes: list[str],
) -> CompactReport:
    return CompactReport(
        location=location,
        method=method,
        bytes_before=before.file_bytes,
        bytes_after=after.file_bytes,
        log_bytes_before=before.wal_bytes,
        log_bytes_after=after.wal_bytes,
        free_pages_before=before.free_pages,
        free_pages_after=after.free_pages,
        page_size=after.page_size,
        steps=steps,
        seconds=time.perf_counter() - started,
        longest_step_ms=longest_s * 1000,
        notes=notes,
    )
