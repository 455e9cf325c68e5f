"""Views that give other tools money as numbers: `trades_numeric`, `bot_instances_numeric`,
`performance_metrics_numeric`.

On SQLite a money column (ExactDecimal) holds exact canonical decimal text, so the sqlite3 CLI,
Datasette or Grafana compare it as text: `MAX(net_pnl)` says '9.99' beats '19.54', and
`WHERE net_pnl > 10` compares a string with a number. Each view has its table's columns, in
the same order and under the same names, with every money column as `CAST(col AS REAL)`. The
text stays the source of truth (a REAL is a double: about 15 significant digits); the views are
for reading. On PostgreSQL money is NUMERIC already, and the views pass it through unchanged,
so one dashboard query runs on both backends.

The DDL lives here only, built from the SQLAlchemy tables (so it never drifts from them), and
is used by revision 0003 and by SQLite's build of an empty database at head.

A later revision that changes the columns of these tables must drop the views first and create
them again last (`drop_numeric_views(op.get_bind())` … `create_numeric_views(op.get_bind())`):
a view names its columns, and on SQLite a batch table rebuild (create, copy, drop, rename)
fails while a view still refers to the table.

The same goes for the heartbeat trigger on bot_instances (revision 0005,
asyncstore.schema.activity): on SQLite a batch rebuild of bot_instances drops the trigger with
the old table, and a rebuild of bot_activity fails while the trigger names it. Such a revision
calls `drop_activity_trigger(op.get_bind())` first and `create_activity_trigger(op.get_bind())`
last, beside the views.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Table, inspect
from sqlalchemy.engine import Connection, Dialect

from asyncstore.schema.tables import BOTS, METRICS, TRADES
from asyncstore.types import ExactDecimal

__all__ = [
    "NUMERIC_VIEWS",
    "create_numeric_views",
    "create_view_statements",
    "drop_numeric_views",
    "drop_view_statements",
]

# View name → the table it reads.
NUMERIC_VIEWS: Mapping[str, Table] = {
    f"{table.name}_numeric": table for table in (TRADES, BOTS, METRICS)
}


def _is_money(table: Table, column_name: str) -> bool:
    column = table.columns.get(column_name)
    return column is not None and isinstance(column.type, ExactDecimal)


def _view_sql(view: str, table: Table, columns: Sequence[str], dialect: Dialect) -> str:
    quote = dialect.identifier_preparer.quote
    selected = []
    for name in columns:
        if _is_money(table, name) and dialect.name == "sqlite":
            selected.append(f"CAST({quote(name)} AS REAL) AS {quote(name)}")
        else:
            selected.append(quote(name))
    return f"CREATE VIEW {quote(view)} AS SELECT {', '.join(selected)} FROM {quote(table.name)}"


def create_view_statements(
    dialect: Dialect, columns: Mapping[str, Sequence[str]] | None = None
) -> list[str]:
    """CREATE VIEW for each view, for `dialect`.

    `columns` maps a table name to the columns it has in the database, in order (a revision
    reads them from the database it migrates); without it, the models' columns (the head).
    """
    statements = []
    for view, table in NUMERIC_VIEWS.items():
        names = columns[table.name] if columns is not None else [c.name for c in table.columns]
        statements.append(_view_sql(view, table, names, dialect))
    return statements


def drop_view_statements(dialect: Dialect) -> list[str]:
    quote = dialect.identifier_preparer.quote
    return [f"DROP VIEW IF EXISTS {quote(view)}" for view in NUMERIC_VIEWS]


def create_numeric_views(connection: Connection) -> None:
    """Create the views over the tables as they are in this database now (for revisions)."""
    inspector = inspect(connection)
    columns = {
        table.name: [column["name"] for column in inspector.get_columns(table.name)]
        for table in NUMERIC_VIEWS.values()
    }
    for sql in create_view_statements(connection.dialect, columns):
        connection.exec_driver_sql(sql)


def drop_numeric_views(connection: Connection) -> None:
    for sql in drop_view_statements(connection.dialect):
        connection.exec_driver_sql(sql)
