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
    """Whether SQL is to be logged; when it is, make sure the statements are seen."""
    enabled = echo_setting or logging.getLogger("sqlalchemy.engine").isEnabledFor(logging.INFO)
    if enabled:
        _make_visible()
    return enabled


def _make_visible() -> None:
    # Asking for SQL (echo=True, or the spec's recipe on SQLAlchemy's logger) must show SQL even
    # though `asyncstore.sql` inherits the root's WARNING; and with no logging set up at all,
    # it goes to stderr, as SQLAlchemy's own echo does.
    if not SQL_LOGGER.isEnabledFor(logging.INFO):
        SQL_LOGGER.setLevel(logging.INFO)
    if not SQL_LOGGER.hasHandlers():
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        SQL_LOGGER.addHandler(handler)


def log_statement(sql: str) -> None:
    """sqlite3 trace callback: `sql` is the statement with its bound values filled in."""
    if SQL_LOGGER.isEnabledFor(logging.INFO):
        SQL_LOGGER.info("%s", sql)
