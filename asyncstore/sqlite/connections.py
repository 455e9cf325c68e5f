"""Opening SQLite connections: the writer's, read-only ones, and the statement trace.

The writer's connection is owned by the writer thread; `open_writer_connection` runs there.
`StatementTrace` is SQLite's trace callback: it logs statements when SQL logging is on. It also
counts the heartbeat UPDATEs as they run (`counting`: one per block that returned), so the
counter reported as evidence is counted where the statement runs, not computed by a formula.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from asyncstore.sql_log import log_statement

__all__ = [
    "OwnFileOnly",
    "StatementTrace",
    "close_connection",
    "open_writer_connection",
    "read_only_connection",
    "read_only_uri",
]


def read_only_uri(path: Path) -> str:
    """The URI that opens `path` read-only (SQLite refuses every write through it)."""
    return f"file:{quote(str(path))}?mode=ro"


def read_only_connection(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    return sqlite3.connect(read_only_uri(path), uri=True, timeout=busy_timeout_ms / 1000)


class StatementTrace:
    """The writer connection's trace callback (logs, with echo) and statement counter."""

    def __init__(self, conn: sqlite3.Connection, *, echo: bool) -> None:
        self.conn = conn  # the writer's connection, which this trace watches
        self._echo = echo
        self.count = 0
        if echo:
            conn.set_trace_callback(self)

    def __call__(self, sql: str) -> None:
        log_statement(sql)

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        """Count the one statement run inside the block, once it returned without an error.

        Not through SQLite's trace callback: SQLite calls it for every row a row trigger
        visits (bot_activity's, on each heartbeat), even when the trigger's WHEN is false, and
        each call waits for the GIL, which the event loop holds (measured: heartbeats 6x
        slower with 500 bots)."""
        yield
        self.count += 1


class OwnFileOnly(sqlite3.Connection):
    """A Store's connection, which reaches its own file only: ATTACH is refused (SQLite's limit
    on attached databases is 0), so SQL a caller passes to Store.fetch_all or Store.submit can
    never open another file (another tenant's, or the database's own beside them). asyncstore
    itself never attaches."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)


def open_writer_connection(
    path: Path, *, busy_timeout_ms: int, durability: str, journal_size_limit: int
) -> sqlite3.Connection:
    """The one connection that writes. Runs on the writer thread, which then owns it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: the sqlite3 module issues no BEGIN of its own; we issue every one.
    conn = sqlite3.connect(
        path, isolation_level=None, timeout=busy_timeout_ms / 1000, factory=OwnFileOnly
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"could not switch {path} to WAL (got {mode!r})")
        conn.execute(f"PRAGMA synchronous = {'FULL' if durability == 'full' else 'NORMAL'}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA journal_size_limit = {int(journal_size_limit)}")
    except BaseException:
        conn.close()
        raise
    return conn


def close_connection(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("PRAGMA optimize")  # cheap; keeps the planner's statistics fresh
    finally:
        conn.close()
