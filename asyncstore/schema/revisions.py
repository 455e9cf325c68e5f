"""Schema revisions: which one a database is at against this code's head, and running Alembic.

Rules (the same on every backend):
- an empty database is created at head when a Store opens it;
- an older one is upgraded only when asked (`asyncstore upgrade`, or `upgrade_schema=True`);
- one newer than the code (a revision this code does not know) is refused, naming both.

How a backend reads its revision and guards an upgrade (file lock and backup, advisory lock)
is its own business: `asyncstore.sqlite.schema`, `asyncstore.postgres.schema`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, TypeVar

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.schema import CreateIndex, CreateTable, ExecutableDDLElement

from asyncstore.errors import SchemaVersionError
from asyncstore.schema.tables import Base

__all__ = [
    "BASELINE_REVISION",
    "PACKAGED_MIGRATIONS",
    "SPEC_TABLES",
    "SchemaState",
    "alembic_config",
    "head_revision",
    "head_schema_ddl",
    "revision_status",
    "run_alembic",
    "schema_refusal",
    "schema_state_of",
]

T = TypeVar("T")

PACKAGED_MIGRATIONS = "asyncstore.schema:migrations"
# The revision a database created by asyncstore 0.1's create_tables() (no version table) is at.
BASELINE_REVISION = "0001"
# The spec's tables: a database with all of them and no revision is asyncstore 0.1's.
SPEC_TABLES = frozenset({"bot_instances", "trades", "performance_metrics"})

Status = Literal["empty", "current", "behind", "ahead"]


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where a database's schema stands against the code's head revision."""

    current: str | None  # None: no asyncstore tables yet
    head: str
    status: Status
    unversioned: bool = False  # asyncstore 0.1 tables without a version table

    def describe(self) -> str:
        current = "none (empty database)" if self.current is None else self.current
        if self.unversioned:
            current += " (unversioned tables of asyncstore 0.1)"
        return f"database revision {current}, this asyncstore's head {self.head}"


def schema_state_of(current: str | None, script_location: str = PACKAGED_MIGRATIONS) -> SchemaState:
    """The state of a database whose version table holds `current` (None: no version)."""
    head = head_revision(script_location)
    if current is None:
        return SchemaState(None, head, "empty")
    return SchemaState(current, head, revision_status(current, head, script_location))


# Alembic keeps the running migration in module globals (alembic.context, alembic.op): two
# upgrades on two threads of one process would mix up their databases. One at a time.
_ALEMBIC_LOCK = threading.Lock()


def run_alembic(action: Callable[..., None], config: Config, revision: str) -> None:
    """`command.upgrade(config, revision)` and the like, one at a time in this process."""
    with _ALEMBIC_LOCK:
        action(config, revision)


def alembic_config(
    database_url: str, script_location: str = PACKAGED_MIGRATIONS, *, schema: str | None = None
) -> Config:
    """Alembic's configuration for the database at `database_url` (asyncstore's env.py reads
    the URL from the attributes, so nothing is parsed from an ini file). `schema`: a
    PostgreSQL tenant's schema, where the revisions build everything (search_path)."""
    config = Config()
    config.set_main_option("script_location", script_location)
    config.attributes["url"] = database_url
    config.attributes["schema"] = schema
    return config


@lru_cache(maxsize=8)
def _scripts(script_location: str) -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", script_location)
    return ScriptDirectory.from_config(config)


def head_revision(script_location: str = PACKAGED_MIGRATIONS) -> str:
    head = _scripts(script_location).get_current_head()
    assert head is not None, "the migrations folder has no revisions"
    return head


def revision_status(current: str, head: str, script_location: str = PACKAGED_MIGRATIONS) -> Status:
    if current == head:
        return "current"
    try:
        known = _scripts(script_location).get_revision(current) is not None
    except CommandError:
        known = False
    return "behind" if known else "ahead"


def head_schema_ddl() -> list[ExecutableDDLElement]:
    """CREATE … IF NOT EXISTS for every table and index of the models (the head schema)."""
    statements: list[ExecutableDDLElement] = []
    for table in Base.metadata.sorted_tables:
        statements.append(CreateTable(table, if_not_exists=True))
        for index in sorted(table.indexes, key=lambda index: str(index.name)):
            statements.append(CreateIndex(index, if_not_exists=True))
    return statements


def schema_refusal(state: SchemaState, where: Path | str) -> SchemaVersionError:
    """The error for a database this code will not open as it is (older, or newer)."""
    if state.status == "ahead":
        return SchemaVersionError(
            f"{where}: {state.describe()}. The database was written by a newer asyncstore "
            "(its revision is unknown here): upgrade asyncstore, or restore a backup taken "
            "before that version"
        )
    return SchemaVersionError(
        f"{where}: {state.describe()}. Upgrade it first: `asyncstore upgrade`, or open the "
        "Store with upgrade_schema=True (on SQLite both take a verified backup first)"
    )
