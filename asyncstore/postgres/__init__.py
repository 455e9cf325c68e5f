"""The PostgreSQL backend: a writer with group commit and read-only pools on a primary,
optional read replicas.

Modules: `backend` (the Backend protocol's PostgreSQL side: writes, reads, replicas routing),
`writer` (the writer's own connection under asyncstore.write_queue; reconnects), `batch` (one
group commit on it), `writes` (executing a write operation; COPY), `statements` (its SQL,
compiled for asyncpg), `connection` (URLs, pools, text codecs), `raw_sql` (`?` in callers' SQL
strings), `errors` (asyncpg errors in the asyncstore tree), `replicas`, `schema` (revisions
under an advisory lock), `admin`. This package never imports `asyncstore.sqlite`; asyncpg is
imported only when a PostgreSQL Store is used.
"""

from asyncstore.postgres.admin import PostgresAdmin
from asyncstore.postgres.backend import PostgresBackend

__all__ = ["PostgresAdmin", "PostgresBackend"]
