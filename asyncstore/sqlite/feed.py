"""The change feed on SQLite: the writer's change log, and the watcher of other processes.

Writer side: `record_changes` adds ONE row to `change_log` per group commit that changed rows,
inside that transaction, just before COMMIT: the row exists exactly when its changes do, and
its `seq` follows commit order (SQLite runs one write transaction at a time, whichever process
writes). Every PRUNE_EVERY commits the rows older than KEEP_COMMITS commits are deleted.

Watcher side: `SQLiteChangeWatcher` polls `PRAGMA data_version` on a read-only connection of
its own, on its own thread. The number changes when another connection committed: only then
does it read the change-log rows after the last `seq` it saw (the watermark): never a table
of data. Rows written by this Store's own writer are skipped (the writer delivered them
already). If rows it had not read yet were pruned, subscribers get one `resync` change.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asyncstore.clock import utc_now
from asyncstore.errors import DatabaseUnavailableError
from asyncstore.feed.change import Change, Note, changes_of, resync
from asyncstore.feed.hub import Publish
from asyncstore.feed.wire import decode_notes, encode_notes
from asyncstore.sqlite.connections import read_only_connection

__all__ = [
    "KEEP_COMMITS",
    "KEEP_SECONDS",
    "POLL_INTERVAL_S",
    "PRUNE_EVERY",
    "SQLiteChangeWatcher",
    "record_changes",
]

# Change-log rows kept: those of the last KEEP_SECONDS, and never more than KEEP_COMMITS. A
# watcher reads them within POLL_INTERVAL_S, so they only need to outlast a watcher's hiccup; one
# further behind resyncs. (A row is a group commit's notes: 500 heartbeats make ~10 KiB.)
KEEP_SECONDS = 30.0
KEEP_COMMITS = 10_000
PRUNE_EVERY = 64
# How often the watcher asks whether another connection committed (a memory read in WAL mode).
POLL_INTERVAL_S = 0.05
ROWS_PER_READ = 1000

_RECORD = "INSERT INTO change_log (seq, committed_at, origin, changes) VALUES (NULL, ?, ?, ?)"
_PRUNE = (
    "DELETE FROM change_log WHERE seq <= max(?, coalesce((SELECT seq FROM change_log "
    "WHERE committed_at >= ? ORDER BY seq LIMIT 1), ?) - 1)"
)
_LAST_SEQ = "SELECT coalesce(max(seq), 0) FROM change_log"
_AFTER = (
    "SELECT seq, committed_at, origin, changes FROM change_log WHERE seq > ? ORDER BY seq LIMIT ?"
)


def _stored_time(at: datetime) -> str:
    return at.isoformat(" ", "microseconds")[:-6]  # asyncstore's UTC text (asyncstore.types)


def record_changes(conn: sqlite3.Connection, origin: str, notes: list[Note]) -> datetime:
    """Log one commit's notes in the writer's open transaction; returns the commit time."""
    committed_at = utc_now()
    cursor = conn.execute(_RECORD, (_stored_time(committed_at), origin, encode_notes(notes)))
    seq = cursor.lastrowid or 0
    if seq % PRUNE_EVERY == 0:
        # The oldest rows first, in seq order: the scan stops at the first one young enough,
        # so a prune reads about what it deletes. This commit's own row always stays.
        cutoff = _stored_time(committed_at - timedelta(seconds=KEEP_SECONDS))
        conn.execute(_PRUNE, (max(seq - KEEP_COMMITS, 0), cutoff, seq))
    return committed_at


class SQLiteChangeWatcher:
    """Publishes the commits of other processes (see the module's docstring)."""

    def __init__(
        self, path: Path, origin: str, publish: Publish, *, busy_timeout_ms: int = 5000
    ) -> None:
        self._path = path
        self._origin = origin
        self._publish = publish
        self._busy_timeout_ms = busy_timeout_ms
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(
            target=self._run, args=(loop, started), name="asyncstore-feed", daemon=True
        )
        self._thread.start()
        try:
            await started
        except BaseException:
            self._stop.set()  # a failed or cancelled start leaves no thread behind
            await self.stop()
            raise

    async def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            thread, self._thread = self._thread, None
            await asyncio.to_thread(thread.join)

    def _run(self, loop: asyncio.AbstractEventLoop, started: asyncio.Future[None]) -> None:
        try:
            conn = read_only_connection(self._path, self._busy_timeout_ms)
            version, seq = self._position(conn)
        except sqlite3.Error as exc:
            error = DatabaseUnavailableError(
                f"the change feed cannot watch {self._path}: {exc}", may_have_committed=False
            )
            loop.call_soon_threadsafe(_settle, started, error)
            return
        loop.call_soon_threadsafe(_settle, started, None)
        try:
            while not self._stop.wait(POLL_INTERVAL_S):
                try:
                    ((now,),) = conn.execute("PRAGMA data_version").fetchall()
                    if now == version:
                        continue
                    version = now
                    seq = self._read_after(conn, loop, seq)
                except RuntimeError:  # the event loop closed under the thread: nobody listens
                    return
                except Exception:
                    # Unreadable for a moment (a restore, a checkpoint restart): say that
                    # changes may have been missed, and go on from the log's end. The watcher
                    # never dies quietly while subscribers wait on it.
                    with contextlib.suppress(sqlite3.Error):
                        version, seq = self._position(conn)
                    self._send(loop, [resync(utc_now())])
        except RuntimeError:
            pass
        finally:
            conn.close()

    @staticmethod
    def _position(conn: sqlite3.Connection) -> tuple[int, int]:
        ((version,),) = conn.execute("PRAGMA data_version").fetchall()
        ((seq,),) = conn.execute(_LAST_SEQ).fetchall()
        return int(version), int(seq)

    def _read_after(
        self, conn: sqlite3.Connection, loop: asyncio.AbstractEventLoop, seq: int
    ) -> int:
        """Publish the change-log rows after `seq` written by other processes; the new seq."""
        while True:
            rows = conn.execute(_AFTER, (seq, ROWS_PER_READ)).fetchall()
            if not rows:
                return seq
            changes: list[Change] = []
            if rows[0][0] != seq + 1:  # rows between were pruned before we read them
                changes.append(resync(utc_now()))
            for row_seq, committed_at, origin, notes in rows:
                seq = row_seq
                if origin != self._origin:
                    try:
                        at = datetime.fromisoformat(committed_at).replace(tzinfo=UTC)
                        changes.extend(changes_of(decode_notes(notes), at))
                    except (ValueError, TypeError):  # a row not of asyncstore's making
                        changes.append(resync(utc_now()))
            if changes:
                self._send(loop, changes)
            if len(rows) < ROWS_PER_READ:
                return seq

    def _send(self, loop: asyncio.AbstractEventLoop, changes: list[Change]) -> None:
        loop.call_soon_threadsafe(self._publish, changes)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # the starter was cancelled
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
