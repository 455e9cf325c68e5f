"""Opening SQLite connections: the writer's, read-only ones, and the statement trace.

The writer's connection is owned by the writer thread; `open_writer_connection` runs there.
`StatementTrace` is SQLite's trace callback: it logs statements when SQL logging is on, and it
counts the statements SQLite actually ran while counting is switched on (heartbeats), so a
counter reported as evidence comes from SQLite itself, not from a formula.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from asyncstore.sql_log import log_statement

__all__ = [
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
    """The writer connection's trace callback: logs (echo) and counts (while counting)."""

    def __init__(self, conn: sqlite3.Connection, *, echo: bool) -> None:
        self.conn = conn  # the writer's connection, which this trace watches
        self._echo = echo
        self._counting = False
        self._last: str | None = None
        self.count = 0
        if echo:
            conn.set_trace_callback(self)

    def __call__(self, sql: str) -> None:
        # SQLite traces the statements a trigger runs too, and Python's sqlite3 reports each
        # with the text of the statement that fired it (bound values included): a repeat of
        # the text just traced is the same statement's trigger, not another statement sent.
        if self._counting and sql != self._last:
            self.count += 1
            self._last = sql
        if self._echo:
            log_statement(sql)

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        """Count every statement SQLite runs inside the block (a trace costs a GIL hop per
        statement, so it is on only around the statements being counted)."""
        self._counting = True
        self._last = None
        if not self._echo:
            self.conn.set_trace_callback(self)
        try:
            yield
        finally:
            self._counting = False
            if not self._echo:
                self.conn.set_trace_callback(None)


def open_writer_connection(
    path: Path, *, busy_timeout_ms: int, durability: str, journal_size_limit: int
) -> sqlite3.Connection:
    """The one connection that writes. Runs on the writer thread, which then owns it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: the sqlite3 module issues no BEGIN of its own; we issue every one.
    conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_ms / 1000)
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
