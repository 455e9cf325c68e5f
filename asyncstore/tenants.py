"""Tenants: one user's bots and data, kept apart from every other user's by the database itself.

A tenant is a name: ASCII letters, digits, `_` and `-`, 1 to 63 characters (PostgreSQL's
identifier limit, and a file name on every filesystem; case counts: "Alice" is not "alice").
Anything else is a ConfigurationError before anything is opened, so a name can never walk out
of its folder ("../") nor out of a quoted SQL identifier.

Where a tenant's data lives:
- SQLite: a database file of its own, in a folder per tenant beside the configured file:
  `db/trading.db` → `db/tenants/alice/trading.db`, with its own WAL, lock file, writer and
  `backups` folder. The configured file itself stays the database of `Store(url)` without a
  tenant.
- PostgreSQL: a schema and a role of its own in the configured database
  (`asyncstore.postgres.tenants`).
"""

from __future__ import annotations

import re
from pathlib import Path

from asyncstore.errors import ConfigurationError

__all__ = [
    "TENANTS_FOLDER",
    "sqlite_tenant_files",
    "tenant_file",
    "validate_tenant",
]

TENANTS_FOLDER = "tenants"
# ASCII only (re.ASCII keeps \w-like classes out): a name is the same bytes everywhere.
_TENANT_NAME = re.compile(r"[A-Za-z0-9_-]{1,63}", re.ASCII)


def validate_tenant(name: object) -> str:
    """`name` if it is a valid tenant name, else a ConfigurationError saying why."""
    if not isinstance(name, str):
        raise ConfigurationError(f"tenant: must be a string, got {type(name).__name__}")
    if _TENANT_NAME.fullmatch(name) is None:
        shown = repr(name[:80]) + ("…" if len(name) > 80 else "")
        raise ConfigurationError(
            f"tenant: {shown} is not a tenant name: use 1 to 63 ASCII letters, digits, '_' "
            f"and '-' (got {len(name)} characters)"
        )
    return name


def tenant_file(database_file: Path, tenant: str) -> Path:
    """The SQLite file of `tenant`: `<folder>/tenants/<tenant>/<file name>`."""
    return database_file.parent / TENANTS_FOLDER / validate_tenant(tenant) / database_file.name


def sqlite_tenant_files(database_file: Path) -> dict[str, Path]:
    """Every tenant that has a database file beside `database_file`, by name (sorted)."""
    folder = database_file.parent / TENANTS_FOLDER
    if not folder.is_dir():
        return {}
    found = {}
    for entry in sorted(folder.iterdir()):
        candidate = entry / database_file.name
        if _TENANT_NAME.fullmatch(entry.name) and candidate.is_file():
            found[entry.name] = candidate
    return found
