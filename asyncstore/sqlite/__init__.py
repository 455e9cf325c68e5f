"""The SQLite backend: a database file with one writer (group commit) and read-only readers.

Modules: `backend` (the Backend protocol's SQLite side), `writer` (the writer thread, which runs
the batches of asyncstore.write_queue), `batch` (one group commit on that thread), `readers`
(read-only connection pool), `connections`, `statements` (its SQL), `errors` (sqlite3 errors in
the asyncstore tree), `schema` (revisions of a file), `backup`, `file_lock`, `admin`.
This package never imports `asyncstore.postgres`.
"""

from asyncstore.sqlite.admin import SQLiteAdmin
from asyncstore.sqlite.backend import SQLiteBackend

__all__ = ["SQLiteAdmin", "SQLiteBackend"]
