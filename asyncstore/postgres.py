"""The PostgreSQL backend: the same write operations and reads as SQLite, over asyncpg pools.

There is no single writer here: PostgreSQL serialises conflicting writes itself, so each
operation runs in its own short transaction on a pooled connection, and many run at once.

Values travel as the same canonical text the SQLite path uses (money '50000.10000000', UTC time
'2026-01-02 03:04:05.000006', JSON text): every connection registers text codecs for NUMERIC,
TIMESTAMPTZ and JSON and runs with TimeZone=UTC, so the server parses that text exactly (never
through a float) and the repository, codec and validation code is shared by both backends.
SQL is written with `?` placeholders and turned into `$1, $2, …` here.

Read replicas (`read_replica_urls`): reads go to the replicas in turn, writes to the primary.
Read-your-writes: for `replica_read_after_write_s` seconds after a caller's write commits, that
caller's reads go to the primary ("caller": the asyncio task, and tasks it starts afterwards;
a bot's loop is one). Other callers may read a replica that has not caught up yet. A replica
that cannot answer hands the read to the primary, with a warning on the `asyncstore.postgres`
logger, and rests a while (replicas.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib.util
import logging
import re
import time
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain, count
from typing import Any

from alembic import command
from sqlalchemy.engine import make_url

from asyncstore.config import StoreSettings
from asyncstore.errors import ConfigurationError, StoreClosedError, translate_db_error
from asyncstore.operations import Heartbeat, InsertRows, Statements, UpdateReturning, WriteOperation
from asyncstore.replicas import (
    REPLICA_CONNECT_TIMEOUT_S,
    REPLICA_REST_S,
    ReplicaSet,
    maybe_the_querys_own_fault,
    replica_cannot_answer,
)
from asyncstore.schema_migrations import (
    SchemaState,
    alembic_config,
    head_revision,
    in_thread_to_the_end,
    revision_status,
    run_alembic,
    schema_refusal,
)
from asyncstore.sql_log import SQL_LOGGER, echo_enabled
from asyncstore.sqlite_batch import multi_row_sql
from asyncstore.writer import WriterStats

_log = logging.getLogger("asyncstore.postgres")

__all__ = [
    "PostgresBackend",
    "asyncpg_dsn",
    "connect_once",
    "numbered_placeholders",
    "redacted",
    "require_asyncpg",
]

HEARTBEAT_SQL = (
    "UPDATE bot_instances SET last_heartbeat = $1, updated_at = $1 WHERE id = $2 RETURNING id"
)
# Any constant: the advisory lock that makes one process at a time check or build the schema.
SCHEMA_LOCK_KEY = 0x61737973746F7265
# How long close() waits for operations still running before it drops their connections.
CLOSE_GRACE_S = 60.0
# Rows per multi-row INSERT: PostgreSQL takes at most 32767 parameters in one statement.
MAX_PARAMETERS = 32_000


def asyncpg_dsn(database_url: str) -> str:
    """'postgresql+asyncpg://u@h/db' (SQLAlchemy's form) → 'postgresql://u@h/db' (asyncpg's)."""
    url = make_url(database_url)
    if not url.drivername.startswith("postgresql"):
        raise ConfigurationError(f"not a PostgreSQL URL: {database_url!r}")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def require_asyncpg() -> None:
    """PostgreSQL needs the optional asyncpg driver: say how to install it, not a traceback."""
    if importlib.util.find_spec("asyncpg") is None:
        raise ConfigurationError(
            "PostgreSQL needs the asyncpg driver, which is not installed: "
            "pip install 'asyncstore[postgresql]'"
        )


def redacted(dsn: str) -> str:
    """The URL for messages: never print a password."""
    return make_url(dsn).render_as_string(hide_password=True)


async def connect_once(dsn: str) -> Any:
    """One plain asyncpg connection (admin commands), with connection errors made clear."""
    require_asyncpg()
    import asyncpg

    try:
        return await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError) as exc:
        raise ConfigurationError(f"cannot connect to PostgreSQL at {redacted(dsn)}: {exc}") from exc


# What is not SQL code, so a `?` in it is no placeholder: string literals, quoted identifiers,
# dollar-quoted strings and comments. Then the `?` placeholders themselves.
_NOT_CODE_OR_PLACEHOLDER = re.compile(
    r"""'(?:[^']|'')*'"""  # 'it''s'
    r'|"(?:[^"]|"")*"'  # "odd ?name"
    r"|(?<![\w$])\$(?P<tag>(?:[A-Za-z_]\w*)?)\$.*?\$(?P=tag)\$"  # $$ … $$, $fn$ … $fn$
    r"|--[^\n]*"  # -- comment
    r"|/\*.*?\*/"  # /* comment */
    r"|\?",
    re.DOTALL,
)


@lru_cache(maxsize=512)
def numbered_placeholders(sql: str) -> str:
    """'… = ? AND … IN (?, ?)' → '… = $1 AND … IN ($2, $3)' (outside literals and comments)."""
    numbers = count(1)

    def number(match: re.Match[str]) -> str:
        return f"${next(numbers)}" if match.group() == "?" else match.group()

    return _NOT_CODE_OR_PLACEHOLDER.sub(number, sql)


