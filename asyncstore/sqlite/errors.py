"""SQLite's errors in the asyncstore tree: the one place where sqlite3 exceptions are read."""

from __future__ import annotations

import sqlite3

from asyncstore.errors import (
    AsyncStoreError,
    DuplicateError,
    FieldError,
    ForeignKeyError,
    IntegrityError,
    InvalidDataError,
)

__all__ = ["translate_sqlite_error"]


def translate_sqlite_error(
    exc: BaseException, subject: str, *, busy_timeout_ms: int | None = None
) -> BaseException:
    """Map a sqlite3 exception to the asyncstore tree; anything unknown is returned unchanged.

    `subject` says what was being done (e.g. "trade 0190…"), so the message can name it.
    The caller raises the result `from exc`.
    """
    if isinstance(exc, AsyncStoreError):
        return exc
    if isinstance(exc, UnicodeError):  # a lone surrogate that slipped past validation
        return InvalidDataError(subject, [FieldError("text", "is not valid Unicode text")])
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        if "UNIQUE constraint failed" in text or "PRIMARY KEY" in text:
            return DuplicateError(f"{subject}: a row with this id already exists ({text})")
        if "FOREIGN KEY constraint failed" in text:
            return ForeignKeyError(f"{subject}: bot_id names a bot instance that does not exist")
        return IntegrityError(f"{subject}: the database refused the row ({text})")
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        waited = (
            f" (waited busy_timeout_ms={busy_timeout_ms})" if busy_timeout_ms is not None else ""
        )
        return AsyncStoreError(
            f"{subject}: the database is locked by another process{waited}; nothing was "
            "written. Retry, or open the Store with a larger busy_timeout_ms"
        )
    if isinstance(exc, sqlite3.OperationalError) and "disk is full" in text:
        return AsyncStoreError(
            f"{subject}: the disk is full; nothing of this write was committed (free space, "
            "then retry: the Store keeps working)"
        )
    if isinstance(exc, sqlite3.OperationalError) and "readonly" in text:
        return AsyncStoreError(
            f"{subject}: {text}: reads run on read-only connections; write through the "
            "repository (or Store.submit), which commits through the single writer"
        )
    if isinstance(exc, sqlite3.Error):
        hint = " (call `await store.create_tables()` first)" if "no such table" in text else ""
        return AsyncStoreError(f"{subject}: database error: {text}{hint}")
    return exc
