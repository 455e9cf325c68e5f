"""Every error asyncstore raises, in one hierarchy.

```
AsyncStoreError
├─ ConfigurationError      bad URL or option; nothing was opened
│  └─ SchemaVersionError   the database's schema revision is not the one this code needs
├─ DatabaseInUseError      another process has the database open (restore, upgrade, and the
│                          one-time VACUUM of compacting an old SQLite file, refused)
├─ BackupError             a backup could not be taken, or failed its integrity check
├─ MigrationError          a schema upgrade failed; says whether the backup was restored
├─ StoreClosedError        the Store is not open (never started, or closed)
├─ InvalidDataError        input failed validation, or an argument has the wrong type; names
│  │                       the field or argument; nothing was written (also a ValueError)
│  └─ LifecycleError       the change breaks a trade's lifecycle (a closed or cancelled
│                          trade's status changed, closed without an exit price, exit before
│                          entry); checked against the stored trade inside the write's
│                          transaction
├─ NotFoundError           the trade or bot the call names does not exist
├─ DatabaseUnavailableError  the connection was lost or refused; says whether the write may
│                          have committed (`may_have_committed`)
├─ UnreadableRowError      a stored value does not decode as its column's type, or (a NaN
│                          amount) cannot enter a computation; names table, row and column
└─ IntegrityError          the database refused the write; nothing of that call was written
   ├─ DuplicateError       a row with that id already exists
   └─ ForeignKeyError      the row names a bot instance that does not exist
```

Database-driver exceptions are translated in one place per backend (`asyncstore.sqlite.errors`,
`asyncstore.postgres.errors`), and re-raised `from` the original so the cause stays visible in
tracebacks; one a backend does not know becomes a plain AsyncStoreError at the Store
(`Store._in_the_tree`).
`asyncio.CancelledError` is never wrapped, nor is an exception raised by the caller's own code
that asyncstore runs (a bulk insert's iterator, a cleanup's `on_progress`): that one is theirs.

Rows read back are trusted: they are decoded, not validated against the input rules again, so a
row another tool wrote (an empty name, a negative size, on SQLite a symbol longer than its
VARCHAR) loads as stored. Only a value that cannot be decoded at all is an UnreadableRowError.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

__all__ = [
    "AsyncStoreError",
    "BackupError",
    "ConfigurationError",
    "DatabaseInUseError",
    "DatabaseUnavailableError",
    "DuplicateError",
    "FieldError",
    "ForeignKeyError",
    "IntegrityError",
    "InvalidDataError",
    "LifecycleError",
    "MigrationError",
    "NotFoundError",
    "SchemaVersionError",
    "StoreClosedError",
    "UnreadableRowError",
]


class AsyncStoreError(Exception):
    """Base class of every asyncstore error.

    `rows_committed` is set by bulk inserts: how many rows of that call were already committed
    when the error happened (None when the call is not a bulk insert).
    """

    rows_committed: int | None = None


class ConfigurationError(AsyncStoreError):
    """A URL or option the Store cannot work with."""


class SchemaVersionError(ConfigurationError):
    """The database is at a schema revision this code does not run on (older, newer, unknown)."""


class DatabaseInUseError(AsyncStoreError):
    """Another process (or Store) has the database open, so it cannot be restored, upgraded,
    or (an SQLite file made before incremental auto-vacuum) compacted by a full VACUUM."""


class BackupError(AsyncStoreError):
    """A backup could not be written, or the copy failed `PRAGMA integrity_check`."""


class MigrationError(AsyncStoreError):
    """A schema upgrade failed. The message says whether the database was restored."""


class StoreClosedError(AsyncStoreError):
    """The Store is not open: it was never started, or it has been closed."""


@dataclass(frozen=True, slots=True)
class FieldError:
    """One reason a value was refused: `field` is a dotted path, e.g. `row 3.entry_price`."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidDataError(AsyncStoreError, ValueError):
    """Input failed validation. `errors` lists every field at fault; nothing was written.

    An argument of the wrong type (`get_trade_by_id(None)`, `bulk_create_trades("abc")`) is one
    too: its FieldError is named after the argument and says what it must be.
    """

    def __init__(self, subject: str, errors: Sequence[FieldError]) -> None:
        self.subject = subject
        self.errors = list(errors)
        lines = "\n".join(f"  {error}" for error in self.errors)
        super().__init__(f"invalid {subject}:\n{lines}")

    @classmethod
    def from_validation_error(
        cls, subject: str, exc: ValidationError, *, row_offset: int = 0
    ) -> InvalidDataError:
        """Name each failing field; a leading integer in the location is a row index."""
        errors = []
        for detail in exc.errors(include_url=False):
            parts = [part for part in detail["loc"] if part not in _UNION_TAGS]
            if parts and isinstance(parts[0], int):
                parts[0] = f"row {parts[0] + row_offset}"
            field = ".".join(str(part) for part in parts) or subject
            errors.append(FieldError(field, _readable(field, detail["msg"], detail["type"])))
        return cls(subject, errors)


# Location parts pydantic adds for the branch of a union it tried (JsonValue's "dict", "list").
_UNION_TAGS = frozenset({"dict", "list", "str", "int", "float", "bool"})


# Real columns that callers may not set, and why (what "extra_forbidden" means for them).
_MANAGED_COLUMNS = {
    "created_at": "set by asyncstore; leave it out",
    "updated_at": "set by asyncstore; leave it out",
    "id": "cannot be changed once the row exists",
    "bot_id": "cannot be changed once the trade exists",
}


def _readable(field: str, message: str, error_type: str) -> str:
    # pydantic prefixes messages from plain ValueErrors; the field name already says enough.
    message = message.removeprefix("Value error, ")
    if error_type == "extra_forbidden":
        column = field.rpartition(".")[2]
        return _MANAGED_COLUMNS.get(column, "unknown field (not a column of this table)")
    return message


class LifecycleError(InvalidDataError):
    """The write breaks a trade's lifecycle rules; `errors` names each field and why.

    The rules: a closed or cancelled trade keeps its status; a closed trade needs an exit
    price; exit_time is not before entry_time; only an open trade can be closed (close_trade).
    They are checked against the trade as stored, inside the transaction that writes, so two
    writers racing cannot slip past them. Nothing of the call was written."""


class NotFoundError(AsyncStoreError, LookupError):
    """The trade or bot instance the call names does not exist."""


class IntegrityError(AsyncStoreError):
    """The database refused the write (a constraint failed); nothing of that call was written."""


class DuplicateError(IntegrityError):
    """A row with that id already exists."""


class ForeignKeyError(IntegrityError):
    """The row refers to a bot instance that does not exist."""


class DatabaseUnavailableError(AsyncStoreError):
    """The connection to the database was lost or refused.

    `may_have_committed` is True when the connection broke while a COMMIT was under way: the
    server may or may not have committed that write (check before retrying, or retry with the
    same id, which is then a DuplicateError if it did). False: the write was not committed.
    For reads it is False.
    """

    def __init__(self, message: str, *, may_have_committed: bool) -> None:
        super().__init__(message)
        self.may_have_committed = may_have_committed


class UnreadableRowError(AsyncStoreError):
    """A stored value does not decode as its column's type (a row written by another tool), or
    cannot enter a computation (a NaN amount in the performance metrics). The message names the
    table, the row's id and the column. After an update it also says the update was committed:
    only reading the row back failed."""