async def _fetch(pool: Any, statement: str, params: Sequence[Any]) -> list[Any]:
    async with pool.acquire() as conn:
        return list(await conn.fetch(statement, *params))


def _rowcount(status: str) -> int:
    """asyncpg's command status ('DELETE 12', 'INSERT 0 3') → the number of rows."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


async def _text_codecs(conn: Any) -> None:
    for type_name in ("numeric", "timestamptz", "jsonb", "json"):
        await conn.set_type_codec(
            type_name, schema="pg_catalog", encoder=str, decoder=str, format="text"
        )


class PostgresBackend:
    """Write operations and reads of one Store on a PostgreSQL server."""

    def __init__(self, settings: StoreSettings) -> None:
        require_asyncpg()
        self.settings = settings
        self.dsn = asyncpg_dsn(settings.database_url)
        self._pool: Any = None
        self._closing = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._replicas = ReplicaSet([])
        # When this caller (task, and the tasks it starts) last committed a write through this
        # Store: its reads go to the primary for a while after, so it sees what it wrote.
        self._last_write: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar(
            f"asyncstore_last_write_{id(self)}", default=None
        )
        self._echo = echo_enabled(settings.echo)
        self.in_flight = 0
        # The same counters as the SQLite writer's; here every operation is its own transaction.
        self.stats = WriterStats()
        self.replica_fallbacks = 0  # replica reads the primary answered instead

    async def start(self) -> SchemaState:
        try:
            self._pool = await self._connect(self.dsn)
            if await self._pool.fetchval("SELECT pg_is_in_recovery()"):
                raise ConfigurationError(
                    f"{redacted(self.dsn)} is a read-only standby: give the primary's URL as "
                    "the database URL, and standbys as read_replica_urls"
                )
            # Replica pools connect on first use: a replica that is down must not stop a bot
            # from starting (its reads go to the primary until the replica answers again).
            self._replicas = ReplicaSet(
                [
                    await self._connect(asyncpg_dsn(url), replica=True)
                    for url in self.settings.read_replica_urls
                ]
            )
            return await self._prepare_schema()
        except BaseException:
            await self.close()
            raise

    async def _connect(self, dsn: str, *, replica: bool = False) -> Any:
        import asyncpg

        try:
            return await asyncpg.create_pool(
                dsn,
                min_size=0 if replica else 1,
                max_size=self.settings.pg_pool_size,
                timeout=REPLICA_CONNECT_TIMEOUT_S if replica else 60.0,
                init=_text_codecs,
                server_settings={
                    "TimeZone": "UTC",
                    "DateStyle": "ISO",  # the text the codecs parse, whatever the server default
                    "application_name": "asyncstore",
                },
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise ConfigurationError(
                f"cannot connect to PostgreSQL at {redacted(dsn)}: {exc}"
            ) from exc

    async def close(self) -> None:
        # asyncpg's close waits for every acquired connection to be released, so operations
        # already running finish (and commit); calls still waiting for a connection fail.
        self._closing = True
        # Calls already under way finish (and commit) first; only then do the pools close.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), CLOSE_GRACE_S)
        pools = [self._pool, *self._replicas.pools]
        self._pool, self._replicas = None, ReplicaSet([])
        for pool in pools:
            if pool is None:
                continue
            try:
                await asyncio.wait_for(asyncio.shield(pool.close()), CLOSE_GRACE_S)
            except TimeoutError:
                # A connection still held after the grace period (a caller stuck elsewhere):
                # close must finish; its uncommitted transaction is rolled back by the server.
                pool.terminate()

    async def _prepare_schema(self) -> SchemaState:
        """Empty → head (by the revisions); older only when asked; newer refused. One process
        at a time (an advisory lock), so a fleet starting together builds the schema once."""
        async with self._pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", SCHEMA_LOCK_KEY)
            try:
                state = await self.schema_state(conn)
                if state.status == "empty" or (
                    state.status == "behind" and self.settings.upgrade_schema
                ):
                    config = alembic_config(self.settings.database_url)
                    # A cancelled start keeps the advisory lock until the migration has ended.
                    await in_thread_to_the_end(run_alembic, command.upgrade, config, "head")
                    state = await self.schema_state(conn)
                elif state.status != "current":
                    raise schema_refusal(state, redacted(self.dsn))
                return state
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", SCHEMA_LOCK_KEY)

    @staticmethod
    async def schema_state(conn: Any) -> SchemaState:
        """Where the connected database's schema stands against this code's head."""
        head = head_revision()
        exists = await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL")
        current = await conn.fetchval("SELECT version_num FROM alembic_version") if exists else None
        if current is None:
            return SchemaState(None, head, "empty")
        return SchemaState(current, head, revision_status(current, head))

    # --- the two paths --------------------------------------------------------------------

    async def submit(self, op: WriteOperation) -> Any:
        cell = self._writes_of_this_caller()
        self._enter()
        self.stats.accepted += 1
        try:
            async with self._pool.acquire() as conn:
                async with conn.transaction():  # asyncpg sends BEGIN … COMMIT around it
                    self._log("BEGIN", ())
                    result = await self._run(conn, op)
                self._log("COMMIT", ())
            cell[0] = time.monotonic()
            self.stats.batches += 1
            self.stats.operations += 1
            self.stats.heartbeats += isinstance(op, Heartbeat)
            return result
        except Exception as exc:
            raise self._error(exc, op.subject) from exc
        finally:
            self._leave()

    async def fetch_all(
        self, sql: str, params: Sequence[Any] = (), *, primary: bool = False
    ) -> list[tuple[Any, ...]]:
        statement = numbered_placeholders(sql)
        self._log(statement, params)
        pool = self._pool if primary else self._read_pool()
        self._enter()
        try:
            try:
                rows = await _fetch(pool, statement, params)
            except Exception as exc:
                if pool is self._pool or not replica_cannot_answer(exc):
                    raise
                rows = await self._read_instead_of(pool, exc, statement, params)
        except Exception as exc:
            raise self._error(exc, "read") from exc
        finally:
            self._leave()
        return [tuple(row) for row in rows]

    def _enter(self) -> None:
        # Refused once close() began; counted, so close() can wait for calls under way.
        if self._closing or self._pool is None:
            raise StoreClosedError("the Store is closed")
        self.in_flight += 1
        self._idle.clear()

    def _leave(self) -> None:
        self.in_flight -= 1
        if not self.in_flight:
            self._idle.set()

    def _writes_of_this_caller(self) -> list[float]:
        """The caller's last-write cell, shared with the tasks it starts (they copy the context
        and so hold the same list): a write made in a child task counts for the caller too."""
        cell = self._last_write.get()
        if cell is None:
            cell = [float("-inf")]
            self._last_write.set(cell)
        return cell

    def _error(self, exc: Exception, subject: str) -> BaseException:
        if self._closing and not hasattr(exc, "sqlstate"):  # "pool is closing" and the like
            return StoreClosedError(f"{subject}: the Store closed while this call waited")
        return translate_db_error(exc, subject)

    def _read_pool(self) -> Any:
        """A replica in turn, unless this caller wrote within `replica_read_after_write_s`:
        then the primary, so a bot reads its own writes whatever the replicas' lag."""
        if not self._replicas:
            return self._pool
        wrote_at = self._writes_of_this_caller()[0]
        if time.monotonic() - wrote_at < self.settings.replica_read_after_write_s:
            return self._pool
        replica = self._replicas.next()
        return self._pool if replica is None else replica  # None: every replica failed just now

    async def _read_instead_of(
        self, replica: Any, exc: Exception, statement: str, params: Sequence[Any]
    ) -> list[Any]:
        """A replica is there to spare the primary, never to fail a bot's read: one that
        cannot answer hands the read to the primary."""
        blame_now = not maybe_the_querys_own_fault(exc)
        if blame_now:  # rest it at once, so reads meanwhile do not wait on it too
            self._replicas.rest(replica)
        rows = await _fetch(self._pool, statement, params)  # a wrong query fails here as usual
        if not blame_now:
            self._replicas.rest(replica)
        self.replica_fallbacks += 1
        _log.warning(
            "a read replica could not answer (%s: %s); the primary answered, and reads go to "
            "the replica again in %.0f s",
            type(exc).__name__,
            exc,
            REPLICA_REST_S,
        )
        return rows

    async def _run(self, conn: Any, op: WriteOperation) -> Any:
        if isinstance(op, InsertRows):
            return await self._insert(conn, op)
        if isinstance(op, UpdateReturning):
            sql = numbered_placeholders(op.sql)
            self._log(sql, op.params)
            row = await conn.fetchrow(sql, *op.params)
            return None if row is None else tuple(row)
        if isinstance(op, Heartbeat):
            self._log(HEARTBEAT_SQL, (op.at, op.bot_id))
            return await conn.fetchval(HEARTBEAT_SQL, op.at, op.bot_id) is not None
        if isinstance(op, Statements):
            counts = []
            for sql, params in op.statements:
                statement = numbered_placeholders(sql)
                self._log(statement, params)
                counts.append(_rowcount(await conn.execute(statement, *params)))
            return counts
        raise TypeError(f"not a write operation: {op!r}")

    async def _insert(self, conn: Any, op: InsertRows) -> int:
        """Multi-row INSERTs (one round trip per ~1000 rows); the count is what was inserted."""
        if not op.rows:
            return 0
        per_statement = max(1, MAX_PARAMETERS // len(op.rows[0]))
        inserted = 0
        for start in range(0, len(op.rows), per_statement):
            rows = op.rows[start : start + per_statement]
            sql = numbered_placeholders(multi_row_sql(op.sql, len(rows)))
            params = tuple(chain.from_iterable(rows))
            self._log(sql, params)
            inserted += _rowcount(await conn.execute(sql, *params))
        return inserted

    def _log(self, sql: str, params: Sequence[Any]) -> None:
        if not self._echo:
            return
        if params:
            SQL_LOGGER.info("%s %r", sql, tuple(params))
        else:
            SQL_LOGGER.info("%s", sql)
