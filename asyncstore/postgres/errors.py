"""PostgreSQL's errors in the asyncstore tree: the one place where asyncpg exceptions are read.

Errors with a SQLSTATE are mapped by class (23 integrity, 22 bad data, 40 retry, 25006 a write on
a read-only connection). A lost or refused connection is a DatabaseUnavailableError that says
whether the write may have committed: only a connection lost while COMMIT was on its way leaves
that open; before it, the server rolls the transaction back.
"""

from __future__ import annotations

from typing import Literal

from asyncstore.errors import (
    AsyncStoreError,
    DatabaseUnavailableError,
    DuplicateError,
    FieldError,
    ForeignKeyError,
    IntegrityError,
    InvalidDataError,
)

__all__ = ["Phase", "is_connection_loss", "translate_postgres_error"]

# Where a call was when it failed: before its transaction's COMMIT was sent (nothing can have
# been committed), or waiting for COMMIT's answer (the server may have committed).
Phase = Literal["before_commit", "commit"]

# SQLSTATEs that mean the server is going away or cannot take the connection.
_UNAVAILABLE_STATES = {"57P01", "57P02", "57P03", "53300"}


def is_connection_loss(exc: BaseException) -> bool:
    """The connection broke, was refused, or the server is shutting down or full."""
    import asyncpg

    if isinstance(exc, OSError | asyncpg.PostgresConnectionError):  # refused, reset, class 08
        return True
    if getattr(exc, "sqlstate", None) in _UNAVAILABLE_STATES:
        return True
    # asyncpg's own "cannot perform operation: connection is closed" and the like.
    if isinstance(exc, asyncpg.InterfaceError):
        return "closed" in str(exc)
    # A server that ends a session (pg_terminate_backend, shutdown) sends its FATAL error first.
    # When that arrives between two statements asyncpg cannot place it: the connection's
    # protocol stays stuck, and the next statement fails with "cannot switch to state 15;
    # another operation (2) is in progress" (MagicStack/asyncpg#784, #1069) before anything is
    # sent. The connection is gone all the same (the pool drops it); asyncpg's other
    # InternalClientErrors (codecs, a stale type cache) are not about the connection.
    return type(exc) is asyncpg.InternalClientError and str(exc).startswith(
        "cannot switch to state"
    )


def translate_postgres_error(
    exc: BaseException, subject: str, *, phase: Phase = "before_commit", write: bool = True
) -> BaseException:
    """Map an asyncpg exception to the asyncstore tree; anything unknown is returned unchanged.

    The caller raises the result `from exc`."""
    if isinstance(exc, AsyncStoreError):
        return exc
    if isinstance(exc, UnicodeError):
        return InvalidDataError(subject, [FieldError("text", "is not valid Unicode text")])
    if is_connection_loss(exc):
        return _unavailable(exc, subject, may_have_committed=write and phase == "commit")
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str):
        return _by_sqlstate(sqlstate, str(exc), subject)
    return exc


def _unavailable(
    exc: BaseException, subject: str, *, may_have_committed: bool
) -> DatabaseUnavailableError:
    if may_have_committed:
        outcome = (
            "the connection was lost while COMMIT was on its way, so the write MAY have been "
            "committed: check (e.g. read it back by id) before writing it again"
        )
    else:
        outcome = "nothing of this call was committed"
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return DatabaseUnavailableError(
        f"{subject}: the connection to the PostgreSQL server was lost or refused ({reason}); "
        f"{outcome}. The Store reconnects by itself once the server answers again",
        may_have_committed=may_have_committed,
    )


def _by_sqlstate(sqlstate: str, text: str, subject: str) -> AsyncStoreError:
    if sqlstate == "23505":  # unique_violation
        return DuplicateError(f"{subject}: a row with this id already exists ({text})")
    if sqlstate == "23503":  # foreign_key_violation
        return ForeignKeyError(f"{subject}: bot_id names a bot instance that does not exist")
    if sqlstate.startswith("23"):  # other integrity constraints (CHECK, NOT NULL)
        return IntegrityError(f"{subject}: the database refused the row ({text})")
    if sqlstate.startswith("22"):  # data exceptions: a value the column cannot hold
        return InvalidDataError(subject, [FieldError("value", text)])
    if sqlstate in {"40001", "40P01"}:  # serialization failure, deadlock: nothing committed
        return AsyncStoreError(f"{subject}: {text}; nothing was written, retry")
    if sqlstate == "25006":  # read_only_sql_transaction
        return AsyncStoreError(
            f"{subject}: {text}: reads run in read-only transactions; write through the "
            "repository (or Store.submit)"
        )
    if sqlstate == "42501":  # insufficient_privilege: e.g. a tenant's role outside its schema
        return AsyncStoreError(
            f"{subject}: {text} (a tenant's Store may read and write its own schema's rows "
            "and nothing else: asyncstore.postgres.tenants); nothing was written"
        )
    return AsyncStoreError(f"{subject}: database error: {text}")
