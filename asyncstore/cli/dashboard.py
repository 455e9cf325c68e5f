"""`asyncstore dashboard`: the live web dashboard over a database, read-only.

    asyncstore dashboard [--url URL] [--host 127.0.0.1] [--port 8050] [--token TOKEN]

Exit codes: 0 stopped (Ctrl+C); 1 the database cannot be served (missing file, schema of
another version, the extra not installed); 2 bad arguments, among them listening off loopback
without a token.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from typing import Any

from asyncstore.errors import ConfigurationError

__all__ = ["add_dashboard_parser", "run_dashboard"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 0 to 65535, got {text}")
    return value


def add_dashboard_parser(commands: Any) -> None:
    description = "serve the live web dashboard of a database (read-only)"
    parser = commands.add_parser("dashboard", help=description, description=description)
    parser.add_argument(
        "--url",
        default=None,
        help="database URL (default: $ASYNCSTORE_DATABASE_URL, else "
        "sqlite+aiosqlite:///db/trading.db); a SQLite file must exist",
    )
    parser.add_argument(
        "--tenant", default=None, help="serve only this tenant's data (asyncstore.tenants)"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; any other needs a token)",
    )
    parser.add_argument("--port", type=_port, default=8050, help="port (default 8050)")
    parser.add_argument(
        "--token",
        default=None,
        help="require this token on every request (default: $ASYNCSTORE_DASHBOARD_TOKEN); "
        "open the page once as http://HOST:PORT/?token=TOKEN",
    )
    parser.add_argument(
        "--stale-after",
        type=_seconds,
        default=15.0,
        help="seconds without a heartbeat before a running bot is flagged stale (default 15)",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=10,
        help="lower the dashboard's CPU priority by this much (default 10; 0 keeps it): on a "
        "machine the bots share, their writes come first",
    )
    parser.add_argument("--echo", action="store_true", help="log every SQL statement to stderr")


def run_dashboard(ctx: Any) -> int:
    """The `dashboard` command (ctx: asyncstore.cli.commands.CommandContext)."""
    args = ctx.args
    try:
        from asyncstore.dashboard.app import DashboardOptions
        from asyncstore.dashboard.server import TOKEN_ENV, serve, token_refusal
    except ImportError as exc:  # starlette / uvicorn are the `dashboard` extra
        raise ConfigurationError(
            f"the dashboard needs {exc.name}: pip install 'asyncstore[dashboard]'"
        ) from exc
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None
    refusal = token_refusal(args.host, token)
    if refusal is None and token is not None:
        refusal = _bad_token(token)
    if refusal is not None:
        print(f"asyncstore dashboard: {refusal}", file=sys.stderr)
        return EXIT_USAGE
    _require_current_schema(ctx)
    if args.nice > 0 and hasattr(os, "nice"):
        # A read-only observer: when CPU is short, the bots' writes should not wait for it.
        # (On PostgreSQL its queries run in the server's processes, which this does not touch.)
        os.nice(args.nice)
    options = DashboardOptions(stale_after=args.stale_after)
    running = serve(ctx.settings, host=args.host, port=args.port, token=token, options=options)
    # uvicorn stops gracefully on Ctrl+C, then passes it on: that is the normal way out.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(running)
    return EXIT_OK


def _bad_token(token: str) -> str | None:
    from asyncstore.dashboard.auth import check_token

    try:
        check_token(token)
    except ValueError as exc:
        return str(exc)
    return None


def _require_current_schema(ctx: Any) -> None:
    """Refuse before serving what the dashboard cannot read without writing: a SQLite file
    that does not exist (it would be created), a database without asyncstore's tables (they
    would be), a schema of another version."""
    admin = ctx.admin
    admin.require_database()
    state = asyncio.run(admin.schema_state())
    if state.status == "empty":
        raise ConfigurationError(
            f"{admin.location} has no asyncstore tables; create them with `asyncstore init`"
        )
    if state.status != "current":
        raise ConfigurationError(
            f"{admin.location}: {state.describe()}; the dashboard reads only a database at this "
            "version's revision (`asyncstore upgrade` brings an older one there)"
        )
