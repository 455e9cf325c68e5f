"""Connecting to PostgreSQL: URLs, the optional asyncpg driver, pools and their text codecs.

Values travel as the same canonical text the SQLite backend stores (money '50000.10000000', UTC
time '2026-01-02 03:04:05.000006', JSON text): every connection registers text codecs for
NUMERIC, TIMESTAMPTZ and JSON and runs with TimeZone=UTC, so the server parses that text exactly
(never through a float) and the codec and validation code is shared by both backends.
Read pools run with default_transaction_read_only: a read can never write, whatever its SQL.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from sqlalchemy.engine import make_url

from asyncstore.config import redacted
from asyncstore.errors import ConfigurationError

__all__ = [
    "asyncpg_dsn",
    "connect_once",
    "connect_writer",
    "create_pool",
    "register_text_codecs",
    "require_asyncpg",
]

# How long a new connection may take before the server counts as unreachable.
CONNECT_TIMEOUT_S = 60.0


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


async def connect_once(dsn: str) -> Any:
    """One plain asyncpg connection (admin commands), with connection errors made clear."""
    require_asyncpg()
    import asyncpg

    try:
        return await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError) as exc:
        raise ConfigurationError(f"cannot connect to PostgreSQL at {redacted(dsn)}: {exc}") from exc


async def register_text_codecs(conn: Any) -> None:
    for type_name in ("numeric", "timestamptz", "jsonb", "json"):
        await conn.set_type_codec(
            type_name, schema="pg_catalog", encoder=str, decoder=str, format="text"
        )


def _server_settings(*, read_only: bool, parallel: bool = True) -> dict[str, str]:
    settings = {
        "TimeZone": "UTC",
        "DateStyle": "ISO",  # the text the codecs parse, whatever the server default
        "application_name": "asyncstore",
    }
    if read_only:
        # A session default (the pool's RESET ALL on release restores it): every transaction
        # of this connection starts read-only.
        settings["default_transaction_read_only"] = "on"
    if not parallel:
        # One query, one server process: no parallel workers taking the cores the writers'
        # sessions need (a read-only observer's small queries gain nothing from them).
        settings["max_parallel_workers_per_gather"] = "0"
    return settings


async def connect_writer(dsn: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> Any:
    """The writer's own connection (not pooled: a pool's reset on release would cost a round
    trip per group commit). Driver errors propagate: the writer reports them per batch."""
    import asyncpg

    conn = await asyncpg.connect(
        dsn, timeout=timeout_s, server_settings=_server_settings(read_only=False)
    )
    try:
        await register_text_codecs(conn)
    except BaseException:
        conn.terminate()
        raise
    return conn


async def create_pool(
    dsn: str,
    *,
    size: int,
    read_only: bool,
    min_size: int = 0,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    parallel: bool = True,
    connection_class: Any = None,
) -> Any:
    """An asyncpg pool whose connections speak asyncstore's text (and, for reads, cannot
    write: the server refuses any write in a read-only transaction). `connection_class`: a
    tenant's (asyncstore.postgres.tenants), whose reset on release also resets the role."""
    import asyncpg

    extra = {} if connection_class is None else {"connection_class": connection_class}
    try:
        return await asyncpg.create_pool(
            dsn,
            **extra,
            min_size=min_size,
            max_size=size,
            timeout=connect_timeout_s,
            init=register_text_codecs,
            server_settings=_server_settings(read_only=read_only, parallel=parallel),
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise ConfigurationError(f"cannot connect to PostgreSQL at {redacted(dsn)}: {exc}") from exc
