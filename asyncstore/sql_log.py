"""SQL logging (the spec's troubleshooting switch): every statement, with its values, at INFO.

On when the Store is opened with `echo=True` (CLI: `--echo`), or when the spec's own recipe,
`logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)`, is in effect at start. The
statements go to the `asyncstore.sql` logger, from the connection's thread (logging is
thread-safe); when off, nothing is installed and the write path pays nothing.
"""

from __future__ import annotations

import logging

__all__ = ["SQL_LOGGER", "echo_enabled", "log_statement"]

SQL_LOGGER = logging.getLogger("asyncstore.sql")


def echo_enabled(echo_setting: bool) -> bool:
    return echo_setting or logging.getLogger("sqlalchemy.engine").isEnabledFor(logging.INFO)


def log_statement(sql: str) -> None:
    """sqlite3 trace callback: `sql` is the statement with its bound values filled in."""
    if SQL_LOGGER.isEnabledFor(logging.INFO):
        SQL_LOGGER.info("%s", sql)
